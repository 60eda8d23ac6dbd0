"""``xai dashboard``: what it runs, and the clear errors it gives before starting anything."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import xai.cli.dashboard
from xai.cli import main
from xai.cli.dashboard import dashboard_command
from xai.suite.subject import (
    ALLOW_CODE_ENV,
    DATA_ENV,
    FACTORIES_ENV,
    MAX_DATA_ENV,
    MAX_UPLOAD_ENV,
    MODEL_ENV,
    WEIGHTS_ENV,
)

ROOT = Path(__file__).resolve().parents[1]


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
    assert options["--server.maxUploadSize"] == "100"  # Streamlit refuses larger uploads
    command = dashboard_command("127.0.0.1", 8599, max_upload_mb=7)
    assert command[command.index("--server.maxUploadSize") + 1] == "7"


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Runs ``xai dashboard`` up to the server's start, which is recorded instead."""
    pytest.importorskip("streamlit")
    seen: dict[str, object] = {}

    def serve(command: list[str], environment: dict[str, str]) -> int:
        seen["command"], seen["environment"] = command, environment
        return 0

    monkeypatch.setattr(xai.cli.dashboard, "_serve", serve)
    return seen


def test_the_server_gets_only_what_the_command_line_gives(
    user_files: tuple[Path, Path], served: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Factories for the upload form, --allow-code and the limits reach the server; a variable
    left in the caller's environment does not turn --allow-code on."""
    weights, data = map(str, user_files)
    for name in (ALLOW_CODE_ENV, FACTORIES_ENV, MODEL_ENV, WEIGHTS_ENV, DATA_ENV):
        monkeypatch.setenv(name, "1")
    port = str(_free_port())
    assert main(["dashboard", "clidash:build", "--port", port]) == 0
    environment = served["environment"]
    assert environment[FACTORIES_ENV] == "clidash:build"
    for name in (ALLOW_CODE_ENV, MODEL_ENV, WEIGHTS_ENV, DATA_ENV):
        assert name not in environment, name
    assert (environment[MAX_UPLOAD_ENV], environment[MAX_DATA_ENV]) == ("100", "256")

    argv = ["--model", "clidash:build", "--weights", weights, "--data", data, "--port", port]
    argv += ["--allow-code", "--max-upload-mb", "5", "--max-data-mb", "50"]
    assert main(["dashboard", *argv]) == 0
    environment, command = served["environment"], served["command"]
    assert environment[ALLOW_CODE_ENV] == "1"
    assert environment[FACTORIES_ENV] == environment[MODEL_ENV] == "clidash:build"
    assert environment[WEIGHTS_ENV] == weights and environment[DATA_ENV] == data
    assert (environment[MAX_UPLOAD_ENV], environment[MAX_DATA_ENV]) == ("5", "50")
    assert command[command.index("--server.maxUploadSize") + 1] == "5"

    # --model module:factory without files: its weights and data are uploaded in the page
    assert main(["dashboard", "--model", "clidash:build", "--port", port]) == 0
    assert served["environment"][FACTORIES_ENV] == "clidash:build"
    assert WEIGHTS_ENV not in served["environment"]


def test_allow_code_warns_who_can_run_code(
    served: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    assert main(["dashboard", "--allow-code", "--port", str(port)]) == 0
    assert f"anyone who can reach http://127.0.0.1:{port} can run code" in capsys.readouterr().err


def test_models_and_limits_are_checked_before_starting(
    user_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    message = _fails(capsys, "clidash:nope")
    assert message.startswith("xai dashboard: MODEL: module 'clidash' has no attribute 'nope'")
    assert "could not import module 'nowhere'" in _fails(capsys, "--model", "nowhere:build")
    message = _fails(capsys, "shapes_cnn")
    assert "MODEL: shapes_cnn is a reference model" in message
    assert "MODEL: expected module:factory" in _fails(capsys, "justaname")
    message = _fails(capsys, "--max-upload-mb", "0")
    assert "--max-upload-mb: expected a whole number of MB, at least 1, got 0" in message
    assert "--max-data-mb: expected" in _fails(capsys, "--max-data-mb", "-3")


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _serving(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_xai_dashboard_stops_the_server(signum: int) -> None:
    """``kill -TERM`` (or -INT) on the ``xai dashboard`` process, not on its group: the
    Streamlit server it started stops too, and the port is free again."""
    pytest.importorskip("streamlit")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "xai", "dashboard", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    servers: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, f"xai dashboard exited with {process.returncode}"
            assert time.monotonic() < deadline, "the server did not answer /_stcore/health"
            try:
                url = f"http://127.0.0.1:{port}/_stcore/health"
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                time.sleep(0.3)
        servers = _children(process.pid)
        assert servers, "xai dashboard runs the server as a child process"

        os.kill(process.pid, signum)
        assert process.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while (_serving(port) or any(map(_alive, servers))) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(_alive, servers)), "the Streamlit server outlived xai dashboard"
        assert not _serving(port), f"port {port} still serves"
    finally:
        for pid in [process.pid, *servers]:  # only what this test started
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)
