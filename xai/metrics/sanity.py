"""Sanity checks: does the explanation depend on the model and on what it learned?

- :func:`model_randomization_check` (Adebayo et al., 2018): re-initialise the model's layers
  one after another from the top (logits) down, on a copy, and compare each randomised model's
  attributions to the original's. An explanation that does not change is not explaining the
  model (an edge detector would pass through unchanged).
- :func:`data_randomization_check` (Adebayo et al., 2018): retrain a copy on shuffled labels
  with :func:`xai.fit` and compare its explanations to the original's.
- :func:`seed_stability_score`: agreement of a stochastic method (LIME, SHAP) with itself
  across seeds.

Similarity is Spearman rank correlation of absolute relevance (and SSIM for images). A check
*passes* when the mean rank correlation after randomisation is below ``threshold``
(default 0.5): the explanation changed substantially when the model did.

Token ids ``(N, L)`` are checked like any input: the method's ``model_kwargs`` option (e.g.
``{"attention_mask": mask}``) is passed to every run, and the rank correlation is taken over
the real tokens (``attention_mask`` 1) only.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from xai._device import model_device
from xai._files import to_json_value
from xai._layers import trace_layers
from xai._model import FIRST_SAMPLE, ModelFunction
from xai._progress import Progress, Tracker, check_progress
from xai._state import preserved_state
from xai._validation import check_positive_int, check_seed, resolve_target
from xai.explainers.registry import explainer_class, get_explainer
from xai.metrics._checks import (
    attention_mask_of,
    check_inputs,
    check_model_kwargs,
    check_target,
)
from xai.metrics.agreement import rank_correlation, structural_similarity
from xai.metrics.base import QualityMetric
from xai.training.loop import fit

__all__ = [
    "DEFAULT_THRESHOLD",
    "RandomizationResult",
    "data_randomization_check",
    "model_randomization_check",
    "seed_stability_score",
]

_log = logging.getLogger(__name__)

#: A check passes when the mean rank correlation after randomisation is below this value.
DEFAULT_THRESHOLD = 0.5

Method = str | Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class RandomizationResult:
    """The outcome of a randomisation sanity check.

    Attributes:
        check: ``"model_randomization"`` or ``"data_randomization"``.
        method: the explanation method checked.
        steps: what was randomised at each point, in order: layer names from the top down for
            the cascading model check (step ``i`` has layers ``0..i`` randomised), or
            ``["shuffled labels"]`` for the data check.
        similarity: ``{"rank_correlation": (S, N), "structural_similarity": (S, N)}``: each
            step's similarity to the original attributions, per sample (SSIM for images only).
        threshold: the pass threshold on the mean rank correlation after full randomisation.
        details: anything else (e.g. the shuffled model's final training loss).
        model: the randomised model (the fully randomised copy, or the copy retrained on
            shuffled labels), to reuse with other methods (``retrained=``); not in ``to_dict``.
    """

    check: str
    method: str
    steps: list[str]
    similarity: dict[str, torch.Tensor]
    threshold: float = DEFAULT_THRESHOLD
    details: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False)

    @property
    def final_similarity(self) -> float:
        """Mean rank correlation after the last randomisation step."""
        return float(self.similarity["rank_correlation"][-1].nanmean())

    @property
    def passed(self) -> bool:
        """True when the explanation changed: final mean rank correlation < ``threshold``."""
        value = self.final_similarity
        return bool(math.isfinite(value) and value < self.threshold)

    @property
    def verdict(self) -> str:
        """One sentence: passes/fails, with the number and the threshold."""
        word = "passes" if self.passed else "FAILS"
        if self.check == "model_randomization":
            what = "fully randomised model"
        else:
            what = "model retrained on shuffled labels"
        return (
            f"{self.method} {word} the {self.check.replace('_', ' ')} check: mean rank "
            f"correlation with the {what} is {self.final_similarity:.3f} "
            f"({'<' if self.passed else '>='} threshold {self.threshold})."
        )

    def means(self) -> dict[str, list[float]]:
        """Mean similarity over samples at each step, per similarity measure."""
        return {k: [float(v) for v in t.nanmean(dim=1)] for k, t in self.similarity.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: steps, per-sample and mean similarities, threshold, verdict (NaN and
        infinite numbers as None)."""
        return to_json_value(
            {
                "check": self.check,
                "method": self.method,
                "steps": list(self.steps),
                "similarity": {k: v.tolist() for k, v in self.similarity.items()},
                "mean_similarity": self.means(),
                "threshold": self.threshold,
                "final_similarity": self.final_similarity,
                "passed": self.passed,
                "verdict": self.verdict,
                "details": dict(self.details),
            }
        )

    def __repr__(self) -> str:
        return f"RandomizationResult({self.verdict!r})"


def _attribution_function(method: Method, options: dict[str, Any]) -> Callable[..., torch.Tensor]:
    """``(model, inputs, target) -> attributions`` for a method name or a callable."""
    if callable(method) and not isinstance(method, str):
        return method
    if not isinstance(method, str):
        raise TypeError(
            f"method: expected a method name or a callable (model, inputs, target) -> "
            f"attributions, got {type(method).__name__}."
        )
    get_explainer(method, nn.Identity(), **options)  # checks the method and option names now

    def attribute(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return get_explainer(method, model, **options).explain(inputs, target=target).attributions

    return attribute


def _method_name(method: Method) -> str:
    return method if isinstance(method, str) else getattr(method, "__name__", "custom")


def _resolve(
    model: nn.Module, inputs: Any, target: Any, output: Any, options: dict[str, Any]
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any], torch.Tensor | None]:
    """The inputs (token ids allowed), the target (the model's prediction for None), the
    method's ``model_kwargs`` on the model's device, and for token ids the attention mask."""
    inputs = check_inputs(inputs, token_ids=True)
    device = model_device(model)
    kwargs = check_model_kwargs(options.get("model_kwargs"), device)
    with preserved_state(model), torch.no_grad():
        outputs = ModelFunction(model, output, kwargs, len(inputs))(inputs.to(device))
    return inputs, resolve_target(target, outputs), kwargs, attention_mask_of(kwargs, inputs)


def _similarities(
    original: torch.Tensor,
    randomised: torch.Tensor,
    images: bool,
    attention_mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    out = {
        "rank_correlation": rank_correlation(original, randomised, attention_mask=attention_mask)
    }
    if images:
        out["structural_similarity"] = structural_similarity(original, randomised)
    return out


def _check_threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise TypeError(f"threshold: expected a number in (-1, 1], got {type(threshold).__name__}.")
    if not -1.0 < threshold <= 1.0:
        raise ValueError(
            f"threshold: expected a rank correlation in (-1, 1], got {threshold}. The default "
            f"is {DEFAULT_THRESHOLD}."
        )
    return float(threshold)


def _reinitialise(module: nn.Module) -> None:
    """Fresh random parameters for one module (its own, not its children's)."""
    reset = getattr(module, "reset_parameters", None)
    if reset is not None:
        reset()
        return
    with torch.no_grad():
        for param in module.parameters(recurse=False):
            std = float(param.std()) if param.numel() > 1 else 0.0
            param.normal_(0.0, std if std > 0 else 0.05)


def _parametrised_layers(
    model: nn.Module, inputs: torch.Tensor, output: Any, kwargs: dict[str, Any]
) -> list[str]:
    """Names of modules with their own parameters, in forward order."""
    function = ModelFunction(model, output, kwargs, len(inputs))
    with preserved_state(model), torch.no_grad():
        calls = trace_layers(
            model, lambda: function(inputs[:1].to(model_device(model)), FIRST_SAMPLE)
        )
    seen = [c.name for c in calls if any(True for _ in c.module.parameters(recurse=False))]
    # modules that own parameters but were not traced (unused) are ignored
    return seen


def model_randomization_check(
    model: nn.Module,
    inputs: torch.Tensor,
    method: Method = "integrated_gradients",
    target: Any = None,
    *,
    layers: Sequence[str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    output: Any = None,
    progress: Progress = None,
    **options: Any,
) -> RandomizationResult:
    """Cascading model-parameter randomisation (Adebayo et al., 2018).

    Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, *Sanity Checks for Saliency Maps*,
    NeurIPS 2018 (https://arxiv.org/abs/1810.03292). On a deep copy of ``model`` (the user's
    model is never touched), the layers with parameters are re-initialised one after another
    from the output layer down; after each one the attributions of the same inputs, for the same
    targets, are compared with the original ones (Spearman rank correlation of absolute
    relevance, and SSIM for images).

    Args:
        model: the trained model.
        inputs: a batch ``(N, ...)``.
        method: a method name (options in ``**options``) or a callable
            ``(model, inputs, target) -> attributions``.
        target: ``None`` (the original model's prediction), an int, or one class per sample;
            kept fixed for the randomised models.
        layers: names of the modules to randomise, in cascade order (default: every module
            with parameters, from the last one in the forward pass to the first).
        threshold: the check passes when the mean rank correlation after randomising every
            layer is below it (default 0.5).
        seed: seeds the re-initialisation (and the method, when it takes a seed and none is
            given in ``options``).
        output: how to pick the logits from the model's output.
        progress: None (default: a progress bar on a terminal, else one log line per layer),
            True (a bar), False (nothing), or a callable ``progress(fraction_done, message)``
            called after each step (docs/command_line.md#progress).
        **options: options of the method (``n_steps=16``, ``seed=0`` ...); its
            ``model_kwargs`` (``{"attention_mask": mask}`` for token ids) are passed to every
            run, and for token ids the similarity counts the real tokens only.

    Returns:
        A :class:`RandomizationResult`; ``result.passed``, ``result.verdict``.

    Example::

        result = model_randomization_check(model, images, "integrated_gradients", n_steps=16)
        result.passed, result.verdict
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}.")
    seed = check_seed(seed) or 0
    threshold = _check_threshold(threshold)
    progress = check_progress(progress)
    if output is not None:
        options["output"] = output
    options = _with_seed(method, options, seed)
    attribute = _attribution_function(method, options)
    inputs, target, kwargs, attention_mask = _resolve(model, inputs, target, output, options)
    names = dict(model.named_modules())
    if layers is None:
        cascade = list(reversed(_parametrised_layers(model, inputs, output, kwargs)))
    else:
        # one name is one layer, not a sequence of one-letter names
        cascade = [layers] if isinstance(layers, str) else list(layers)
        unknown = [name for name in cascade if name not in names or not name]
        if unknown:
            raise ValueError(
                f"layers: the model has no submodule(s) {unknown}. Submodules: "
                f"{', '.join(n for n in names if n)}."
            )
    if not cascade:
        raise ValueError("model: the model has no layers with parameters to randomise.")
    images = inputs.ndim == 4
    rows: dict[str, list[torch.Tensor]] = {}
    with Tracker(progress, "model randomization", len(cascade) + 1, unit="layer") as tracker:
        original = attribute(model, inputs, target).detach()
        tracker.end("explained the trained model")
        randomised = copy.deepcopy(model)
        copies = dict(randomised.named_modules())
        with torch.random.fork_rng(devices=_cuda_devices(model)):
            torch.manual_seed(seed)
            for name in cascade:
                _reinitialise(copies[name])
                values = attribute(randomised, inputs, target).detach()
                tracker.end(f"randomised {name}")
                similar = _similarities(original, values, images, attention_mask)
                for key, value in similar.items():
                    rows.setdefault(key, []).append(value.cpu())
    return RandomizationResult(
        check="model_randomization",
        method=_method_name(method),
        steps=cascade,
        similarity={k: torch.stack(v) for k, v in rows.items()},
        threshold=threshold,
        details={"n_samples": int(inputs.shape[0]), "seed": seed},
        model=randomised,
    )


def _cuda_devices(model: nn.Module) -> list[int]:
    device = model_device(model)
    return [device.index or 0] if device.type == "cuda" else []


def _with_seed(method: Method, options: dict[str, Any], seed: int) -> dict[str, Any]:
    if isinstance(method, str) and "seed" not in options and explainer_class(method).stochastic:
        return {**options, "seed": seed}
    return dict(options)


def data_randomization_check(
    model: nn.Module,
    train_data: Any,
    inputs: torch.Tensor,
    method: Method = "integrated_gradients",
    target: Any = None,
    *,
    epochs: int = 5,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    fit_options: dict[str, Any] | None = None,
    retrained: nn.Module | None = None,
    output: Any = None,
    progress: Progress = None,
    **options: Any,
) -> RandomizationResult:
    """Data randomisation (Adebayo et al., 2018): retrain on shuffled labels, compare.

    Adebayo et al., NeurIPS 2018 (https://arxiv.org/abs/1810.03292). A deep copy of ``model``
    is re-initialised and trained with :func:`xai.fit` on ``train_data`` with its labels
    randomly permuted, so it can only memorise; its attributions of ``inputs`` (for the original
    model's targets) are then compared with the original model's. An explanation that still
    looks the same does not reflect what the model learned from the labels.

    Args:
        model: the trained model (left untouched).
        train_data: ``(X, y)`` tensors or a ``TensorDataset`` whose first two tensors are
            inputs and labels (e.g. ``ref.data["train"]``); unused with ``retrained``.
        inputs: the samples to explain ``(N, ...)``.
        method: a method name or a callable ``(model, inputs, target) -> attributions``.
        target: ``None`` (the original model's prediction), an int, or one class per sample.
        epochs: training epochs on the shuffled labels.
        threshold: pass threshold on the mean rank correlation (default 0.5).
        seed: seeds the permutation, the re-initialisation and the training.
        fit_options: other :func:`xai.fit` settings (``batch_size``, ``lr`` ...).
        retrained: a model already trained on shuffled labels (``result.model`` of an earlier
            check), to check several methods against the same one without retraining.
        output: how to pick the logits from the model's output.
        progress: as for :func:`model_randomization_check`; the stages: explaining the model,
            retraining the copy on shuffled labels, explaining the retrained copy.
        **options: options of the method.

    Returns:
        A :class:`RandomizationResult` with one step, ``"shuffled labels"``; ``details`` holds
        the shuffled model's final training loss, ``model`` the retrained copy.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}.")
    seed = check_seed(seed) or 0
    epochs = check_positive_int("epochs", epochs)
    threshold = _check_threshold(threshold)
    progress = check_progress(progress)
    if output is not None:
        options["output"] = output
    options = _with_seed(method, options, seed)
    attribute = _attribution_function(method, options)
    if retrained is None:
        features, labels = _training_tensors(train_data)
    inputs, target, _kwargs, attention_mask = _resolve(model, inputs, target, output, options)
    stages = 3 if retrained is None else 2
    with Tracker(progress, "data randomization", stages) as tracker:
        original = attribute(model, inputs, target).detach()
        tracker.end("explained the trained model")

        details: dict[str, Any] = {"epochs": epochs, "seed": seed}
        if retrained is None:
            details["n_train"] = int(labels.shape[0])
            generator = torch.Generator().manual_seed(seed)
            shuffled = labels[torch.randperm(labels.shape[0], generator=generator)]
            retrained = copy.deepcopy(model)
            with torch.random.fork_rng(devices=_cuda_devices(model)):
                torch.manual_seed(seed)
                for module in retrained.modules():
                    reset = getattr(module, "reset_parameters", None)
                    if reset is not None:
                        reset()
            settings = {"epochs": epochs, "seed": seed, "progress": False, **(fit_options or {})}
            settings.setdefault("device", model_device(model))
            history = fit(retrained, (features, shuffled), **settings)
            last = history.records[-1] if history.records else {}
            details["final_train_loss"] = float(last.get("train_loss", float("nan")))
            tracker.end(f"retrained a copy on shuffled labels ({epochs} epoch(s))")
        elif not isinstance(retrained, nn.Module):
            raise TypeError(
                f"retrained: expected None or an nn.Module trained on shuffled labels, got "
                f"{type(retrained).__name__}."
            )
        else:
            details["reused_model"] = True
        values = attribute(retrained, inputs, target).detach()
        tracker.end("explained the retrained copy")
    similarity = {
        k: v.cpu()[None]
        for k, v in _similarities(original, values, inputs.ndim == 4, attention_mask).items()
    }
    return RandomizationResult(
        check="data_randomization",
        method=_method_name(method),
        steps=["shuffled labels"],
        similarity=similarity,
        threshold=threshold,
        details=details,
        model=retrained,
    )


def _training_tensors(train_data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    tensors = getattr(train_data, "tensors", train_data)
    if not isinstance(tensors, tuple | list) or len(tensors) < 2:
        raise TypeError(
            "train_data: expected (X, y) tensors or a TensorDataset of (inputs, labels, ...), "
            f"got {type(train_data).__name__}."
        )
    features, labels = tensors[0], tensors[1]
    if not isinstance(features, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError("train_data: expected tensors (X, y).")
    if features.shape[0] != labels.shape[0]:
        raise ValueError(f"train_data: X has {features.shape[0]} rows but y has {labels.shape[0]}.")
    return features, labels


def seed_stability_score(
    explain: Callable[..., torch.Tensor],
    inputs: torch.Tensor,
    target: Any,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Seed stability of a stochastic method: the mean pairwise Spearman rank correlation of
    its attributions across ``seeds``, per sample. Higher is better (1: the seed does not matter).

    The concern is raised for LIME and SHAP by e.g. Zhang, Song, Sun, Tan & Udell, *"Why Should
    You Trust My Explanation?" Understanding Uncertainty in LIME Explanations*, 2019
    (https://arxiv.org/abs/1904.12991).

    Args:
        explain: ``explain(inputs, target, seed) -> attributions``.
        inputs: ``(N, ...)``.
        target: class per sample.
        seeds: at least two seeds.
        attention_mask: for token ids ``(N, L)``: 1 on real tokens, the positions compared.

    Returns:
        ``(N,)`` values in [-1, 1].
    """
    if not callable(explain):
        raise TypeError(
            f"explain: expected a callable (inputs, target, seed) -> attributions, got "
            f"{type(explain).__name__}."
        )
    seeds = list(seeds)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: expected at least two distinct seeds, got {seeds!r}.")
    for value in seeds:
        check_seed(value)
    inputs = check_inputs(inputs, token_ids=True)
    target = check_target(target, inputs.shape[0], inputs.device)
    runs = [explain(inputs, target, seed=value).detach() for value in seeds]
    pairs = [
        rank_correlation(runs[i], runs[j], attention_mask=attention_mask)
        for i in range(len(runs))
        for j in range(i + 1, len(runs))
    ]
    return torch.stack(pairs).mean(dim=0)


#: The metrics of this module, registered by :mod:`xai.metrics.registry`.
METRICS = (
    QualityMetric(
        name="seed_stability_score",
        function=seed_stability_score,
        higher_is_better=True,
        category="robustness",
        reference="https://arxiv.org/abs/1904.12991",
        requires=("explain",),
        stochastic_only=True,
        summary="mean pairwise rank correlation of the attributions across seeds",
    ),
)
