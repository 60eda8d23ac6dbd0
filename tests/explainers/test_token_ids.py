"""Token ids ``(N, L)``: gradient methods attribute at the embedding (issue 16, first part).

- IG on a tiny-config BERT equals captum's ``LayerIntegratedGradients`` on the word
  embeddings, summed over the embedding dimension (1e-5 relative), with completeness on the
  embedding path; attention-masked positions get exactly 0.
- On the reference text model (keywords decide the class), IG points at a keyword.
- Methods that do not explain token ids yet say so and name those that do.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from captum.attr import LayerIntegratedGradients
from torch import nn

import reference_models
import xai

transformers = pytest.importorskip("transformers")


def bert() -> nn.Module:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=2,
        pad_token_id=0,
    )
    return transformers.BertForSequenceClassification(config).eval()


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(3, 50, (3, 8), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(3, 8, dtype=torch.long)
    mask[0, 5:] = 0
    ids[0, 5:] = 0  # padding
    ids[1, 7] = 9  # a token the mask switches off, not a pad
    mask[1, 7] = 0
    return ids, mask


def test_integrated_gradients_on_bert_equals_captum_layer_ig() -> None:
    model, (ids, mask) = bert(), batch()
    expl = xai.explain(
        model, ids, method="integrated_gradients", model_kwargs={"attention_mask": mask}
    )
    assert expl.attributions.shape == ids.shape and expl.attributions.is_floating_point()
    assert expl.params["embedding"] == "bert.embeddings.word_embeddings"
    assert expl.params["baseline_token"] == 0  # the config's pad token
    baselines = torch.where(mask.bool(), torch.zeros_like(ids), ids)
    captum = LayerIntegratedGradients(
        lambda i, m: model(input_ids=i, attention_mask=m).logits,
        model.bert.embeddings.word_embeddings,
    ).attribute(
        ids, baselines=baselines, target=expl.target, additional_forward_args=(mask,), n_steps=50
    )
    expected = captum.sum(-1).detach()
    expected[mask == 0] = 0.0
    scale = expected.abs().max()
    assert float((expl.attributions - expected).abs().max() / scale) <= 1e-5
    assert torch.all(expl.attributions[mask == 0] == 0)
    # completeness on the embedding path
    assert float(expl.extras["convergence_delta"].abs().max()) < 1e-4 * float(scale) + 1e-6


@pytest.mark.parametrize("method", ["smoothgrad", "shap"])
def test_other_gradient_methods_on_token_ids(method: str) -> None:
    model, (ids, mask) = bert(), batch()
    expl = xai.explain(
        model, ids, method=method, model_kwargs={"attention_mask": mask}, seed=0, nsamples=20
    )
    assert expl.attributions.shape == ids.shape
    assert torch.all(expl.attributions[mask == 0] == 0)
    assert expl.attributions.abs().sum() > 0


def test_reference_text_model_points_at_keywords() -> None:
    ref = reference_models.load("keywords_text_cnn")
    ids, _labels, keywords, mask = (t[:64] for t in ref.data["test"].tensors)
    expl = xai.explain(
        ref.model, ids, method="integrated_gradients", model_kwargs={"attention_mask": mask}
    )
    top = expl.attributions.argmax(dim=1)
    pointing = keywords.gather(1, top[:, None]).float().mean()
    assert float(pointing) >= 0.9


def test_the_only_embedding_of_a_plain_model_is_found() -> None:
    class Plain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.tokens = nn.Embedding(20, 4)
            self.head = nn.Linear(4, 2)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.head(self.tokens(ids).mean(1))

    ids = torch.randint(1, 20, (2, 5), generator=torch.Generator().manual_seed(1))
    expl = xai.explain(Plain(), ids, method="integrated_gradients")
    assert expl.params["embedding"] == "tokens"
    model = Plain()
    scores = model(ids).detach().gather(1, expl.target[:, None]).squeeze(1)
    start = model(torch.zeros_like(ids)).detach().gather(1, expl.target[:, None]).squeeze(1)
    torch.testing.assert_close(expl.attributions.sum(1), scores - start, rtol=1e-4, atol=1e-5)


def test_bad_token_inputs_are_named() -> None:
    model, (ids, _mask) = bert(), batch()
    with pytest.raises(ValueError, match=r"inputs: token ids must lie in \[0, 50\)"):
        xai.explain(model, ids + 100, method="integrated_gradients")
    with pytest.raises(ValueError, match=r"inputs: integer inputs are token ids, expected shape"):
        xai.explain(model, ids[:, :, None], method="integrated_gradients")
    with pytest.raises(ValueError, match=r"embedding: the model has no submodule named 'emb'"):
        xai.explain(model, ids, method="integrated_gradients", embedding="emb")
    with pytest.raises(ValueError, match=r"baselines: for token ids .* baseline_token="):
        xai.explain(model, ids, method="integrated_gradients", baselines=0.0)
    with pytest.raises(TypeError, match=r"baseline_token: expected a token id"):
        xai.explain(model, ids, method="integrated_gradients", baseline_token=-1)


def test_gradcam_without_a_1d_convolution_says_which_methods_do() -> None:
    model, (ids, _) = bert(), batch()
    with pytest.raises(
        TypeError,
        match=r"inputs: expected a floating-point.*token ids.*1-D convolution.*"
        r"'integrated_gradients'.*'lime'",
    ):
        xai.explain(model, ids, method="gradcam")


def test_token_explanations_save_and_load(tmp_path: Path) -> None:
    model, (ids, mask) = bert(), batch()
    expl = xai.explain(
        model, ids, method="integrated_gradients", model_kwargs={"attention_mask": mask}
    )
    expl.save(tmp_path / "tokens")
    loaded = xai.Explanation.load(tmp_path / "tokens")
    assert torch.equal(loaded.inputs, ids)
    torch.testing.assert_close(loaded.attributions, expl.attributions)
    assert loaded.params["embedding"] == "bert.embeddings.word_embeddings"


def test_occlusion_replaces_tokens_by_the_mask_token() -> None:
    model, (ids, mask) = bert(), batch()
    expl = xai.explain(
        model, ids, method="occlusion", mask_token=1, model_kwargs={"attention_mask": mask}
    )
    assert expl.params["mask_token"] == 1 and expl.params["sliding_window_shapes"] == (1,)
    assert expl.attributions.shape == ids.shape and expl.attributions.is_floating_point()
    # one token at a time (window 1, stride 1): the drop of the target score
    with torch.no_grad():
        scores = model(input_ids=ids, attention_mask=mask).logits
        for j in range(ids.shape[1]):
            masked = ids.clone()
            masked[:, j] = torch.where(mask[:, j].bool(), 1, ids[:, j])
            after = model(input_ids=masked, attention_mask=mask).logits
            drop = (scores - after).gather(1, expl.target[:, None]).squeeze(1)
            drop[mask[:, j] == 0] = 0.0
            torch.testing.assert_close(expl.attributions[:, j], drop, rtol=1e-5, atol=1e-6)
    assert torch.all(expl.attributions[mask == 0] == 0)


def test_occlusion_finds_the_keywords_of_the_reference_text_model() -> None:
    ref = reference_models.load("keywords_text_cnn")
    ids, _labels, keywords, mask = (t[:64] for t in ref.data["test"].tensors)
    expl = xai.explain(ref.model, ids, method="occlusion", model_kwargs={"attention_mask": mask})
    assert expl.params["mask_token"] == 1  # the model config's mask token
    top = expl.attributions.argmax(dim=1)
    assert float(keywords.gather(1, top[:, None]).float().mean()) >= 0.9
