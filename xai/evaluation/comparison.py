"""``xai.compare``: several methods on the same inputs — quality, cost and agreement side by side."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from xai._device import model_device
from xai._files import to_json_value
from xai._model import ModelFunction, call_model
from xai._progress import Progress, Tracker, check_progress
from xai._state import preserved_state
from xai._tokens import special_token
from xai._validation import as_input_batch, check_seed, resolve_target
from xai.errors import InputError
from xai.evaluation.quality import QualityReport, evaluate_explanation
from xai.explainers.parameters import applicable_methods
from xai.explainers.registry import explainer_class, get_explainer
from xai.explanation import Explanation
from xai.metrics._checks import attention_mask_of, check_model_kwargs, is_token_ids
from xai.metrics.agreement import rank_correlation, top_k_overlap
from xai.metrics.registry import quality_metrics

__all__ = ["Comparison", "compare"]

_log = logging.getLogger(__name__)

#: Agreement measures reported between every pair of methods.
AGREEMENT_MEASURES = ("rank_correlation", "top_k_overlap")


@dataclass
class Comparison:
    """Several methods explained on the same inputs and targets.

    Attributes:
        methods: the methods, in order.
        explanations: method -> its :class:`~xai.Explanation`.
        reports: method -> its :class:`~xai.evaluation.quality.QualityReport`.
        seconds: method -> seconds the explanation took.
        model_evaluations: method -> rows passed through the model to explain.
        agreement: measure (``"rank_correlation"``, ``"top_k_overlap"``) -> ``(M, M)`` matrix
            of mean agreement between methods (diagonal 1).
        agreement_per_sample: ``(measure, method_a, method_b)`` -> ``(N,)`` values.
        top_k: the ``k`` of the top-k overlap (a fraction of positions, or a count).
    """

    methods: list[str]
    explanations: dict[str, Explanation]
    reports: dict[str, QualityReport]
    seconds: dict[str, float]
    model_evaluations: dict[str, int]
    agreement: dict[str, torch.Tensor]
    agreement_per_sample: dict[tuple[str, str, str], torch.Tensor] = field(default_factory=dict)
    top_k: float | int = 0.1

    def metric_names(self) -> list[str]:
        """Every metric computed for at least one method, in registry order."""
        computed = {name for report in self.reports.values() for name in report.values}
        registered = [name for name in quality_metrics() if name in computed]
        return registered + sorted(computed - set(registered))

    def table(self, digits: int = 3) -> str:
        """A Markdown table: one row per method; metric means (direction in the header), time
        and model evaluations; ``-`` where a metric does not apply."""
        names = self.metric_names()
        directions = {}
        for report in self.reports.values():
            directions.update(report.higher_is_better)
        header = ["method"] + [f"{n} {'↑' if directions[n] else '↓'}" for n in names]
        header += ["seconds", "model evals"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for method in self.methods:
            means = self.reports[method].means
            cells = [method] + [_cell(means.get(n), digits) for n in names]
            cells += [f"{self.seconds[method]:.2f}", str(self.model_evaluations[method])]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def agreement_table(self, measure: str = "rank_correlation", digits: int = 2) -> str:
        """The ``(M, M)`` agreement matrix of ``measure`` as a Markdown table."""
        matrix = self.agreement[measure]
        lines = ["| " + " | ".join([measure, *self.methods]) + " |"]
        lines.append("|" + "---|" * (len(self.methods) + 1))
        for i, method in enumerate(self.methods):
            row = [_cell(float(v), digits) for v in matrix[i]]
            lines.append("| " + " | ".join([method, *row]) + " |")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per-method reports, time, evaluations, agreement matrices (NaN and
        infinite numbers as None)."""
        return to_json_value(
            {
                "methods": list(self.methods),
                "n_samples": len(next(iter(self.explanations.values()))),
                "reports": {m: r.to_dict() for m, r in self.reports.items()},
                "seconds": dict(self.seconds),
                "model_evaluations": dict(self.model_evaluations),
                "agreement": {k: v.tolist() for k, v in self.agreement.items()},
                "top_k": self.top_k,
            }
        )

    def __repr__(self) -> str:
        return f"Comparison(methods={self.methods}, n_samples={len(self.explanations[self.methods[0]])})"


def _seconds(explanation: Explanation) -> float:
    """The explanation's run time; NaN when unknown (absent, or None as a loaded file holds a
    time that was not finite)."""
    value = explanation.extras.get("seconds")
    return math.nan if value is None else float(value)


def _cell(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "nan"
    return f"{value:.{digits}f}"


def compare(
    model: nn.Module,
    inputs: torch.Tensor,
    methods: Sequence[str] | None = None,
    target: Any = None,
    *,
    masks: torch.Tensor | None = None,
    metrics: Sequence[str] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    top_k: float | int = 0.1,
    seed: int = 0,
    output: Any = None,
    progress: Progress = None,
) -> Comparison:
    """Run several methods on the same inputs and targets and compare them.

    For every method: the quality metrics of :func:`xai.evaluate_explanation`, the time and
    the number of model evaluations its explanation took; between every pair of methods: the
    Spearman rank correlation and the top-k overlap of their absolute relevance maps.

    Token ids ``(N, L)`` are compared like other inputs: ``model_kwargs`` (the attention mask)
    go to every method and metric, tokens are removed with the same ``mask_token`` for every
    method (the model config's), and the agreement counts the real tokens only.

    Args:
        model: any ``nn.Module`` (left as found).
        inputs: a batch ``(N, ...)``, or token ids ``(N, L)``.
        methods: method names (default: every registered method that accepts the inputs'
            layout: Grad-CAM only for images).
        target: ``None`` (the predicted class), an int, or one class per sample; resolved once,
            so every method explains the same class.
        masks: ground-truth masks for the localization metrics (keyword masks ``(N, L)`` for
            token ids).
        metrics: metric names (default: every applicable one).
        options: per-method options, e.g. ``{"lime": {"num_samples": 500}}``.
        metric_options: per-metric options, as in :func:`xai.evaluate_explanation`. Deletion
            and insertion use the same features for every method (square patches for images,
            ``patch_size``), not LIME's superpixels, unless ``segments`` is given here.
        model_kwargs: the model's extra forward arguments (``{"attention_mask": mask}``),
            passed to every method and every metric; positions where the attention mask of
            token ids is 0 count in no metric and no agreement.
        top_k: the ``k`` of the top-k overlap: a fraction of positions (default 0.1) or a count.
        seed: seed of the stochastic methods without one in ``options``.
        output: how to pick the logits from the model's output.
        progress: None (default: a progress bar on a terminal, else one log line per
            method), True (a bar), False (nothing), or a callable
            ``progress(fraction_done, message)`` called as each method is explained and
            evaluated (docs/command_line.md#progress).

    Returns:
        A :class:`Comparison`: ``.table()``, ``.agreement``, ``.to_dict()``; drawn by :func:`xai.viz.plot_method_comparison`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
        ValueError: no, repeated or unknown methods, options for a method not compared, or
            bad inputs, target or metric options (the message names the argument).

    Example::

        comparison = xai.compare(model, images[:8], masks=masks[:8])
        print(comparison.table())
        xai.viz.plot_method_comparison(comparison, 0)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}.")
    inputs = as_input_batch(inputs, allow_integer=True).detach()
    kwargs = check_model_kwargs(model_kwargs)
    seed = check_seed(seed) or 0
    progress = check_progress(progress)
    if methods is None:
        methods = applicable_methods(inputs, model=model)
    elif isinstance(methods, str):
        methods = [methods]
    methods = list(methods)
    if not methods:
        raise ValueError("methods: expected at least one method name, got none.")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods: each method may appear once, got {methods}.")
    options = {k: dict(v) for k, v in (options or {}).items()}
    unknown = [name for name in options if name not in methods]
    if unknown:
        raise ValueError(
            f"options: given for {unknown}, which are not among the compared methods {methods}."
        )
    classes = {name: explainer_class(name) for name in methods}  # unknown names fail here
    clashing = [name for name in methods if "model_kwargs" in options.get(name, {})]
    if kwargs and clashing:
        raise InputError(
            "options",
            f"model_kwargs given for {clashing} and as compare(model_kwargs=...): the methods "
            "are compared on the same forward arguments; pass them once, as model_kwargs=.",
        )

    device = model_device(model)
    with preserved_state(model), torch.no_grad():
        on_device = check_model_kwargs(kwargs, device)
        function = ModelFunction(model, output, on_device, len(inputs))
        outputs = call_model(model, inputs.to(device), run=function)
    target = resolve_target(target, outputs).to(inputs.device)

    # Deletion/insertion on the same features for every method (square patches for images),
    # not LIME's own superpixels, so their AUCs are comparable; for token ids with the same
    # mask token (the model's), whatever a method used as its own reference.
    quality_options = {k: dict(v) for k, v in (metric_options or {}).items()}
    for name in ("deletion_auc", "insertion_auc"):
        quality_options.setdefault(name, {}).setdefault("segments", None)
        if is_token_ids(inputs):
            pad = special_token(model, "baseline_token", None, 0)
            mask_token = special_token(model, "mask_token", None, pad)
            quality_options[name].setdefault("mask_token", mask_token)
    attention_mask = attention_mask_of(kwargs, inputs)

    explanations: dict[str, Explanation] = {}
    reports: dict[str, QualityReport] = {}
    with Tracker(progress, "compare", len(methods) + 1, unit="method") as tracker:
        for name in methods:
            tracker.begin(f"explaining with {name}")
            method_options = dict(options.get(name, {}))
            if classes[name].stochastic:
                method_options.setdefault("seed", seed)
            if output is not None:
                method_options.setdefault("output", output)
            if kwargs:
                method_options["model_kwargs"] = kwargs
            explanation = get_explainer(name, model, **method_options).explain(
                inputs, target=target
            )
            explanations[name] = explanation
            tracker.begin(f"evaluating {name}", part=0.5)
            reports[name] = evaluate_explanation(
                model,
                explanation,
                metrics,
                masks,
                model_kwargs=kwargs or None,
                options=quality_options,
                output=output,
                progress=False,  # one bar: this one
            )
            tracker.end(f"{name} explained and evaluated")
        tracker.begin("agreement between the methods")

        count = len(methods)
        agreement = {m: torch.eye(count) for m in AGREEMENT_MEASURES}
        per_sample: dict[tuple[str, str, str], torch.Tensor] = {}
        for (i, a), (j, b) in itertools.combinations(enumerate(methods), 2):
            first, second = explanations[a].attributions, explanations[b].attributions
            values = {
                "rank_correlation": rank_correlation(first, second, attention_mask=attention_mask),
                "top_k_overlap": top_k_overlap(
                    first, second, k=top_k, attention_mask=attention_mask
                ),
            }
            for measure, value in values.items():
                value = value.cpu()
                per_sample[(measure, a, b)] = value
                agreement[measure][i, j] = agreement[measure][j, i] = float(value.nanmean())
        tracker.end("compared the methods")
    return Comparison(
        methods=methods,
        explanations=explanations,
        reports=reports,
        seconds={m: _seconds(e) for m, e in explanations.items()},
        model_evaluations={
            m: int(e.extras.get("model_evaluations", 0)) for m, e in explanations.items()
        },
        agreement=agreement,
        agreement_per_sample=per_sample,
        top_k=top_k,
    )
