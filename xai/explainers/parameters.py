"""The options of each built-in method worth adjusting by hand, with their ranges.

Front ends (the dashboard) build their controls from :func:`tunable_parameters` instead of
hard-coding them; the values they produce go straight into ``xai.explain(..., **options)``.
A method registered by a third party has no entry here and is explained with its defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from xai._layers import trace_layers
from xai._model import ModelFunction
from xai._state import preserved_state
from xai.explainers.lime.segmentation import default_n_segments
from xai.explainers.registry import available_explainers, explainer_class

__all__ = ["AUTO", "Parameter", "applicable_methods", "spatial_layers", "tunable_parameters"]

#: The choice that leaves an option to the method (its ``None`` default).
AUTO = "auto"


@dataclass(frozen=True)
class Parameter:
    """One adjustable option of a method.

    Attributes:
        name: the option's keyword in ``xai.explain``.
        label: a short human label.
        default: the value shown first (the method's own default, or :data:`AUTO`).
        minimum, maximum, step: the range of an integer option.
        choices: the allowed values of a choice option (``None`` for integers).
        help: one sentence on what the option changes.
    """

    name: str
    label: str
    default: Any
    minimum: int | None = None
    maximum: int | None = None
    step: int | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""

    @property
    def is_choice(self) -> bool:
        return self.choices is not None

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is one of the choices, or an integer in the range."""
        if self.choices is not None:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        low = self.minimum if self.minimum is not None else value
        high = self.maximum if self.maximum is not None else value
        return low <= value <= high

    def to_option(self, value: Any) -> Any:
        """The keyword value for ``xai.explain``: :data:`AUTO` becomes ``None``."""
        return None if value == AUTO else value


def applicable_methods(inputs: torch.Tensor, methods: Sequence[str] | None = None) -> list[str]:
    """The methods (default: every registered one) that accept inputs of this layout, e.g.
    Grad-CAM only for images ``(N, C, H, W)``."""
    names = list(methods) if methods is not None else available_explainers()
    accepted = []
    for name in names:
        ndims = explainer_class(name).input_ndims
        if ndims is None or inputs.ndim in ndims:
            accepted.append(name)
    return accepted


def spatial_layers(model: nn.Module, sample: torch.Tensor) -> list[str]:
    """Names of the layers Grad-CAM can explain: those with a spatial ``(N, C, h, w)`` output,
    called once per forward pass, in forward order (``sample``: one input ``(1, ...)``).
    Containers are left out: their output is that of their last layer, already listed."""
    function = ModelFunction(model)
    with preserved_state(model), torch.no_grad():
        calls = trace_layers(model, lambda: function(sample))
    return [
        call.name
        for call in calls
        if call.is_spatial and call.calls == 1 and next(call.module.children(), None) is None
    ]


def tunable_parameters(
    method: str, model: nn.Module | None = None, inputs: torch.Tensor | None = None
) -> list[Parameter]:
    """The adjustable options of ``method`` for this model and these inputs ``(N, ...)``
    (both optional; they refine defaults such as Grad-CAM's layers and LIME's segments).

    Raises:
        ValueError: an unknown method name (with the closest names).
    """
    explainer_class(method)  # unknown names fail here, with suggestions
    is_image = inputs is not None and inputs.ndim == 4
    if method == "integrated_gradients":
        return [
            Parameter(
                "n_steps",
                "integration steps",
                50,
                2,
                300,
                2,
                help="Points on the straight path from the baseline; more is more exact.",
            )
        ]
    if method == "gradcam":
        layers: tuple[str, ...] = ()
        if model is not None and inputs is not None and is_image:
            layers = tuple(spatial_layers(model, inputs[:1]))
        return [
            Parameter(
                "layer",
                "layer",
                AUTO,
                choices=(AUTO, *layers),
                help="Convolutional layer whose activations are weighted (auto: the last one).",
            )
        ]
    if method == "shap":
        algorithms = ("gradient", "kernel") if not is_image else ("gradient",)
        return [
            Parameter(
                "algorithm",
                "algorithm",
                AUTO,
                choices=(AUTO, *algorithms),
                help="auto: gradient SHAP for differentiable models, kernel SHAP otherwise.",
            ),
            Parameter(
                "nsamples",
                "samples",
                200,
                10,
                5000,
                10,
                help="Gradient SHAP: interpolation points; kernel SHAP: coalitions.",
            ),
        ]
    if method == "lime":
        parameters = [
            Parameter(
                "num_samples",
                "perturbed samples",
                1000 if is_image else 5000,
                50,
                10000,
                50,
                help="Perturbed copies the local linear model is fitted on.",
            )
        ]
        if is_image and inputs is not None:
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
    return []
