"""``xai dashboard``: start the Streamlit dashboard on 127.0.0.1 and print its address.

The server runs as a child process (``streamlit run``); this process hands it the models it may
load (environment variables, see :mod:`xai.suite.subject`), forwards SIGTERM, SIGINT and SIGHUP
to it and waits until it has stopped, so stopping ``xai dashboard`` stops the server.
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from xai.cli.common import flag_message
from xai.suite.subject import (
    ALLOW_CODE_ENV,
    DATA_ENV,
    DEFAULT_MAX_DATA_MB,
    DEFAULT_MAX_UPLOAD_MB,
    FACTORIES_ENV,
    MAX_DATA_ENV,
    MAX_UPLOAD_ENV,
    MODEL_ENV,
    WEIGHTS_ENV,
)

__all__ = ["add_dashboard", "dashboard_command"]

#: Seconds the server has to stop after a forwarded signal before it is killed.
STOP_GRACE_S = 10.0


def dashboard_command(
    host: str, port: int, max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB
) -> list[str]:
    """The command that serves the app headless on ``host:port``; Streamlit itself refuses
    uploads above ``max_upload_mb``."""
    spec = importlib.util.find_spec(
        "dashboards"
    )  # located, not imported: the UI is not a dependency
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "xai dashboard: the dashboards package is not installed; install xai-toolkit with "
            "the [dashboard] extra from a checkout (pip install -e '.[dashboard]')."
        )
    app = Path(spec.origin).resolve().parent / "app.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "viewer",
        "--server.maxUploadSize", str(max_upload_mb),
    ]  # fmt: skip


def _listen_problem(host: str, port: int) -> str | None:
    """Whether the server can listen on ``host:port``: None, or the message naming the flag
    at fault (an address that is not this machine's is --host; a taken port is --port)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        return (
            f"--host: expected an address of this machine (e.g. 127.0.0.1, 0.0.0.0 or "
            f"localhost), got {host!r}, which does not resolve ({error})."
        )
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return (
                    f"--port: {host}:{port} is in use (another dashboard?). "
                    f"Choose another, e.g. --port {port + 1 if port < 65535 else 8501}."
                )
            if error.errno == errno.EADDRNOTAVAIL:
                return (
                    f"--host: expected an address of this machine (e.g. 127.0.0.1 or 0.0.0.0), "
                    f"got {host!r} ({error.strerror})."
                )
            return f"--port: cannot listen on {host}:{port} ({error.strerror or error})."
    return None


def _is_factory(name: str, references: list[str]) -> bool:
    return name not in references and ":" in name


def _check_user_model(args: argparse.Namespace) -> str | None:
    """Check the models given on the command line now, so a wrong name or file fails with a
    clear message rather than in the browser. Returns the error message, or None."""
    import reference_models
    from xai.suite.subject import load_factory, user_subject

    references = reference_models.available()
    for name in args.models:
        if name in references:
            return (
                f"MODEL: {name} is a reference model, which the dashboard always offers; "
                f"positional MODELs are module:factory names (--model {name} shows it first)."
            )
        if ":" not in name:
            return (
                f"MODEL: expected module:factory (a function returning your torch.nn.Module), "
                f"got {name!r}."
            )
    if args.model is None:
        if args.weights or args.data:
            return "--weights and --data go with --model module:factory."
    elif args.model in references:
        if args.weights or args.data:
            return f"--weights/--data are for your own model; {args.model} is a reference model."
    elif ":" not in args.model:
        return (
            f"--model: expected a reference model ({', '.join(references)}) or module:factory, "
            f"got {args.model!r}."
        )
    elif bool(args.weights) != bool(args.data):
        return f"--model {args.model} needs --weights FILE.safetensors and --data FILE.npz."
    given = [(args.model, "--model")] if args.model and args.model not in references else []
    given += [(name, "MODEL") for name in args.models]
    for name, flag in given:
        try:
            if flag == "--model" and args.weights:
                user_subject(name, args.weights, args.data)  # imported and called
            else:
                load_factory(name)  # imported (trusted: the command line), called on upload
        except (ValueError, TypeError) as error:
            return flag_message(error, {"model": flag})
    return None


def _upload_limit_problem(args: argparse.Namespace) -> str | None:
    for flag, value in (
        ("--max-upload-mb", args.max_upload_mb),
        ("--max-data-mb", args.max_data_mb),
    ):
        if value < 1:
            return f"{flag}: expected a whole number of MB, at least 1, got {value}."
    return None


def _environment(args: argparse.Namespace) -> dict[str, str]:
    """The server's environment: this process's, with the dashboard's own variables set to
    what this command was given (one left in the caller's environment, such as
    ``XAI_DASHBOARD_ALLOW_CODE``, is removed)."""
    import reference_models

    references = reference_models.available()
    factories = [
        name
        for name in [*([args.model] if args.model else []), *args.models]
        if _is_factory(name, references)
    ]
    environment = dict(os.environ)
    # Files as absolute paths: the server may resolve them from another folder.
    given = {
        MODEL_ENV: args.model,
        WEIGHTS_ENV: args.weights and str(Path(args.weights).resolve()),
        DATA_ENV: args.data and str(Path(args.data).resolve()),
        FACTORIES_ENV: ",".join(dict.fromkeys(factories)),
        ALLOW_CODE_ENV: "1" if args.allow_code else None,
        MAX_UPLOAD_ENV: str(args.max_upload_mb),
        MAX_DATA_ENV: str(args.max_data_mb),
    }
    for name, value in given.items():
        if value:
            environment[name] = value
        else:
            environment.pop(name, None)
    # The user's module:factory is imported from the folder the dashboard was started in.
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.getcwd(), environment.get("PYTHONPATH")) if p
    )
    return environment


def _signal_server(process: subprocess.Popen[bytes] | None, signum: int) -> None:
    if process is not None:
        process.send_signal(signum)  # nothing once it has exited


def _serve(command: list[str], environment: dict[str, str]) -> int:
    """Run the server ``command`` until it exits, or until this process receives SIGTERM,
    SIGINT (Ctrl+C) or SIGHUP: the signal is passed on to the server, which gets
    :data:`STOP_GRACE_S` seconds to stop before it is killed. Returns the server's exit status,
    or 0 when it was stopped by a signal."""
    process: subprocess.Popen[bytes] | None = None
    received: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        _signal_server(process, signum)

    handled = [signal.SIGTERM, signal.SIGINT]
    if hasattr(signal, "SIGHUP"):
        handled.append(signal.SIGHUP)
    # installed before the server starts, so that no signal can leave it behind
    previous = {signum: signal.signal(signum, forward) for signum in handled}
    try:
        process = subprocess.Popen(command, env=environment)
        if received:  # a signal came while the server was being started
            _signal_server(process, received[0])
        deadline: float | None = None
        while True:
            try:
                code = process.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if received and deadline is None:
                    deadline = time.monotonic() + STOP_GRACE_S
                if deadline is not None and time.monotonic() > deadline:
                    process.kill()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if process is not None and process.poll() is None:  # an error in this process
            process.kill()
            process.wait()
    return 0 if received else code


def _dashboard(args: argparse.Namespace) -> int:
    try:
        import streamlit  # noqa: F401
    except ImportError:
        print(
            "xai dashboard: needs streamlit, which is not installed. "
            "Install it with: pip install 'xai-toolkit[dashboard]'",
            file=sys.stderr,
        )
        return 2
    if not 0 < args.port < 65536:
        print(f"xai dashboard: --port: expected 1-65535, got {args.port}.", file=sys.stderr)
        return 2
    error = _upload_limit_problem(args) or _check_user_model(args)
    if error:
        print(f"xai dashboard: {error}", file=sys.stderr)
        return 2
    problem = _listen_problem(args.host, args.port)
    if problem:
        print(f"xai dashboard: {problem}", file=sys.stderr)
        return 2
    environment = _environment(args)
    url = f"http://{args.host}:{args.port}"
    print(f"xai dashboard: {url}  (Ctrl+C stops it)", flush=True)
    if args.allow_code:
        print(
            f"xai dashboard: --allow-code: the page imports any module named in it; anyone "
            f"who can reach {url} can run code on this machine.",
            file=sys.stderr,
            flush=True,
        )
    return _serve(dashboard_command(args.host, args.port, args.max_upload_mb), environment)


def add_dashboard(subparsers: argparse._SubParsersAction) -> None:
    """Add ``xai dashboard [MODEL ...] [--model --weights --data] [--allow-code]
    [--max-upload-mb --max-data-mb] [--host] [--port]``."""
    parser = subparsers.add_parser(
        "dashboard", help="start the Streamlit dashboard on 127.0.0.1 and print its address"
    )
    parser.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="module:factory names of your models whose weights and data may be uploaded on "
        "the 'Your model' page (the page loads no other code)",
    )
    parser.add_argument(
        "--model",
        help="a reference model to show first, or module:factory for your own model (with "
        "--weights and --data: shown first; without: its files may be uploaded in the page)",
    )
    parser.add_argument("--weights", help="safetensors weights of a module:factory model")
    parser.add_argument("--data", help=".npz test data (arrays x, y) of a module:factory model")
    parser.add_argument(
        "--allow-code",
        action="store_true",
        help="let the 'Your model' page import any module:factory typed in it: anyone who can "
        "reach the page can run code on this machine",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=int,
        default=DEFAULT_MAX_UPLOAD_MB,
        help=f"largest file the page accepts, in MB (default: {DEFAULT_MAX_UPLOAD_MB})",
    )
    parser.add_argument(
        "--max-data-mb",
        type=int,
        default=DEFAULT_MAX_DATA_MB,
        help="largest uploaded test data once decompressed (the arrays of the .npz), in MB "
        f"(default: {DEFAULT_MAX_DATA_MB})",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8501, help="port (default: 8501)")
    parser.set_defaults(handler=_dashboard)
