"""Cost of explaining text classifiers on token ids: the reference text model and a tiny BERT.

Models: ``keywords_text_cnn`` (the shipped reference model: embedding, one 1-D convolution,
masked mean pooling) and a ``BertForSequenceClassification`` built from a config (2 layers of
width 64, random weights, nothing downloaded), both on sentences of 24 token ids with
attention masks.

Per method, timed in alternation in one run (see ``benchmarks.explainers``):

- ``integrated_gradients`` (16 sentences, 50 steps): xai against captum's
  ``LayerIntegratedGradients`` on the embedding layer, the peer's standard recipe for text;
- ``lime`` (4 sentences, 1000 samples): against lime's ``LimeTextExplainer`` (word
  positions, ``bow=False``, removed words replaced by ``[MASK]``) with a classifier that turns
  the perturbed strings back into ids and runs the model in one batch, as its users write it;
- ``shap`` with ``algorithm="kernel"`` (4 sentences, ``nsamples`` as xai's default): against
  shap's ``KernelExplainer`` on the real tokens with the ``[MASK]`` row as background
  (``l1_reg=False``, so both return every token's value).

The floor is the model evaluations the method needs times the model's best per-row cost:
forward passes for the perturbation methods, forward + backward with the gradient at the
embedding's output for IG.

Run: ``python -m benchmarks text_models [--quick] [--out DIR]``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import reference_models
import xai
from benchmarks._rows import HEADER, print_row, timed_row, write_rows
from reference_models.datasets import TEXT_VOCABULARY

MASK_ID = 1


class Scores(nn.Module):
    """``(ids, attention_mask) -> logits`` of a model, for the peer libraries."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.model(ids, attention_mask=attention_mask)
        return out.logits if hasattr(out, "logits") else out


def text_cnn() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    ref = reference_models.load("keywords_text_cnn")
    ids, _, _, mask = ref.data["test"].tensors
    return ref.model, ids[:64], mask[:64]


def tiny_bert() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A BERT over the reference model's vocabulary and sentences (its ``[MASK]`` is id 1)."""
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(  # type: ignore[call-arg]
        vocab_size=len(TEXT_VOCABULARY),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=32,
        num_labels=3,
        pad_token_id=0,
    )
    model = transformers.BertForSequenceClassification(config).eval()
    _, ids, mask = text_cnn()
    return model, ids, mask


def _embedding(model: nn.Module) -> nn.Module:
    """The layer the ids go through (what xai finds automatically)."""
    getter = getattr(model, "get_input_embeddings", None)
    found = getter() if callable(getter) else getattr(model, "embedding", None)
    if not isinstance(found, nn.Module):
        raise TypeError(f"{type(model).__name__} has no embedding layer")
    return found


def _row_costs(
    model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, budget: float
) -> dict[str, tuple[float, Callable[[], None], int]]:
    """The best per-row seconds of a forward pass and of forward + backward to the
    embedding's output, the call that achieved each and its batch size."""
    from benchmarks.explainers import _median_seconds

    embedding = _embedding(model)
    best: dict[str, tuple[float, Callable[[], None], int]] = {}
    for batch_size in (16, 64, 256, 1024):
        repeats = -(-batch_size // ids.shape[0])
        batch_ids = ids.repeat(repeats, 1)[:batch_size].clone()
        batch_mask = mask.repeat(repeats, 1)[:batch_size].clone()

        def forward(x: torch.Tensor = batch_ids, m: torch.Tensor = batch_mask) -> None:
            with torch.no_grad():
                model(x, attention_mask=m)

        def forward_backward(x: torch.Tensor = batch_ids, m: torch.Tensor = batch_mask) -> None:
            kept: list[torch.Tensor] = []

            def keep(_module: nn.Module, _args: Any, output: torch.Tensor) -> torch.Tensor:
                leaf = output.detach().requires_grad_(True)
                kept.append(leaf)
                return leaf

            handle = embedding.register_forward_hook(keep)
            try:
                out = model(x, attention_mask=m)
            finally:
                handle.remove()
            logits = out.logits if hasattr(out, "logits") else out
            torch.autograd.grad(logits[:, 0].sum(), kept[0])

        for kind, run in (("forward", forward), ("forward_backward", forward_backward)):
            seconds = _median_seconds(run, budget / 8) / batch_size
            if kind not in best or seconds < best[kind][0]:
                best[kind] = (seconds, run, batch_size)
    return best


def _peer(
    method: str,
    model: nn.Module,
    ids: torch.Tensor,
    mask: torch.Tensor,
    target: torch.Tensor,
    ours: xai.Explanation,
) -> Callable[[], Any]:
    scores = Scores(model).eval()
    if method == "integrated_gradients":
        from captum.attr import LayerIntegratedGradients

        layer = LayerIntegratedGradients(scores, _embedding(model))
        baselines = torch.where(mask.bool(), 0, ids)

        def captum_ig() -> None:
            attributions = layer.attribute(
                ids,
                baselines=baselines,
                target=target,
                additional_forward_args=(mask,),
                n_steps=50,
                internal_batch_size=ours.params["internal_batch_size"],
            )
            attributions.sum(-1)

        return captum_ig
    vocabulary = {word: i for i, word in enumerate(TEXT_VOCABULARY)}
    real = [mask[j].bool() for j in range(ids.shape[0])]
    if method == "lime":
        from lime.lime_text import LimeTextExplainer

        def lime_text() -> None:
            for j in range(ids.shape[0]):
                words = [TEXT_VOCABULARY[i] for i in ids[j][real[j]].tolist()]

                def classify(texts: list[str]) -> np.ndarray:
                    rows = torch.tensor([[vocabulary[w] for w in t.split(" ")] for t in texts])
                    with torch.no_grad():
                        return scores(rows, torch.ones_like(rows)).double().numpy()

                LimeTextExplainer(
                    bow=False, mask_string="[MASK]", split_expression=" ", random_state=0
                ).explain_instance(
                    " ".join(words),
                    classify,
                    labels=(int(target[j]),),
                    num_features=len(words),
                    num_samples=1000,
                )

        return lime_text
    import shap

    def kernel_shap() -> None:
        for j in range(ids.shape[0]):
            length = int(real[j].sum())
            klass = int(target[j])

            def predict(
                rows: np.ndarray, j: int = j, length: int = length, klass: int = klass
            ) -> np.ndarray:
                full = ids[j].repeat(len(rows), 1)
                full[:, :length] = torch.from_numpy(rows).long()
                with torch.no_grad():
                    out = scores(full, mask[j].repeat(len(rows), 1))
                return out[:, klass].double().numpy()

            explainer = shap.KernelExplainer(predict, np.full((1, length), MASK_ID))
            explainer.shap_values(
                ids[j, :length].double().numpy()[None],
                nsamples=2 * length + 2**11,
                l1_reg=False,
                silent=True,
            )

    return kernel_shap


def _evaluations(method: str, ours: xai.Explanation, mask: torch.Tensor) -> tuple[float, str]:
    """Model evaluations per sentence the method needs, and which kind."""
    if method == "integrated_gradients":
        return float(ours.params["n_steps"]), "forward_backward"
    if method == "lime":
        return float(ours.params["num_samples"]), "forward"
    lengths = mask.sum(1).double()
    coalitions = torch.minimum(2 * lengths + 2**11, 2**lengths - 2)
    return float(coalitions.mean()) + 2.0, "forward"  # + f(x) and the [MASK] row


def run(out: Path, quick: bool = False) -> dict[str, Any]:
    """Measure each method on both models, print the table, write ``out/text_models.json``."""
    budget = 2.0 if quick else 8.0
    rows: list[dict[str, Any]] = []
    print(f"{'model':<18}" + HEADER)
    for name, build in (("keywords_text_cnn", text_cnn), ("tiny_bert", tiny_bert)):
        model, all_ids, all_mask = build()
        costs = _row_costs(model, all_ids, all_mask, budget)
        for method, n in (("integrated_gradients", 16), ("lime", 4), ("shap", 4)):
            n = min(n, 4) if quick else n
            ids, mask = all_ids[:n], all_mask[:n]
            options: dict[str, Any] = {"model_kwargs": {"attention_mask": mask}}
            if method == "lime":
                options.update(num_samples=1000, seed=0)
            if method == "shap":
                options.update(algorithm="kernel", seed=0)
            ours = xai.explain(model, ids, method=method, **options)

            def ours_call(
                model: nn.Module = model,
                ids: torch.Tensor = ids,
                method: str = method,
                options: dict[str, Any] = options,
            ) -> Any:
                return xai.explain(model, ids, method=method, **options)

            peer = _peer(method, model, ids, mask, ours.target, ours)
            evaluations, kind = _evaluations(method, ours, mask)
            _, model_call, model_batch = costs[kind]
            row = timed_row(
                ours_call,
                peer,
                model_call,
                n=n,
                evaluations=evaluations,
                model_batch=model_batch,
                budget=budget,
                quick=quick,
                model=name,
                method=method,
                evaluation=kind,
            )
            rows.append(row)
            print_row(row, 18)
    return write_rows(out, "text_models", rows, quick)
