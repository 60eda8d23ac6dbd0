"""Bad command-line arguments: one line naming the flag, what was expected and what was given,
a non-zero exit, no stack trace, and no work done first (nothing is trained or evaluated here)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import reference_models
from xai.cli import main

Capsys = pytest.CaptureFixture[str]


def _error(capsys: Capsys, *argv: str) -> str:
    """Run ``xai ARGV`` in-process, assert it failed cleanly; returns the error message.
    Every subcommand prints one line to stderr and returns 2, the one usage-error code
    (``xai report`` too: its 1 means a check failed)."""
    code = main(list(argv))
    message = capsys.readouterr().err
    assert code == 2, message
    assert "Traceback" not in message
    assert len(message.strip().splitlines()) == 1, message  # one line
    return message


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU-only torch, also on a machine with a GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.mark.parametrize("command", ["evaluate", "train"])
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_device_cuda_without_a_gpu(
    no_cuda: None, command: str, device: str, tmp_path: Path, capsys: Capsys
) -> None:
    argv = [command, "breast_cancer_mlp", "--device", device]
    if command == "train":
        argv += ["--out", str(tmp_path / "out")]
    message = _error(capsys, *argv)
    assert f"xai {command}: --device: {device!r}" in message
    assert "no CUDA device is available" in message and "--device cpu" in message
    assert not (tmp_path / "out").exists()  # checked before anything is created


@pytest.mark.parametrize("device", ["meta", "bogus", "CPU"])
def test_device_that_is_not_one_we_run_on(device: str, capsys: Capsys) -> None:
    message = _error(capsys, "evaluate", "breast_cancer_mlp", "--device", device)
    assert f"--device: expected auto, cpu, cuda, cuda:N or mps, got {device!r}" in message


def test_device_mps_where_there_is_none(monkeypatch: pytest.MonkeyPatch, capsys: Capsys) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    message = _error(capsys, "evaluate", "breast_cancer_mlp", "--device", "mps")
    assert "--device: 'mps' asks for an Apple GPU (MPS), but MPS is not available" in message


def test_evaluate_bad_weights(tmp_path: Path, capsys: Capsys) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_text("not a safetensors file")
    other = tmp_path / "other.safetensors"
    save_file(torch.nn.Linear(3, 2).state_dict(), other)
    digits = reference_models.weights_path("digits_cnn")

    def evaluate(weights: Path | str, *names: str) -> str:
        return _error(capsys, "evaluate", *names, "--weights", str(weights))

    message = evaluate(tmp_path / "missing.safetensors", "breast_cancer_mlp")
    assert "--weights: expected a .safetensors checkpoint" in message
    assert "missing.safetensors" in message and "does not exist" in message
    assert "--weights: expected a .safetensors checkpoint, got the folder" in evaluate(
        tmp_path, "breast_cancer_mlp"
    )
    message = evaluate(junk, "breast_cancer_mlp")
    assert "--weights: " in message and "is not a readable safetensors file" in message
    assert "header" in message
    message = evaluate(other, "breast_cancer_mlp")
    assert "--weights: " in message and "does not fit the 'breast_cancer_mlp' model" in message
    assert "Missing key(s)" in message
    assert "holds a 'small_cnn' model" in evaluate(digits, "breast_cancer_mlp")
    (tmp_path / "other.json").write_text("{not json")
    message = evaluate(other)  # no NAME: the JSON beside the weights names the model
    assert "--weights: the metadata beside" in message and "cannot be read as JSON" in message
    assert "xai evaluate NAME --weights" in message
    (tmp_path / "other.json").write_text(json.dumps([1, 2]))
    assert "--weights: cannot tell which reference model" in evaluate(other)


def test_train_and_demo_bad_out_and_seed(tmp_path: Path, capsys: Capsys) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for command in (["train", "breast_cancer_mlp"], ["demo"]):
        message = _error(capsys, *command, "--out", str(a_file))
        assert f"--out: expected a folder, got the existing file {str(a_file)!r}" in message
        message = _error(capsys, *command, "--out", str(a_file / "sub"))
        assert "--out: expected a folder that can be created and written to" in message
        assert str(a_file / "sub") in message
        message = _error(capsys, *command, "--seed", "-1", "--out", str(tmp_path / "out"))
        assert "--seed: expected an integer in [0, 2**32), got -1" in message
    assert "name: expected one of" in _error(capsys, "train", "nope", "--out", str(tmp_path / "o"))
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()


# --- xai report ---


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--min-accuracy", "2"),
        ("--min-accuracy", "-0.1"),
        ("--min-f1", "1.5"),
        ("--min-roc-auc", "nan"),
        ("--min-roc-auc", "-1"),
    ],
)
def test_report_thresholds_outside_0_1(
    flag: str, value: str, tmp_path: Path, capsys: Capsys
) -> None:
    out = tmp_path / "out"
    message = _error(
        capsys, "report", "--model", "breast_cancer_mlp", flag, value, "--out", str(out)
    )
    assert f"xai report: {flag}: expected a number in [0, 1], got {float(value)}" in message
    assert not out.exists()


@pytest.mark.parametrize("samples", ["0", "-2"])
def test_report_samples_not_positive(samples: str, tmp_path: Path, capsys: Capsys) -> None:
    message = _error(capsys, "report", "--samples", samples, "--out", str(tmp_path / "out"))
    assert f"--samples: expected a positive count, got {samples}" in message


@pytest.mark.parametrize(
    "given", [["--weights"], ["--data"], ["--weights", "--data"]], ids=["weights", "data", "both"]
)
@pytest.mark.parametrize("models", [["digits_cnn"], []], ids=["named", "default"])
def test_report_weights_or_data_with_reference_models_only(
    given: list[str], models: list[str], tmp_path: Path, capsys: Capsys
) -> None:
    argv = ["report", "--out", str(tmp_path / "out")]
    for model in models:
        argv += ["--model", model]
    for flag in given:
        argv += [flag, str(tmp_path / "file")]
    message = _error(capsys, *argv)
    assert f"xai report: {' and '.join(given)} only" in message
    assert "to a module:factory model" in message
    assert ("digits_cnn" in message) and (models or "shapes_cnn" in message)


@pytest.fixture
def user_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path, Path]:
    """A ``module:factory`` model (a Linear(3, 2)), its weights and test data, in tmp_path."""
    module = "cli_errors_model"
    (tmp_path / f"{module}.py").write_text(
        "from torch import nn\n\ndef build():\n    return nn.Linear(3, 2)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, module, raising=False)
    save_file(torch.nn.Linear(3, 2).state_dict(), tmp_path / "w.safetensors")
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3), np.float32), y=np.array([0, 1, 0, 1]))
    return f"{module}:build", tmp_path / "w.safetensors", tmp_path / "d.npz"


@pytest.mark.parametrize("command", ["report", "dashboard"])
def test_user_model_with_bad_weights(
    command: str, user_model: tuple[str, Path, Path], tmp_path: Path, capsys: Capsys
) -> None:
    spec, _, data = user_model
    junk = tmp_path / "junk.safetensors"
    junk.write_text("not a safetensors file")
    wrong = tmp_path / "wrong.safetensors"
    save_file(torch.nn.Linear(5, 2).state_dict(), wrong)
    if command == "dashboard":
        pytest.importorskip("streamlit")

    def run(weights: Path) -> str:
        argv = [command, "--model", spec, "--weights", str(weights), "--data", str(data)]
        if command == "report":
            argv += ["--out", str(tmp_path / "out")]
        return _error(capsys, *argv)

    message = run(tmp_path / "missing.safetensors")
    assert f"xai {command}: --weights: expected an existing .safetensors file" in message
    assert "missing.safetensors" in message
    message = run(junk)
    assert f"xai {command}: --weights: expected a .safetensors file" in message
    assert "junk.safetensors could not be read" in message
    message = run(wrong)
    assert f"xai {command}: --weights: {wrong} does not fit the model of {spec}" in message
    assert "size mismatch" in message
    assert not (tmp_path / "out").exists()  # the suite never started


def test_report_user_model_with_bad_data(
    user_model: tuple[str, Path, Path], tmp_path: Path, capsys: Capsys
) -> None:
    spec, weights, _ = user_model
    argv = ["report", "--model", spec, "--weights", str(weights), "--out", str(tmp_path / "out")]
    message = _error(capsys, *argv, "--data", str(weights))
    assert "xai report: --data: expected an .npz file" in message
    message = _error(capsys, *argv, "--data", str(tmp_path / "missing.npz"))
    assert "xai report: --data: expected an existing .npz file" in message


def test_report_unwritable_out(tmp_path: Path, capsys: Capsys) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    base = ["report", "--model", "breast_cancer_mlp", "--out"]
    message = _error(capsys, *base, str(a_file / "report"))
    assert "xai report: --out: expected a folder that can be created and written to" in message
    assert str(a_file / "report") in message
    message = _error(capsys, *base, str(a_file))
    assert f"xai report: --out: expected a folder, got the existing file {str(a_file)!r}" in message


# --- xai dashboard ---


def test_dashboard_bad_model_name_and_host(capsys: Capsys) -> None:
    pytest.importorskip("streamlit")
    message = _error(capsys, "dashboard", "--model", "nope")
    assert "xai dashboard: --model: expected a reference model" in message
    assert "or module:factory, got 'nope'" in message
    message = _error(capsys, "dashboard", "--host", "no-such-host.invalid")
    assert "xai dashboard: --host: expected an address of this machine" in message
    assert "'no-such-host.invalid'" in message
    assert "in use" not in message


# --- xai demo ---


def test_demo_help_says_what_it_runs(capsys: Capsys) -> None:
    with contextlib.suppress(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "small model" not in text
    assert "every reference model" in text and "every registered method" in text
    assert "report" in text
    with contextlib.suppress(SystemExit):
        main(["--help"])
    listing = " ".join(capsys.readouterr().out.split())
    assert "evaluate every reference model" in listing and "small model" not in listing
