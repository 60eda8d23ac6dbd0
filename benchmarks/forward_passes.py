"""Forward passes of the evaluation path: how many times ``evaluate_explanation`` and
``compare`` call the model, and on how many rows, for a reference model (a forward pre-hook
on the model counts them; nothing is timed).

``python -m benchmarks forward_passes`` prints the table and writes ``forward_passes.json``.
Run it with another checkout first on ``PYTHONPATH`` to compare two versions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

FAST = {
    "integrated_gradients": {"n_steps": 16},
    "shap": {"nsamples": 16},
    "lime": {"num_samples": 64},
}
METRIC_OPTIONS = {
    "max_sensitivity_error": {"n_perturb_samples": 2},
    "infidelity_error": {"n_perturb_samples": 4},
}


class Counter:
    def __init__(self, model: torch.nn.Module) -> None:
        self.calls = 0
        self.rows = 0
        self.handle = model.register_forward_pre_hook(self._count)

    def _count(self, _module: Any, args: tuple[Any, ...]) -> None:
        self.calls += 1
        self.rows += int(args[0].shape[0])

    def take(self) -> dict[str, int]:
        counted = {"calls": self.calls, "rows": self.rows}
        self.calls = self.rows = 0
        return counted


def run(out: Path, quick: bool = False) -> dict[str, Any]:
    import reference_models
    import xai

    results: dict[str, Any] = {}
    for name, methods in (
        ("breast_cancer_mlp", ["integrated_gradients", "shap", "lime"]),
        ("digits_cnn", ["gradcam", "integrated_gradients"]),
    ):
        ref = reference_models.load(name)
        x, y = ref.data["test"].tensors[0][:8], ref.data["test"].tensors[1][:8]
        counter = Counter(ref.model)
        for method in methods:
            for target_name, target in (("predicted", None), ("explicit", y)):
                options = FAST.get(method, {})
                if xai.get_explainer(method, ref.model).stochastic:
                    options = {**options, "seed": 0}
                counter.take()
                expl = xai.explain(ref.model, x, method=method, target=target, **options)
                explain_counts = counter.take()
                xai.evaluate_explanation(ref.model, expl, options=METRIC_OPTIONS)
                results[f"{name}/{method}/{target_name}"] = {
                    "explain": explain_counts,
                    "evaluate_explanation": counter.take(),
                }
        counter.take()
        xai.compare(
            ref.model,
            x,
            methods=methods,
            options={m: FAST.get(m, {}) for m in methods},
            metric_options=METRIC_OPTIONS,
        )
        results[f"{name}/compare"] = {"compare": counter.take()}
        counter.handle.remove()
    print(f"{'case':<48}{'explain calls/rows':>20}{'evaluate calls/rows':>22}")
    for case, counts in results.items():
        explain = counts.get("explain", {})
        evaluated = counts.get("evaluate_explanation") or counts.get("compare")
        shown = f"{explain['calls']}/{explain['rows']}" if explain else "-"
        print(f"{case:<48}{shown:>20}{evaluated['calls']:>12}/{evaluated['rows']:<9}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "forward_passes.json").write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    run(Path("bench_output"))
