"""LIME, Kernel SHAP and Grad-CAM on token ids ``(N, L)``, checked against lime's
``LimeTextExplainer``, shap's ``KernelExplainer``, exact Shapley values and captum's
``LayerGradCam`` on the reference text model and a tiny-config BERT."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

import reference_models
import xai
from reference_models.datasets import TEXT_VOCABULARY, decode_tokens
from tests.explainers.test_token_ids import batch as bert_batch
from tests.explainers.test_token_ids import bert


def text_model() -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    ref = reference_models.load("keywords_text_cnn")
    ids, _, keywords, mask = ref.data["test"].tensors
    return ref.model, ids, keywords, mask


def scores_of(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model(ids, attention_mask=mask)
    return (out.logits if hasattr(out, "logits") else out).double()


# ---------------------------------------------------------------------------------- LIME
def test_lime_on_token_ids_equals_lime_text_explainer() -> None:
    """The same sentences explained by lime's LimeTextExplainer (word positions, removed
    words replaced by [MASK]) through a classifier that reads the strings back as ids."""
    from lime.lime_text import LimeTextExplainer

    model, ids, _, mask = text_model()
    ids, mask = ids[:3], mask[:3]
    expl = xai.explain(
        model,
        ids,
        method="lime",
        model_kwargs={"attention_mask": mask},
        num_samples=300,
        seed=4,
        sampler="lime",
    )
    assert expl.params["mask_token"] == 1 and expl.params["kernel_width"] == 25.0
    vocabulary = {word: i for i, word in enumerate(TEXT_VOCABULARY)}

    def classifier(texts: list[str]) -> np.ndarray:
        rows = torch.tensor([[vocabulary[w] for w in text.split(" ")] for text in texts])
        return scores_of(model, rows, torch.ones_like(rows)).numpy()

    for j, tokens in enumerate(decode_tokens(ids)):
        real = [t for t, on in zip(tokens, mask[j].tolist(), strict=True) if on]
        klass = int(expl.target[j])
        lime = LimeTextExplainer(
            bow=False, mask_string="[MASK]", split_expression=" ", random_state=4
        )
        fit = lime.explain_instance(
            " ".join(real), classifier, labels=(klass,), num_features=len(real), num_samples=300
        )
        weights = torch.zeros(len(real), dtype=torch.float64)
        for feature, weight in fit.local_exp[klass]:
            weights[feature] = weight
        ours = expl.attributions[j][mask[j].bool()].double()
        torch.testing.assert_close(ours, weights, rtol=1e-5, atol=1e-5)
        assert float(expl.extras["intercept"][j]) == pytest.approx(fit.intercept[klass], abs=1e-5)
    assert bool((expl.attributions[~mask.bool()] == 0).all())


def test_lime_on_token_ids_is_seeded_per_sample_and_finds_the_keywords() -> None:
    model, ids, keywords, mask = text_model()
    ids, keywords, mask = ids[:12], keywords[:12], mask[:12]
    options = {"model_kwargs": {"attention_mask": mask}, "num_samples": 400, "seed": 2}
    expl = xai.explain(model, ids, method="lime", **options)
    alone = xai.explain(
        model, ids[5:6], method="lime", **{**options, "model_kwargs": {"attention_mask": mask[5:6]}}
    )
    torch.testing.assert_close(alone.attributions[0], expl.attributions[5], rtol=0, atol=1e-6)
    hits = keywords.gather(1, expl.attributions.argmax(1)[:, None]).float().mean()
    assert float(hits) >= 0.9


def test_lime_fast_sampler_draws_lime_texts_neighbourhood() -> None:
    """The default sampler: removed-set sizes uniform on 1..d, each set uniform among those of
    its size (so every word is removed with probability (d + 1) / (2 d)); and its weights
    estimate the same surrogate as lime's own draws (correlation over the tokens)."""
    from xai.explainers.lime.text import _fast_draws

    data = _fast_draws(0, 8, 40001)
    assert bool((data[0] == 1).all())
    removed = (data[1:] == 0).sum(axis=1)
    counts = np.bincount(removed, minlength=9)[1:] / len(removed)
    np.testing.assert_allclose(counts, np.full(8, 1 / 8), atol=0.006)
    np.testing.assert_allclose((data[1:] == 0).mean(axis=0), np.full(8, 9 / 16), atol=0.008)
    model, ids, _, mask = text_model()
    options = {"model_kwargs": {"attention_mask": mask[:4]}, "num_samples": 3000, "seed": 1}
    fast = xai.explain(model, ids[:4], method="lime", **options)
    lime = xai.explain(model, ids[:4], method="lime", sampler="lime", **options)
    assert fast.params["sampler"] == "fast"
    for j in range(4):
        on = mask[j].bool()
        pair = torch.stack([fast.attributions[j][on], lime.attributions[j][on]]).double()
        assert float(torch.corrcoef(pair)[0, 1]) > 0.95


def test_lime_options_that_do_not_apply_to_token_ids_are_named() -> None:
    model, ids, _, _ = text_model()
    for option, value in (("background", torch.zeros(1, 24)), ("hide_color", 1.0)):
        with pytest.raises(ValueError, match=rf"{option}: not used by LIME on token ids"):
            xai.explain(model, ids[:2], method="lime", num_samples=20, **{option: value})
    with pytest.raises(ValueError, match=r"sampler"):
        xai.explain(model, ids[:2], method="lime", num_samples=20, sampler="quick")


# ----------------------------------------------------------------------------- Kernel SHAP
def exact_token_shapley(
    model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, klass: int, mask_token: int
) -> torch.Tensor:
    """Shapley values of the real tokens of one sentence by enumerating every coalition (a
    switched-off token is ``mask_token``)."""
    real = torch.nonzero(mask).flatten().tolist()
    m = len(real)
    values = torch.zeros(ids.shape[0], dtype=torch.float64)

    def f(on: tuple[int, ...]) -> float:
        row = ids.clone()
        for p in real:
            if p not in on:
                row[p] = mask_token
        return float(scores_of(model, row[None], mask[None])[0, klass])

    cache = {s: f(s) for r in range(m + 1) for s in itertools.combinations(real, r)}
    for p in real:
        others = [q for q in real if q != p]
        for r in range(m):
            weight = math.factorial(r) * math.factorial(m - r - 1) / math.factorial(m)
            for s in itertools.combinations(others, r):
                with_p = tuple(sorted((*s, p)))
                values[p] += weight * (cache[with_p] - cache[s])
    return values


def test_kernel_shap_on_token_ids_equals_exact_shapley_values_and_shap() -> None:
    """Sentences cut to 7 real tokens: every coalition is enumerated, so xai, shap's
    KernelExplainer (on the real tokens, background = the [MASK] row) and the exact Shapley
    values agree."""
    import shap

    model, ids, _, mask = text_model()
    ids, mask = ids[:3].clone(), mask[:3].clone()
    mask[:, 7:] = 0
    expl = xai.explain(
        model, ids, method="shap", algorithm="kernel", model_kwargs={"attention_mask": mask}, seed=0
    )
    assert expl.params["mask_token"] == 1 and expl.attributions.dtype == torch.float32
    for j in range(3):
        klass = int(expl.target[j])
        exact = exact_token_shapley(model, ids[j], mask[j], klass, 1)
        torch.testing.assert_close(expl.attributions[j].double(), exact, rtol=1e-4, atol=1e-5)

        def predict(rows: np.ndarray, j: int = j, klass: int = klass) -> np.ndarray:
            full = ids[j].repeat(len(rows), 1)
            full[:, :7] = torch.from_numpy(rows).long()
            return scores_of(model, full, mask[j].repeat(len(rows), 1))[:, klass].numpy()

        explainer = shap.KernelExplainer(predict, np.ones((1, 7)))
        theirs = explainer.shap_values(ids[j, :7].double().numpy()[None], silent=True, l1_reg=False)
        torch.testing.assert_close(
            expl.attributions[j, :7].double(),
            torch.from_numpy(np.asarray(theirs)[0]),
            rtol=1e-4,
            atol=1e-5,
        )
    assert bool((expl.attributions[~mask.bool()] == 0).all())


def test_kernel_shap_over_tokens_is_efficient_and_points_at_keywords() -> None:
    model, ids, keywords, mask = text_model()
    ids, keywords, mask = ids[:16], keywords[:16], mask[:16]
    expl = xai.explain(
        model, ids, method="shap", algorithm="kernel", model_kwargs={"attention_mask": mask}, seed=1
    )
    f_x = scores_of(model, ids, mask).gather(1, expl.target[:, None]).squeeze(1)
    masked = torch.where(mask.bool(), 1, ids)
    f_null = scores_of(model, masked, mask).gather(1, expl.target[:, None]).squeeze(1)
    # efficiency: the values of each sentence sum to f(x) - f([MASK] row), to 1e-5 relative
    gap = (expl.attributions.double().sum(1) - (f_x - f_null)).abs()
    assert bool((gap <= 1e-5 * (f_x - f_null).abs().clamp_min(1.0)).all()), gap.max()
    torch.testing.assert_close(expl.extras["expected_value"].double(), f_null, rtol=1e-5, atol=1e-6)
    hits = keywords.gather(1, expl.attributions.argmax(1)[:, None]).float().mean()
    assert float(hits) >= 0.9


def test_kernel_shap_on_token_ids_refuses_a_background() -> None:
    model, ids, _, _ = text_model()
    with pytest.raises(ValueError, match=r"background: for token ids .* pass mask_token="):
        xai.explain(model, ids[:2], method="shap", algorithm="kernel", background=ids[:1])


@pytest.mark.parametrize("method", ["lime", "shap"])
def test_perturbation_methods_on_bert_leave_masked_positions_at_zero(method: str) -> None:
    model, (ids, mask) = bert(), bert_batch()
    options = {"num_samples": 200} if method == "lime" else {"algorithm": "kernel"}
    expl = xai.explain(
        model,
        ids,
        method=method,
        model_kwargs={"attention_mask": mask},
        mask_token=3,
        seed=0,
        **options,
    )
    assert expl.attributions.shape == ids.shape and expl.params["mask_token"] == 3
    assert bool((expl.attributions[~mask.bool()] == 0).all())
    assert bool((expl.attributions[mask.bool()] != 0).any())
    if method == "shap":  # efficiency on BERT too
        f_x = scores_of(model, ids, mask).gather(1, expl.target[:, None]).squeeze(1)
        off = torch.where(mask.bool(), 3, ids)
        f_null = scores_of(model, off, mask).gather(1, expl.target[:, None]).squeeze(1)
        torch.testing.assert_close(
            expl.attributions.double().sum(1), f_x - f_null, rtol=1e-5, atol=1e-6
        )


# -------------------------------------------------------------------------------- Grad-CAM
def test_gradcam_on_token_ids_equals_captum_layer_gradcam_at_the_1d_convolution() -> None:
    from captum.attr import LayerAttribution, LayerGradCam

    model, ids, _, mask = text_model()
    ids, mask = ids[:8], mask[:8]
    expl = xai.explain(model, ids, method="gradcam", model_kwargs={"attention_mask": mask})
    assert expl.params["layer"] == "conv" and expl.attributions.shape == ids.shape
    layer = LayerGradCam(lambda x, m: model(x, attention_mask=m), model.conv)
    theirs = layer.attribute(
        ids, target=expl.target, additional_forward_args=(mask,), relu_attributions=True
    )
    theirs = LayerAttribution.interpolate(theirs, (24,), interpolate_mode="linear")[:, 0]
    theirs = torch.where(mask.bool(), theirs, 0.0).detach()
    torch.testing.assert_close(expl.attributions, theirs, rtol=1e-5, atol=1e-6)


def test_gradcam_on_token_ids_names_a_layer_that_is_not_a_1d_convolution() -> None:
    model, ids, _, _ = text_model()
    with pytest.raises(ValueError, match=r"layer: 'embedding' is a Embedding; .*nn.Conv1d"):
        xai.explain(model, ids[:2], method="gradcam", layer="embedding")


def test_embeddings_given_to_lime_point_to_the_token_ids() -> None:
    """The issue's first failure: an (N, L, D) embedding batch was met with a hint about a
    missing batch dimension only; the error now also says to pass the token ids."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(8 * 4, 2))
    with pytest.raises(ValueError, match=r"embeddings \(N, L, D\) of token ids, pass the token"):
        xai.explain(model, torch.randn(2, 8, 4), method="lime")
