"""Faithfulness: does the model's output depend on the features the attribution ranks highest?

- :func:`deletion_auc` / :func:`insertion_auc` (Petsiuk et al., 2018): remove (or add) features
  in attribution order, replacing them by a baseline, and integrate the target score.
- :func:`infidelity_error` (Yeh et al., 2019), by ``captum.metrics.infidelity``.
- :func:`completeness_error` (Sundararajan et al., 2017): ``|sum(a) - (f(x) - f(baseline))|``.

Robustness under input noise (max-sensitivity) is :mod:`xai.metrics.robustness`.

Token ids ``(N, L)``: deletion/insertion remove (add back) tokens by replacing them with
``mask_token`` (default: the model config's ``mask_token_id``, else its ``pad_token_id``,
else 0); positions the attention mask (``model_kwargs["attention_mask"]``) switches off are
never changed nor ranked, and the fractions count each row's real tokens. Completeness
replaces the real tokens with ``baseline_token`` (IG's reference on ids). Infidelity adds
continuous noise and does not apply to ids. ``model_kwargs`` (forward arguments such as the
attention mask) are passed with the rows of every model call.

All functions return one value per sample ``(N,)`` and run the model on its own device, in
large chunks, under :func:`xai._state.preserved_state` (the model is left as found).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from xai._batching import chunk_rows, chunks
from xai._device import model_device
from xai._model import FIRST_SAMPLE, ModelFunction, OutputSelector
from xai._state import preserved_state
from xai._tokens import special_token
from xai._validation import broadcast_reference, check_choice, check_positive_int, check_seed
from xai.errors import InputError
from xai.metrics._checks import (
    attention_mask_of,
    check_attention_mask,
    check_attributions,
    check_inputs,
    check_model_kwargs,
    check_positive_number,
    check_target,
    check_target_range,
    is_token_ids,
    not_for_token_ids,
    relevance_maps,
    sample_rows,
    target_column,
    valid_positions,
)
from xai.metrics.base import QualityMetric

__all__ = [
    "completeness_error",
    "deletion_auc",
    "deletion_insertion_curves",
    "infidelity_error",
    "insertion_auc",
    "perturbation_curves",
]

_log = logging.getLogger(__name__)

_SCORES = ("probability", "logit")
ExplainFunction = Callable[..., torch.Tensor]


def _check_model(model: Any) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}.")
    return model


def _target_scores(outputs: torch.Tensor, target: torch.Tensor, score: str) -> torch.Tensor:
    """The target column as a probability (softmax; sigmoid for one output) or a raw logit."""
    if score == "probability":
        outputs = outputs.sigmoid() if outputs.shape[1] == 1 else outputs.softmax(dim=1)
    return target_column(outputs, target)


def _feature_labels(
    inputs: torch.Tensor, segments: Any, patch_size: int | None
) -> tuple[torch.Tensor, str]:
    """Feature label of every position ``(N, P)`` and a description of the feature unit.

    Images: superpixel ``segments`` when given, else square patches of ``patch_size`` pixels
    (default: an 8x8 grid of patches, at least one pixel each). Sequences: positions. Tabular:
    columns.
    """
    n = inputs.shape[0]
    if inputs.ndim == 2:
        if segments is not None:
            raise ValueError("segments: only used for image inputs (N, C, H, W).")
        positions = inputs.shape[1]
        unit = "tokens" if is_token_ids(inputs) else "columns"
        return torch.arange(positions, device=inputs.device).expand(n, positions), unit
    if inputs.ndim == 4:
        height, width = inputs.shape[2:]
        if segments is not None:
            if isinstance(segments, torch.Tensor) is False:
                segments = torch.as_tensor(segments)
            segments = segments.to(inputs.device).long()
            if segments.shape == (height, width):
                segments = segments.expand(n, height, width)
            if segments.shape != (n, height, width):
                raise ValueError(
                    f"segments: expected integer labels of shape {(n, height, width)} or "
                    f"{(height, width)}, got {tuple(segments.shape)}."
                )
            labels = segments.reshape(n, -1)
            # contiguous labels 0..F-1 per sample, so the feature count is exact
            relabelled = torch.stack([torch.unique(row, return_inverse=True)[1] for row in labels])
            return relabelled, "superpixels"
        if patch_size is None:
            patch_size = max(1, min(height, width) // 8)
        patch = check_positive_int("patch_size", patch_size)
        rows = torch.arange(height, device=inputs.device) // patch
        cols = torch.arange(width, device=inputs.device) // patch
        per_row = (width + patch - 1) // patch
        grid = (rows[:, None] * per_row + cols[None, :]).reshape(-1)
        unit = "pixels" if patch == 1 else f"{patch}x{patch} patches"
        return grid.expand(n, -1), unit
    if segments is not None:
        raise ValueError("segments: only used for image inputs (N, C, H, W).")
    positions = int(torch.tensor(inputs.shape[2:]).prod())
    return torch.arange(positions, device=inputs.device).expand(n, positions), "positions"


def _token_reference(model: nn.Module, token: Any, baseline: Any, name: str = "mask_token") -> int:
    """The id that replaces tokens (``mask_token``, or ``baseline_token`` for completeness):
    ``token``, else the model config's, else its pad token, else 0. ``baseline`` (the
    reference of float inputs) must not be given for token ids."""
    if baseline is not None:
        raise InputError(
            "baseline",
            f"for token ids the reference is a token id: pass {name}= (an id, such as the "
            f"{'[MASK]' if name == 'mask_token' else '[PAD]'} token's) instead of "
            f"baseline={baseline!r}.",
        )
    if name == "baseline_token":
        return special_token(model, "baseline_token", token, 0)
    pad = special_token(model, "baseline_token", None, 0)
    return special_token(model, "mask_token", token, pad)


def _float_reference(baseline: Any, inputs: torch.Tensor, token: Any, name: str) -> torch.Tensor:
    """The float inputs' reference (default 0.0), with ``name`` (a token option) refused."""
    if token is not None:
        raise InputError(
            name,
            f"{name} is the token id that replaces tokens of token ids (integer inputs (N, L)); "
            f"these inputs are floats of dtype {inputs.dtype}: use baseline= instead.",
        )
    base = broadcast_reference(0.0 if baseline is None else baseline, inputs, "baseline")
    if base.shape[0] not in (1, inputs.shape[0]):
        raise ValueError(
            f"baseline: expected one baseline for all samples or one per sample "
            f"({inputs.shape[0]}), got {base.shape[0]}."
        )
    return base


def perturbation_curves(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    target: Any,
    *,
    mode: str = "deletion",
    steps: int = 20,
    baseline: Any = None,
    segments: Any = None,
    patch_size: int | None = None,
    score: str = "probability",
    output: OutputSelector = None,
    model_kwargs: Mapping[str, Any] | None = None,
    mask_token: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The target score as features are removed (``"deletion"``) or added (``"insertion"``) in
    attribution order, most relevant first.

    Features are the columns of tabular inputs, and for images the superpixels ``segments``
    when given, else square patches (``patch_size`` pixels, default an 8x8 grid); a feature's
    relevance is the sum of its positions' attributions (channels summed, sign kept). A removed
    feature takes the ``baseline``'s values in every channel. Deletion starts from the input and
    ends at the baseline; insertion the reverse. At step ``s`` the top ``round(s / steps * F)``
    features are removed (added); ties are broken by position.

    Args:
        model: the classifier.
        inputs: ``(N, ...)``.
        attributions: the inputs' shape, or ``(N, 1, H, W)`` layer maps.
        target: class per sample (LongTensor ``(N,)``) or an int.
        mode: ``"deletion"`` or ``"insertion"``.
        steps: points of the curve after the first (default 20).
        baseline: the reference value: a number, one sample, or one per sample (default None:
            0.0, the same reference as IG's baseline and LIME's ``hide_color``). Not for
            token ids: see ``mask_token``.
        segments: integer superpixel labels ``(N, H, W)`` or ``(H, W)`` (images only).
        patch_size: side of square patches for images without ``segments``.
        score: ``"probability"`` (softmax of the logits, sigmoid for a single output) or
            ``"logit"`` (the raw output).
        output: how to pick the logits from the model's output (see ``xai.explain``).
        model_kwargs: extra forward arguments (``{"attention_mask": mask}``); tensors with one
            row per sample are passed with the rows of each sample's perturbed copies. For
            token ids, positions where ``attention_mask`` is 0 are never perturbed nor ranked,
            and the fractions count each row's real tokens.
        mask_token: for token ids ``(N, L)``: the id removed tokens are replaced by (default:
            the model config's ``mask_token_id``, else its ``pad_token_id``, else 0).

    Returns:
        ``(fractions (steps + 1,), scores (N, steps + 1))``.
    """
    check_choice("mode", mode, ("deletion", "insertion"))
    fractions, curves = deletion_insertion_curves(
        model,
        inputs,
        attributions,
        target,
        modes=(mode,),
        steps=steps,
        baseline=baseline,
        segments=segments,
        patch_size=patch_size,
        score=score,
        output=output,
        model_kwargs=model_kwargs,
        mask_token=mask_token,
    )
    return fractions, curves[mode]


def deletion_insertion_curves(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    target: Any,
    *,
    modes: tuple[str, ...] = ("deletion", "insertion"),
    steps: int = 20,
    baseline: Any = None,
    segments: Any = None,
    patch_size: int | None = None,
    score: str = "probability",
    output: OutputSelector = None,
    model_kwargs: Mapping[str, Any] | None = None,
    mask_token: int | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """:func:`perturbation_curves` for several modes from one ranking of the features (the
    arguments are the same; ``modes`` lists ``"deletion"`` and/or ``"insertion"``).

    Returns:
        ``(fractions (steps + 1,), {mode: scores (N, steps + 1)})``.
    """
    model = _check_model(model)
    inputs = check_inputs(inputs, token_ids=True)
    attributions = check_attributions(attributions, inputs)
    if isinstance(modes, str) or not modes:
        raise ValueError(f"modes: expected a tuple of 'deletion'/'insertion', got {modes!r}.")
    for mode in modes:
        check_choice("mode", mode, ("deletion", "insertion"))
    check_choice("score", score, _SCORES)
    steps = check_positive_int("steps", steps)
    device = model_device(model)
    inputs = inputs.to(device)
    attributions = attributions.to(device)
    target = check_target(target, inputs.shape[0], device)
    kwargs = check_model_kwargs(model_kwargs, device)
    labels, _unit = _feature_labels(inputs, segments, patch_size)
    relevance = relevance_maps(attributions)  # (N, P)
    if is_token_ids(inputs):
        token = _token_reference(model, mask_token, baseline)
        # padded positions are not features: never ranked, never replaced (the reference
        # holds their own ids, so insertion leaves them as they are too)
        valid = valid_positions(
            check_attention_mask(attention_mask_of(kwargs, inputs), relevance), relevance
        )
        base = torch.where(valid, torch.full_like(inputs, token), inputs)
    else:
        base = _float_reference(baseline, inputs, mask_token, "mask_token")
        valid = None
    n, positions = labels.shape
    n_features = int(labels.max()) + 1
    importance = torch.full((n, n_features), float("-inf"), device=device, dtype=relevance.dtype)
    importance = importance.scatter_reduce(1, labels, relevance, reduce="sum", include_self=False)
    present = torch.zeros((n, n_features), dtype=torch.bool, device=device)
    present.scatter_(1, labels, True if valid is None else valid)
    counts = present.sum(dim=1)  # features per sample
    importance = importance.masked_fill(~present, float("-inf"))
    order = torch.sort(importance, dim=1, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(n_features, device=device).expand(n, -1))
    position_rank = rank.gather(1, labels)  # (N, P): rank of each position's feature
    fractions = torch.linspace(0.0, 1.0, steps + 1, device=device)
    removed_count = torch.round(fractions[None, :] * counts[:, None]).long()  # (N, S+1)

    flat = inputs.reshape(n, inputs.shape[1] if inputs.ndim > 2 else 1, positions)
    base_flat = base.reshape(base.shape[0], flat.shape[1], positions)
    rows = chunk_rows(inputs.shape[1:], device)
    per_call = max(1, rows // (steps + 1))
    function = ModelFunction(model, output, kwargs, n)
    scores: dict[str, list[torch.Tensor]] = {mode: [] for mode in modes}
    with preserved_state(model), torch.no_grad():
        for part in chunks(n, per_call):
            switched = position_rank[part, None, :] < removed_count[part, :, None]  # (n, S+1, P)
            x = flat[part, None]
            b = base_flat[part, None] if base_flat.shape[0] > 1 else base_flat[None]
            count = part.stop - part.start
            repeated = target[part].repeat_interleave(steps + 1)
            sample = sample_rows(part, steps + 1)
            for mode in modes:
                if mode == "deletion":
                    perturbed = torch.where(switched[:, :, None, :], b, x)
                else:
                    perturbed = torch.where(switched[:, :, None, :], x, b)
                out = function(perturbed.reshape(count * (steps + 1), *inputs.shape[1:]), sample)
                curve = _target_scores(out, repeated, score).reshape(count, steps + 1)
                scores[mode].append(curve)
    return fractions, {mode: torch.cat(parts) for mode, parts in scores.items()}


def _auc(fractions: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    return torch.trapezoid(scores, fractions, dim=1)


def deletion_auc(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    target: Any,
    *,
    steps: int = 20,
    baseline: Any = None,
    segments: Any = None,
    patch_size: int | None = None,
    score: str = "probability",
    output: OutputSelector = None,
    model_kwargs: Mapping[str, Any] | None = None,
    mask_token: int | None = None,
) -> torch.Tensor:
    """Area under the deletion curve: lower is better (the score drops fast when the features
    the attribution ranks highest are removed).

    Petsiuk, Das & Saenko, *RISE: Randomized Input Sampling for Explanation of Black-box
    Models*, BMVC 2018 (https://arxiv.org/abs/1806.07421); the x-axis is the fraction of
    features removed, in [0, 1], so with ``score="probability"`` the AUC lies in [0, 1].
    See :func:`perturbation_curves` for the arguments.

    Returns:
        ``(N,)`` AUC per sample.
    """
    fractions, scores = perturbation_curves(
        model,
        inputs,
        attributions,
        target,
        mode="deletion",
        steps=steps,
        baseline=baseline,
        segments=segments,
        patch_size=patch_size,
        score=score,
        output=output,
        model_kwargs=model_kwargs,
        mask_token=mask_token,
    )
    return _auc(fractions, scores)


def insertion_auc(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    target: Any,
    *,
    steps: int = 20,
    baseline: Any = None,
    segments: Any = None,
    patch_size: int | None = None,
    score: str = "probability",
    output: OutputSelector = None,
    model_kwargs: Mapping[str, Any] | None = None,
    mask_token: int | None = None,
) -> torch.Tensor:
    """Area under the insertion curve: higher is better (the score rises fast when the features
    the attribution ranks highest are added to the baseline first).

    Petsiuk, Das & Saenko, BMVC 2018 (https://arxiv.org/abs/1806.07421). See
    :func:`perturbation_curves` for the arguments.

    Returns:
        ``(N,)`` AUC per sample.
    """
    fractions, scores = perturbation_curves(
        model,
        inputs,
        attributions,
        target,
        mode="insertion",
        steps=steps,
        baseline=baseline,
        segments=segments,
        patch_size=patch_size,
        score=score,
        output=output,
        model_kwargs=model_kwargs,
        mask_token=mask_token,
    )
    return _auc(fractions, scores)


def _noise_bank(
    shape: tuple[int, ...], count: int, seed: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """``count`` noise draws of one sample's ``shape`` (the same draws for every sample, so a
    sample's value does not depend on the rest of the batch)."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn((count, *shape), generator=generator).to(device=device, dtype=dtype)


def _expand_layer_map(attributions: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``(N, 1, H, W)`` layer maps spread evenly over the input's channels."""
    if attributions.shape != inputs.shape:
        return attributions.expand_as(inputs) / inputs.shape[1]
    return attributions


def infidelity_error(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    target: Any,
    *,
    noise_scale: float = 0.1,
    n_perturb_samples: int = 16,
    normalize: bool = True,
    seed: int = 0,
    output: OutputSelector = None,
    model_kwargs: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """Infidelity: the expected squared error between ``I . a`` and ``f(x) - f(x - I)`` for
    Gaussian perturbations ``I ~ N(0, noise_scale^2)``. Lower is better.

    Yeh, Hsieh, Suggala, Inouye & Ravikumar, *On the (In)fidelity and Sensitivity of
    Explanations*, NeurIPS 2019 (https://arxiv.org/abs/1901.09392). Computed by
    ``captum.metrics.infidelity`` on the model's raw target output.

    Args:
        model, inputs, attributions, target, output: as in :func:`deletion_auc`. Layer maps
            ``(N, 1, H, W)`` are spread evenly over the channels.
        noise_scale: standard deviation of the perturbation.
        n_perturb_samples: perturbations per sample.
        normalize: rescale the attributions by the least-squares optimal factor first
            (captum's ``normalize``), which makes the metric comparable across methods whose
            attributions are not in output units (Grad-CAM, LIME).
        seed: the same perturbations are drawn for every sample from this seed.
        model_kwargs: extra forward arguments, passed with the rows of every model call.

    Returns:
        ``(N,)`` infidelity per sample.

    Raises:
        TypeError: token ids (integer inputs): Gaussian noise is not defined on them.
    """
    from captum.metrics import infidelity

    model = _check_model(model)
    not_for_token_ids("infidelity_error", inputs)
    inputs = check_inputs(inputs)
    attributions = check_attributions(attributions, inputs)
    noise_scale = check_positive_number("noise_scale", noise_scale)
    n_perturb = check_positive_int("n_perturb_samples", n_perturb_samples)
    seed = check_seed(seed) or 0
    device = model_device(model)
    inputs = inputs.to(device)
    attributions = _expand_layer_map(attributions.to(device), inputs).to(inputs.dtype)
    target = check_target(target, inputs.shape[0], device)
    bank = noise_scale * _noise_bank(tuple(inputs.shape[1:]), n_perturb, seed, device, inputs.dtype)

    def perturb(expanded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        noise = bank.repeat(expanded.shape[0] // n_perturb, *([1] * (expanded.ndim - 1)))
        return noise, expanded - noise

    function = ModelFunction(model, output, check_model_kwargs(model_kwargs, device), len(inputs))
    per_call = max(1, chunk_rows(inputs.shape[1:], device) // n_perturb)
    values = []
    with preserved_state(model), torch.no_grad():
        # checked here: captum would fail deep inside on a class index the model does not have
        check_target_range(target, function(inputs[:1], FIRST_SAMPLE).shape[1])
        for part in chunks(inputs.shape[0], per_call):

            def forward(x: torch.Tensor, part: slice = part) -> torch.Tensor:
                # captum calls the samples themselves, then each repeated n_perturb times
                repeats = x.shape[0] // (part.stop - part.start)
                return function(x, sample_rows(part, repeats))

            values.append(
                infidelity(
                    forward,
                    perturb,
                    inputs[part],
                    attributions[part],
                    target=target[part],
                    n_perturb_samples=n_perturb,
                    normalize=normalize,
                )
            )
    # captum's normalised form expands the square, which can leave tiny negative round-off
    return torch.cat(values).clamp(min=0.0)


def completeness_error(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    target: Any,
    *,
    baseline: Any = None,
    reference_output: torch.Tensor | None = None,
    output: OutputSelector = None,
    model_kwargs: Mapping[str, Any] | None = None,
    baseline_token: int | None = None,
) -> torch.Tensor:
    """Completeness error ``|sum(a) - (f(x) - f(baseline))|`` of the raw target output.
    Lower is better; Integrated Gradients satisfies completeness exactly in the limit of many
    steps (and SHAP, relative to its expected value).

    Sundararajan, Taly & Yan, *Axiomatic Attribution for Deep Networks*, ICML 2017
    (https://arxiv.org/abs/1703.01365).

    Args:
        model, inputs, attributions, target, output: as in :func:`deletion_auc`.
        baseline: the method's reference input (IG's ``baselines``; default None: zeros). Not
            for token ids: see ``baseline_token``.
        reference_output: ``f(baseline)`` per sample when the method defines its own (SHAP's
            ``extras["expected_value"]``); overrides ``baseline``.
        model_kwargs: extra forward arguments, passed with the rows of every model call.
        baseline_token: for token ids ``(N, L)``: the reference is every real token replaced
            by this id (default: the model config's ``pad_token_id``, else 0, as for IG on
            ids); positions where ``attention_mask`` is 0 keep their ids.

    Returns:
        ``(N,)`` absolute completeness error per sample.
    """
    model = _check_model(model)
    inputs = check_inputs(inputs, token_ids=True)
    attributions = check_attributions(attributions, inputs)
    device = model_device(model)
    inputs = inputs.to(device)
    target = check_target(target, inputs.shape[0], device)
    kwargs = check_model_kwargs(model_kwargs, device)
    function = ModelFunction(model, output, kwargs, len(inputs))
    rows = chunk_rows(inputs.shape[1:], device)
    with preserved_state(model), torch.no_grad():
        scores = torch.cat(
            [
                target_column(function(inputs[part], sample_rows(part)), target[part])
                for part in chunks(inputs.shape[0], rows)
            ]
        )
        if reference_output is None:
            if is_token_ids(inputs):
                token = _token_reference(model, baseline_token, baseline, "baseline_token")
                keep = attention_mask_of(kwargs, inputs)
                base = torch.full_like(inputs, token)
                if keep is not None:
                    base = torch.where(keep.to(device).bool(), base, inputs)
            else:
                base = _float_reference(baseline, inputs, baseline_token, "baseline_token")
                base = base.expand_as(inputs)
            reference = torch.cat(
                [
                    target_column(function(base[part], sample_rows(part)), target[part])
                    for part in chunks(inputs.shape[0], rows)
                ]
            )
        else:
            reference = torch.as_tensor(reference_output, device=device, dtype=scores.dtype)
            reference = reference.reshape(-1).expand(inputs.shape[0])
    total = attributions.to(device).reshape(inputs.shape[0], -1).sum(dim=1).to(scores.dtype)
    return (total - (scores - reference)).abs()


#: The metrics of this module, registered by :mod:`xai.metrics.registry`.
METRICS = (
    QualityMetric(
        name="deletion_auc",
        function=deletion_auc,
        higher_is_better=False,
        category="faithfulness",
        reference="https://arxiv.org/abs/1806.07421",
        requires=("model",),
        summary="AUC of the target probability as top-ranked features are replaced by the baseline",
    ),
    QualityMetric(
        name="insertion_auc",
        function=insertion_auc,
        higher_is_better=True,
        category="faithfulness",
        reference="https://arxiv.org/abs/1806.07421",
        requires=("model",),
        summary="AUC of the target probability as top-ranked features are added to the baseline",
    ),
    QualityMetric(
        name="infidelity_error",
        function=infidelity_error,
        higher_is_better=False,
        category="faithfulness",
        reference="https://arxiv.org/abs/1901.09392",
        requires=("model",),
        token_ids=False,
        summary="squared error between a.I and f(x)-f(x-I) under Gaussian noise (captum)",
    ),
    QualityMetric(
        name="completeness_error",
        function=completeness_error,
        higher_is_better=False,
        category="faithfulness",
        reference="https://arxiv.org/abs/1703.01365",
        requires=("model",),
        method_property="completeness",
        summary="|sum(a) - (f(x) - f(baseline))|",
    ),
)
