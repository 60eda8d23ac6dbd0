"""How explainers talk to a model: calling it, picking its logits, leaving it as found.

- :class:`ModelFunction` calls the model, selects the logits from tuple/dict/object outputs
  with the ``output`` option, makes them ``(N, K)``, and counts model evaluations.
- :func:`preserved_state` puts the model in eval mode and, on the way out (also when the
  explainer raises), restores modes, ``requires_grad``, gradients, hooks and the numpy RNG.
- :func:`trace_layers` and :func:`resolve_layer` find layers for layer methods (Grad-CAM).
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.modules import module as _module_globals
from torch.utils.hooks import RemovableHandle

OutputSelector = int | str | Callable[[Any], torch.Tensor] | None

_OUTPUT_HELP = (
    "Pass the `output` option to say which part holds the logits: an index for tuples/lists "
    "(output=0), a key or attribute name for dicts and objects (output='logits'), or a callable "
    "(output=lambda out: out['logits'])."
)


def _describe(raw: Any) -> str:
    if isinstance(raw, torch.Tensor):
        return f"a tensor of shape {tuple(raw.shape)}"
    if isinstance(raw, Mapping):
        return f"a {type(raw).__name__} with keys {list(raw.keys())}"
    if isinstance(raw, tuple | list):
        parts = ", ".join(
            _describe(x) if isinstance(x, torch.Tensor) else type(x).__name__ for x in raw
        )
        return f"a {type(raw).__name__} of {len(raw)} elements ({parts})"
    if hasattr(raw, "logits"):
        return f"a {type(raw).__name__} object with a .logits attribute"
    return f"a {type(raw).__name__}"


def select_output(raw: Any, output: OutputSelector) -> torch.Tensor:
    """Pick the logits tensor out of whatever the model returned."""
    if output is None:
        if isinstance(raw, torch.Tensor):
            return raw
        raise TypeError(
            f"output: the model returned {_describe(raw)}, not a tensor. {_OUTPUT_HELP}"
        )
    try:
        if callable(output):
            selected = output(raw)
        elif isinstance(output, bool):
            raise TypeError("bool is not a valid selector")
        elif isinstance(output, int):
            selected = raw[output]
        elif isinstance(output, str):
            selected = raw[output] if isinstance(raw, Mapping) else getattr(raw, output)
        else:
            raise TypeError(f"unsupported selector type {type(output).__name__}")
    except (KeyError, IndexError, AttributeError, TypeError) as error:
        raise ValueError(
            f"output: could not select {output!r} from the model's output, which is "
            f"{_describe(raw)} ({error}). {_OUTPUT_HELP}"
        ) from error
    if not isinstance(selected, torch.Tensor):
        raise TypeError(
            f"output: selecting {output!r} gave {_describe(selected)}, expected a logits tensor. "
            f"{_OUTPUT_HELP}"
        )
    return selected


def as_output_matrix(out: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Make the selected output ``(N, K)``: ``(N,)`` becomes ``(N, 1)``."""
    if not (out.is_floating_point() or out.is_complex()):
        out = out.to(torch.get_default_dtype())  # integer or bool scores (0/1 votes)
    if out.ndim == 1:
        out = out.unsqueeze(1)
    if out.ndim != 2 or out.shape[0] != batch_size:
        raise ValueError(
            f"output: expected the model to return one row of scores per sample, shape "
            f"({batch_size}, K) or ({batch_size},), got shape {tuple(out.shape)}. For other outputs "
            "pass output=callable that reduces them to (N, K) scores."
        )
    return out


class ModelFunction:
    """The model as a function ``inputs (N, ...) -> scores (N, K)`` that counts its evaluations.

    ``evaluations`` is the number of samples (rows) passed through the model's forward.
    """

    def __init__(self, model: nn.Module, output: OutputSelector = None) -> None:
        self.model = model
        self.output = output
        self.evaluations = 0

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        raw = self.model(inputs)
        self.evaluations += int(inputs.shape[0])
        return as_output_matrix(select_output(raw, self.output), int(inputs.shape[0]))


class TargetColumn(nn.Module):
    """A view of the model as a single-output module ``x -> scores[:, column:column+1]``.

    The model is a registered submodule, because shap's DeepExplainer hooks every submodule;
    what shap changes on it (eval mode, zeroed grads, hooks) is undone by :func:`preserved_state`.
    """

    def __init__(self, function: ModelFunction, column: int = 0) -> None:
        super().__init__()
        object.__setattr__(self, "_fn", function)  # not a module: kept out of the module tree
        self.column = column
        self.model = function.model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self._fn(inputs)[:, self.column : self.column + 1]


_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)
_GLOBAL_HOOK_DICTS = (
    "_global_forward_hooks",
    "_global_forward_hooks_always_called",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
)


def _drop_hooks_since(owner: Any, names: Sequence[str], first_id: int) -> None:
    """Remove the hooks registered on ``owner`` from handle id ``first_id`` on.

    torch keys every hook dict by its ``RemovableHandle``'s id, drawn from one increasing
    counter, so the hooks added after a point are exactly those with larger ids.
    """
    for name in names:
        hooks = getattr(owner, name, None)
        if hooks:
            for key in [k for k in hooks if isinstance(k, int) and k >= first_id]:
                del hooks[key]


def _restore_entries(current: dict[str, Any], saved: dict[str, Any]) -> None:
    """Make a module's parameter/buffer dict hold exactly the ``saved`` objects again."""
    if len(current) != len(saved) or any(current.get(k) is not v for k, v in saved.items()):
        current.clear()
        current.update(saved)


@contextlib.contextmanager
def preserved_state(model: nn.Module, library_code: bool = True) -> Iterator[nn.Module]:
    """Run the body with ``model`` in eval mode; restore everything afterwards.

    Restored, also when the body raises: every submodule's train/eval mode, each parameter's
    ``requires_grad`` and ``.grad``, the hooks registered on every submodule and globally
    (hooks added inside the body are removed), and, unless ``library_code`` is False (the body
    runs only xai's and torch's code), what other libraries' code may change: numpy's global
    random state (shap and lime reseed it) and the parameters and buffers registered on each
    submodule (shap's DeepExplainer adds some: added ones are removed, replaced ones put
    back). The model is never moved, so its device is unchanged.

    Written to cost little (tens of microseconds for a small model): it runs on every
    explanation, and for one sample through a small model it is a visible part of the time.
    """
    modules = list(model.modules())
    training = [m.training for m in modules]
    full_backward = [m.__dict__.get("_is_full_backward_hook") for m in modules]
    # shap's DeepExplainer stores inputs/outputs as Parameters on submodules and does not
    # always remove them (not below a custom module): they would end up in the state_dict.
    registered = (
        [(dict(m._parameters), dict(m._buffers)) for m in modules] if library_code else None
    )
    first_hook_id = RemovableHandle.next_id
    # model.parameters() walks the module tree again; the same parameters, in the same order
    # and without duplicates, from the modules already listed
    params = list(
        {id(p): p for m in modules for p in m._parameters.values() if p is not None}.values()
    )
    requires_grad = [p.requires_grad for p in params]
    grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
    numpy_state = np.random.get_state() if library_code else None
    if any(training):
        model.eval()
    try:
        yield model
    finally:
        hooks_added = RemovableHandle.next_id != first_hook_id  # every hook takes a handle id
        for module, was_training, flag in zip(modules, training, full_backward, strict=True):
            if module.training != was_training:
                module.training = was_training
            if hooks_added:
                _drop_hooks_since(module, _HOOK_DICTS, first_hook_id)
            if module.__dict__.get("_is_full_backward_hook") is not flag:
                module._is_full_backward_hook = flag
        if registered is not None:
            for module, (parameters, buffers) in zip(modules, registered, strict=True):
                _restore_entries(module._parameters, parameters)
                _restore_entries(module._buffers, buffers)
        if hooks_added:
            _drop_hooks_since(_module_globals, _GLOBAL_HOOK_DICTS, first_hook_id)
        for param, flag, grad in zip(params, requires_grad, grads, strict=True):
            if param.requires_grad != flag:
                param.requires_grad_(flag)
            if param.grad is not grad:
                param.grad = grad
        if numpy_state is not None:
            np.random.set_state(numpy_state)


@contextlib.contextmanager
def autograd_enabled() -> Iterator[None]:
    """Enable autograd even when the caller is inside ``torch.no_grad()`` or inference mode."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


@dataclass(frozen=True)
class LayerCall:
    """One submodule seen during a dry-run forward pass."""

    name: str
    module: nn.Module
    output_shape: tuple[int, ...] | None  # None when the output is not a single tensor
    calls: int

    @property
    def is_spatial(self) -> bool:
        """True for an ``(N, C, h, w)`` output with more than one spatial position."""
        shape = self.output_shape
        return shape is not None and len(shape) == 4 and shape[2] * shape[3] > 1


def trace_layers(model: nn.Module, run: Callable[[], Any]) -> list[LayerCall]:
    """Run ``run()`` once with hooks on every submodule; report each one's output in call order.

    Order is the order in which the modules *finished* their forward, so the last spatial layer
    is the last entry with ``is_spatial``. Hooks are removed in ``finally``.
    """
    names = {module: name for name, module in model.named_modules() if name}
    order: list[nn.Module] = []
    shapes: dict[nn.Module, tuple[int, ...] | None] = {}
    calls: dict[nn.Module, int] = {}

    def record(module: nn.Module, _inputs: Any, output: Any) -> None:
        calls[module] = calls.get(module, 0) + 1
        shapes[module] = tuple(output.shape) if isinstance(output, torch.Tensor) else None
        if module in order:
            order.remove(module)
        order.append(module)

    handles = [module.register_forward_hook(record) for module in names]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return [LayerCall(names[m], m, shapes[m], calls[m]) for m in order]


def resolve_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """Return ``(dotted_name, module)`` for a layer given by dotted name or as a module."""
    named = {name: module for name, module in model.named_modules() if name}
    if isinstance(layer, str):
        if layer in named:
            return layer, named[layer]
        close = difflib.get_close_matches(layer, list(named), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"layer: the model has no submodule named {layer!r}.{hint} "
            f"Submodules: {', '.join(list(named)[:30])}{' ...' if len(named) > 30 else ''}."
        )
    if isinstance(layer, nn.Module):
        for name, module in named.items():
            if module is layer:
                return name, module
        raise ValueError(
            f"layer: the given {type(layer).__name__} module is not a submodule of the model. "
            "Pass a module from model.named_modules() or its dotted name."
        )
    raise TypeError(
        f"layer: expected None, a dotted submodule name or an nn.Module, got {type(layer).__name__}."
    )


def input_gradient(score: torch.Tensor, wrt: torch.Tensor, method: str) -> torch.Tensor:
    """``d score / d wrt`` for a gradient method, with a plain error when there is none.

    A score that does not depend on ``wrt`` at all has gradient zero (returned as such).
    """
    if not score.requires_grad:
        raise ValueError(
            f"model: method {method!r} needs the gradient of the model's output, but the output "
            "carries none: the forward detaches it, converts it to numpy, returns integers or "
            "runs under torch.no_grad(). Use method='lime', or method='shap' with "
            "algorithm='kernel' for tabular data: they need only the model's outputs."
        )
    (gradient,) = torch.autograd.grad(score, wrt, allow_unused=True)
    return torch.zeros_like(wrt) if gradient is None else gradient


def call_model(
    model: nn.Module,
    inputs: torch.Tensor,
    name: str = "inputs",
    run: Callable[[torch.Tensor], Any] | None = None,
) -> Any:
    """``run(inputs)`` (default: ``model(inputs)``), where a failure of the model on inputs of
    the wrong shape or dtype becomes a ValueError naming ``name`` and saying what to check,
    instead of a stack trace from inside torch. Errors of the model itself (it also fails on
    one sample of the right kind) pass through unchanged."""
    try:
        return (run or model)(inputs)
    except (TypeError, ValueError, RuntimeError) as error:
        if (
            str(error).startswith("output:")
            or not isinstance(inputs, torch.Tensor)
            or _runs_on(model, inputs[:1])
        ):
            raise
        raise _model_failure(model, inputs, error, name) from error


def _model_failure(
    model: nn.Module, inputs: torch.Tensor, error: Exception, name: str
) -> ValueError:
    reason = str(error).splitlines()[0] if str(error) else ""
    message = (
        f"{name}: the model failed on inputs of shape {tuple(inputs.shape)} and dtype "
        f"{inputs.dtype} ({type(error).__name__}: {reason}). "
    )
    if _runs_on(model, inputs.unsqueeze(0)):
        message += (
            "The model accepts it with a leading batch dimension: if this is a single sample, "
            "add one with inputs.unsqueeze(0)."
        )
    else:
        message += "Check that the inputs have the shape and dtype the model expects."
    return ValueError(message)


def _runs_on(model: nn.Module, inputs: torch.Tensor) -> bool:
    """Whether the model accepts ``inputs`` (used only to suggest a fix in an error message)."""
    try:
        with torch.no_grad():
            model(inputs)
    except Exception:
        return False
    return True
