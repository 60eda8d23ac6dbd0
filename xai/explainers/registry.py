"""Method registry: built-in methods, third-party ones (entry-point group ``xai.explainers``),
and the public calls ``explain``, ``get_explainer`` and ``available_explainers``."""

from __future__ import annotations

import logging
import warnings
from importlib import metadata
from typing import Any, TypeVar

import torch
from torch import nn

from xai.errors import InputError, InputTypeError, unknown_name_error
from xai.explainers.base import Explainer
from xai.explanation import Explanation

ENTRY_POINT_GROUP = "xai.explainers"

_log = logging.getLogger(__name__)
_REGISTRY: dict[str, type[Explainer]] = {}
_entry_points_loaded = False

E = TypeVar("E", bound=type[Explainer])


def register_explainer(cls: E, *, name: str | None = None, overwrite: bool = False) -> E:
    """Register an :class:`Explainer` subclass under ``name`` (default: ``cls.name``).

    Usable as a decorator. Third-party packages do not need to call this: declaring the class
    in the entry-point group ``xai.explainers`` is enough.

    Args:
        cls: the :class:`~xai.Explainer` subclass.
        name: the method name users pass to :func:`explain` (default: ``cls.name``).
        overwrite: replace a class already registered under that name.

    Returns:
        ``cls`` itself, so that the call works as a class decorator.

    Raises:
        TypeError: ``cls`` is not an Explainer subclass.
        ValueError: the name is empty or taken (and ``overwrite`` is False).
    """
    if not (isinstance(cls, type) and issubclass(cls, Explainer)):
        raise InputTypeError("cls", f"expected a subclass of xai.Explainer, got {cls!r}.")
    key = name or cls.name
    if not key:
        raise InputError(
            "name",
            f"{cls.__name__} has no `name`; set the class attribute or pass name=.",
        )
    if key in _REGISTRY and _REGISTRY[key] is not cls and not overwrite:
        raise InputError(
            "name",
            f"an explainer called {key!r} is already registered ({_REGISTRY[key].__name__}). "
            "Pick another name or pass overwrite=True.",
        )
    _REGISTRY[key] = cls
    return cls


def _load_entry_points() -> None:
    """Register the methods third-party packages declare in the ``xai.explainers`` group, once."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in _REGISTRY:
            continue
        try:
            register_explainer(entry_point.load(), name=entry_point.name)
        except Exception as error:  # a broken plugin must not break the library
            warnings.warn(
                f"xai: could not load explainer {entry_point.name!r} from entry point "
                f"{entry_point.value!r}: {type(error).__name__}: {error}",
                RuntimeWarning,
                stacklevel=3,
            )


def reload_entry_points() -> None:
    """Look for newly installed third-party methods again (e.g. after ``pip install``)."""
    global _entry_points_loaded
    _entry_points_loaded = False
    _load_entry_points()


def available_explainers() -> list[str]:
    """Names of every registered method, built-in and third-party, sorted.

    Returns:
        The names :func:`explain` and :func:`get_explainer` accept, e.g. ``"gradcam"``.
    """
    _load_entry_points()
    return sorted(_REGISTRY)


def explainer_class(name: str) -> type[Explainer]:
    """The class registered under ``name``; a ValueError lists the available names otherwise."""
    if not isinstance(name, str):
        raise InputTypeError("method", f"expected a method name (str), got {type(name).__name__}.")
    _load_entry_points()
    if name not in _REGISTRY:
        raise unknown_name_error("method", "method", name, available_explainers())
    return _REGISTRY[name]


def get_explainer(name: str, model: nn.Module, **options: Any) -> Explainer:
    """Configure method ``name`` for ``model`` once and reuse it.

    Args:
        name: one of :func:`available_explainers`.
        model: any ``torch.nn.Module``.
        **options: the method's options (stored here, checked when :meth:`Explainer.explain`
            runs), as in :func:`explain`.

    Returns:
        The configured :class:`~xai.Explainer`.

    Raises:
        ValueError: ``name`` is not a registered method (the message lists them).
        TypeError: ``name`` is not a string.

    Example::

        explainer = xai.get_explainer("gradcam", model, layer="features.3")
        expl = explainer.explain(images, target=None)
    """
    return explainer_class(name)(model, **options)


def explain(
    model: nn.Module,
    inputs: torch.Tensor,
    method: str = "integrated_gradients",
    target: Any = None,
    *,
    tokens: Any = None,
    **options: Any,
) -> Explanation:
    """Explain ``model``'s outputs on ``inputs`` with ``method``: one call, any ``nn.Module``.

    Args:
        model: any ``torch.nn.Module``; left exactly as found (mode, hooks, grads, device).
        inputs: a batch ``(N, ...)``, moved to the model's device.
        method: one of :func:`available_explainers`.
        target: ``None`` (the predicted class), an int, or one class index per sample.
        tokens: for token ids ``(N, L)``: the token strings, one list of ``L`` per row, kept
            in :attr:`Explanation.tokens` for figures and reports (not used to explain).
        **options: the method's options (``n_steps``, ``layer``, ``background``,
            ``num_samples``, ``seed``, ``output`` ...), see ``docs/explainers.md``.

    Returns:
        An :class:`~xai.Explanation`.

    Raises:
        ValueError, TypeError: an unknown method, or bad inputs, target or options (the
            message names the argument).

    Example:
        >>> import torch, xai
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
        >>> images = torch.rand(2, 1, 4, 4)
        >>> expl = xai.explain(model, images, method="integrated_gradients", n_steps=8)
        >>> expl.attributions.shape == images.shape
        True
    """
    return get_explainer(method, model, **options).explain(inputs, target=target, tokens=tokens)
