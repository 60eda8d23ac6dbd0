"""Leaving a model as it was found: :func:`preserved_state` puts it in eval mode and restores
modes, ``requires_grad``, gradients, hooks, registered parameters/buffers and numpy's RNG on the
way out, also when the body raises; :func:`eval_mode` only the eval mode and the modes (for a
body that cannot change anything else); :func:`autograd_enabled` turns autograd on inside
``torch.no_grad()``.

Both hold the model's own re-entrant lock (:func:`model_lock`) for the body: calls on one
shared model (Streamlit sessions share a cached model) run one at a time, so each sees the
model as its owner left it and puts back exactly that. Without it, a call that starts while
another has the model in eval mode would save and restore eval mode, and would remove the other
call's hooks. Calls on different models still run in parallel; a nested call on the same model
in the same thread (``evaluate_explanation`` explaining again) re-enters the lock.

This reaches into torch's module internals (hook dicts keyed by handle id, ``_parameters``),
which is why it lives on its own.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.modules import module as _module_globals
from torch.utils.hooks import RemovableHandle

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


_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The re-entrant lock of ``model`` (created on first use, dropped with the model). A
    ``torch.compile``'d module shares its original module's lock: both run the same weights."""
    model = getattr(model, "_orig_mod", model)
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


def _is_scripted(module: nn.Module) -> bool:
    """TorchScript modules take no hooks and keep their parameters in a wrapper of their own:
    nothing can be added to them, so there is nothing of that kind to put back."""
    return isinstance(module, torch.jit.ScriptModule)


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


def _enter_eval_mode(model: nn.Module, modules: Sequence[nn.Module]) -> list[bool]:
    """Put ``model`` in eval mode; returns the train/eval mode each of ``modules`` had."""
    training = [m.training for m in modules]
    if any(training):
        model.eval()
    return training


def _restore_modes(modules: Sequence[nn.Module], training: Sequence[bool]) -> None:
    for module, was_training in zip(modules, training, strict=True):
        if module.training != was_training:
            module.training = was_training


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the body with ``model`` in eval mode; every submodule's train/eval mode is restored
    afterwards, also when the body raises. Nothing else is saved: for a body that can change
    nothing else on the model (``xai.evaluate``'s forward passes under
    ``torch.inference_mode``, where parameters' ``requires_grad`` and gradients cannot change).
    Code that computes gradients, adds hooks or runs other libraries uses
    :func:`preserved_state`."""
    with model_lock(model):
        modules = list(model.modules())
        training = _enter_eval_mode(model, modules)
        try:
            yield model
        finally:
            _restore_modes(modules, training)


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
    with model_lock(model):
        yield from _preserved(model, library_code)


def _preserved(model: nn.Module, library_code: bool) -> Iterator[nn.Module]:
    modules = list(model.modules())
    hookable = [m for m in modules if not _is_scripted(m)]
    full_backward = [m.__dict__.get("_is_full_backward_hook") for m in hookable]
    # shap's DeepExplainer stores inputs/outputs as Parameters on submodules and does not
    # always remove them (not below a custom module): they would end up in the state_dict.
    registered = (
        [(dict(m._parameters), dict(m._buffers)) for m in hookable] if library_code else None
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
    training = _enter_eval_mode(model, modules)
    try:
        yield model
    finally:
        hooks_added = RemovableHandle.next_id != first_hook_id  # every hook takes a handle id
        _restore_modes(modules, training)
        for module, flag in zip(hookable, full_backward, strict=True):
            if hooks_added:
                _drop_hooks_since(module, _HOOK_DICTS, first_hook_id)
            if module.__dict__.get("_is_full_backward_hook") is not flag:
                module._is_full_backward_hook = flag
        if registered is not None:
            for module, (parameters, buffers) in zip(hookable, registered, strict=True):
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
