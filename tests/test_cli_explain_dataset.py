"""``xai explain MODEL --all`` and ``xai explain --summary DIR``: whole splits explained from the
shell (run in-process), resumed, summarised; bad flags named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import reference_models
import xai
from xai.cli import main

IG = ["--method", "integrated_gradients", "--option", "n_steps=4"]


def test_all_explains_every_test_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs"
    code = main(["explain", "breast_cancer_mlp", "--all", *IG, "--target", "label",
                 "--batch-size", "32", "--out", str(out)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "113 test samples" in printed[0]  # one line, no bar off a terminal
    run = xai.DatasetExplanation.load(out / "integrated_gradients")
    x, y = reference_models.load("breast_cancer_mlp").data["test"].tensors[:2]
    assert run.complete and run.n_samples == len(x) == 113 and run.batch_size == 32
    stored = list(run)
    assert torch.equal(torch.cat([e.target for e in stored]), y)
    assert torch.equal(torch.cat([e.inputs for e in stored]), x)
    assert stored[0].extras["feature_names"][0] == "mean radius"

    # again without --resume: refused, naming the flag; with it: nothing to do, same run
    assert main(["explain", "breast_cancer_mlp", "--all", *IG, "--target", "label",
                 "--batch-size", "32", "--out", str(out)]) == 2  # fmt: skip
    assert "--resume" in capsys.readouterr().err
    assert main(["explain", "breast_cancer_mlp", "--all", *IG, "--target", "label",
                 "--batch-size", "32", "--out", str(out), "--resume", "-q"]) == 0  # fmt: skip
    # other settings with --resume: the library's error, naming --out
    assert main(["explain", "breast_cancer_mlp", "--all", *IG, "--out", str(out),
                 "--resume"]) == 2  # fmt: skip
    assert "--out:" in capsys.readouterr().err


def test_summary_prints_and_writes_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    assert main(["explain", "digits_cnn", "--all", "--method", "gradcam", "--split", "val",
                 "--out", str(out), "-q"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["explain", "--summary", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "gradcam: 359/359 samples" in printed
    summary_dir = out / "gradcam" / "summary"
    names = sorted(p.name for p in summary_dir.iterdir())
    assert names == ["class_maps.png", "least_confident.png", "most_confident.png",
                     "overview.png", "summary.json"]  # fmt: skip
    data = json.loads((summary_dir / "summary.json").read_text())
    assert data["n_samples"] == 359 and data["kind"] == "image" and data["complete"]
    # the run folder stays a run folder: it resumes with its summary inside
    assert main(["explain", "digits_cnn", "--all", "--method", "gradcam", "--split", "val",
                 "--out", str(out), "--resume", "-q"]) == 0  # fmt: skip
    assert main(["explain", "--summary", str(out / "gradcam"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "gradcam"


def test_bad_flags_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["explain", "--summary", str(tmp_path)], "--summary"),
        (["explain", "--summary", str(tmp_path / "missing")], "--summary"),
        (["explain", "breast_cancer_mlp", "--all", "--split", "nope", "--out", str(tmp_path / "a")],
         "--split"),
        (["explain", "breast_cancer_mlp", "--all", "--batch-size", "0", "--out", str(tmp_path)],
         "--batch-size"),
        (["explain", "breast_cancer_mlp", "--all", "--method", "gradcam", "--out",
          str(tmp_path / "b")], "method"),
        (["explain", "--all"], "model"),
    ]  # fmt: skip
    for argv, flag in cases:
        assert main(argv) == 2, argv
        assert flag in capsys.readouterr().err, argv


def test_all_explains_the_text_model_with_its_attention_masks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each batch of the text model goes with its sentences' attention masks: the padding gets
    exactly 0 and IG points at the keywords; the shards keep the tokens."""
    out = tmp_path / "runs"
    assert main(["explain", "keywords_text_cnn", "--all", "--split", "val", "--method",
                 "integrated_gradients", "--option", "n_steps=2", "--target", "label",
                 "--batch-size", "250", "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "1000 val samples of keywords_text_cnn" in printed[0]
    run = xai.DatasetExplanation.load(out / "integrated_gradients")
    ids, labels, keywords, mask = reference_models.load("keywords_text_cnn").data["val"].tensors
    assert run.complete and run.n_samples == 1000 and len(run) == 4
    assert run.model_kwargs["attention_mask"]["tensor"] == [1000, 24]
    vocabulary = reference_models.load("keywords_text_cnn").info.vocabulary
    for expl in list(run)[:3]:
        rows = expl.extras["indices"]
        assert torch.equal(expl.inputs, ids[rows]) and torch.equal(expl.target, labels[rows])
        padding = mask[rows] == 0
        assert bool(padding.any()) and bool((expl.attributions[padding] == 0).all())
        score = xai.metrics.pointing_game_score(
            expl.attributions, keywords[rows], attention_mask=mask[rows]
        )
        assert float(score.mean()) >= 0.9
        assert expl.tokens is not None and expl.tokens[0] == [vocabulary[i] for i in ids[rows[0]]]
