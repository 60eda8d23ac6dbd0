"""Throughput of ``xai.explain_dataset`` over the reference models' test sets.

For Integrated Gradients (every model) and Grad-CAM (image models), samples per second of:

- ``xai``: ``xai.explain_dataset`` into a fresh folder (shards written, index kept), and the
  share of its time spent writing shards (``io_share``);
- ``loop``: a plain loop calling ``xai.explain`` per batch, results kept in memory, nothing
  written (what the streaming, the writing and the bookkeeping cost on top);
- ``peer``: a plain loop calling captum per batch (``IntegratedGradients`` /
  ``LayerGradCam`` + upsampling), results kept in memory, nothing written;
- ``floor``: the model work the method needs, in a plain loop: one forward + backward per
  batch for Grad-CAM, ``n_steps`` interpolated forward + backward rows per sample for IG;
- ``forward``: the model's own forward throughput (inference mode).

The loops are timed in alternation, round after round (after a warm-up on a few samples),
and the median of the rounds is kept, so the drifting speed of a shared machine affects them alike. Also: two processes under
``torchrun`` (gloo, CPU) against one, for IG on the largest test set.

Run: ``python -m benchmarks dataset_throughput [--quick] [--out DIR]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

BATCH = 64
IG_STEPS = 32


def _loop(x: torch.Tensor, step: Callable[[torch.Tensor, slice], Any]) -> None:
    for start in range(0, len(x), BATCH):
        part = slice(start, min(start + BATCH, len(x)))
        step(x[part], part)


def _floor_gradcam(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> None:
    def step(batch: torch.Tensor, part: slice) -> None:
        batch = batch.clone().requires_grad_(True)
        model(batch).gather(1, target[part, None]).sum().backward()

    _loop(x, step)


def _floor_ig(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> None:
    alphas = torch.linspace(0, 1, IG_STEPS)

    def step(batch: torch.Tensor, part: slice) -> None:
        n = len(batch)
        shape = (IG_STEPS, *([1] * batch.ndim))
        points = (alphas.reshape(shape) * batch.unsqueeze(0)).reshape(
            IG_STEPS * n, *batch.shape[1:]
        )
        points.requires_grad_(True)
        scores = model(points).gather(1, target[part].repeat(IG_STEPS)[:, None])
        torch.autograd.grad(scores.sum(), points)

    _loop(x, step)


def _xai_loop(
    method: str, model: torch.nn.Module, x: torch.Tensor, options: dict[str, Any]
) -> None:
    import xai

    kept = []
    _loop(x, lambda batch, _: kept.append(xai.explain(model, batch, method, **options)))


def _forward(model: torch.nn.Module, x: torch.Tensor) -> None:
    with torch.inference_mode():
        _loop(x, lambda batch, _: model(batch))


def _peer(
    method: str, model: torch.nn.Module, layer: Any, x: torch.Tensor, target: torch.Tensor
) -> None:
    from captum.attr import IntegratedGradients, LayerGradCam

    kept = []
    if method == "gradcam":
        cam = LayerGradCam(model, layer)

        def step(batch: torch.Tensor, part: slice) -> None:
            maps = cam.attribute(batch, target=target[part], relu_attributions=True)
            kept.append(
                F.interpolate(maps, size=batch.shape[2:], mode="bilinear", align_corners=False)
            )

    else:
        ig = IntegratedGradients(model)

        def step(batch: torch.Tensor, part: slice) -> None:
            kept.append(
                ig.attribute(
                    batch, target=target[part], n_steps=IG_STEPS, method="riemann_trapezoid"
                )
            )

    _loop(x, step)


class _SaveTimer:
    """Time spent in ``Explanation.save`` (writing the shards) while it is installed."""

    def __init__(self) -> None:
        import xai

        self.seconds = 0.0
        self.original = xai.Explanation.save
        timer = self

        def timed(expl: Any, *args: Any, **kwargs: Any) -> Any:
            begin = time.perf_counter()
            try:
                return timer.original(expl, *args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - begin

        self.timed = timed

    def __enter__(self) -> _SaveTimer:
        import xai

        xai.Explanation.save = self.timed  # type: ignore[method-assign, assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        import xai

        xai.Explanation.save = self.original  # type: ignore[method-assign]


def _measure(name: str, method: str, quick: bool, rounds: int) -> dict[str, Any]:
    import reference_models
    import xai

    ref = reference_models.load(name)
    x, y = ref.data["test"].tensors[:2]
    if quick:
        x, y = x[:128], y[:128]
    model = ref.model
    with torch.no_grad():
        target = model(x).argmax(1)
    options: dict[str, Any] = {"n_steps": IG_STEPS} if method == "integrated_gradients" else {}
    layer = None
    if method == "gradcam":
        layer = model.get_submodule(xai.explain(model, x[:1], method="gradcam").params["layer"])
    times: dict[str, list[float]] = {"xai": [], "loop": [], "peer": [], "floor": [], "forward": []}
    io: list[float] = []
    full_x, full_y, full_target = x, y, target
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(rounds + 1):  # round 0 warms up, on a few samples
            x, y, target = (t[: 16 if round_ == 0 else None] for t in (full_x, full_y, full_target))
            begin = time.perf_counter()
            with _SaveTimer() as saving:
                xai.explain_dataset(
                    model, (x, y), method, out=Path(folder) / f"r{round_}", batch_size=BATCH,
                    progress=False, **options,
                )  # fmt: skip
            spent = {"xai": time.perf_counter() - begin}
            writing = saving.seconds
            floor = _floor_gradcam if method == "gradcam" else _floor_ig
            for key, run in (
                ("loop", lambda: _xai_loop(method, model, x, options)),  # noqa: B023
                ("peer", lambda: _peer(method, model, layer, x, target)),  # noqa: B023
                ("floor", lambda: floor(model, x, target)),  # noqa: B023 - called at once
                ("forward", lambda: _forward(model, x)),  # noqa: B023
            ):
                begin = time.perf_counter()
                run()
                spent[key] = time.perf_counter() - begin
            if round_:
                for key, value in spent.items():
                    times[key].append(value)
                io.append(writing / spent["xai"])
    seconds = {key: statistics.median(values) for key, values in times.items()}
    rate = {key: len(x) / value for key, value in seconds.items()}
    return {
        "samples": len(x),
        "samples_per_second": rate,
        "ratio_xai_to_loop": rate["xai"] / rate["loop"],
        "ratio_xai_to_peer": rate["xai"] / rate["peer"],
        "ratio_xai_to_floor": rate["xai"] / rate["floor"],
        "ratio_xai_to_forward": rate["xai"] / rate["forward"],
        "io_share": statistics.median(io),
    }


_TWO_PROCESSES = textwrap.dedent(
    """
    import json, os, sys, time
    import torch
    import torch.distributed as dist
    import reference_models
    import xai

    ref = reference_models.load(sys.argv[2])
    x, y = ref.data["test"].tensors[:2]
    if sys.argv[3] == "quick":
        x, y = x[:128], y[:128]
    if "RANK" in os.environ:
        dist.init_process_group("gloo")
        dist.barrier()
    begin = time.perf_counter()
    xai.explain_dataset(ref.model, (x, y), "integrated_gradients", out=sys.argv[1],
                        batch_size=64, progress=False, n_steps=32)
    seconds = time.perf_counter() - begin
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"seconds": seconds, "samples": len(x)}))
    """
)


def _processes(name: str, quick: bool) -> dict[str, Any]:
    """IG on ``name``'s test set in one process (2 threads) and in two (1 thread each)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "CI": "1"}
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "two.py"
        script.write_text(_TWO_PROCESSES)
        for label, prefix, threads in (
            ("one_process", [sys.executable], "2"),
            ("two_processes", [sys.executable, "-m", "torch.distributed.run", "--standalone",
                               "--nproc_per_node", "2"], "1"),
        ):  # fmt: skip
            done = subprocess.run(
                [*prefix, str(script), str(Path(folder) / label), name, "quick" if quick else "full"],
                capture_output=True, text=True, env={**env, "OMP_NUM_THREADS": threads},
                timeout=900, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                return {"error": done.stderr[-2000:]}
            results[label] = json.loads(done.stdout.strip().splitlines()[-1])
    one, two = results["one_process"]["seconds"], results["two_processes"]["seconds"]
    return {**results, "speedup_two_to_one": one / two}


def run(out: Path, quick: bool = False) -> dict[str, Any]:
    import reference_models

    rounds = 1 if quick else 2
    results: dict[str, Any] = {"batch_size": BATCH, "ig_steps": IG_STEPS, "cases": {}}
    print(f"{'case':<38}{'xai/s':>8}{'loop/s':>8}{'peer/s':>8}{'floor/s':>8}{'fwd/s':>9}"
          f"{'/loop':>7}{'/peer':>7}{'/floor':>7}{'io':>7}")  # fmt: skip
    for name in reference_models.available():
        ref = reference_models.load(name)
        if not ref.data["test"].tensors[0].is_floating_point():
            # token ids: captum's loop needs an embedding-level setup; measured elsewhere
            print(f"{name:<38}skipped (token-id inputs)")
            continue
        methods = ["integrated_gradients"] + (["gradcam"] if len(ref.info.input_shape) == 3 else [])
        for method in methods:
            case = _measure(name, method, quick, rounds)
            results["cases"][f"{name}/{method}"] = case
            rate = case["samples_per_second"]
            print(
                f"{name + '/' + method:<38}{rate['xai']:>8.0f}{rate['loop']:>8.0f}"
                f"{rate['peer']:>8.0f}{rate['floor']:>8.0f}{rate['forward']:>9.0f}"
                f"{case['ratio_xai_to_loop']:>7.2f}{case['ratio_xai_to_peer']:>7.2f}"
                f"{case['ratio_xai_to_floor']:>7.2f}{case['io_share']:>7.1%}",
                flush=True,
            )
    largest = "shapes_cnn" if "shapes_cnn" in reference_models.available() else "digits_cnn"
    results["processes"] = processes = {"model": largest, **_processes(largest, quick)}
    if "error" in processes:
        print(f"two processes: failed\n{processes['error']}")
    else:
        print(
            f"two processes (gloo, 1 thread each) vs one (2 threads), IG on {largest}: "
            f"{processes['speedup_two_to_one']:.2f}x"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset_throughput.json").write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    run(Path("bench_output"), quick="--quick" in sys.argv)
