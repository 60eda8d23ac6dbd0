"""The base class every attribution method derives from.

The template (:meth:`Explainer.explain`) does everything methods have in common, once:
validate the inputs, move them to the model's device, put the model in eval mode and restore it
afterwards, time the work, count model evaluations and record provenance. A method implements
one public hook, :meth:`Explainer.attribute`, which receives the model as a
:class:`~xai.ModelFunction` and the user's target as a :class:`Target` that it resolves with a
forward pass of its own or with :meth:`Target.classes`; it lists its options with their
defaults in ``defaults``.
"""

from __future__ import annotations

import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from xai._device import describe_device, model_device
from xai._model import ModelFunction, call_model
from xai._provenance import library_versions
from xai._state import autograd_enabled, preserved_state
from xai._validation import (
    all_finite,
    as_input_batch,
    check_ndim,
    check_options,
    check_seed,
    normalize_target,
    resolve_target,
)
from xai.explanation import Explanation

#: Options every method accepts, on top of its own ``defaults``.
COMMON_OPTIONS: dict[str, Any] = {"output": None}


class Explainer(ABC):
    """An attribution method bound to a model and its options.

    Subclasses set ``name``, ``defaults`` (their own options and default values),
    ``stochastic`` (whether they take ``seed``), optionally ``input_ndims`` (accepted numbers of
    input dimensions), ``properties`` and ``reference`` (the paper), and implement
    :meth:`attribute`.

    ``__init__`` only stores the model and options (checking option *names*); everything else is
    validated when :meth:`explain` is called.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[Mapping[str, Any]] = {}
    stochastic: ClassVar[bool] = False
    input_ndims: ClassVar[tuple[int, ...] | None] = None
    reference: ClassVar[str] = ""
    #: What the method guarantees, for the metrics that are meaningful only then:
    #: ``"completeness"``: attributions sum to ``f(x) - f(baseline)`` (path methods, SHAP).
    properties: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, model: nn.Module, **options: Any) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"model: expected a torch.nn.Module, got {type(model).__name__}. "
                "Wrap plain functions in an nn.Module whose forward calls them."
            )
        check_options(self.name, options, self.accepted_options())
        self.model = model
        self.options = dict(options)

    @classmethod
    def accepted_options(cls) -> list[str]:
        """Names of the options this method accepts."""
        names = set(cls.defaults) | set(COMMON_OPTIONS)
        if cls.stochastic:
            names.add("seed")
        return sorted(names)

    def explain(self, inputs: torch.Tensor, target: Any = None) -> Explanation:
        """Explain ``inputs`` for ``target``.

        Args:
            inputs: a batch ``(N, ...)``: ``(N, C, H, W)`` images, ``(N, F)`` tabular rows, ...
            target: ``None`` (the predicted class), an int, or one class index per sample.

        Returns:
            An :class:`~xai.Explanation` whose attributions live on the inputs' device.

        Raises:
            TypeError, ValueError: on bad inputs, targets or options, naming the argument.
        """
        started = time.perf_counter()
        inputs = as_input_batch(inputs)
        if self.input_ndims is not None:
            check_ndim(inputs, self.input_ndims, self.name)
        params = {**self.defaults, **COMMON_OPTIONS, **self.options}
        if self.stochastic:
            seed = check_seed(params.get("seed"))
            # A drawn seed is recorded, so every explanation can be reproduced from its params.
            params["seed"] = secrets.randbelow(2**31) if seed is None else seed
        device = model_device(self.model)
        library_code = self._runs_library_code(inputs, params)
        with preserved_state(self.model, library_code=library_code), autograd_enabled():
            x = inputs.detach().to(device)
            if x.is_inference():
                x = x.clone()
            function = ModelFunction(self.model, params["output"])
            request = Target(target, x.shape[0])
            attributions, extras = self.attribute(function, x, request, params)
            if not request.resolved:  # a method that does not read the model's scores
                request.classes(function, x)
            target_index = request.indices
            if not all_finite(attributions):
                raise self._non_finite_error(attributions)
        attributions = attributions.detach().to(device=inputs.device, dtype=inputs.dtype)
        extras = {
            **extras,
            "model_evaluations": function.evaluations,
            "seconds": time.perf_counter() - started,
            "device": describe_device(device),
            "library_versions": library_versions(),
        }
        return Explanation(
            attributions=attributions,
            inputs=inputs.detach(),
            target=target_index.to(inputs.device),
            method=self.name,
            params=self._recorded(params),
            extras={
                k: v.detach().to(inputs.device) if isinstance(v, torch.Tensor) else v
                for k, v in extras.items()
            },
        )

    def _runs_library_code(self, inputs: torch.Tensor, params: dict[str, Any]) -> bool:
        """Whether explaining ``inputs`` runs another library's code (lime's explainers, shap's
        DeepExplainer), which may use or reseed numpy's global random state or leave
        parameters on the model's submodules: both are then saved and restored (that costs
        ~0.1 ms, visible for one small sample). xai's own code only uses generators of its own
        and adds nothing to the model."""
        return False

    @staticmethod
    def _call_model(function: ModelFunction, inputs: torch.Tensor) -> torch.Tensor:
        """Run the model; failures of the model itself become errors in plain words."""
        return call_model(function.model, inputs, run=function)

    def _non_finite_error(self, attributions: torch.Tensor) -> ValueError:
        """The model's outputs on the inputs are finite (checked when resolving the target), so
        its outputs or gradients at the points the method evaluates are not."""
        bad = (~torch.isfinite(attributions.reshape(attributions.shape[0], -1))).any(1)
        rows = bad.nonzero().flatten().tolist()
        return ValueError(
            f"inputs: method {self.name!r} gave NaN or infinite attributions for {len(rows)} "
            f"sample(s) (rows {_listed(rows)}). The model's outputs on these inputs are finite, "
            "but its outputs or gradients at the points the method evaluates (between the "
            "inputs and the baseline/background, or perturbed copies) are not: look for log, "
            "sqrt or division by values that become zero there."
        )

    @abstractmethod
    def attribute(
        self,
        function: ModelFunction,
        inputs: torch.Tensor,
        target: Target,
        params: dict[str, Any],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """The method itself: attributions for ``inputs``, called by :meth:`explain` with the
        inputs on the model's device and the model in eval mode (restored afterwards).

        Args:
            function: the model as ``inputs (M, ...) -> scores (M, K)``; it counts the rows it
                evaluates. Call it on any batch (perturbed copies, interpolation points ...).
            inputs: the batch to explain ``(N, ...)``, detached.
            target: the user's target. Resolve it once, in one of three ways (a method that
                does not need it leaves it; the template then resolves it after the call):
                ``target.classes(function, inputs)`` (the class per sample),
                ``target.from_model(function, inputs)`` (also the scores ``f(x)``), or
                ``target.resolve(scores, part)`` from a forward pass the method runs anyway.
            params: the options, defaults filled in. Update values chosen automatically in
                place (a layer found, a chunk size) so the explanation records them.

        Returns:
            ``(attributions, extras)``: a tensor of the inputs' shape (or ``(N, 1, H, W)`` for
            image layer maps) and a dict of whatever else the method reports.
        """

    @staticmethod
    def _recorded(params: dict[str, Any]) -> dict[str, Any]:
        """The params as recorded in the explanation: the option values themselves (``None``
        for a default), so the explanation can be re-run from them; tensors are detached.
        Display text is made only where one is needed (``Explanation.save``)."""
        return {
            key: value.detach() if isinstance(value, torch.Tensor) else value
            for key, value in params.items()
        }

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return (
            f"{type(self).__name__}({type(self.model).__name__}{', ' if options else ''}{options})"
        )


class Target:
    """The user's ``target`` for ``n`` samples (``None``: the predicted class, an int, or one
    class per sample), resolved against the model's outputs by :meth:`Explainer.attribute`.

    Checked on creation (type, length); :meth:`resolve` checks the range against the outputs
    and may be called chunk by chunk (``part``) by methods that run their own forward pass.
    """

    def __init__(self, target: Any, n: int) -> None:
        self.target = normalize_target(target, n)
        self.n = n
        self._indices: torch.Tensor | None = None
        self._resolved = torch.zeros(n, dtype=torch.bool)

    def resolve(self, outputs: torch.Tensor, part: slice = slice(None)) -> torch.Tensor:
        """Class indices of the samples ``part`` from their outputs ``(len(part), K)``."""
        target = self.target
        if isinstance(target, torch.Tensor):
            target = target[part]
        if not all_finite(outputs):
            finite = torch.isfinite(outputs).all(dim=1)
            rows = (~finite).nonzero().flatten() + (part.start or 0)
            raise ValueError(
                f"inputs: the model's outputs are NaN or infinite for {len(rows)} sample(s) "
                f"(rows {_listed(rows.tolist())}); there is nothing to explain. Check these "
                "inputs (range, scaling) and the model on them."
            )
        indices = resolve_target(target, outputs)
        if self._indices is None:
            self._indices = torch.zeros(self.n, dtype=torch.long, device=indices.device)
        self._indices[part] = indices
        self._resolved[part] = True
        return indices

    def from_model(
        self, function: ModelFunction, inputs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass without gradient: the model's scores ``(N, K)`` on ``inputs`` and
        the class of each sample ``(N,)`` resolved from them (for methods that need ``f(x)``)."""
        with torch.no_grad():
            outputs = call_model(function.model, inputs, run=function)
        return outputs, self.resolve(outputs)

    def classes(self, function: ModelFunction, inputs: torch.Tensor) -> torch.Tensor:
        """The class of each sample ``(N,)``, LongTensor, checked against the model's outputs."""
        return self.from_model(function, inputs)[1]

    @property
    def resolved(self) -> bool:
        """Whether every sample's class is known."""
        return self._indices is not None and bool(self._resolved.all())

    @property
    def indices(self) -> torch.Tensor:
        """LongTensor ``(N,)`` once every sample has been resolved."""
        if not self.resolved:
            raise RuntimeError(
                "Target.indices read before every sample was resolved: the method's attribute() "
                "must call target.classes(), target.from_model() or target.resolve()."
            )
        return self._indices


def _listed(rows: list[int]) -> str:
    """``[1, 4, 7]``, the first ten only: ``[0, 1, ..., 9, ...]``."""
    shown = ", ".join(str(row) for row in rows[:10])
    return f"[{shown}{', ...' if len(rows) > 10 else ''}]"
