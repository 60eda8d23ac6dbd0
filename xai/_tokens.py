"""Token ids ``(N, L)``: explaining a text classifier at its embedding.

Gradient methods cannot differentiate with respect to integer ids, so they attribute at the
output of the embedding layer (what captum's ``LayerIntegratedGradients`` does there): the
model runs on the ids, with a forward hook that replaces the embedding's output by the points
the method evaluates (:class:`EmbeddingFunction`). The method itself sees a float batch
``(N, L, D)`` and does not know about text; its attributions are summed over ``D``.

Perturbation methods (Occlusion, LIME, Kernel SHAP) see the ids themselves and replace
tokens by ``mask_token`` (:func:`ids_view`; Occlusion gets them as reference rows); their
features are the real tokens (:func:`real_tokens`). Either way, positions an attention mask switches
off keep their own tokens in the reference, so they are never changed, and get attribution 0
(:func:`per_token`).

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
from xai._model import ModelFunction, OutputSelector
from xai.errors import InputError, InputTypeError


def input_embedding(model: nn.Module) -> nn.Module | None:
    """What the model's ``get_input_embeddings()`` (Hugging Face's convention) returns, if any."""
    getter = getattr(model, "get_input_embeddings", None)
    try:
        found = getter() if callable(getter) else None
    except (NotImplementedError, AttributeError):
        found = None
    return found if isinstance(found, nn.Module) else None


def find_embedding(model: nn.Module, given: Any, ids: torch.Tensor) -> tuple[str, nn.Module]:
    """``(dotted name, module)`` of the embedding the ids go through."""
    if given is not None:
        return resolve_layer(model, given, argument="embedding")
    found = input_embedding(model)
    if found is not None:
        return resolve_layer(model, found, argument="embedding")
    embeddings = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Embedding)]
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
        batch = int(inputs.shape[0])
        rows = self.sample_rows(batch, rows).to(self.ids.device)

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
            raw = self.model(self.ids[rows], **self.kwargs_for(batch, rows))
        finally:
            handle.remove()
        return self.scores(raw, batch)


def _with_masked_kept(reference: torch.Tensor, ids: torch.Tensor, mask: Any) -> torch.Tensor:
    """``reference`` ids with the positions ``mask`` switches off holding the inputs' own."""
    if isinstance(mask, torch.Tensor) and mask.shape == ids.shape:
        return torch.where(mask.bool(), reference, ids)
    return reference


def _refuse_reference(params: dict[str, Any], reference: str | None, instead: str) -> None:
    if reference is not None and params.get(reference) is not None:
        raise InputError(
            reference,
            f"for token ids the reference is made of {instead} ids; pass {instead}= instead "
            f"of {reference}=.",
        )


def ids_view(
    model: nn.Module,
    ids: torch.Tensor,
    params: dict[str, Any],
    kwargs: Mapping[str, Any],
    reference: str | None,
) -> tuple[ModelFunction, dict[str, Any]]:
    """A perturbation method's view of token ids: the model on the ids, and its params with
    option ``reference`` (Occlusion's baselines) made of ``mask_token`` rows (default: the
    config's mask token, else its pad token, else 0); ``params["mask_token"]`` records it."""
    _refuse_reference(params, reference, "mask_token")
    pad = special_token(model, "baseline_token", None, 0)
    params["mask_token"] = special_token(model, "mask_token", params.get("mask_token"), pad)
    check_ids(ids, input_embedding(model) or nn.Identity())  # shape; vocabulary if known
    inner = dict(params)
    if reference is not None:
        rows = torch.full_like(ids, params["mask_token"])
        inner[reference] = _with_masked_kept(rows, ids, kwargs.get("attention_mask"))
    return ModelFunction(model, params["output"], kwargs, ids.shape[0]), inner


def embedding_view(
    model: nn.Module,
    ids: torch.Tensor,
    params: dict[str, Any],
    kwargs: Mapping[str, Any],
    reference: str | None,
    options: Mapping[str, Any],
) -> tuple[ModelFunction, torch.Tensor, dict[str, Any]]:
    """A gradient method's view of token ids: the model as a function of its embedding
    output, the embedded inputs ``(N, L, D)``, and its params with option ``reference`` made
    of embedded ``baseline_token`` rows: one per sample for IG's ``baselines``, one for all as
    SHAP's ``background``. ``params`` records the embedding's name and the baseline token."""
    _refuse_reference(params, reference, "baseline_token")
    name, embedding = find_embedding(model, params["embedding"], ids)
    check_ids(ids, embedding)
    baseline = special_token(model, "baseline_token", params.get("baseline_token"), 0)
    params["embedding"] = name
    if "baseline_token" in options:
        params["baseline_token"] = baseline
    inner = dict(params)
    with torch.no_grad():
        embedded = embedding(ids).detach()
        if reference == "baselines":
            rows = _with_masked_kept(
                torch.full_like(ids, baseline), ids, kwargs.get("attention_mask")
            )
            inner[reference] = embedding(rows).detach()
        elif reference is not None:
            inner[reference] = embedding(torch.full_like(ids[:1], baseline)).detach()
    function = EmbeddingFunction(model, params["output"], kwargs, ids, embedding)
    return function, embedded, inner


def real_tokens(function: ModelFunction, ids: torch.Tensor) -> torch.Tensor:
    """Which positions of the token ids ``(N, L)`` hold real tokens: those the attention mask
    in the function's ``model_kwargs`` switches on (every position without one)."""
    mask = function.model_kwargs.get("attention_mask")
    if isinstance(mask, torch.Tensor) and mask.shape == ids.shape:
        return mask.to(ids.device).bool()
    return torch.ones_like(ids, dtype=torch.bool)


def per_token(attributions: torch.Tensor, mask: Any) -> torch.Tensor:
    """Attributions per token ``(N, L)`` (embedding attributions ``(N, L, D)`` summed over
    the embedding); positions an attention mask switches off get exactly 0."""
    summed = attributions.sum(dim=-1) if attributions.ndim == 3 else attributions
    if isinstance(mask, torch.Tensor) and mask.shape == summed.shape:
        summed = torch.where(mask.to(summed.device).bool(), summed, 0.0)
    return summed
