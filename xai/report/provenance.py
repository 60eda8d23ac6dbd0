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


def git_commit(directory: str | os.PathLike[str]) -> str | None:
    """The commit checked out at ``directory`` (``"<sha>+dirty"`` with local changes), or None
    outside a git checkout or without git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if sha.returncode != 0:
        return None
    return sha.stdout.strip() or None


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
        root: the folder whose git commit is recorded (pytest's rootdir).
        seeds: seeds in use (e.g. ``{"torch_initial_seed": ..., "PYTHONHASHSEED": ...}``).
    """
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "libraries": library_versions(),
        "device": device_info(),
        "seeds": dict(seeds or {}),
        "git_commit": git_commit(root),
        "python": sys.version.split()[0],
        "command": " ".join(sys.argv),
        "root": str(Path(root)),
    }
