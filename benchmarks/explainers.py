"""Cost of explaining: this toolkit vs the peer libraries called directly vs the model-pass floor.

For every method on every reference model, per explained sample, measured in one run:

- ``xai``: this toolkit's default call (``xai.explain(model, x, method=...)``);
- ``peer``: the library underneath called directly with its defaults, the way users call it
  (captum ``IntegratedGradients`` with ``internal_batch_size=None``, captum ``LayerGradCam`` +
  interpolate, shap ``GradientExplainer`` / ``KernelExplainer``, lime's image and tabular
  explainers with their default batch size);
- ``floor``: the model evaluations the method needs (forward, or forward+backward) times the
  best per-sample cost of the model at its best batch size, measured here.

Timings are medians of repeated runs. In each cell the three calls (xai, the peer, and the
model's best call, which gives the floor) are timed in alternation, round after round, so that
the drifting speed of a shared machine affects them alike and their ratios stay put. Also
reported: Kernel SHAP's error against exact Shapley values (10-feature model, enumeration) for
both implementations, and LIME tabular's top-5 feature overlap with lime_tabular.

Run: ``python -m benchmarks explainers [--quick] [--out DIR] [--only NAMES]``.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import reference_models
import xai
from xai._provenance import library_versions

IMAGE_MODELS = ("digits_cnn", "shapes_cnn")
TABULAR_MODELS = ("breast_cancer_mlp",)


def _median_seconds(
    run: Callable[[], Any], budget: float, min_repeats: int = 3, max_repeats: int = 15
) -> float:
    """Median wall time of ``run``: after a warm-up, repeated until the median of the last five
    moves by less than 3%, ``max_repeats`` is reached, or ``budget`` seconds are spent."""
    run()  # warm-up (allocations, caches, lazy imports)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < max_repeats:
        begin = time.perf_counter()
        run()
        times.append(time.perf_counter() - begin)
        if len(times) >= min_repeats:
            if time.perf_counter() - started > budget:
                break
            if len(times) >= 6:
                before, now = statistics.median(times[:-1]), statistics.median(times)
                if abs(now - before) / now < 0.03:
                    break
    return statistics.median(times)


def _timed(run: Callable[[], Any]) -> float:
    begin = time.perf_counter()
    run()
    return time.perf_counter() - begin


_SETTLE_SECONDS = 0.2
_WARM_UP_BELOW_SECONDS = 0.05


def _alternating_medians(
    runs: dict[str, Callable[[], Any]], budget: float, min_rounds: int = 3, max_rounds: int = 9
) -> dict[str, float]:
    """Median wall time of each of ``runs``, measured in alternation.

    The machines this runs on are shared, and their speed drifts by tens of percent over
    seconds; timed one after the other, two calls can meet different speeds, and their ratio
    shows it. Here every round runs each callable, the fast ones several times (about as long
    as the slowest one call, at most 15 times), so every ratio compares calls made under the
    same conditions. Rounds go on until ``budget`` seconds are spent (at least ``min_rounds``).

    Before each callable's turn the machine is left idle for ``_SETTLE_SECONDS``: the BLAS
    threads numpy and scipy start (lime's and shap's ridge fits) keep spinning for ~0.1 s
    after their work and slow whatever torch runs next; without the pause each callable would
    be timed in the wake of the one before it. A short callable then runs once untimed, so
    that its first timed call does not pay for waking threads and caches after the pause.
    """
    once = {}
    for name, run in runs.items():  # also the warm-up
        time.sleep(_SETTLE_SECONDS)
        once[name] = max(_timed(run), 1e-6)
    slowest = max(once.values())
    repeats = {name: max(1, min(15, round(slowest / once[name]))) for name in runs}
    times: dict[str, list[float]] = {name: [] for name in runs}
    started = time.perf_counter()
    for round_ in range(max_rounds):
        for name, run in runs.items():
            time.sleep(_SETTLE_SECONDS)
            if once[name] < _WARM_UP_BELOW_SECONDS:
                run()  # wakes the thread pool and caches after the pause; not timed
            times[name].extend(_timed(run) for _ in range(repeats[name]))
        if round_ + 1 >= min_rounds and time.perf_counter() - started > budget:
            break
    return {name: statistics.median(values) for name, values in times.items()}


def _model_costs(
    model: torch.nn.Module,
    samples: torch.Tensor,
    budget: float,
    batch_sizes: tuple[int, ...] | None = None,
) -> tuple[dict[str, tuple[float, Callable[[], None], int]], dict[str, dict[int, float]]]:
    """Per kind of evaluation (``forward``, ``forward_backward``: input gradient), the best
    per-sample seconds of the model, the call that achieved it and its batch size; and the
    per-sample seconds at every batch size tried. On the model's own test samples (CPU costs
    depend on the data: max-pooling branches, for one)."""
    best: dict[str, tuple[float, Callable[[], None], int]] = {}
    by_batch_size: dict[str, dict[int, float]] = {"forward": {}, "forward_backward": {}}
    if batch_sizes is None:
        batch_sizes = (
            (1, 16, 64, 256, 1024, 4096) if samples.ndim == 2 else (1, 16, 64, 128, 256, 1024)
        )
    for batch_size in batch_sizes:
        repeats = -(-batch_size // samples.shape[0])
        batch = samples.repeat(repeats, *([1] * (samples.ndim - 1)))[:batch_size].clone()

        def forward(batch: torch.Tensor = batch) -> None:
            with torch.no_grad():
                model(batch)

        def forward_backward(batch: torch.Tensor = batch) -> None:
            leaf = batch.clone().requires_grad_(True)
            torch.autograd.grad(model(leaf)[:, 0].sum(), leaf)

        for kind, run in (("forward", forward), ("forward_backward", forward_backward)):
            seconds = _median_seconds(run, budget) / batch_size
            by_batch_size[kind][batch_size] = seconds
            if kind not in best or seconds < best[kind][0]:
                best[kind] = (seconds, run, batch_size)
    return best, by_batch_size


def _last_spatial_layer(model: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    expl = xai.explain(model, x[:1], method="gradcam")
    return model.get_submodule(expl.params["layer"])


def _peers(
    model: torch.nn.Module,
    method: str,
    x: torch.Tensor,
    target: torch.Tensor,
    background: torch.Tensor,
    ours: xai.Explanation,
) -> Callable[[], Any]:
    """The peer library called directly, with its defaults, on the same work."""
    from captum.attr import IntegratedGradients, LayerGradCam

    if method == "integrated_gradients":
        return lambda: IntegratedGradients(model).attribute(
            x, target=target, n_steps=50, internal_batch_size=None
        )
    if method == "gradcam":
        layer = _last_spatial_layer(model, x)

        def gradcam() -> None:
            cam = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
            F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)

        return gradcam
    if method == "shap" and x.ndim == 4:
        import shap

        return lambda: shap.GradientExplainer(model, background).shap_values(
            x, nsamples=200, rseed=0
        )
    if method == "shap":
        import shap

        def predict(rows: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model(torch.from_numpy(rows).float())[:, 1].double().numpy()

        explainer = shap.KernelExplainer(predict, background.double().numpy())
        return lambda: explainer.shap_values(
            x.double().numpy(), nsamples=ours.params["nsamples"], silent=True
        )
    if method == "lime" and x.ndim == 4:
        from lime import lime_image

        segments = ours.extras["segments"].cpu().numpy()

        def classify(batch: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model(torch.from_numpy(batch).float().permute(0, 3, 1, 2)).double().numpy()

        def lime_images() -> None:
            for j in range(x.shape[0]):
                lime_image.LimeImageExplainer(random_state=0).explain_instance(
                    x[j].permute(1, 2, 0).double().numpy(), classify, labels=(int(target[j]),), top_labels=None,
                    hide_color=0.0, num_samples=1000, segmentation_fn=lambda _image, j=j: segments[j], random_seed=0,
                )  # fmt: skip

        return lime_images
    from lime import lime_tabular

    def predict_rows(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(rows).float())[:, 1].double().numpy()

    def lime_rows() -> None:
        explainer = lime_tabular.LimeTabularExplainer(
            background.double().numpy(), mode="regression", random_state=0
        )
        for row in x:
            explainer.explain_instance(
                row.double().numpy(), predict_rows, num_features=x.shape[1], num_samples=5000
            )

    return lime_rows


def _evaluations(method: str, expl: xai.Explanation, n_background: int) -> tuple[float, str]:
    """Model evaluations per sample that the method needs, and which kind."""
    if method == "integrated_gradients":
        return float(expl.params["n_steps"]), "forward_backward"
    if method == "gradcam":
        return 1.0, "forward_backward"
    if method == "shap" and expl.params["algorithm"] == "gradient":
        return float(expl.params["nsamples"]), "forward_backward"
    if method == "shap":
        n_features = expl.inputs.shape[1]
        coalitions = (
            2 * n_features + 2**11 if expl.params["nsamples"] == "auto" else expl.params["nsamples"]
        )
        return float(min(coalitions, 2**n_features - 2) * n_background), "forward"
    return float(expl.params["num_samples"]), "forward"


def _cells(quick: bool, only: list[str] | None = None) -> list[tuple[str, str, int]]:
    sizes = (1, 4) if quick else (1, 16)
    cells = [
        (name, method, n)
        for name in IMAGE_MODELS
        for method in ("integrated_gradients", "gradcam", "shap", "lime")
        for n in sizes
    ]
    cells += [
        (name, method, n)
        for name in TABULAR_MODELS
        for method in ("integrated_gradients", "shap", "lime")
        for n in sizes
    ]
    if only:
        known = {name for name, _, _ in cells} | {method for _, method, _ in cells}
        unknown = sorted(set(only) - known)
        if unknown:
            raise ValueError(
                f"only: unknown model or method name(s) {unknown}; expected some of "
                f"{sorted(known)}."
            )
        cells = [cell for cell in cells if cell[0] in only or cell[1] in only]
    return cells


def _kernel_shap_accuracy(quick: bool) -> dict[str, Any]:
    """Mean |error| against exact Shapley values (enumeration), xai vs shap, same coalitions."""
    import shap

    torch.manual_seed(3)
    model = torch.nn.Sequential(
        torch.nn.Linear(10, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2)
    ).eval()
    x, background = torch.randn(12, 10), torch.randn(8, 10)
    masks = torch.tensor(list(itertools.product([0, 1], repeat=10)), dtype=torch.bool)
    exact = [_exact_shapley(model, row, background, masks) for row in x]
    results: dict[str, Any] = {}
    for nsamples in (50, 100, 300):
        ours_errors, shap_errors = [], []
        for seed in range(2 if quick else 5):
            expl = xai.explain(
                model,
                x,
                method="shap",
                algorithm="kernel",
                background=background,
                nsamples=nsamples,
                seed=seed,
                target=1,
            )

            def predict(rows: np.ndarray) -> np.ndarray:
                with torch.no_grad():
                    return model(torch.from_numpy(rows).float())[:, 1].double().numpy()

            np.random.seed(seed)
            explainer = shap.KernelExplainer(predict, background.double().numpy())
            theirs = np.stack(
                [
                    explainer.shap_values(
                        row[None].double().numpy(), nsamples=nsamples, silent=True
                    )[0]
                    for row in x
                ]
            )
            for j in range(len(x)):
                ours_errors.append(float((expl.attributions[j].double() - exact[j]).abs().mean()))
                shap_errors.append(float(np.abs(theirs[j] - exact[j].numpy()).mean()))
        results[str(nsamples)] = {
            "xai_error": float(np.mean(ours_errors)),
            "shap_error": float(np.mean(shap_errors)),
        }
    return results


def _exact_shapley(
    model: torch.nn.Module, x: torch.Tensor, background: torch.Tensor, masks: torch.Tensor
) -> torch.Tensor:
    n_features = x.shape[0]
    rows = torch.where(masks[:, None, :], x, background[None])
    with torch.no_grad():
        value = model(rows.reshape(-1, n_features))[:, 1].double().view(len(masks), -1).mean(1)
    powers = 2 ** torch.arange(n_features - 1, -1, -1)
    index = (masks.long() * powers).sum(1)
    lookup = torch.empty_like(value)
    lookup[index] = value
    phi = torch.zeros(n_features, dtype=torch.float64)
    sizes = masks.sum(1)
    for j in range(n_features):
        without = ~masks[:, j]
        s = sizes[without]
        weight = torch.tensor(
            [
                math.factorial(int(k))
                * math.factorial(n_features - int(k) - 1)
                / math.factorial(n_features)
                for k in s
            ]
        )
        with_j = index[without] + powers[j]
        phi[j] = (weight.double() * (lookup[with_j] - lookup[index[without]])).sum()
    return phi


def _lime_tabular_overlap(
    model: torch.nn.Module, x: torch.Tensor, background: torch.Tensor, seeds: int
) -> dict[str, float]:
    """Mean top-5 feature overlap with lime_tabular over samples and seeds: xai's default
    (fast) sampler, its ``sampler="lime"`` (lime's own draws: 1.0 expected), and, for scale,
    lime_tabular against itself with another seed."""
    from lime import lime_tabular

    def predict(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(rows).float())[:, 1].double().numpy()

    def lime_top5(row: torch.Tensor, seed: int) -> set[int]:
        explainer = lime_tabular.LimeTabularExplainer(
            background.double().numpy(), mode="regression", random_state=seed
        )
        result = explainer.explain_instance(
            row.double().numpy(), predict, num_features=x.shape[1], num_samples=5000
        )
        return {f for f, _ in sorted(result.local_exp[1], key=lambda fw: -abs(fw[1]))[:5]}

    overlaps: dict[str, list[float]] = {"fast": [], "lime": [], "lime_vs_lime": []}
    for seed in range(seeds):
        options = {"background": background, "seed": seed, "target": 1}
        fast = xai.explain(model, x, method="lime", **options)
        exact = xai.explain(model, x, method="lime", sampler="lime", **options)
        for j, row in enumerate(x):
            theirs, other = lime_top5(row, seed), lime_top5(row, seed + 100)
            for name, expl in (("fast", fast), ("lime", exact)):
                mine = set(expl.attributions[j].abs().argsort(descending=True)[:5].tolist())
                overlaps[name].append(len(theirs & mine) / 5)
            overlaps["lime_vs_lime"].append(len(theirs & other) / 5)
    return {name: float(np.mean(values)) for name, values in overlaps.items()}


def run(out: Path, quick: bool = False, only: list[str] | None = None) -> dict[str, Any]:
    """Measure every cell (or those of the models/methods in ``only``), print the table, write
    ``out/explainers.json``."""
    budget = 2.0 if quick else 6.0
    rows: list[dict[str, Any]] = []
    costs: dict[str, dict[str, tuple[float, Callable[[], None], int]]] = {}
    batch_costs: dict[str, dict[str, dict[int, float]]] = {}
    print(
        f"{'model':<18}{'method':<22}{'n':>4}{'evals':>9}{'xai ms':>10}{'peer ms':>10}{'floor ms':>10}{'xai/floor':>11}{'peer/floor':>11}{'peer/xai':>10}"
    )
    cells = _cells(quick, only)
    for name, method, n in cells:
        ref = reference_models.load(name)
        model = ref.model
        x_all = ref.data["test"].tensors[0]
        background = ref.data["train"].tensors[0][:20]
        x = x_all[:n]
        if name not in costs:
            costs[name], batch_costs[name] = _model_costs(model, x_all, budget)
        options: dict[str, Any] = {"seed": 0} if method in ("shap", "lime") else {}
        if x.ndim == 2 and method in ("shap", "lime"):
            options["background"] = background
            if method == "shap":
                options["algorithm"] = "kernel"
        if x.ndim == 2 and method == "shap":
            options["target"] = 1
        if x.ndim == 2 and method == "lime":
            options["target"] = 1
        ours = xai.explain(model, x, method=method, **options)
        target = ours.target

        def ours_call(model=model, x=x, method=method, options=options) -> xai.Explanation:  # type: ignore[no-untyped-def]
            return xai.explain(model, x, method=method, **options)

        peer_n = (
            min(n, 4) if (method in ("shap", "lime") and x.ndim == 2) or method == "lime" else n
        )
        peer = _peers(model, method, x[:peer_n], target[:peer_n], background, ours[:peer_n])
        evaluations, kind = _evaluations(method, ours, background.shape[0])
        _, model_call, model_batch = costs[name][kind]
        # the model's best call is timed again beside this cell's calls: the floor, too, is
        # measured under the conditions the two calls meet
        with contextlib.redirect_stderr(io.StringIO()):  # lime_image's progress bars
            medians = _alternating_medians(
                {"xai": ours_call, "peer": peer, "model": model_call}, budget
            )
        xai_seconds = medians["xai"] / n
        peer_seconds = medians["peer"] / peer_n
        floor = evaluations * medians["model"] / model_batch
        row = {
            "model": name, "method": method, "n": n, "evaluations_per_sample": evaluations, "evaluation": kind,
            "xai_ms": xai_seconds * 1e3, "peer_ms": peer_seconds * 1e3, "floor_ms": floor * 1e3,
            "xai_over_floor": xai_seconds / floor, "peer_over_floor": peer_seconds / floor,
            "peer_over_xai": peer_seconds / xai_seconds,
        }  # fmt: skip
        rows.append(row)
        print(
            f"{name:<18}{method:<22}{n:>4}{evaluations:>9.0f}{row['xai_ms']:>10.2f}{row['peer_ms']:>10.2f}"
            f"{row['floor_ms']:>10.3f}{row['xai_over_floor']:>11.2f}{row['peer_over_floor']:>11.2f}{row['peer_over_xai']:>10.1f}",
            flush=True,
        )
    measured = {(name, method) for name, method, _ in cells}
    accuracy: dict[str, Any] = {}
    if ("breast_cancer_mlp", "shap") in measured:
        accuracy = _kernel_shap_accuracy(quick)
        print("Kernel SHAP mean |error| vs exact Shapley values (10 features, 12 samples):")
        for nsamples, errors in accuracy.items():
            print(
                f"  {nsamples:>4} coalitions: xai {errors['xai_error']:.5f}   shap {errors['shap_error']:.5f}"
            )
    overlap: dict[str, float] = {}
    if ("breast_cancer_mlp", "lime") in measured:
        ref = reference_models.load("breast_cancer_mlp")
        overlap = _lime_tabular_overlap(
            ref.model,
            ref.data["test"].tensors[0][: 4 if quick else 8],
            ref.data["train"].tensors[0][:200],
            seeds=1 if quick else 3,
        )
        print(
            "LIME tabular mean top-5 overlap with lime_tabular (breast_cancer_mlp): "
            f"xai {overlap['fast']:.2f}, xai sampler='lime' {overlap['lime']:.2f}, "
            f"lime_tabular with another seed {overlap['lime_vs_lime']:.2f}"
        )
    result = {
        "rows": rows,
        "model_costs_seconds": {
            name: {
                kind: {"seconds_per_sample": seconds, "batch_size": size}
                for kind, (seconds, _, size) in kinds.items()
            }
            for name, kinds in costs.items()
        },
        # per-sample seconds at each batch size tried (the one-sample cells of single-pass
        # methods compare with batch size 1)
        "model_seconds_per_sample_by_batch_size": batch_costs,
        "kernel_shap_accuracy": accuracy,
        "lime_tabular_top5_overlap": overlap,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_threads": torch.get_num_threads(),
            "device": "cpu",
            "library_versions": library_versions(),
        },
        "quick": quick,
        "only": only,
    }
    (out / "explainers.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out / 'explainers.json'}")
    return result
