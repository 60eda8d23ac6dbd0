"""LIME (Ribeiro et al., 2016, https://arxiv.org/abs/1602.04938), by the lime package."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from xai._batching import check_memory, check_rows_per_pass, chunk_rows, chunks
from xai._model import ModelFunction
from xai._threads import one_blas_thread
from xai._tokens import real_tokens
from xai._validation import broadcast_reference, check_choice, check_positive_int
from xai.errors import InputError, InputTypeError
from xai.explainers.base import Explainer, Parameter, Target
from xai.explainers.lime.segmentation import METHODS, default_n_segments, relabel, segment_image
from xai.explainers.lime.tabular import (
    SAMPLERS,
    check_kernel,
    default_kernel_width,
    fast_lime_tabular,
    lime_tabular,
    neighbourhood_bytes,
)
from xai.explainers.lime.text import TEXT_KERNEL_WIDTH, explain_tokens

#: lime_image's default kernel width (of the cosine distance between on/off vectors).
_IMAGE_KERNEL_WIDTH = 0.25
_NUM_SAMPLES_FIX = (
    "Use fewer samples (lime's defaults are 1000 for images, 5000 for tabular rows) or explain "
    "fewer inputs per call."
)

#: lime's own defaults of ``num_samples``.
_DEFAULT_NUM_SAMPLES = {"image": 1000, "tabular": 5000, "text": 5000}


class LIME(Explainer):
    """A local linear surrogate fitted on perturbed copies of each sample, by the lime package.

    Images ``(N, C, H, W)``: features are superpixels, switched off by painting them with
    ``hide_color``. Tabular ``(N, F)``: features are the columns. Token ids ``(N, L)``
    (integers): features are the real tokens (attention mask 1), switched off by replacing
    them with ``mask_token``; lime's ``LimeTextExplainer`` over word positions
    (``bow=False``), batched (with ``sampler="lime"``, the same draws and fit for the same
    seed).

    Options:
        num_samples: perturbed samples per explained input (default 1000 for images, 5000
            for tabular rows and token ids, as in lime).
        segmentation: images only. ``"slic"`` (default: SLIC on normalised values, sized to
            give tens of segments even on 8x8 or 32x32 images, grid fallback), ``"grid"``,
            ``"quickshift"`` (lime's own default, which gives 1-3 segments on small images),
            a callable ``image (H, W, C) numpy -> int labels (H, W)``, or an integer tensor of
            labels ``(H, W)`` or ``(N, H, W)``.
        n_segments: approximate number of superpixels for ``"slic"``/``"grid"``
            (default: one per 16 pixels, between 16 and 100).
        hide_color: images only; the value switched-off superpixels get (default 0.0, the same
            reference as IG's zero baseline). ``None`` uses each superpixel's mean colour, as
            lime does (3-channel images only).
        background: tabular only; training rows that give lime the feature scales and
            quartiles (lime's ``training_data``). Default: none, and lime samples a unit-scale
            Gaussian around each sample without discretisation (suits standardised features),
            recorded in ``params`` as ``None``.
        kernel_width: width of lime's exponential kernel (default: lime's own; 25 for
            token ids, of 100 x the cosine distance, as lime_text).
        mask_token: token ids only; the id a switched-off token gets (default: the model
            config's ``mask_token_id``, else its ``pad_token_id``, else 0), recorded in
            ``params``.
        batch_size: rows per model call (default: automatic, large; lime's own default is 10).
        sampler: tabular rows and token ids. ``"fast"`` (default): lime_tabular's
            (lime_text's) sampling scheme drawn with other random numbers in a few array
            operations, statistically equivalent to lime's (same distribution; tested against
            lime). ``"lime"``: lime's own objects and random stream, so the result equals
            lime_tabular's (``LimeTextExplainer``'s) for the same seed (slower). Images always
            use lime's own draws (already vectorised).
        seed: random seed; each sample is explained with the same seed, so the same seed gives
            identical attributions and a sample's result does not depend on the batch.

    Image attributions give every pixel its superpixel's weight divided by the number of
    channels, so ``heatmap()`` shows the superpixel weights. ``extras`` holds the
    ``segments`` ``(N, H, W)``, the surrogate's ``intercept`` and ``score`` (R^2) per sample.
    """

    name = "lime"
    token_options = {"mask_token": None}
    token_path = "ids"
    defaults = {
        "num_samples": None,
        "segmentation": None,
        "n_segments": None,
        "hide_color": 0.0,
        "background": None,
        "kernel_width": None,
        "batch_size": None,
        "sampler": None,
    }
    stochastic = True
    input_ndims = (2, 4)
    reference = "https://arxiv.org/abs/1602.04938"
    quick_options = {"num_samples": 150}

    @classmethod
    def tunable_parameters(
        cls, model: nn.Module | None = None, inputs: torch.Tensor | None = None
    ) -> list[Parameter]:
        """The number of perturbed samples; for images also the number of superpixels
        (its default sized to the inputs' height and width)."""
        is_image = inputs is not None and inputs.ndim == 4
        parameters = [
            Parameter(
                "num_samples",
                "perturbed samples",
                _DEFAULT_NUM_SAMPLES["image" if is_image else "tabular"],
                50,
                10000,
                50,
                help="Perturbed copies the local linear model is fitted on.",
            )
        ]
        if inputs is not None and is_image:
            height, width = inputs.shape[-2:]
            parameters.append(
                Parameter(
                    "n_segments",
                    "superpixels",
                    default_n_segments(height, width),
                    4,
                    400,
                    4,
                    help="Approximate number of superpixels switched on and off.",
                )
            )
        return parameters

    def _runs_library_code(self, inputs: torch.Tensor, params: dict[str, Any]) -> bool:
        # lime's explainers (images, and sampler="lime"); the fast tabular sampler is xai's
        return inputs.ndim == 4 or params["sampler"] == "lime"

    def attribute(
        self,
        function: ModelFunction,
        inputs: torch.Tensor,
        request: Target,
        params: dict[str, Any],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        is_image = inputs.ndim == 4
        is_text = not inputs.is_floating_point()
        kind = "image" if is_image else "text" if is_text else "tabular"
        if params["num_samples"] is None:
            params["num_samples"] = _DEFAULT_NUM_SAMPLES[kind]
        num_samples = check_positive_int("num_samples", params["num_samples"], minimum=2)
        if is_text:
            return self._tokens(function, inputs, request, params, num_samples)
        if is_image:  # per image, with at least 2 superpixels (checked again once segmented)
            needed = _image_bytes(num_samples, 2, 1)
        else:
            needed = neighbourhood_bytes(
                inputs.shape[0], inputs.shape[1], num_samples, inputs.dtype
            )
        check_memory(
            "num_samples",
            f"{num_samples:,} perturbed samples",
            needed,
            inputs.device,
            _NUM_SAMPLES_FIX,
        )
        if params["batch_size"] is None:
            params["batch_size"] = min(num_samples, chunk_rows(inputs.shape[1:], inputs.device))
        batch_size = check_positive_int("batch_size", params["batch_size"])
        if params["n_segments"] is not None:
            check_positive_int("n_segments", params["n_segments"], minimum=2)
        if params["kernel_width"] is not None:
            _check_kernel_width(params["kernel_width"])

        if params["sampler"] is None:
            params["sampler"] = "lime" if is_image else "fast"
        sampler = check_choice("sampler", params["sampler"], SAMPLERS)
        if is_image and sampler != "lime":
            raise ValueError(
                f"sampler: images are always perturbed with lime's own random draws (already "
                f"vectorised), got {sampler!r}; leave sampler unset or pass sampler='lime'."
            )
        # the rows of one pass: an image's samples; a table's samples of every row, or once for
        # all rows where they do not depend on the row (the fast sampler with a background)
        shared = is_image or (params["background"] is not None and sampler == "fast")
        check_rows_per_pass(
            "batch_size",
            batch_size,
            num_samples * (1 if shared else inputs.shape[0]),
            inputs.shape[1:],
            inputs.dtype,
            inputs.device,
            copies=2,
        )

        if is_image:  # lime's image explainer computes f(x) itself
            outputs, target = request.from_model(function, inputs)
            return self._images(
                function, inputs, target, outputs.shape[1], params, num_samples, batch_size
            )
        outputs, target = request.from_model(function, inputs)
        return self._tabular(function, inputs, outputs, target, params, num_samples, batch_size)

    @staticmethod
    def _images(
        function: ModelFunction,
        inputs: torch.Tensor,
        target: torch.Tensor,
        classes: int,
        params: dict[str, Any],
        num_samples: int,
        batch_size: int,
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        from lime import lime_image

        if params["background"] is not None:
            raise ValueError(
                "background: not used by LIME on images; switched-off superpixels get "
                "`hide_color` instead (a number, or None for the superpixel's mean colour)."
            )
        hide_color = params["hide_color"]
        if hide_color is not None:
            if isinstance(hide_color, bool | np.bool_) or not isinstance(
                hide_color, int | float | np.number
            ):
                raise TypeError(
                    "hide_color: expected a number, or None for each superpixel's mean colour, "
                    f"got {type(hide_color).__name__}."
                )
            # checked as a scalar baseline is: finite and within the inputs' dtype
            hide_color = float(broadcast_reference(hide_color, inputs, "hide_color").flatten()[0])
        channels = inputs.shape[1]
        if hide_color is None and channels != 3:
            raise ValueError(
                f"hide_color: None (superpixel mean colour) needs 3-channel images, got {channels} "
                "channel(s). Pass a number, e.g. hide_color=0.0."
            )
        given = params["segmentation"]
        if isinstance(given, np.ndarray):
            given = torch.from_numpy(given)
        if isinstance(given, torch.Tensor):
            labels = _integer_labels(given)
            if labels.shape == inputs.shape[2:]:
                labels = labels.expand(inputs.shape[0], *labels.shape)
            if labels.shape != (inputs.shape[0], *inputs.shape[2:]):
                raise ValueError(
                    f"segmentation: a label tensor must have shape {tuple(inputs.shape[2:])} or "
                    f"{(inputs.shape[0], *inputs.shape[2:])}, got {tuple(labels.shape)}."
                )
        attributions = torch.zeros_like(inputs)
        all_segments, intercepts, fit_scores, used = [], [], [], set()
        for j in range(inputs.shape[0]):
            image = inputs[j].permute(1, 2, 0).double().cpu().numpy()
            if isinstance(given, torch.Tensor):
                segments, how = relabel(labels[j].numpy()), "given labels"
            else:
                segments, how = segment_image(image, given, params["n_segments"])
            used.add(how)
            n_features = int(segments.max()) + 1
            check_memory(
                "num_samples",
                f"{num_samples:,} perturbed samples of {n_features:,} superpixels",
                _image_bytes(num_samples, n_features, classes),
                inputs.device,
                _NUM_SAMPLES_FIX,
            )
            explainer = lime_image.LimeImageExplainer(
                kernel_width=params["kernel_width"] or _IMAGE_KERNEL_WIDTH,
                random_state=params["seed"],
            )
            klass = int(target[j])
            result = _explain_image(
                explainer,
                function,
                inputs[j],
                segments,
                klass,
                hide_color,
                num_samples,
                batch_size,
                float(params["kernel_width"] or _IMAGE_KERNEL_WIDTH),
                sample=j,
            )
            weights = np.zeros(int(segments.max()) + 1)
            for feature, weight in result.local_exp:
                weights[feature] = weight
            pixel_map = torch.from_numpy(weights[segments] / channels).to(attributions)
            attributions[j] = pixel_map.expand_as(attributions[j])
            all_segments.append(torch.from_numpy(segments))
            intercepts.append(float(result.intercept))
            fit_scores.append(float(result.score))
        # params keep option values (re-runnable); what each sample used is an extra
        used_text = used.pop() if len(used) == 1 else sorted(used)
        if given is None and used_text in METHODS:
            params["segmentation"] = used_text
        if params["kernel_width"] is None:
            params["kernel_width"] = _IMAGE_KERNEL_WIDTH
        return attributions, {
            "segments": torch.stack(all_segments).to(inputs.device),
            "segmentation": used_text,
            "intercept": torch.tensor(intercepts, dtype=torch.float64),
            "score": torch.tensor(fit_scores, dtype=torch.float64),
        }

    @staticmethod
    def _tokens(
        function: ModelFunction,
        ids: torch.Tensor,
        request: Target,
        params: dict[str, Any],
        num_samples: int,
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        for option in ("hide_color", "n_segments", "segmentation", "background"):
            if params[option] != LIME.defaults[option]:
                raise InputError(
                    option,
                    "not used by LIME on token ids, whose switched-off tokens are replaced by "
                    "mask_token.",
                )
        if params["sampler"] is None:
            params["sampler"] = "fast"
        sampler = check_choice("sampler", params["sampler"], SAMPLERS)
        length = ids.shape[1]
        check_memory(
            "num_samples",
            f"{num_samples:,} perturbed samples of {length:,} tokens",
            _image_bytes(num_samples, length, 1) + 8.0 * num_samples * length,
            ids.device,
            _NUM_SAMPLES_FIX,
        )
        if params["batch_size"] is None:
            params["batch_size"] = min(num_samples, chunk_rows(ids.shape[1:], ids.device))
        batch_size = check_positive_int("batch_size", params["batch_size"])
        if params["kernel_width"] is None:
            params["kernel_width"] = TEXT_KERNEL_WIDTH
        kernel_width = _check_kernel_width(params["kernel_width"])
        _, target = request.from_model(function, ids)
        return explain_tokens(
            function,
            ids,
            real_tokens(function, ids),
            target,
            params["mask_token"],
            num_samples,
            batch_size,
            kernel_width,
            params["seed"],
            sampler,
        )

    @staticmethod
    def _tabular(
        function: ModelFunction,
        inputs: torch.Tensor,
        outputs: torch.Tensor,
        target: torch.Tensor,
        params: dict[str, Any],
        num_samples: int,
        batch_size: int,
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        for option in ("hide_color", "n_segments"):
            if params[option] != LIME.defaults[option]:
                raise ValueError(
                    f"{option}: only used by LIME on images, not on tabular (N, F) inputs."
                )
        if params["segmentation"] is not None:
            raise ValueError(
                "segmentation: only used by LIME on images, not on tabular (N, F) inputs."
            )
        n_features = inputs.shape[1]
        if params["background"] is None:  # the default: the inputs' own statistics
            background = None
        else:
            background = broadcast_reference(params["background"], inputs, "background")
        if params["kernel_width"] is None:
            params["kernel_width"] = default_kernel_width(n_features)
        if params["sampler"] == "fast":
            fits = fast_lime_tabular(
                function,
                inputs,
                outputs,
                target,
                background,
                num_samples,
                float(params["kernel_width"]),
                params["seed"],
                batch_size,
            )
        else:
            fits = lime_tabular(
                function,
                inputs,
                outputs,
                target,
                _lime_explainer(background, n_features, params),
                num_samples,
                params["seed"],
                batch_size,
                float(params["kernel_width"]),
            )
        attributions = torch.from_numpy(np.stack([fit.weights for fit in fits])).to(inputs)
        intercepts = [fit.intercept for fit in fits]
        fit_scores = [fit.score for fit in fits]
        return attributions, {
            "intercept": torch.tensor(intercepts, dtype=torch.float64),
            "score": torch.tensor(fit_scores, dtype=torch.float64),
        }


def _check_kernel_width(value: Any) -> float:
    """A finite positive number whose square is a normal float (the kernel divides by it);
    whether it leaves any perturbed sample a weight is checked once the distances are known
    (:func:`~xai.explainers.lime.tabular.check_kernel`)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise InputTypeError(
            "kernel_width",
            f"expected a positive number, got {type(value).__name__} {value!r:.40}. Leave it "
            "unset for lime's default.",
        )
    try:
        width = float(value)
    except OverflowError:  # an int beyond float's range
        width = math.inf
    if not width > 0:
        raise InputError("kernel_width", f"expected a positive number, got {value!r:.40}.")
    if not 1e-150 <= width <= 1e150:
        raise InputError(
            "kernel_width",
            f"expected a finite positive number between 1e-150 and 1e150 (the kernel "
            f"exp(-d**2 / width**2) needs width**2 as a normal float), got {value!r:.40}. "
            "Leave it unset for lime's default (0.25 for images, 0.75 * sqrt(features) for "
            "tabular rows).",
        )
    return width


def _integer_labels(given: torch.Tensor) -> torch.Tensor:
    """A label tensor as int64 on the CPU; floats only when they are whole numbers (never
    truncated: 1.7 would silently join label 1)."""
    if given.is_complex():
        raise InputTypeError(
            "segmentation", f"expected integer labels, got a tensor of dtype {given.dtype}."
        )
    if torch.is_floating_point(given):
        labels = given.detach().cpu()
        whole = torch.isfinite(labels) & (labels == labels.round())
        if not bool(whole.all()):
            bad = labels[~whole].flatten()[0].item()
            raise InputTypeError(
                "segmentation",
                f"expected integer labels, got dtype {given.dtype} with values that are not "
                f"whole numbers (e.g. {bad!r}); converting would truncate them and merge "
                "superpixels. Pass integer labels (e.g. labels.round().long()).",
            )
        if labels.numel() and float(labels.abs().max()) >= 2**53:
            raise InputError(
                "segmentation",
                "expected labels below 2**53 in magnitude when given as floats (larger ones "
                "are not exact); pass integer labels.",
            )
    return given.to("cpu", torch.long)


def _image_bytes(num_samples: int, n_features: int, classes: int) -> float:
    """A lower estimate of the memory LIME holds for one image: lime's on/off matrix (int64)
    and its float64 copies for the cosine distances and the ridge fit, and the scores of every
    class (float64, twice while concatenated)."""
    return float(num_samples) * (n_features * 25 + classes * 16)


def _lime_explainer(
    background: torch.Tensor | None, n_features: int, params: dict[str, Any]
) -> Any:
    """lime's ``LimeTabularExplainer`` as xai uses it: discretised training data, or (without
    any) a unit-scale Gaussian around each row."""
    from lime.lime_tabular import LimeTabularExplainer

    if background is None:
        training = np.zeros((1, n_features))
        settings = {"discretize_continuous": False, "sample_around_instance": True}
    else:
        training = background.double().cpu().numpy()
        settings = {"discretize_continuous": True}
    return LimeTabularExplainer(
        training,
        mode="regression",
        kernel_width=params["kernel_width"],
        random_state=params["seed"],
        **settings,
    )


class _LocalFit(NamedTuple):
    intercept: float
    local_exp: list[tuple[int, float]]
    score: float


def _explain_image(
    explainer: Any,
    function: ModelFunction,
    image: torch.Tensor,
    segments: np.ndarray,
    klass: int,
    hide_color: float | None,
    num_samples: int,
    batch_size: int,
    kernel_width: float = _IMAGE_KERNEL_WIDTH,
    sample: int = 0,
) -> _LocalFit:
    """``lime_image.LimeImageExplainer.explain_instance`` with the perturbations vectorised.

    lime builds each perturbed image in a Python loop (a deep copy and one mask per switched-off
    superpixel), which costs several times the model evaluations on small images. Here the same
    random on/off matrix, drawn from the explainer's own random state exactly as lime draws it,
    selects between the image and its "hidden" version in one tensor operation per batch, on
    the model's device. Distances, kernel and the weighted ridge fit are lime's own, so the
    result equals lime's (the test suite checks it).
    """
    import sklearn.metrics

    n_features = int(segments.max()) + 1
    data = explainer.random_state.randint(0, 2, num_samples * n_features).reshape(
        (num_samples, n_features)
    )
    data[0, :] = 1
    labels_index = torch.from_numpy(segments).to(image.device).flatten()
    if hide_color is None:  # each superpixel's mean colour, computed in float64 as lime does
        flat = image.double().flatten(1)
        sums = torch.zeros(flat.shape[0], n_features, dtype=torch.float64, device=image.device)
        sums.index_add_(1, labels_index, flat)
        counts = torch.bincount(labels_index, minlength=n_features).to(sums)
        hidden = (sums / counts)[:, labels_index].reshape(image.shape).to(image.dtype)
    else:
        hidden = torch.full_like(image, float(hide_color))
    with one_blas_thread():
        distances = sklearn.metrics.pairwise_distances(
            data, data[0].reshape(1, -1), metric="cosine"
        ).ravel()
    check_kernel(torch.from_numpy(distances), kernel_width, _IMAGE_KERNEL_WIDTH)
    switches = torch.from_numpy(data).to(device=image.device, dtype=torch.bool)
    height, width = image.shape[1:]
    scores = []
    with torch.no_grad():
        for part in chunks(num_samples, batch_size):
            keep = switches[part][:, labels_index].reshape(-1, 1, height, width)
            rows = torch.full((keep.shape[0],), sample, dtype=torch.long)
            scores.append(function(torch.where(keep, image, hidden), rows=rows).double().cpu())
    labels = torch.cat(scores).numpy()
    with one_blas_thread():  # small BLAS calls whose spinning threads slow the model passes
        intercept, local_exp, score, _ = explainer.base.explain_instance_with_data(
            data,
            labels,
            distances,
            klass,
            n_features,
            model_regressor=None,
            feature_selection=explainer.feature_selection,
        )
    return _LocalFit(float(intercept), list(local_exp), float(score))
