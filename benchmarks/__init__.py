"""Performance harness (``make bench`` = ``python -m benchmarks``).

Each benchmark is a module with ``run(out: Path, quick: bool = False) -> dict`` registered in
:data:`BENCHMARKS`; it prints a short table and writes ``out/<name>.json``. Add a benchmark by
writing such a module and adding one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Benchmark = Callable[..., dict[str, Any]]


def _training(out: Path, quick: bool = False) -> dict[str, Any]:
    from benchmarks.training import run

    return run(out, quick=quick)


def _explainers(out: Path, quick: bool = False, only: list[str] | None = None) -> dict[str, Any]:
    from benchmarks.explainers import run

    return run(out, quick=quick, only=only)


def _quality_table(out: Path, quick: bool = False) -> dict[str, Any]:
    from benchmarks.quality_table import run

    return run(out, quick=quick)


def _forward_passes(out: Path, quick: bool = False) -> dict[str, Any]:
    from benchmarks.forward_passes import run

    return run(out, quick=quick)


def _dataset_throughput(out: Path, quick: bool = False) -> dict[str, Any]:
    from benchmarks.dataset_throughput import run

    return run(out, quick=quick)


def _realistic_models(out: Path, quick: bool = False) -> dict[str, Any]:
    from benchmarks.realistic_models import run

    return run(out, quick=quick)


def _text_models(out: Path, quick: bool = False) -> dict[str, Any]:
    from benchmarks.text_models import run

    return run(out, quick=quick)


#: name -> function(out_dir, quick) -> results dict
BENCHMARKS: dict[str, Benchmark] = {
    "training": _training,
    "explainers": _explainers,
    "quality_table": _quality_table,
    "forward_passes": _forward_passes,
    "realistic_models": _realistic_models,
    "dataset_throughput": _dataset_throughput,
    "text_models": _text_models,
}
