"""``xai train --resume``: an interrupted command continues to the weights of an uninterrupted one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import xai.training.loop as loop
from xai.cli.main import main
from xai.training import load_checkpoint


def test_train_command_resumes_after_ctrl_c(tmp_path: Path, capsys, monkeypatch) -> None:
    name, epochs = "breast_cancer_mlp", "2"
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    common = ["train", name, "--epochs", epochs, "--device", "cpu"]
    assert main([*common, "--out", str(straight)]) == 0

    real = loop._write

    def write_then_interrupt(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        if kwargs.get("state") is not None:  # Ctrl+C right after the first epoch's checkpoint
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_write", write_then_interrupt)
    capsys.readouterr()
    assert main([*common, "--out", str(interrupted)]) == 130
    message = capsys.readouterr().err
    assert "interrupted; the last complete checkpoint is in" in message
    assert f"--epochs {epochs} --resume`" in message
    monkeypatch.setattr(loop, "_write", real)

    assert main([*common, "--out", str(interrupted), "--resume"]) == 0
    assert "trained for 2 epoch(s)" in capsys.readouterr().out
    a, _ = load_checkpoint(straight / f"{name}.safetensors")
    b, meta = load_checkpoint(interrupted / f"{name}.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert meta["training"]["complete"] is True
    assert not (interrupted / f"{name}.resume.safetensors").exists()


def test_train_command_resume_errors_name_the_flag(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "none.safetensors"
    out = tmp_path / "out"
    assert main(["train", "breast_cancer_mlp", "--out", str(out), "--resume", str(missing)]) == 2
    message = capsys.readouterr().err
    assert message.startswith("xai train: --resume: no checkpoint at")
    assert not list(out.iterdir())  # nothing trained or written
    with pytest.raises(SystemExit):  # argparse: --resume takes at most one path
        main(["train", "breast_cancer_mlp", "--resume", "a", "b"])
