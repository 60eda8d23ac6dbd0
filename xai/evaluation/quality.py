"""``xai.evaluate_explanation``: is the explanation right? Every applicable quality metric in one
call, with per-sample values, their means, the deletion/insertion curves and ``to_dict()``.

The metrics themselves are plain functions on tensors in :mod:`xai.metrics` (faithfulness,
localization, complexity, robustness); this module only decides which apply to an explanation,
feeds them what they need, and collects the results.

Token ids ``(N, L)``: the model's forward arguments (``model_kwargs``, by default those the
explanation recorded) go with every model call; the attention mask among them leaves padding
out of every metric; tokens are removed with the explanation's ``mask_token`` (else the
model config's); the noise-based metrics (infidelity, max-sensitivity) do not apply.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from xai._device import model_device
from xai._files import to_json_value
from xai._model import FIRST_SAMPLE, ModelFunction, call_model
from xai._progress import Progress, Tracker, check_progress
from xai._state import preserved_state
from xai.errors import InputError
from xai.explainers.base import Explainer
from xai.explainers.registry import available_explainers, explainer_class
from xai.explanation import Explanation, UnsavedOption
from xai.metrics._checks import (
    NOISE_ON_IDS,
    already_checked,
    attention_mask_of,
    check_attributions,
    check_inputs,
    check_model_kwargs,
    check_target,
    is_token_ids,
)
from xai.metrics.faithfulness import deletion_insertion_curves
from xai.metrics.registry import QualityMetric, get_quality_metric, quality_metrics

__all__ = ["QualityReport", "evaluate_explanation"]

_log = logging.getLogger(__name__)


@dataclass
class QualityReport:
    """Quality metrics of one explanation.

    Attributes:
        method: the explanation's method.
        values: metric name -> per-sample values ``(N,)`` (CPU, float).
        higher_is_better: metric name -> direction.
        curves: ``"deletion"``/``"insertion"`` -> ``(fractions (S+1,), scores (N, S+1))``.
        skipped: metric name -> why it was not computed.
        seconds: metric name -> seconds it took.
        settings: the options the metrics ran with.

    Example::

        report = xai.evaluate_explanation(model, expl, masks=masks)
        report.means["deletion_auc"], report["pointing_game_score"]  # mean, (N,) values
        report.to_dict()
        xai.viz.plot_perturbation_curves(report)
    """

    method: str
    values: dict[str, torch.Tensor]
    higher_is_better: dict[str, bool]
    curves: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def means(self) -> dict[str, float]:
        """Mean over samples of each metric (NaN values, e.g. empty masks, ignored)."""
        return {name: float(values.float().nanmean()) for name, values in self.values.items()}

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self.values:
            raise KeyError(
                f"{name!r} was not computed; computed: {', '.join(self.values)}"
                + (f"; skipped: {', '.join(self.skipped)}" if self.skipped else "")
            )
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per-sample values, means, directions, curves, skipped metrics. A NaN or
        infinite number (e.g. the score of a sample with an empty mask) is None."""
        return to_json_value(
            {
                "method": self.method,
                "n_samples": next((int(v.shape[0]) for v in self.values.values()), 0),
                "means": self.means,
                "values": {k: v.tolist() for k, v in self.values.items()},
                "higher_is_better": dict(self.higher_is_better),
                "curves": {
                    k: {"fractions": f.tolist(), "scores": s.tolist()}
                    for k, (f, s) in self.curves.items()
                },
                "skipped": dict(self.skipped),
                "seconds": dict(self.seconds),
                "settings": {k: _describe(v) for k, v in self.settings.items()},
            }
        )

    def __repr__(self) -> str:
        lines = [f"QualityReport(method={self.method!r})"]
        for name, mean in self.means.items():
            arrow = "higher" if self.higher_is_better[name] else "lower"
            lines.append(f"  {name:<24} {mean:>10.4f}   ({arrow} is better)")
        for name, reason in self.skipped.items():
            lines.append(f"  {name:<24} skipped: {reason}")
        return "\n".join(lines)


def _describe(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist() if value.numel() <= 16 else f"<tensor {tuple(value.shape)}>"
    if isinstance(value, Mapping):
        return {str(k): _describe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_describe(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _check_model_runs(
    model: nn.Module, explanation: Explanation, kwargs: Mapping[str, Any] | None
) -> None:
    """Run the model on one of the explanation's inputs (with its forward arguments, when
    they are known), so that a model that does not fit them (not the model that was
    explained?) fails here in plain words, not in a metric."""
    with preserved_state(model), torch.no_grad():
        sample = explanation.inputs[:1].to(model_device(model))
        first = ModelFunction(model, None, kwargs, len(explanation)).kwargs_for(1, FIRST_SAMPLE)
        try:
            call_model(model, sample, name="explanation", run=lambda x: model(x, **first))
        except InputError as error:
            if error.argument != "explanation":  # not call_model's failure on these inputs
                raise
            raise InputError(
                "explanation",
                f"{error.detail} Is `model` the model that was explained "
                f"(method {explanation.method!r})?",
            ) from error.__cause__


def _is_live(value: Any) -> bool:
    """Whether a recorded forward argument is usable as it is: a tensor or a plain value,
    not a description or the JSON list a file turned a tensor into."""
    if isinstance(value, UnsavedOption):
        return False
    return value is None or isinstance(value, torch.Tensor | bool | int | float | str)


def forward_kwargs(
    explanation: Explanation, model_kwargs: Any = None
) -> tuple[dict[str, Any] | None, str]:
    """``(model_kwargs, why_missing)``: the given ``model_kwargs``, else those the
    explanation recorded; None with the reason when the recorded ones are descriptions (an
    explanation loaded from a file holds its tensors as JSON lists)."""
    if model_kwargs is not None:
        return check_model_kwargs(model_kwargs), ""
    recorded = explanation.params.get("model_kwargs")
    if recorded is None:
        return {}, ""
    if isinstance(recorded, Mapping) and all(_is_live(v) for v in recorded.values()):
        return check_model_kwargs(recorded), ""
    names = ", ".join(map(repr, recorded)) if isinstance(recorded, Mapping) else str(recorded)
    return None, (
        f"the explanation's recorded model_kwargs ({names}) are descriptions, not tensors "
        "(as after Explanation.load): pass model_kwargs= (e.g. {'attention_mask': mask}), "
        "the forward arguments it was explained with"
    )


def rerun_function(
    model: nn.Module,
    explanation: Explanation,
    output: Any = None,
    model_kwargs: Mapping[str, Any] | None = None,
) -> Callable[..., torch.Tensor] | None:
    """``explain(inputs, target, seed=None) -> attributions``: the explanation's method with
    the options it recorded (its seed too, unless another is given), or None when the method
    is not registered or its options cannot be recovered (``model_kwargs`` given here replace
    the recorded ones, which after :meth:`Explanation.load` are only descriptions).

    A call on ``k * N`` rows (``N`` the explained samples) takes them as each sample repeated
    ``k`` times in a row, as max-sensitivity's perturbations are, and repeats the samples'
    own forward arguments with them."""
    try:
        cls = explainer_class(explanation.method)
    except (TypeError, ValueError):
        return None
    accepted = set(cls.accepted_options())
    options = {key: value for key, value in explanation.params.items() if key in accepted}
    if output is not None:
        options["output"] = output
    kwargs, _missing = forward_kwargs(explanation, model_kwargs)
    if kwargs is None:
        return None
    if "model_kwargs" in accepted:
        options["model_kwargs"] = kwargs or None
    if any(isinstance(value, UnsavedOption) for value in options.values()):
        return None  # loaded from a file that could hold only a description of the option
    n = len(explanation)

    def explain(
        inputs: torch.Tensor, target: torch.Tensor, seed: int | None = None
    ) -> torch.Tensor:
        run_options = dict(options)
        if seed is not None and cls.stochastic:
            run_options["seed"] = seed
        rows = int(inputs.shape[0])
        if kwargs and rows != n and rows % n == 0:
            run_options["model_kwargs"] = {
                key: value.repeat_interleave(rows // n, dim=0)
                if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == n
                else value
                for key, value in kwargs.items()
            }
        return cls(model, **run_options).explain(inputs, target=target).attributions

    return explain


def _resolve_metrics(
    metrics: Sequence[str] | None, explanation: Explanation, context: dict[str, Any]
) -> tuple[list[QualityMetric], dict[str, str]]:
    """The metrics to run and, for the default set, why the others are skipped."""
    skipped: dict[str, str] = {}
    if metrics is None:
        chosen = []
        for metric in quality_metrics().values():
            if metric.category == "agreement" or not metric.default:
                continue
            reason = _not_applicable(metric, explanation, context)
            if reason:
                skipped[metric.name] = reason
            else:
                chosen.append(metric)
        return chosen, skipped
    if isinstance(metrics, str):
        metrics = [metrics]
    if not isinstance(metrics, Sequence):
        raise TypeError(
            f"metrics: expected None (every applicable metric) or a list of metric names, got "
            f"{type(metrics).__name__}."
        )
    chosen = []
    for metric in (get_quality_metric(name) for name in metrics):
        # Named but not defined for this method (completeness for Grad-CAM, seed stability for
        # a deterministic method) or these inputs (noise on token ids): skipped with the
        # reason, not computed as a meaningless number.
        reason = method_mismatch(metric, explanation.method) or _input_mismatch(metric, explanation)
        if reason:
            skipped[metric.name] = reason
            continue
        chosen.append(metric)
    for metric in chosen:
        if metric.category == "agreement":
            raise ValueError(
                f"metrics: {metric.name!r} compares two explanations; use xai.compare(...) or "
                f"xai.metrics.{metric.name}(a, b)."
            )
        if _needs_kwargs(metric, explanation, context):
            raise InputError(
                "model_kwargs",
                f"{metric.name!r} needs the model's forward arguments: "
                f"{context['model_kwargs_missing']}.",
            )
        missing = [key for key in metric.requires if context.get(key) is None]
        if missing:
            hint = (
                " Pass masks=... (ground-truth masks (N, 1, H, W), or (N, L) for tokens)."
                if "masks" in missing
                else " The explanation's method could not be re-run (not registered, or an "
                "option was recorded only by name); pass output= for callable outputs."
            )
            raise ValueError(f"metrics: {metric.name!r} needs {', '.join(missing)}.{hint}")
        if metric.image_only and not explanation.is_image:
            raise ValueError(f"metrics: {metric.name!r} is defined for image inputs only.")
    return chosen, skipped


def _needs_kwargs(
    metric: QualityMetric, explanation: Explanation, context: Mapping[str, Any]
) -> bool:
    """Whether ``metric`` cannot run because the forward arguments are unavailable: it runs
    the model, or (token ids) the recorded ones may hold an attention mask it would use
    (only a recorded mapping without one says they do not)."""
    if not context.get("model_kwargs_missing"):
        return False
    if "model" in metric.requires or "explain" in metric.requires:
        return True
    recorded = explanation.params.get("model_kwargs")
    return is_token_ids(explanation.inputs) and not (
        isinstance(recorded, Mapping) and "attention_mask" not in recorded
    )


def _input_mismatch(metric: QualityMetric, explanation: Explanation) -> str:
    """Why ``metric`` is not defined for the explanation's inputs ("" when it is)."""
    if not metric.token_ids and is_token_ids(explanation.inputs):
        return f"not for token ids: {NOISE_ON_IDS}"
    return ""


def _explainer_class(method: str) -> type[Explainer] | None:
    try:
        return explainer_class(method)
    except (TypeError, ValueError):
        return None


def _not_applicable(
    metric: QualityMetric, explanation: Explanation, context: dict[str, Any]
) -> str:
    mismatch = _input_mismatch(metric, explanation) or method_mismatch(metric, explanation.method)
    if mismatch:
        return mismatch
    missing = [key for key in metric.requires if context.get(key) is None]
    if "masks" in missing:
        return "no ground-truth masks given (masks=...)"
    if _needs_kwargs(metric, explanation, context):
        return str(context["model_kwargs_missing"])
    if "explain" in missing:
        return "the method cannot be re-run from the explanation's recorded options"
    if missing:
        return f"needs {', '.join(missing)}"
    if metric.image_only and not explanation.is_image:
        return "images only"
    return ""


def method_mismatch(metric: QualityMetric, method: str) -> str:
    """Why ``metric`` is not meaningful for explanations by ``method`` ("" when it is), from
    what the method's class declares: its ``properties`` (completeness) and ``stochastic``
    (seed stability). An unregistered method has neither."""
    cls = _explainer_class(method)
    wanted = metric.method_property
    if wanted is not None and (cls is None or wanted not in cls.properties):
        having = [
            name for name in available_explainers() if wanted in explainer_class(name).properties
        ]
        return f"defined for {', '.join(having)} only"
    if metric.stochastic_only and not (cls is not None and cls.stochastic):
        return "the method is deterministic"
    return ""


def evaluate_explanation(
    model: nn.Module,
    explanation: Explanation,
    metrics: Sequence[str] | None = None,
    masks: torch.Tensor | None = None,
    *,
    model_kwargs: Mapping[str, Any] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    baseline: Any = None,
    output: Any = None,
    progress: Progress = None,
) -> QualityReport:
    """Score an explanation with explanation-quality metrics.

    Args:
        model: the model that was explained (left as found).
        explanation: an :class:`~xai.Explanation` of ``model``.
        metrics: metric names (see :func:`xai.metrics.quality_metrics`); ``None`` runs every
            applicable one: deletion/insertion AUC, infidelity, max-sensitivity, sparseness;
            completeness for Integrated Gradients and SHAP; localization when ``masks`` are
            given; seed stability for stochastic methods (LIME, SHAP).
        masks: ground-truth object masks ``(N, 1, H, W)`` or ``(N, H, W)`` for the localization
            metrics (``shapes_cnn``'s data carries them); keyword masks ``(N, L)`` for token
            ids (``keywords_text_cnn``'s data carries them).
        model_kwargs: the model's extra forward arguments (``{"attention_mask": mask}``), passed
            with the rows of every model call; default: those the explanation recorded. Needed
            after :meth:`Explanation.load`, whose recorded ones are only descriptions. For
            token ids, the positions where ``attention_mask`` is 0 count in no metric.
        options: per-metric options, e.g. ``{"deletion_auc": {"steps": 10, "score": "logit"},
            "max_sensitivity_error": {"n_perturb_samples": 4}}``. Deletion and insertion share
            the options of their curves.
        baseline: what removed features are replaced by for deletion/insertion (default None:
            0.0; keep it the same across methods to compare them). Completeness uses the
            method's own baseline (IG's ``baselines``, SHAP's expected value). For token ids
            tokens are removed with the explanation's ``mask_token`` (else the model config's
            ``mask_token_id``, else its ``pad_token_id``); another one is the option
            ``{"deletion_auc": {"mask_token": id}}``.
        output: how to pick the logits from the model's output, when the explanation recorded
            a callable ``output`` only by name.
        progress: None (default: a progress bar on a terminal, else one log line per
            metric), True (a bar), False (nothing), or a callable
            ``progress(fraction_done, message)`` called as each metric is computed
            (docs/command_line.md#progress).

    Returns:
        A :class:`QualityReport`.

    Raises:
        TypeError, ValueError: bad arguments, unknown metric names, or a named metric whose
            inputs are missing (e.g. localization without masks, or model_kwargs after
            loading an explanation that was explained with them).

    Example::

        expl = xai.explain(model, images, method="integrated_gradients")
        report = xai.evaluate_explanation(model, expl, masks=masks)
        report.means
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(explanation, Explanation):
        raise TypeError(
            f"explanation: expected an xai.Explanation (from xai.explain), got "
            f"{type(explanation).__name__}."
        )
    progress = check_progress(progress)
    options = {k: dict(v) for k, v in (options or {}).items()}
    for name, given in options.items():
        _check_metric_options(get_quality_metric(name), given)  # unknown names fail early
    if output is None and not isinstance(explanation.params.get("output"), UnsavedOption):
        output = explanation.params.get("output")
    if masks is not None and not isinstance(masks, torch.Tensor):
        masks = torch.as_tensor(masks)
    device = model_device(model)
    kwargs, kwargs_missing = forward_kwargs(explanation, model_kwargs)
    if kwargs is not None:
        kwargs = check_model_kwargs(kwargs, device)
    _check_model_runs(model, explanation, kwargs)
    # validated and moved to the model's device once: every metric then finds them checked
    # and there (no check and no copy per metric)
    inputs = check_inputs(explanation.inputs, "explanation", token_ids=True).to(device)
    attributions = check_attributions(explanation.attributions, inputs).to(device)
    target = check_target(explanation.target, len(explanation), device)
    segments = explanation.extras.get("segments") if explanation.is_image else None
    token_ids = is_token_ids(inputs)
    mask_token = explanation.params.get("mask_token") if token_ids else None
    context: dict[str, Any] = {
        "model": model,
        "inputs": inputs,
        "attributions": attributions,
        "target": target,
        "masks": masks.to(device) if isinstance(masks, torch.Tensor) else masks,
        "segments": segments.to(device) if isinstance(segments, torch.Tensor) else segments,
        "baseline": baseline,
        "output": output,
        "explain": rerun_function(model, explanation, output, kwargs),
        "model_kwargs": kwargs,
        "attention_mask": attention_mask_of(kwargs, inputs),
        "mask_token": mask_token if isinstance(mask_token, int) else None,
        "model_kwargs_missing": kwargs_missing,
    }
    chosen, skipped = _resolve_metrics(metrics, explanation, context)
    report = QualityReport(
        method=explanation.method,
        values={},
        higher_is_better={m.name: m.higher_is_better for m in chosen},
        skipped=skipped,
    )
    curves: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # mode -> (fractions, scores)
    tracker = Tracker(progress, f"quality of {explanation.method}", len(chosen), unit="metric")
    with already_checked(inputs, attributions, target), tracker:
        for metric in chosen:
            tracker.begin(metric.name)
            started = time.perf_counter()
            metric_context = {
                **context,
                **_method_context(metric, explanation),
                **options.get(metric.name, {}),
            }
            if metric.name in _CURVES:
                values = _curve_metric(metric, metric_context, report, chosen, options, curves)
            elif metric.name == "completeness_error" and _has_own_delta(explanation, options):
                # the method reported sum(a) - (f(x) - f(baseline)) on its own baseline already
                values = explanation.extras["convergence_delta"].detach().abs()
            else:
                values = metric(**metric_context)
            report.values[metric.name] = values.detach().float().cpu()
            report.seconds[metric.name] = time.perf_counter() - started
            report.settings[metric.name] = options.get(metric.name, {})
            tracker.end(f"{metric.name} = {report.means[metric.name]:.4g}")
    return report


def _check_metric_options(metric: QualityMetric, given: Mapping[str, Any]) -> None:
    """Raise on options the metric's function does not take (typos would be silently ignored)."""
    import inspect

    accepted = [
        name
        for name, parameter in inspect.signature(metric.function).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise TypeError(
            f"options: {metric.name} has no option(s) {unknown}; its options are "
            f"{', '.join(a for a in accepted if a != 'output') or 'none'}."
        )


def _method_context(metric: QualityMetric, explanation: Explanation) -> dict[str, Any]:
    """Method-specific inputs: completeness against the method's own reference."""
    if metric.name != "completeness_error":
        return {}
    if "expected_value" in explanation.extras:  # SHAP: E[f(background)] is its reference
        return {"reference_output": explanation.extras["expected_value"]}
    if is_token_ids(explanation.inputs):  # IG on ids: real tokens replaced by baseline_token
        token = explanation.params.get("baseline_token")
        return {"baseline": None, "baseline_token": token if isinstance(token, int) else None}
    baselines = explanation.params.get("baselines")
    if isinstance(baselines, torch.Tensor | int | float) and not isinstance(baselines, bool):
        return {"baseline": baselines}
    return {"baseline": 0.0}


#: The curve metrics and the curve each integrates.
_CURVES = {"deletion_auc": "deletion", "insertion_auc": "insertion"}


def _has_own_delta(explanation: Explanation, options: Mapping[str, Any]) -> bool:
    """Whether completeness can be read from the method's own convergence delta: reported
    for every sample, and no other baseline asked for."""
    delta = explanation.extras.get("convergence_delta")
    return (
        isinstance(delta, torch.Tensor)
        and delta.shape == (len(explanation),)
        and not options.get("completeness_error")
    )


def _curve_metric(
    metric: QualityMetric,
    context: dict[str, Any],
    report: QualityReport,
    chosen: Sequence[QualityMetric],
    options: Mapping[str, Any],
    curves: dict[str, tuple[torch.Tensor, torch.Tensor]],
) -> torch.Tensor:
    """Integrate the metric's curve. Deletion and insertion with the same options come from
    one ranking of the features, computed when the first of them runs (kept in ``curves``)."""
    mode = _CURVES[metric.name]
    accepted = (
        "steps",
        "baseline",
        "segments",
        "patch_size",
        "score",
        "output",
        "model_kwargs",
        "mask_token",
    )
    unknown = set(options.get(metric.name, {})) - set(accepted)
    if unknown:
        raise TypeError(
            f"options: {metric.name} has no option(s) {sorted(unknown)}; its options are "
            f"{', '.join(a for a in accepted if a not in ('output', 'model_kwargs'))}."
        )
    if mode not in curves:
        same = [
            _CURVES[m.name]
            for m in chosen
            if m.name in _CURVES
            and _CURVES[m.name] not in curves
            and options.get(m.name, {}) == options.get(metric.name, {})
        ]
        fractions, computed = deletion_insertion_curves(
            context["model"],
            context["inputs"],
            context["attributions"],
            context["target"],
            modes=tuple(same),
            **{k: context[k] for k in accepted if k in context},
        )
        for name, scores in computed.items():
            curves[name] = (fractions, scores)
    fractions, scores = curves[mode]
    report.curves[mode] = (fractions.cpu(), scores.detach().float().cpu())
    return torch.trapezoid(scores, fractions, dim=1)
