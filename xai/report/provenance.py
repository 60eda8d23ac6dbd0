"""Where a report came from: date, library versions, device, seeds, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from xai._provenance import library_versions


def _git(directory: str | os.PathLike[str], *arguments: str) -> str | None:
    """``git <arguments>`` run in ``directory``: its output, or None when git is missing or
    fails (outside a checkout, say)."""
    try:
        result = subprocess.run(
            ["git", *arguments],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def git_commit(directory: str | os.PathLike[str]) -> str | None:
    """The commit checked out at ``directory``, or None outside a git checkout or without
    git."""
    sha = _git(directory, "rev-parse", "HEAD")
    return (sha or "").strip() or None


def git_dirty(directory: str | os.PathLike[str]) -> bool | None:
    """Whether the checkout at ``directory`` has changes to tracked files since its commit
    (untracked files aside); None outside a git checkout or without git."""
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status.strip())


def device_info() -> dict[str, Any]:
    """The compute device the run could use: CUDA device names when present, else CPU."""
    info: dict[str, Any] = {"platform": platform.platform(), "processor": platform.machine()}
    import torch

    info["cuda_available"] = bool(torch.cuda.is_available())
    if info["cuda_available"]:
        info["cuda_devices"] = [
            torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
        ]
        info["device"] = "cuda"
    else:
        info["device"] = "cpu"
    info["cpu_count"] = os.cpu_count()
    info["torch_threads"] = torch.get_num_threads()
    return info


def collect(root: str | os.PathLike[str], seeds: dict[str, Any] | None = None) -> dict[str, Any]:
    """The provenance block of a report.

    Args:
        root: the project the run tested, whose git commit and state are recorded (pytest's
            rootdir; ``xai report`` passes the folder it was started in).
        seeds: seeds in use (e.g. ``{"torch_initial_seed": ..., "PYTHONHASHSEED": ...}``).

    Returns:
        The block: date, libraries, device, seeds, ``git_commit``, ``git_dirty`` (changes to
        tracked files since that commit), Python, the command line and ``root``.
    """
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "libraries": library_versions(),
        "device": device_info(),
        "seeds": dict(seeds or {}),
        "git_commit": git_commit(root),
        "git_dirty": git_dirty(root),
        "python": sys.version.split()[0],
        "command": " ".join(sys.argv),
        "root": str(Path(root)),
    }
