"""One benchmark row: xai, its peer and the model-pass floor timed in alternation, as ratios;
and the JSON file of a benchmark's rows with the machine they were measured on."""

from __future__ import annotations

import contextlib
import io
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.explainers import _alternating_medians
from xai._provenance import library_versions

#: The columns :func:`print_row` shows after the model's name.
HEADER = (
    f"{'method':<22}{'n':>3}{'evals':>8}{'xai ms':>10}{'peer ms':>10}"
    f"{'floor ms':>10}{'xai/floor':>11}{'peer/floor':>11}{'peer/xai':>10}"
)


def timed_row(
    ours: Callable[[], Any],
    peer: Callable[[], Any],
    model_call: Callable[[], Any],
    *,
    n: int,
    evaluations: float,
    model_batch: int,
    budget: float,
    quick: bool,
    **labels: Any,
) -> dict[str, Any]:
    """Per-sample milliseconds of ``ours`` and ``peer`` (each explaining ``n`` samples) and of
    the floor (``evaluations`` per sample of ``model_call``, which runs ``model_batch`` rows),
    timed in alternation, with their ratios; ``labels`` (model, method, ...) lead the row."""
    with contextlib.redirect_stderr(io.StringIO()):  # the peers' progress bars
        medians = _alternating_medians(
            {"xai": ours, "peer": peer, "model": model_call},
            budget,
            min_rounds=2 if quick else 3,
            max_rounds=3 if quick else 5,
        )
    xai_seconds, peer_seconds = medians["xai"] / n, medians["peer"] / n
    floor = evaluations * medians["model"] / model_batch
    return {
        **labels,
        "n": n,
        "evaluations_per_sample": evaluations,
        "xai_ms": xai_seconds * 1e3,
        "peer_ms": peer_seconds * 1e3,
        "floor_ms": floor * 1e3,
        "xai_over_floor": xai_seconds / floor,
        "peer_over_floor": peer_seconds / floor,
        "peer_over_xai": peer_seconds / xai_seconds,
    }


def print_row(row: dict[str, Any], name_width: int) -> None:
    """The row as a line of the table :data:`HEADER` heads (after a model column)."""
    print(
        f"{row['model']:<{name_width}}{row['method']:<22}{row['n']:>3}"
        f"{row['evaluations_per_sample']:>8.0f}{row['xai_ms']:>10.1f}{row['peer_ms']:>10.1f}"
        f"{row['floor_ms']:>10.1f}{row['xai_over_floor']:>11.2f}{row['peer_over_floor']:>11.2f}"
        f"{row['peer_over_xai']:>10.2f}",
        flush=True,
    )


def write_rows(out: Path, name: str, rows: list[dict[str, Any]], quick: bool) -> dict[str, Any]:
    """``out/NAME.json``: the rows and the machine (platform, threads, library versions)."""
    result = {
        "rows": rows,
        "machine": {
            "platform": platform.platform(),
            "cpu_threads": torch.get_num_threads(),
            "device": "cpu",
            "library_versions": library_versions(),
        },
        "quick": quick,
    }
    (out / f"{name}.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out / f'{name}.json'}")
    return result
