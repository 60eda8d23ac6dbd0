"""The published method x metric table of explanation quality on the reference models.

``python -m benchmarks.quality_table [--out FILE] [--samples N] [--quick]`` explains test
samples of ``shapes_cnn`` and ``breast_cancer_mlp`` with every method (:func:`xai.compare`),
scores them with every applicable quality metric, runs the model- and data-randomization
sanity checks per method, prints one Markdown table per model and writes everything as JSON
(default ``quality_table.json``). Everything is seeded; the numbers in
``docs/explanation_quality.md`` come from this command.

Also usable from the benchmark harness: :func:`run` has the ``run(out, quick)`` signature.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

import reference_models
import xai
from xai.metrics import data_randomization_check, model_randomization_check

#: Per model: samples explained, method options, and the shuffled-label retraining budget.
SETTINGS: dict[str, dict[str, Any]] = {
    "shapes_cnn": {
        "samples": 12,
        "options": {"lime": {"num_samples": 500}},
        "shuffled_train": 2000,
        "shuffled_epochs": 8,
    },
    "breast_cancer_mlp": {
        "samples": 32,
        "options": {"lime": {"num_samples": 1000}},
        "shuffled_train": None,  # all 343 training rows
        "shuffled_epochs": 40,
    },
}
METRIC_OPTIONS: dict[str, dict[str, Any]] = {
    "max_sensitivity_error": {"n_perturb_samples": 4},
    "seed_stability_score": {"seeds": (0, 1, 2)},
}
QUICK_METRIC_OPTIONS: dict[str, dict[str, Any]] = {
    "max_sensitivity_error": {"n_perturb_samples": 2},
    "seed_stability_score": {"seeds": (0, 1)},
}

_SHORT = {
    "deletion_auc": "deletion AUC",
    "insertion_auc": "insertion AUC",
    "infidelity_error": "infidelity",
    "max_sensitivity_error": "max-sensitivity",
    "completeness_error": "completeness error",
    "seed_stability_score": "seed stability",
    "pointing_game_score": "pointing game",
    "relevance_mass_score": "relevance mass",
    "relevance_rank_score": "relevance rank",
    "sparseness_score": "sparseness (Gini)",
}


def evaluate_model(name: str, samples: int | None = None, quick: bool = False) -> dict[str, Any]:
    """Compare every method on one reference model, with the sanity checks."""
    settings = SETTINGS[name]
    ref = reference_models.load(name)
    test = ref.data["test"].tensors
    n = samples or settings["samples"]
    if quick:
        n = min(n, 4)
    inputs = test[0][:n]
    masks = test[2][:n] if len(test) > 2 else None
    options = {k: dict(v) for k, v in settings["options"].items()}
    if quick:
        options.setdefault("integrated_gradients", {})["n_steps"] = 16
        options["lime"]["num_samples"] = 200
        options["shap"] = {"nsamples": 50}
    started = time.perf_counter()
    comparison = xai.compare(
        ref.model,
        inputs,
        masks=masks,
        options=options,
        metric_options=QUICK_METRIC_OPTIONS if quick else METRIC_OPTIONS,
        seed=0,
    )
    compare_seconds = time.perf_counter() - started

    features, labels = ref.data["train"].tensors[:2]
    limit = 256 if quick else settings["shuffled_train"]
    if limit is not None:
        features, labels = features[:limit], labels[:limit]
    epochs = 1 if quick else settings["shuffled_epochs"]
    sanity: dict[str, Any] = {}
    retrained = None
    for method in comparison.methods:
        method_options = dict(options.get(method, {}))
        model_check = model_randomization_check(ref.model, inputs, method, seed=0, **method_options)
        data_check = data_randomization_check(
            ref.model,
            (features, labels),
            inputs,
            method,
            epochs=epochs,
            seed=0,
            retrained=retrained,
            fit_options={"batch_size": 64, "lr": 3e-3},
            **method_options,
        )
        retrained = data_check.model
        sanity[method] = {"model": model_check.to_dict(), "data": data_check.to_dict()}
    return {
        "model": name,
        "n_samples": n,
        "method_options": options,
        "comparison": comparison.to_dict(),
        "table": comparison.table(),
        "agreement": comparison.agreement_table("rank_correlation"),
        "sanity": sanity,
        "shuffled_label_training": {"n_train": int(labels.shape[0]), "epochs": epochs},
        "seconds": {"compare": compare_seconds, "total": time.perf_counter() - started},
        "_comparison": comparison,
    }


def markdown(result: dict[str, Any]) -> str:
    """One table: methods as rows, every metric (with direction) and the sanity checks."""
    comparison = result["_comparison"]
    names = comparison.metric_names()
    directions: dict[str, bool] = {}
    for report in comparison.reports.values():
        directions.update(report.higher_is_better)
    header = ["method"] + [f"{_SHORT.get(n, n)} {'↑' if directions[n] else '↓'}" for n in names]
    header += ["model rand. rank corr ↓", "data rand. rank corr ↓", "seconds", "model evals"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in comparison.methods:
        means = comparison.reports[method].means
        cells = [f"`{method}`"]
        cells += [_number(means[n]) if n in means else "-" for n in names]
        for check in ("model", "data"):
            record = result["sanity"][method][check]
            mark = "pass" if record["passed"] else "FAIL"
            cells.append(f"{record['final_similarity']:.2f} ({mark})")
        cells += [f"{comparison.seconds[method]:.3f}", str(comparison.model_evaluations[method])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _number(value: float) -> str:
    """Three decimals; small non-zero values in scientific notation, so they do not read as 0."""
    if value != 0 and abs(value) < 0.01:
        return f"{value:.1e}"
    return f"{value:.3f}"


def run(out: Path, quick: bool = False, samples: int | None = None) -> dict[str, Any]:
    """Build the tables for both reference models; write ``out/quality_table.json`` when ``out``
    is a folder, or ``out`` itself when it ends in ``.json``."""
    torch.manual_seed(0)
    out = Path(out)
    path = out if out.suffix == ".json" else out / "quality_table.json"
    results = {}
    for name in SETTINGS:
        print(f"== {name}", flush=True)
        result = evaluate_model(name, samples=samples, quick=quick)
        table = markdown(result)
        print(table)
        print()
        print(result["agreement"])
        print(flush=True)
        result["markdown"] = table
        result.pop("_comparison")
        results[name] = result
    payload = {
        "command": "python -m benchmarks.quality_table" + (" --quick" if quick else ""),
        "quick": quick,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": "cpu",
        "metric_options": QUICK_METRIC_OPTIONS if quick else METRIC_OPTIONS,
        "models": results,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=_json_default))
    print(f"wrote {path}")
    return payload


def _json_default(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, tuple | set):
        return list(value)
    return repr(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality_table", description=__doc__)
    parser.add_argument("--out", default="quality_table.json", help="JSON file (or folder)")
    parser.add_argument("--samples", type=int, default=None, help="test samples per model")
    parser.add_argument("--quick", action="store_true", help="a few samples, small budgets")
    args = parser.parse_args(argv)
    run(Path(args.out), quick=args.quick, samples=args.samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
