"""Token ids ``(N, L)``: explaining a text classifier at its embedding.

Gradient methods cannot differentiate with respect to integer ids, so they attribute at the
output of the embedding layer (what captum's ``LayerIntegratedGradients`` does there): the
model runs on the ids, with a forward hook that replaces the embedding's output by the points
the method evaluates (:class:`EmbeddingFunction`). The method itself sees a float batch
``(N, L, D)`` and does not know about text; its attributions are summed over ``D``.

- :func:`find_embedding`: the layer named by ``embedding=``, else ``get_input_embeddings()``
  (Hugging Face), else the model's one ``nn.Embedding`` that the ids go through.
- :func:`special_token`: the pad (baseline) and mask token ids from the model's config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from xai._layers import resolve_layer
from xai._model import (
    ModelFunction,
    OutputSelector,
    as_output_matrix,
    automatic_selector,
    select_output,
)
from xai.errors import InputError, InputTypeError


def find_embedding(model: nn.Module, given: Any, ids: torch.Tensor) -> tuple[str, nn.Module]:
    """``(dotted name, module)`` of the embedding the ids go through."""
    if given is not None:
        return resolve_layer(model, given, argument="embedding")
    named = [(name, m) for name, m in model.named_modules() if name]
    getter = getattr(model, "get_input_embeddings", None)
    if callable(getter):
        try:
            found = getter()
        except (NotImplementedError, AttributeError):
            found = None
        if isinstance(found, nn.Module):
            return resolve_layer(model, found, argument="embedding")
    embeddings = [(name, m) for name, m in named if isinstance(m, nn.Embedding)]
    if len(embeddings) > 1:  # keep those called on the ids themselves
        fed: list[nn.Module] = []

        def seen(module: nn.Module, args: tuple[Any, ...]) -> None:
            if args and isinstance(args[0], torch.Tensor) and torch.equal(args[0], ids[:1]):
                fed.append(module)

        handles = [m.register_forward_pre_hook(seen) for _, m in embeddings]
        try:
            with torch.no_grad():
                model(ids[:1])
        except Exception:  # the model needs its model_kwargs: decided by name below
            pass
        finally:
            for handle in handles:
                handle.remove()
        if fed:
            embeddings = [(name, m) for name, m in embeddings if m in fed]
    if len(embeddings) == 1:
        return embeddings[0]
    if not embeddings:
        raise InputTypeError(
            "inputs",
            f"expected a floating-point tensor, got dtype {ids.dtype}. Convert it with "
            "inputs.float(). Integer inputs are taken as token ids, explained at the model's "
            "embedding layer, and this model has no nn.Embedding: for token ids, name the "
            "layer that embeds them with embedding=.",
        )
    listed = ", ".join(name for name, _ in embeddings) or "none"
    raise InputError(
        "embedding",
        "integer inputs are token ids, explained at the output of the model's embedding "
        f"layer, and it is not clear which one that is (nn.Embedding modules: {listed}). "
        "Pass embedding= (the module or its dotted name), or give the model a "
        "get_input_embeddings() method, as Hugging Face models have.",
    )


def special_token(model: nn.Module, name: str, given: Any, fallback: int | None) -> int:
    """The token id of option ``name``: ``given``, else the model config's ``pad_token_id``
    (``baseline_token``) or ``mask_token_id`` (``mask_token``), else ``fallback``."""
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, int) or given < 0:
            raise InputTypeError(
                name, f"expected a token id (an int >= 0), got {type(given).__name__} {given!r}."
            )
        return given
    config = getattr(model, "config", None)
    key = "pad_token_id" if name == "baseline_token" else "mask_token_id"
    value = config.get(key) if isinstance(config, Mapping) else getattr(config, key, None)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if fallback is None:
        raise InputError(name, f"the model's config has no {key}: pass {name}= explicitly.")
    return fallback


def check_ids(ids: torch.Tensor, embedding: nn.Module, name: str = "inputs") -> None:
    """Token ids must be ``(N, L)`` and inside the embedding's vocabulary."""
    if ids.ndim != 2:
        raise InputError(
            name,
            f"integer inputs are token ids, expected shape (N, L), got {tuple(ids.shape)}.",
        )
    size = getattr(embedding, "num_embeddings", None)
    if isinstance(size, int) and (int(ids.min()) < 0 or int(ids.max()) >= size):
        raise InputError(
            name,
            f"token ids must lie in [0, {size}) (the embedding's vocabulary), got ids from "
            f"{int(ids.min())} to {int(ids.max())}.",
        )


class EmbeddingFunction(ModelFunction):
    """The model as a function of its embedding output: ``points (M, L, D) -> scores (M, K)``.

    Each call runs the model on the token ids of the samples ``rows`` (their ``model_kwargs``
    too) with the embedding's output replaced by ``points``, so every later layer (position
    embeddings, attention masks) works as in a normal forward pass.
    """

    on_embeddings = True

    def __init__(
        self,
        model: nn.Module,
        output: OutputSelector,
        model_kwargs: Mapping[str, Any],
        ids: torch.Tensor,
        embedding: nn.Module,
    ) -> None:
        super().__init__(model, output, model_kwargs, n=ids.shape[0])
        self.ids = ids
        self.embedding = embedding

    def __call__(self, inputs: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        if rows is None:
            if inputs.shape[0] != self.ids.shape[0]:
                raise RuntimeError(
                    f"a method evaluated {inputs.shape[0]} embedding rows without saying which "
                    f"of the {self.ids.shape[0]} samples' token ids they belong to (a bug in "
                    "the method: it must pass rows=)."
                )
            rows = torch.arange(inputs.shape[0])
        rows = rows.to(self.ids.device)

        def replace(_module: nn.Module, _args: Any, output: Any) -> torch.Tensor:
            if not isinstance(output, torch.Tensor) or output.shape != inputs.shape:
                raise InputError(
                    "embedding",
                    f"the embedding's output has shape "
                    f"{tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__}"
                    f", expected the embeddings of the token ids {tuple(inputs.shape)}: "
                    "the embedding must be called once per forward on the ids (N, L).",
                )
            return inputs

        handle = self.embedding.register_forward_hook(replace)
        try:
            raw = self.model(self.ids[rows], **self.kwargs_for(int(inputs.shape[0]), rows))
        finally:
            handle.remove()
        self.evaluations += int(inputs.shape[0])
        if self.output is None:
            self.output = automatic_selector(raw)
        return as_output_matrix(select_output(raw, self.output), int(inputs.shape[0]))
