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
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from xai._device import describe_device, model_device
from xai._model import ModelFunction, call_model
from xai._provenance import library_versions
from xai._state import autograd_enabled, preserved_state
from xai._tokens import embedding_view, ids_view, per_token
from xai._validation import (
    all_finite,
    as_input_batch,
    check_model_kwargs,
    check_ndim,
    check_options,
    check_seed,
    normalize_target,
    resolve_target,
)
from xai.errors import InputError, InputTypeError
from xai.explanation import Explanation, check_tokens

#: Options every method accepts, on top of its own ``defaults``: how to read the model's scores
#: (``output``) and extra forward arguments (``model_kwargs``, e.g. an attention mask).
COMMON_OPTIONS: dict[str, Any] = {"output": None, "model_kwargs": None}

#: The kinds of input, by number of dimensions of the batch: what ``input_ndims`` means.
INPUT_KINDS: dict[str, int] = {"image": 4, "tabular": 2, "sequence": 3}

#: The extras key under which a method's ``attribute`` may return a bool tensor ``(N,)`` of the
#: samples whose attributions are zero by definition (not warned about; not kept in extras).
EXPECTED_ZERO_ROWS = "_expected_zero_rows"

#: The choice that leaves an option to the method (its ``None`` default).
AUTO = "auto"


@dataclass(frozen=True)
class Parameter:
    """One adjustable option of a method, from which front ends (the dashboard) build a
    control; a method lists its own in :meth:`Explainer.tunable_parameters`.

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


class Explainer(ABC):
    """An attribution method bound to a model and its options.

    Subclasses set ``name``, ``defaults`` (their own options and default values),
    ``stochastic`` (whether they take ``seed``), optionally ``input_ndims`` (accepted numbers of
    input dimensions, read in words by :meth:`input_kinds`), ``quick_options`` (cheap options
    for smoke tests and previews), ``properties`` and ``reference`` (the paper), optionally
    :meth:`tunable_parameters` (the options front ends offer as controls), and implement
    :meth:`attribute`. Everything the library, the dashboard, the CLI and the tests need to
    know about a method is asked of its class, so a new method needs no edits elsewhere.

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
    #: Options of methods that explain token ids ``(N, L)`` at the embedding (gradient
    #: methods): ``embedding`` (the layer; found automatically) and ``baseline_token``.
    token_options: ClassVar[Mapping[str, Any]] = {}
    #: The option the token path fills with embedded ``baseline_token`` rows.
    token_reference: ClassVar[str | None] = None
    #: How the method explains token ids: ``"embedding"`` (gradient methods, at the
    #: embedding's output), ``"ids"`` (perturbation methods: ``token_reference`` gets
    #: ``mask_token`` rows and the method replaces tokens by them) or ``"layer"`` (the
    #: method sees the ids and reads a layer they go through: Grad-CAM's 1-D convolutions).
    token_path: ClassVar[str] = "embedding"
    #: Whether all-zero attributions of a sample are suspect (gradient methods: the model's
    #: gradient vanished along the whole path), so that they come with a warning.
    warns_on_zero: ClassVar[bool] = False
    #: Whether the method registers hooks on the model's modules (layer methods): TorchScript
    #: modules are then refused, and ``torch.compile``'d ones explained through their eager
    #: module (hooks do not fire inside a compiled graph).
    uses_hooks: ClassVar[bool] = False
    #: Options that make the method cheap (few steps or samples) while still exercising its
    #: code: for smoke tests, previews and the bundled report suite. ``seed`` is not included.
    quick_options: ClassVar[Mapping[str, Any]] = {}

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
        names = set(cls.defaults) | set(COMMON_OPTIONS) | set(cls.token_options)
        if cls.stochastic:
            names.add("seed")
        return sorted(names)

    @classmethod
    def input_kinds(cls) -> tuple[str, ...]:
        """The kinds of input the method explains, among ``"image"`` ``(N, C, H, W)``,
        ``"tabular"`` ``(N, F)`` and ``"sequence"`` ``(N, C, L)`` (from ``input_ndims``)."""
        return tuple(
            kind
            for kind, ndim in INPUT_KINDS.items()
            if cls.input_ndims is None or ndim in cls.input_ndims
        )

    @classmethod
    def accepts(cls, inputs: torch.Tensor, model: nn.Module | None = None) -> bool:
        """Whether the method explains a batch of this layout (its number of dimensions; for
        token ids, whether the method explains them, which may depend on ``model``)."""
        if not inputs.is_floating_point() and inputs.ndim == 2:
            return bool(cls.token_options)
        return cls.input_ndims is None or inputs.ndim in cls.input_ndims

    @classmethod
    def tunable_parameters(
        cls, model: nn.Module | None = None, inputs: torch.Tensor | None = None
    ) -> list[Parameter]:
        """The options worth adjusting by hand, with their ranges, for this model and these
        inputs ``(N, ...)`` (both optional: they refine choices such as Grad-CAM's layers).
        Front ends build their controls from them; the default is none (the method runs with
        its ``defaults``)."""
        return []

    def explain(
        self, inputs: torch.Tensor, target: Any = None, *, tokens: Any = None
    ) -> Explanation:
        """Explain ``inputs`` for ``target``.

        Args:
            inputs: a batch ``(N, ...)``: ``(N, C, H, W)`` images, ``(N, F)`` tabular rows, ...
            target: ``None`` (the predicted class), an int, or one class index per sample.
            tokens: for token ids ``(N, L)``: the token strings, one list of ``L`` per row,
                kept in :attr:`Explanation.tokens` (checked before the method runs).

        Returns:
            An :class:`~xai.Explanation` whose attributions live on the inputs' device.

        Raises:
            TypeError, ValueError: on bad inputs, targets or options, naming the argument.
        """
        started = time.perf_counter()
        inputs = as_input_batch(inputs, allow_integer=True)
        tokens = check_tokens(tokens, inputs)
        token_ids = not inputs.is_floating_point()
        if token_ids:
            self._check_token_ids(inputs)
        elif self.input_ndims is not None:
            check_ndim(inputs, self.input_ndims, self.name)
        params = {**self.defaults, **COMMON_OPTIONS, **self.token_options, **self.options}
        if self.stochastic:
            seed = check_seed(params.get("seed"))
            # A drawn seed is recorded, so every explanation can be reproduced from its params.
            params["seed"] = secrets.randbelow(2**31) if seed is None else seed
        device = model_device(self.model)
        library_code = self._runs_library_code(inputs, params)
        token_path = self._token_path(params) if token_ids else None
        model = self._model_to_run(params, hooks=token_path == "embedding")
        with preserved_state(self.model, library_code=library_code), autograd_enabled():
            x = inputs.detach().to(device)
            if x.is_inference():
                x = x.clone()
            kwargs = check_model_kwargs(params["model_kwargs"], device)
            if token_path == "ids":
                function, inner = ids_view(model, x, params, kwargs, self.token_reference)
            elif token_path == "layer":  # the method reads a layer the ids go through
                function, inner = ModelFunction(model, params["output"], kwargs, x.shape[0]), params
            elif token_ids:
                function, x, inner = embedding_view(
                    model, x, params, kwargs, self.token_reference, self.token_options
                )
            else:
                function, inner = ModelFunction(model, params["output"], kwargs, x.shape[0]), params
            request = Target(target, x.shape[0])
            attributions, extras = self.attribute(function, x, request, inner)
            if token_ids:
                attributions = per_token(attributions, kwargs.get("attention_mask"))
                params.update({k: v for k, v in inner.items() if k != self.token_reference})
            if not request.resolved:  # a method that does not read the model's scores
                request.classes(function, x)
            target_index = request.indices
            params["output"] = function.output  # the part read automatically, if any
            if not all_finite(attributions):
                raise self._non_finite_error(attributions)
        dtype = inputs.dtype if not token_ids else attributions.dtype
        attributions = attributions.detach().to(device=inputs.device, dtype=dtype)
        # rows a method knows are zero by definition (IG of an input equal to its baseline)
        expected_zero = extras.pop(EXPECTED_ZERO_ROWS, None)
        if self.warns_on_zero:
            warning = _zero_rows_warning(self.name, attributions, expected_zero)
            if warning:
                warnings.warn(warning, stacklevel=3)
                extras = {**extras, "warnings": [*extras.get("warnings", []), warning]}
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
            tokens=tokens,
        )

    def _check_token_ids(self, inputs: torch.Tensor) -> None:
        if not self.token_options and self.token_path != "layer":
            raise token_ids_refused(inputs, f"which method {self.name!r} does not explain")

    def _token_path(self, params: dict[str, Any]) -> str:
        """How token ids are explained with ``params`` (:attr:`token_path`; a method whose
        options decide it overrides this)."""
        return self.token_path

    def _needs_hooks(self, params: dict[str, Any]) -> bool:
        """Whether explaining with ``params`` registers hooks on the model (``uses_hooks``;
        a method where only some options do overrides this)."""
        return self.uses_hooks

    def _model_to_run(self, params: dict[str, Any], hooks: bool = False) -> nn.Module:
        """The module the method calls: the model itself, or for a method that needs hooks
        (or token ids, explained through a hook on the embedding) the eager module inside a
        ``torch.compile``'d one (the same weights; hooks do not fire in the compiled graph).
        A TorchScript model cannot take hooks: a clear error."""
        if not (hooks or self._needs_hooks(params)):
            return self.model
        if isinstance(self.model, torch.jit.ScriptModule):
            raise InputError(
                "model",
                f"method {self.name!r} needs forward hooks on the model's layers, and "
                f"TorchScript modules ({type(self.model).__name__}) do not take hooks. Pass "
                "the eager module (the nn.Module before torch.jit.script/trace), or use a "
                "method that needs only the model's outputs and gradients: "
                "'integrated_gradients', 'smoothgrad', 'occlusion', 'lime' or 'shap' "
                "(algorithm 'gradient' or 'kernel').",
            )
        original = getattr(self.model, "_orig_mod", None)
        return original if isinstance(original, nn.Module) else self.model

    def _runs_library_code(self, inputs: torch.Tensor, params: dict[str, Any]) -> bool:
        """Whether explaining ``inputs`` runs another library's code (lime's explainers, shap's
        DeepExplainer), which may use or reseed numpy's global random state or leave
        parameters on the model's submodules: both are then saved and restored (that costs
        ~0.1 ms, visible for one small sample). xai's own code only uses generators of its own
        and adds nothing to the model."""
        return False

    @staticmethod
    def _call_model(
        function: ModelFunction, inputs: torch.Tensor, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Run the model on ``inputs`` (rows of the samples ``rows``); failures of the model
        itself become errors in plain words."""
        return call_model(function.model, inputs, run=lambda x: function(x, rows=rows))

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


def token_ids_refused(inputs: torch.Tensor, why: str) -> InputTypeError:
    """The error for token ids a method cannot explain (``why``), naming the methods that can."""
    return InputTypeError(
        "inputs",
        f"expected a floating-point tensor, got dtype {inputs.dtype}. Convert it with "
        f"inputs.float(). Integer inputs are taken as token ids, {why}; the gradient methods "
        "explain them at the embedding: method='integrated_gradients', 'smoothgrad' or "
        "'shap', and method='occlusion', 'lime' or 'shap' with algorithm='kernel' replace "
        "tokens by mask_token.",
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
        check_finite_scores(outputs, torch.arange(self.n)[part])
        indices = resolve_target(target, outputs)
        self._store(indices, part)
        return indices

    def _store(self, indices: torch.Tensor, part: slice) -> None:
        if self._indices is None:
            self._indices = torch.zeros(self.n, dtype=torch.long, device=indices.device)
        self._indices[part] = indices
        self._resolved[part] = True

    def from_model(
        self, function: ModelFunction, inputs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass without gradient: the model's scores ``(N, K)`` on ``inputs`` and
        the class of each sample ``(N,)`` resolved from them (for methods that need ``f(x)``)."""
        with torch.no_grad():
            outputs = call_model(function.model, inputs, run=function)
        return outputs, self.resolve(outputs)

    def classes(self, function: ModelFunction, inputs: torch.Tensor) -> torch.Tensor:
        """The class of each sample ``(N,)``, LongTensor, checked against the model's outputs.

        An explicit target too costs a forward pass on every sample: only the scores tell
        whether there is anything to explain (a model whose output is NaN on a sample can still
        give finite, meaningless gradients there).
        """
        return self.from_model(function, inputs)[1]

    @property
    def resolved(self) -> bool:
        """Whether every sample's class is known."""
        return self._indices is not None and bool(self._resolved.all())

    @property
    def indices(self) -> torch.Tensor:
        """LongTensor ``(N,)`` once every sample has been resolved."""
        if self._indices is None or not self.resolved:
            raise RuntimeError(
                "Target.indices read before every sample was resolved: the method's attribute() "
                "must call target.classes(), target.from_model() or target.resolve()."
            )
        return self._indices


def check_finite_scores(outputs: torch.Tensor, rows: torch.Tensor) -> None:
    """Raise when the model's scores on the samples ``rows`` are NaN or infinite."""
    if all_finite(outputs):
        return
    bad = rows[~torch.isfinite(outputs).all(dim=1).cpu()]
    raise ValueError(
        f"inputs: the model's outputs are NaN or infinite for {len(bad)} sample(s) "
        f"(rows {_listed(bad.tolist())}); there is nothing to explain. Check these "
        "inputs (range, scaling) and the model on them."
    )


def _zero_rows_warning(
    method: str, attributions: torch.Tensor, expected: torch.Tensor | None = None
) -> str | None:
    """The warning for samples whose attributions are all exactly zero, if any (leaving out
    the rows ``expected`` to be zero)."""
    zero = ~attributions.reshape(attributions.shape[0], -1).ne(0).any(dim=1)
    if expected is not None:
        zero &= ~expected.to(zero.device)
    rows = zero.nonzero().flatten().tolist()
    if not rows:
        return None
    return (
        f"method {method!r} gave all-zero attributions for {len(rows)} sample(s) (rows "
        f"{_listed(rows)}): the model's gradient is exactly zero wherever the method evaluated "
        "it. Unless these inputs equal the baseline, the model is constant there (saturated "
        "or dead activations, a rounding step, a lookup); a method that needs only the outputs "
        "(method='occlusion' or 'lime') shows what the model reads."
    )


def _listed(rows: list[int]) -> str:
    """``[1, 4, 7]``, the first ten only: ``[0, 1, ..., 9, ...]``."""
    shown = ", ".join(str(row) for row in rows[:10])
    return f"[{shown}{', ...' if len(rows) > 10 else ''}]"
