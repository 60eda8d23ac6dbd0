"""keywords_text_cnn: the generated keyword sentences follow their rule, the shipped text model
reads the keywords (and nothing where the attention mask is 0), and load() returns its data."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import reference_models
import xai
from reference_models.architectures import TextCNN, build
from reference_models.datasets import (
    MASK_TOKEN_ID,
    PAD_TOKEN_ID,
    TEXT_CLASSES,
    TEXT_KEYWORDS,
    TEXT_VOCABULARY,
    UNK_TOKEN_ID,
    decode_tokens,
    encode_text,
    make_keyword_text,
)

NAME = "keywords_text_cnn"
KEYWORD_IDS = {c: {TEXT_VOCABULARY.index(w) for w in TEXT_KEYWORDS[c]} for c in TEXT_CLASSES}


@pytest.fixture(scope="module")
def ref() -> reference_models.ReferenceModel:
    return reference_models.load(NAME)


def test_generator_is_deterministic() -> None:
    a = make_keyword_text(64, seed=3)
    b = make_keyword_text(64, seed=3)
    c = make_keyword_text(64, seed=4)
    for left, right in zip(a, b, strict=True):
        assert torch.equal(left, right)
    assert not torch.equal(a[0], c[0])


def test_generated_sentences_follow_the_rule() -> None:
    ids, labels, keyword_mask, attention_mask = make_keyword_text(500, seed=0)
    assert ids.shape == keyword_mask.shape == attention_mask.shape == (500, 24)
    assert ids.dtype == labels.dtype == attention_mask.dtype == torch.long
    assert keyword_mask.dtype == torch.bool
    # right padding: real tokens first, then [PAD] only, and the attention mask says which
    assert torch.equal(attention_mask, (ids != PAD_TOKEN_ID).long())
    assert bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all())
    lengths = attention_mask.sum(1)
    assert int(lengths.min()) == 5 and int(lengths.max()) == 24
    every_keyword = torch.tensor(sorted(set().union(*KEYWORD_IDS.values())))
    # the masks mark exactly the keyword positions, and only real positions
    assert torch.equal(keyword_mask, torch.isin(ids, every_keyword))
    assert not bool((keyword_mask & (attention_mask == 0)).any())
    counts = keyword_mask.sum(1)
    assert set(counts.tolist()) == {1, 2, 3}
    # the label is the class of the keywords present; no other class's keyword appears
    for row, label in zip(ids.tolist(), labels.tolist(), strict=True):
        present = {c for c, words in enumerate(KEYWORD_IDS.values()) if words & set(row)}
        assert present == {label}
    assert set(labels.tolist()) == {0, 1, 2}
    # [MASK] and [UNK] appear among the distractors (the model learns they are neutral)
    assert bool((ids == MASK_TOKEN_ID).any()) and bool((ids == UNK_TOKEN_ID).any())
    assert not bool(keyword_mask[(ids == MASK_TOKEN_ID) | (ids == UNK_TOKEN_ID)].any())


def test_generator_rejects_impossible_lengths() -> None:
    with pytest.raises(ValueError, match="max_keywords <= min_length"):
        make_keyword_text(4, seed=0, min_length=2, max_keywords=3)


def test_encode_and_decode() -> None:
    ids, mask = encode_text(["We loved the PIZZA!", "zebra [MASK] song"], max_length=6)
    tokens = decode_tokens(ids)
    assert tokens[0] == ["we", "loved", "the", "pizza", "[PAD]", "[PAD]"]
    assert tokens[1][:3] == ["[UNK]", "[MASK]", "song"]
    assert mask.tolist()[1] == [1, 1, 1, 0, 0, 0]
    long_ids, long_mask = encode_text(" ".join(["day"] * 30))
    assert long_ids.shape == (1, 24) and int(long_mask.sum()) == 24


def test_load_structure(ref: reference_models.ReferenceModel) -> None:
    assert isinstance(ref.model, TextCNN) and not ref.model.training
    assert ref.info.task == "text-classification"
    assert ref.info.class_names == list(TEXT_CLASSES) == ["sports", "food", "music"]
    assert ref.info.vocabulary == list(TEXT_VOCABULARY)
    assert ref.info.input_shape == (24,) and ref.info.feature_names is None
    assert ref.info.extras["pad_token_id"] == PAD_TOKEN_ID == 0
    assert ref.info.extras["mask_token_id"] == MASK_TOKEN_ID == 1
    assert ref.info.extras["unk_token_id"] == UNK_TOKEN_ID == 2
    assert ref.info.extras["max_length"] == 24
    assert ref.info.extras["keywords"]["food"] == list(TEXT_KEYWORDS["food"])
    assert ref.info.vocabulary[ref.info.extras["pad_token_id"]] == "[PAD]"
    assert ref.info.vocabulary[ref.info.extras["mask_token_id"]] == "[MASK]"
    sizes = {split: len(data) for split, data in ref.data.items()}
    assert sizes == {"train": 4000, "val": 1000, "test": 1000}
    for split in ref.data.values():
        assert isinstance(split, TensorDataset)
        ids, labels, keyword_mask, attention_mask = split.tensors
        assert ids.dtype == torch.long and ids.shape == (len(labels), 24)
        assert keyword_mask.dtype == torch.bool and keyword_mask.shape == ids.shape
        assert attention_mask.dtype == torch.long and attention_mask.shape == ids.shape
        assert int(ids.max()) < len(TEXT_VOCABULARY)
    # the Hugging Face conventions the explainers read
    config = ref.model.config
    assert (config.pad_token_id, config.mask_token_id) == (0, 1)
    assert config.vocab_size == len(TEXT_VOCABULARY)
    embedding = ref.model.get_input_embeddings()
    assert isinstance(embedding, nn.Embedding) and embedding.padding_idx == 0
    assert bool((embedding.weight[0] == 0).all())
    assert sum(p.numel() for p in ref.model.parameters()) == 8803
    # the splits are generated from different seeds: no shared sentences in test and train
    train_rows = {tuple(r) for r in ref.data["train"].tensors[0].tolist()}
    test_rows = [tuple(r) for r in ref.data["test"].tensors[0].tolist()]
    assert sum(r in train_rows for r in test_rows) <= 2


def test_shipped_model_accuracy_with_attention_mask(ref: reference_models.ReferenceModel) -> None:
    ids, labels, _, attention_mask = ref.data["test"].tensors
    with torch.no_grad():
        with_mask = ref.model(ids, attention_mask=attention_mask)
        default = ref.model(ids)
    assert float((with_mask.argmax(1) == labels).float().mean()) >= 0.95
    # without a mask, the model uses input_ids != pad: the same as the data's mask
    torch.testing.assert_close(default, with_mask, rtol=0, atol=0)
    assert ref.info.metrics["test"]["accuracy"] >= 0.95


def test_masked_positions_do_not_change_the_logits(ref: reference_models.ReferenceModel) -> None:
    ids, _, _, attention_mask = ref.data["test"][:200]
    generator = torch.Generator().manual_seed(0)
    scrambled = ids.clone()
    off = attention_mask == 0
    scrambled[off] = torch.randint(0, len(TEXT_VOCABULARY), (int(off.sum()),), generator=generator)
    # also hide real positions (keywords among them) behind a 0 in the mask
    hidden = attention_mask.clone()
    hidden[:, 2:4] = 0
    scrambled_hidden = ids.clone()
    scrambled_hidden[:, 2:4] = torch.randint(0, len(TEXT_VOCABULARY), (200, 2), generator=generator)
    with torch.no_grad():
        torch.testing.assert_close(
            ref.model(scrambled, attention_mask), ref.model(ids, attention_mask), rtol=0, atol=0
        )
        torch.testing.assert_close(
            ref.model(scrambled_hidden, hidden), ref.model(ids, hidden), rtol=0, atol=0
        )
        # a bool mask and a float mask mean the same
        torch.testing.assert_close(
            ref.model(ids, attention_mask.bool()), ref.model(ids, attention_mask.float())
        )
    with pytest.raises(ValueError, match="attention_mask: expected the shape of input_ids"):
        ref.model(ids, attention_mask[:, :10])


def test_the_keywords_carry_the_evidence(ref: reference_models.ReferenceModel) -> None:
    """Switching the keywords off ([MASK]) takes the evidence away; switching as many
    distractors off does not: the ground-truth masks are where the class is decided."""
    ids, labels, keyword_mask, attention_mask = ref.data["test"].tensors
    no_keywords = ids.masked_fill(keyword_mask, MASK_TOKEN_ID)
    # as many distractors off per row as it has keywords: the first ones
    distractor = (~keyword_mask) & (attention_mask == 1)
    order = distractor.long().cumsum(1)
    off = distractor & (order <= keyword_mask.sum(1, keepdim=True))
    no_distractors = ids.masked_fill(off, MASK_TOKEN_ID)
    with torch.no_grad():

        def true_probability(x: torch.Tensor) -> torch.Tensor:
            probabilities = ref.model(x, attention_mask).softmax(1)
            return probabilities.gather(1, labels[:, None]).squeeze(1)

        full = true_probability(ids)
        assert float(true_probability(no_distractors).mean()) >= float(full.mean()) - 0.02
        assert float(true_probability(no_keywords).mean()) <= 0.5 * float(full.mean())
        kept = ref.model(no_distractors, attention_mask).argmax(1)
    assert float((kept == labels).float().mean()) >= 0.95


def test_fit_trains_the_text_model_smoke() -> None:
    """A few steps of xai.fit on token ids (the recipe's path, cut short)."""
    ids, labels, keyword_mask, attention_mask = make_keyword_text(256, seed=7)
    torch.manual_seed(0)
    model = build("text_cnn", reference_models.get_recipe(NAME).config)
    data = TensorDataset(ids, labels, keyword_mask, attention_mask)
    history = xai.fit(
        model, data, data, epochs=2, batch_size=64, device="cpu", seed=0, progress=False
    )
    assert len(history) == 2
    assert history.records[-1]["train_loss"] < history.records[0]["train_loss"]
    assert not model.training
