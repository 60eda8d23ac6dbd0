"""``xai dashboard``: start the Streamlit dashboard on 127.0.0.1 and print its address."""

from __future__ import annotations

import argparse
import errno
import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

from xai.cli.common import flag_message
from xai.suite.subject import DATA_ENV, MODEL_ENV, WEIGHTS_ENV

__all__ = ["add_dashboard", "dashboard_command"]


def dashboard_command(host: str, port: int) -> list[str]:
    """The command that serves the app headless on ``host:port``."""
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


def _check_user_model(args: argparse.Namespace) -> str | None:
    """Load the user's model once here, so a wrong file fails now with a clear message rather
    than in the browser. Returns the error message, or None."""
    import reference_models
    from xai.suite.subject import user_subject

    if args.model is None:
        if args.weights or args.data:
            return "--weights and --data go with --model module:factory."
        return None
    references = reference_models.available()
    if args.model in references:
        if args.weights or args.data:
            return f"--weights/--data are for your own model; {args.model} is a reference model."
        return None
    if ":" not in args.model:
        return (
            f"--model: expected a reference model ({', '.join(references)}) or module:factory, "
            f"got {args.model!r}."
        )
    if not args.weights or not args.data:
        return f"--model {args.model} needs --weights FILE.safetensors and --data FILE.npz."
    try:
        user_subject(args.model, args.weights, args.data)
    except (ValueError, TypeError) as error:
        return flag_message(error)
    return None


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
    error = _check_user_model(args)
    if error:
        print(f"xai dashboard: {error}", file=sys.stderr)
        return 2
    problem = _listen_problem(args.host, args.port)
    if problem:
        print(f"xai dashboard: {problem}", file=sys.stderr)
        return 2
    environment = dict(os.environ)
    # Files as absolute paths: the server may resolve them from another folder.
    given = {
        MODEL_ENV: args.model,
        WEIGHTS_ENV: args.weights and str(Path(args.weights).resolve()),
        DATA_ENV: args.data and str(Path(args.data).resolve()),
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
    print(f"xai dashboard: http://{args.host}:{args.port}  (Ctrl+C stops it)", flush=True)
    try:
        return subprocess.call(dashboard_command(args.host, args.port), env=environment)
    except KeyboardInterrupt:
        return 0


def add_dashboard(subparsers: argparse._SubParsersAction) -> None:
    """Add ``xai dashboard [--model --weights --data] [--host] [--port]``."""
    parser = subparsers.add_parser(
        "dashboard", help="start the Streamlit dashboard on 127.0.0.1 and print its address"
    )
    parser.add_argument(
        "--model",
        help="a reference model to show first, or module:factory for your own model",
    )
    parser.add_argument("--weights", help="safetensors weights of a module:factory model")
    parser.add_argument("--data", help=".npz test data (arrays x, y) of a module:factory model")
    parser.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8501, help="port (default: 8501)")
    parser.set_defaults(handler=_dashboard)
