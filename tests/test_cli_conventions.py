"""Conventions every ``xai`` subcommand follows: ``--version``; ``-q``/``-v`` everywhere;
``--json`` where results are printed (stdout then holds JSON only); one usage-error exit code,
2; help in plain words; your own ``module:factory`` model for ``evaluate`` and ``train`` as for
``explain``; log lines (progress when there is no terminal) on stderr."""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import xai
from xai.cli import build_parser, main
from xai.cli.common import USAGE_ERROR, plain

Capsys = pytest.CaptureFixture[str]

#: The subcommands that print results, and so take --json.
WITH_JSON = {"train", "evaluate", "explain", "report"}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _help(capsys: Capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_version(capsys: Capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"xai {xai.__version__}"


def test_every_subcommand_takes_quiet_verbose_and_json_where_it_prints_results(
    capsys: Capsys,
) -> None:
    commands = _subparsers()
    assert set(commands) >= {"demo", "train", "evaluate", "explain", "report", "dashboard", "bench"}
    for name in commands:
        text = _help(capsys, name)
        assert "-q, --quiet" in text and "-v, --verbose" in text, name
        assert ("--json" in text) == (name in WITH_JSON), name


#: Sphinx/reST markup: ``literal``, :role:`target`.
_MARKUP = re.compile(r"``|:[a-z]+:`")


def test_help_is_plain_words(capsys: Capsys) -> None:
    texts = {"xai": _help(capsys)}
    texts.update({name: _help(capsys, name) for name in _subparsers()})
    for name, text in texts.items():
        assert not _MARKUP.search(text), f"xai {name} --help: {_MARKUP.search(text)}"
    assert "OUT/NAME_METHOD.safetensors (xai.Explanation.load reads it back)" in " ".join(
        texts["explain"].split()
    )
    assert "Exit codes: 0 success, 2 usage error" in " ".join(texts["xai"].split())


def test_plain() -> None:
    assert plain("see :meth:`xai.Explanation.load`") == "see xai.Explanation.load"
    assert plain("a :class:`~xai.Explanation`") == "a Explanation"
    assert plain("run ``xai report``; :func:`the fit <xai.fit>`") == "run xai report; the fit"
    assert plain(None) is None


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_one_usage_error_code(command: str, capsys: Capsys) -> None:
    """argparse's own errors and xai's checks exit with the same code, 2."""
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--no-such-flag"])
    assert exit_info.value.code == USAGE_ERROR == 2
    assert re.search(r"^xai( \w+)?: error: ", capsys.readouterr().err, re.MULTILINE)


def test_no_command_is_a_usage_error(capsys: Capsys) -> None:
    assert main([]) == USAGE_ERROR
    assert "COMMAND" in capsys.readouterr().out


def test_quiet_and_verbose_exclude_each_other(capsys: Capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "breast_cancer_mlp", "-q", "-v"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# --------------------------------------------------------------------- --json and -q


def test_explain_json_is_the_only_stdout(tmp_path: Path, capsys: Capsys) -> None:
    argv = ["explain", "breast_cancer_mlp", "--method", "integrated_gradients", "--samples", "2"]
    argv += ["--option", "n_steps=8", "--out", str(tmp_path), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["model"] == "breast_cancer_mlp" and document["samples"] == [0, 1]
    (entry,) = document["explanations"]
    assert entry["method"] == "integrated_gradients" and entry["model_evaluations"] > 0
    assert Path(entry["file"]).is_file()
    assert [Path(f).name for f in document["figures"]] == [
        "breast_cancer_mlp_sample0.png",
        "breast_cancer_mlp_sample1.png",
    ]
    assert xai.Explanation.load(entry["file"]).attributions.shape == (2, 30)


def test_explain_quiet_prints_the_table_only(tmp_path: Path, capsys: Capsys) -> None:
    argv = ["explain", "breast_cancer_mlp", "--method", "integrated_gradients", "--samples", "1"]
    argv += ["--option", "n_steps=8", "--out", str(tmp_path), "-q"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].split() == ["method", "seconds", "evaluations", "file"]
    assert len(lines) == 2 and lines[1].startswith("integrated_gradients")
    assert captured.err == ""  # no progress, no log lines


def test_explain_off_a_terminal_says_each_stage_on_stderr(tmp_path: Path, capsys: Capsys) -> None:
    """Not on a terminal (pytest captures stderr): one line per stage instead of a bar."""
    argv = ["explain", "breast_cancer_mlp", "--method", "integrated_gradients", "--samples", "1"]
    argv += ["--option", "n_steps=8", "--out", str(tmp_path)]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("xai explain: explaining: integrated_gradients: 1 sample(s) in ")
    assert err[0].endswith("(1/2, " + err[0].rsplit("(1/2, ", 1)[1])
    assert err[1].startswith("xai explain: explaining: 1 figure(s) (2/2, ")


def test_logging_is_restored_after_a_command(tmp_path: Path) -> None:
    import logging

    logger = logging.getLogger("xai")
    before = (logger.level, list(logger.handlers), logger.propagate)
    main(["evaluate", "breast_cancer_mlp", "--json"])
    assert (logger.level, list(logger.handlers), logger.propagate) == before


def test_train_without_a_terminal_logs_each_epoch(tmp_path: Path, capsys: Capsys) -> None:
    """`xai train` is never silent for minutes: each epoch is one line on stderr."""
    argv = ["train", "breast_cancer_mlp", "--epochs", "2", "--out", str(tmp_path), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["epochs_run"] == 2
    epochs = [line for line in captured.err.splitlines() if line.startswith("xai train: epoch ")]
    assert [line.split(":")[1].strip() for line in epochs] == ["epoch 1", "epoch 2"]
    assert "train_loss" in epochs[0]


def test_train_quiet_logs_nothing(tmp_path: Path, capsys: Capsys) -> None:
    argv = ["train", "breast_cancer_mlp", "--epochs", "1", "--out", str(tmp_path), "-q"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "breast_cancer_mlp [test]" in captured.out  # the results still print


# --------------------------------------------------------------------- your own model

MODULE = """
import torch


def build():
    return torch.nn.Sequential(torch.nn.Linear(2, 2))
"""


@pytest.fixture
def own_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``NAME:build`` (a module in the current folder), its weights and an .npz it classifies
    perfectly; a fresh module name per test (imports are cached)."""
    name = f"own_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    weights = tmp_path / "weights.safetensors"
    save_file(
        {"0.weight": torch.tensor([[-2.0, 0.3], [2.0, -0.3]]), "0.bias": torch.zeros(2)}, weights
    )
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    y = (4 * x[:, 0] - 0.6 * x[:, 1] > 0).astype(np.int64)
    np.savez(tmp_path / "data.npz", x=x, y=y, class_names=np.array(["neg", "pos"]))
    return {"spec": f"{name}:build", "weights": str(weights), "data": str(tmp_path / "data.npz")}


def test_evaluate_own_model(own_model: dict[str, str], capsys: Capsys) -> None:
    argv = ["evaluate", own_model["spec"], "--weights", own_model["weights"]]
    assert main([*argv, "--data", own_model["data"], "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["split"] == "data.npz"
    metrics = document["models"][own_model["spec"]]
    assert metrics["accuracy"] == 1.0 and metrics["n_samples"] == 64


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--data"),  # weights without data: the factory needs both
        (["--data", "data.npz", "--split", "val"], "--split: only for reference models"),
        (["--data", "missing.npz"], "--data: expected an existing .npz file"),
    ],
)
def test_evaluate_own_model_errors(
    own_model: dict[str, str], extra: list[str], message: str, capsys: Capsys
) -> None:
    argv = ["evaluate", own_model["spec"], "--weights", own_model["weights"], *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_evaluate_own_model_alone(own_model: dict[str, str], capsys: Capsys) -> None:
    argv = ["evaluate", own_model["spec"], "breast_cancer_mlp", "--weights", own_model["weights"]]
    assert main([*argv, "--data", own_model["data"]]) == 2
    assert "is evaluated alone" in capsys.readouterr().err


def test_evaluate_data_with_a_reference_model(capsys: Capsys) -> None:
    assert main(["evaluate", "breast_cancer_mlp", "--data", "x.npz"]) == 2
    assert "only a module:factory model takes" in capsys.readouterr().err


def test_train_own_model_then_evaluate_it(own_model: dict[str, str], capsys: Capsys) -> None:
    out = Path("trained")
    argv = ["train", own_model["spec"], "--data", own_model["data"], "--val-data"]
    argv += [own_model["data"], "--epochs", "3", "--seed", "1", "--out", str(out), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["epochs_run"] == 3 and set(document["metrics"]) == {"train", "val"}
    weights = out / "build.safetensors"
    assert document["weights"] == str(weights) and weights.is_file()
    assert (out / "build.history.json").is_file()
    assert len([line for line in captured.err.splitlines() if " epoch " in line]) == 3
    # the trained weights are the model's: xai evaluate and xai explain take them
    argv = ["evaluate", own_model["spec"], "--weights", str(weights), "--data", own_model["data"]]
    assert main([*argv, "--json"]) == 0
    accuracy = json.loads(capsys.readouterr().out)["models"][own_model["spec"]]["accuracy"]
    assert accuracy == pytest.approx(document["metrics"]["train"]["accuracy"])


def test_train_own_model_from_weights(own_model: dict[str, str], capsys: Capsys) -> None:
    """--weights is the start: a perfect model trained one epoch at a tiny rate stays one."""
    argv = ["train", own_model["spec"], "--data", own_model["data"], "--weights"]
    argv += [own_model["weights"], "--epochs", "1", "--out", "t", "-q"]
    assert main(argv) == 0
    assert "1.0000" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--data: "),
        (["--data", "missing.npz"], "--data: expected an existing .npz file"),
        (["--data", "data.npz", "--val-data", "nope.npz"], "--val-data: expected an existing"),
        (
            ["--data", "data.npz", "--weights", "nope.safetensors"],
            "--weights: expected an existing",
        ),
    ],
)
def test_train_own_model_errors(
    own_model: dict[str, str], extra: list[str], message: str, capsys: Capsys
) -> None:
    assert main(["train", own_model["spec"], *extra, "--out", "t"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not Path("t/build.safetensors").exists()


def test_train_reference_model_refuses_own_data(tmp_path: Path, capsys: Capsys) -> None:
    assert main(["train", "breast_cancer_mlp", "--data", "x.npz", "--out", str(tmp_path)]) == 2
    assert "--data: only for a module:factory model" in capsys.readouterr().err
