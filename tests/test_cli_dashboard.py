"""``xai dashboard``: what it runs, and the clear errors it gives before starting anything."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from xai.cli import main
from xai.cli.dashboard import dashboard_command


def test_command_serves_the_app_headless_on_the_given_address() -> None:
    command = dashboard_command("127.0.0.1", 8599)
    assert command[:4] == [sys.executable, "-m", "streamlit", "run"]
    app = Path(command[4])
    assert app.name == "app.py" and app.parent.name == "dashboards" and app.is_file()
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options["--server.address"] == "127.0.0.1"
    assert options["--server.port"] == "8599"
    assert options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"


@pytest.fixture
def user_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    (tmp_path / "clidash.py").write_text(
        "from torch import nn\n\ndef build():\n    return nn.Linear(3, 2)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    save_file(torch.nn.Linear(3, 2).state_dict(), tmp_path / "w.safetensors")
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3), np.float32), y=np.array([0, 1, 0, 1]))
    return tmp_path / "w.safetensors", tmp_path / "d.npz"


def _fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["dashboard", *argv]) == 2
    return capsys.readouterr().err


def test_user_model_errors_before_starting(
    user_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    weights, data = map(str, user_files)
    message = _fails(capsys, "--model", "clidash:build", "--data", data)
    assert "--model clidash:build needs --weights FILE.safetensors and --data FILE.npz" in message
    message = _fails(capsys, "--model", "nowhere:build", "--weights", weights, "--data", data)
    assert "could not import module 'nowhere'" in message
    message = _fails(capsys, "--model", "clidash:nope", "--weights", weights, "--data", data)
    assert "has no attribute 'nope'" in message
    message = _fails(capsys, "--model", "clidash:build", "--weights", data, "--data", data)
    assert "weights: expected a .safetensors file" in message
    np.savez("wide.npz", x=np.zeros((4, 5), np.float32), y=np.zeros(4, np.int64))
    message = _fails(capsys, "--model", "clidash:build", "--weights", weights, "--data", "wide.npz")
    assert "data: the model of clidash:build cannot run on 'x' of shape (4, 5)" in message
    assert "--weights and --data go with --model" in _fails(capsys, "--weights", weights)
    message = _fails(capsys, "--model", "digits_cnn", "--weights", weights)
    assert "digits_cnn is a reference model" in message


def test_port_in_use_and_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = _fails(capsys, "--port", str(port))
    assert f"127.0.0.1:{port} is in use" in message and f"--port {port + 1}" in message
    assert "--port: expected 1-65535, got 70000" in _fails(capsys, "--port", "70000")


def test_missing_streamlit_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "streamlit", None)  # import streamlit raises ImportError
    message = _fails(capsys)
    assert "pip install 'xai-toolkit[dashboard]'" in message
