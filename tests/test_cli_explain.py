"""``xai explain`` and ``xai bench``: explanations and figures from the shell, run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import xai
from xai.cli import main


def test_explain_a_reference_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "explain",
            "breast_cancer_mlp",
            "--method",
            "integrated_gradients",
            "--method",
            "shap",
            "--index",
            "3,7",
            "--target",
            "label",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "integrated_gradients" in printed and "shap" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "breast_cancer_mlp_integrated_gradients.safetensors",
        "breast_cancer_mlp_sample3.png",
        "breast_cancer_mlp_sample7.png",
        "breast_cancer_mlp_shap.safetensors",
    ]
    import reference_models

    ref = reference_models.load("breast_cancer_mlp")
    x, y = ref.data["test"].tensors[:2]
    saved = xai.Explanation.load(tmp_path / "breast_cancer_mlp_integrated_gradients.safetensors")
    assert torch.equal(saved.inputs, x[[3, 7]])
    assert torch.equal(saved.target, y[[3, 7]])  # --target label: the true classes
    direct = xai.explain(ref.model, x[[3, 7]], method="integrated_gradients", target=y[[3, 7]])
    torch.testing.assert_close(saved.attributions, direct.attributions)
    shap = xai.Explanation.load(tmp_path / "breast_cancer_mlp_shap.safetensors")
    assert shap.params["seed"] == 0  # the default --seed, recorded


def test_explain_with_an_option(tmp_path: Path) -> None:
    code = main(
        [
            "explain",
            "digits_cnn",
            "--method",
            "integrated_gradients",
            "--option",
            "n_steps=8",
            "--samples",
            "1",
            "--target",
            "3",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    saved = xai.Explanation.load(tmp_path / "digits_cnn_integrated_gradients.safetensors")
    assert saved.params["n_steps"] == 8 and saved.target.tolist() == [3]
    assert saved.extras["model_evaluations"] == 8 + 2  # 8 steps, f(x), f(baseline)


def _user_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))


def test_explain_a_module_factory_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_models.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "def build():\n    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    save_file(_user_model().state_dict(), tmp_path / "w.safetensors")
    x = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1, 0, 1, 1, 0]))
    code = main(
        [
            "explain",
            "my_models:build",
            "--weights",
            "w.safetensors",
            "--data",
            "d.npz",
            "--method",
            "lime",
            "--samples",
            "2",
            "--out",
            "out",
        ]
    )
    assert code == 0
    saved = xai.Explanation.load(tmp_path / "out" / "my_models_build_lime.safetensors")
    torch.testing.assert_close(saved.inputs, torch.from_numpy(x[:2]))
    assert (tmp_path / "out" / "my_models_build_sample1.png").is_file()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nosuch"], "model: expected a reference model (breast_cancer_mlp"),
        (["digits_cnn", "--method", "ig"], "--method: unknown method 'ig'; available: gradcam"),
        (["digits_cnn", "--samples", "0"], "--samples: expected a positive count, got 0."),
        (["digits_cnn", "--index", "9999"], "--index: sample 9999 is outside the test data"),
        (["digits_cnn", "--option", "n_steps=4"], "--option: applies to one method"),
        (
            ["digits_cnn", "--weights", "w.safetensors"],
            "--weights: only for a module:factory",
        ),
        (["my_models:build"], "needs --weights FILE.safetensors and --data FILE.npz"),
        (
            ["digits_cnn", "--method", "gradcam", "--target", "12"],
            "gradcam: target: class index 12",
        ),
        (["breast_cancer_mlp", "--method", "gradcam"], "gradcam: inputs: method 'gradcam' expects"),
        (
            ["keywords_text_cnn", "--method", "lime", "--option", 'model_kwargs={"a": 1}'],
            "--option: model_kwargs is not a method option here",
        ),
        (
            ["keywords_text_cnn", "--all", "--method", "occlusion", "--option", "tokens=1"],
            "--option: tokens is not a method option here",
        ),
    ],
)
def test_explain_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main(["explain", *arguments, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("xai explain: ") and message in error
    assert "Traceback" not in error


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["explain", "digits_cnn", "--option", "n_steps"], "expected KEY=VALUE, got 'n_steps'"),
        (["explain", "digits_cnn", "--index", "a,b"], "expected comma-separated sample numbers"),
        (["explain", "digits_cnn", "--target", "cat"], "expected 'predicted', 'label' or a class"),
        (["bench", "nosuch"], "unknown benchmark(s) ['nosuch']; available: training"),
        (["bench", "--threads", "0"], "--threads: expected a positive count, got 0"),
    ],
)
def test_argument_errors(
    capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bench_runs_a_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "training", "--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "training.json").is_file()
    assert "== benchmark training" in capsys.readouterr().out


# ------------------------------------------------------------------------ the text model
def test_explain_the_text_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Test sentences explained with their attention masks; the file keeps their tokens."""
    import reference_models
    from reference_models.datasets import decode_tokens

    argv = ["explain", "keywords_text_cnn", "--method", "integrated_gradients", "--index", "0,5"]
    assert main([*argv, "--option", "n_steps=8", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "keywords_text_cnn_integrated_gradients.safetensors",
        "keywords_text_cnn_sample0.png",
        "keywords_text_cnn_sample5.png",
    ]
    ref = reference_models.load("keywords_text_cnn")
    ids, _, keywords, attention = ref.data["test"].tensors
    saved = xai.Explanation.load(tmp_path / "keywords_text_cnn_integrated_gradients.safetensors")
    assert saved.is_text and saved.tokens == decode_tokens(ids[[0, 5]])
    assert torch.equal(saved.inputs, ids[[0, 5]]) and saved.attributions.shape == (2, 24)
    assert bool((saved.attributions[attention[[0, 5]] == 0] == 0).all())  # padding: exactly 0
    direct = xai.explain(ref.model, ids[[0, 5]], method="integrated_gradients", n_steps=8,
                         model_kwargs={"attention_mask": attention[[0, 5]]})  # fmt: skip
    torch.testing.assert_close(saved.attributions, direct.attributions)
    top = saved.attributions.argmax(dim=1)
    assert bool(keywords[[0, 5]].gather(1, top[:, None]).all())  # a keyword ranks first
    assert saved.extras["class_names"] == ["sports", "food", "music"]


def test_explain_typed_sentences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reference_models.datasets import decode_tokens, encode_text

    texts = ["We loved the pizza!", "my friend played the xylophone song"]
    argv = ["explain", "keywords_text_cnn", "--method", "occlusion", "--json"]
    argv += ["--text", texts[0], "--text", texts[1], "--out", str(tmp_path)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["texts"] == texts and document["samples"] == [0, 1]
    assert [Path(f).name for f in document["figures"]] == [
        "keywords_text_cnn_text0.png",
        "keywords_text_cnn_text1.png",
    ]
    # the words outside the vocabulary, named on stderr; sentence 0 has none
    assert "sentence 1: 2 word(s) outside the vocabulary of keywords_text_cnn, read as " \
        "[UNK]: 'played', 'xylophone'" in captured.err  # fmt: skip
    assert "sentence 0" not in captured.err
    saved = xai.Explanation.load(document["explanations"][0]["file"])
    ids, mask = encode_text(texts)
    assert torch.equal(saved.inputs, ids) and saved.tokens == decode_tokens(ids)
    assert saved.tokens[0][:4] == ["we", "loved", "the", "pizza"]
    assert saved.target.tolist() == [1, 2]  # food, music: the model's predictions
    assert saved.attributions.argmax(dim=1).tolist() == [3, 5]  # pizza, song
    assert bool((saved.attributions[mask == 0] == 0).all())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["digits_cnn", "--text", "a goal"], "--text: explains sentences of a text model"),
        (["keywords_text_cnn", "--text", "a goal", "--index", "1"], "--index: picks test samples"),
        (["keywords_text_cnn", "--text", "a goal", "--target", "label"], "--target: 'label' is"),
        (["keywords_text_cnn", "--text", "..."], "--text: sentence 0 ('...') holds no words."),
        (["keywords_text_cnn", "--text", "a goal", "--all"], "--all: explains every sample"),
    ],
)
def test_typed_sentence_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main(["explain", *arguments, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("xai explain: ") and message in error
    assert not list(tmp_path.iterdir())  # refused before any work
