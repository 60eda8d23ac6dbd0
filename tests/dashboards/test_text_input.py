"""The dashboard's text pieces without Streamlit: typed sentences become the ids the model's own
tokenizer makes (unknown and cut words told apart), a user's token-id ``.npz`` loads with its
attention mask and vocabulary (and is refused with a message naming what is wrong), scores
are read from Hugging Face outputs, and typed text is escaped for Markdown."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import reference_models
import xai
from dashboards import downloads, text_input
from dashboards.single_input import read_image, read_row, spec_for
from dashboards.text_input import TextSubject, encode, markdown_escaped
from reference_models.datasets import TEXT_VOCABULARY, decode_tokens, encode_text
from tests.dashboards.conftest import HF_VOCABULARY
from xai.errors import InputError
from xai.suite.subject import Subject


@pytest.fixture(scope="module")
def keywords() -> TextSubject:
    return text_input.reference_text_subject("keywords_text_cnn")


def test_the_reference_text_subject_carries_what_the_pages_need(keywords: TextSubject) -> None:
    ref = reference_models.load("keywords_text_cnn")
    ids, labels, keyword_mask, attention_mask = ref.data["test"].tensors
    assert keywords.is_text and keywords.length == 24
    assert torch.equal(keywords.inputs, ids) and torch.equal(keywords.labels, labels)
    assert torch.equal(keywords.masks, keyword_mask)  # the localization ground truth
    assert torch.equal(keywords.attention_mask, attention_mask)
    assert keywords.vocabulary == list(TEXT_VOCABULARY)
    assert (keywords.pad_token_id, keywords.unk_token_id) == (0, 2)
    assert keywords.keywords is not None and keywords.keywords["food"][0] == "pizza"
    assert keywords.prefix == keywords.suffix == ()
    row = int(attention_mask[0].sum())
    assert text_input.sentence(keywords, 0).split() == decode_tokens(ids[:1])[0][:row]


def test_a_typed_sentence_is_what_the_models_tokenizer_makes(keywords: TextSubject) -> None:
    typed = "We LOVED the pizza, in zanzibar! ... <script>alert(1)</script> [UNK]"
    encoded = encode(keywords, typed)
    ids, mask = encode_text(typed, 24)
    assert torch.equal(encoded.ids, ids) and torch.equal(encoded.attention_mask, mask)
    assert encoded.unknown == ("zanzibar!", "<script>alert(1)</script>")  # not "[UNK]" itself
    assert encoded.cut == () and encoded.n_tokens == 8  # "..." is no token
    long = encode(keywords, "goal " + "the " * 30 + "extra")
    assert long.n_tokens == 24 and long.cut == ("the",) * 7 + ("extra",)
    assert decode_tokens(long.ids)[0][:2] == ["goal", "the"]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "text: expected a sentence of at least one word, got ''."),
        ("!!! ...", "text: expected a sentence of at least one word, got '!!! ...' (punctuation"),
        ("x" * 10_001, "text: the sentence has 10,001 characters, more than the 10,000 read"),
    ],
)
def test_sentences_without_words_are_refused(
    keywords: TextSubject, typed: str, message: str
) -> None:
    with pytest.raises(InputError, match="^" + re.escape(message)):
        encode(keywords, typed)


def _user_subject(vocabulary: list[str] | None, **fields: Any) -> TextSubject:
    ids = torch.tensor([[2, 6, 7, 3, 0, 0], [2, 8, 3, 0, 0, 0]])
    base = Subject(
        name="mine:build",
        model=torch.nn.Identity(),
        inputs=ids,
        labels=torch.tensor([0, 1]),
        model_kwargs={"attention_mask": (ids != 0).long()},
        vocabulary=vocabulary,
    )
    return text_input.as_text_subject(base, **fields)


def test_a_users_vocabulary_splits_on_spaces_between_cls_and_sep() -> None:
    subject = _user_subject(HF_VOCABULARY)
    assert (subject.prefix, subject.suffix) == ((2,), (3,))  # every test row's [CLS] / [SEP]
    assert (subject.pad_token_id, subject.unk_token_id) == (0, 1)
    encoded = encode(subject, "Alpha <b>bold</b> zzz, beta")
    assert encoded.ids.tolist() == [[2, 6, 5, 1, 7, 3]]
    assert encoded.attention_mask.tolist() == [[1] * 6]
    assert encoded.unknown == ("zzz,",) and encoded.cut == ()
    cut = encode(subject, "alpha beta gamma delta river")  # room for 4 words between them
    assert cut.ids.tolist() == [[2, 6, 7, 8, 9, 3]] and cut.cut == ("river",)
    assert text_input.token_strings(subject, cut.ids) == [
        ["[CLS]", "alpha", "beta", "gamma", "delta", "[SEP]"]
    ]
    assert text_input.sentence(subject, 0) == "alpha beta"  # without [CLS] and [SEP]


def test_without_a_vocabulary_or_an_unknown_token_typing_is_refused() -> None:
    no_vocabulary = _user_subject(None)
    assert text_input.token_strings(no_vocabulary, torch.tensor([[2, 6]])) == [["2", "6"]]
    with pytest.raises(InputError, match=r"^text: mine:build came without a vocabulary"):
        encode(no_vocabulary, "alpha")
    no_unknown = _user_subject([w for w in HF_VOCABULARY if w != "[UNK]"] + ["spare"])
    assert no_unknown.unk_token_id is None
    with pytest.raises(InputError, match="not in the vocabulary of mine:build, which has no"):
        encode(no_unknown, "alpha zzz")


def test_markdown_in_typed_words_is_escaped() -> None:
    escaped = markdown_escaped("<script>alert(1)</script> ![x](http://a.b) :red[hi] $x$")
    assert escaped == (r"\<script\>alert\(1\)\</script\> \!\[x\]\(http\://a\.b\) \:red\[hi\] \$x\$")
    assert text_input.listed_words(["a*", "b"] + ["c"] * 12) == r"'a\*', 'b', 'c', 'c', " + (
        "'c', " * 7 + "'c' and 2 more"
    )


def test_scores_are_read_from_hugging_face_outputs(hf_text_model: dict[str, Any]) -> None:
    model, ids, mask = hf_text_model["model"], hf_text_model["ids"], hf_text_model["attention_mask"]
    with torch.no_grad():
        expected = model(ids, attention_mask=mask).logits
    scores = text_input.model_scores(model, ids, mask, batch_size=5)
    assert torch.allclose(scores, expected, atol=1e-6)


def test_a_users_token_id_data_loads(hf_text_model: dict[str, Any]) -> None:
    data, weights = hf_text_model["data"], hf_text_model["weights"]
    assert text_input.is_token_data(data) and text_input.is_token_data(data.read_bytes())
    subject = text_input.user_text_subject("hfmodel:build", weights, data.read_bytes())
    assert torch.equal(subject.inputs, hf_text_model["ids"]) and subject.inputs.dtype == torch.long
    assert torch.equal(subject.attention_mask, hf_text_model["attention_mask"])
    assert subject.vocabulary == HF_VOCABULARY and subject.class_names == ["negative", "positive"]
    assert (subject.prefix, subject.suffix, subject.unk_token_id) == ((2,), (3,), 1)
    assert subject.info["task"] == "text-classification" and subject.num_classes == 2
    bare = text_input.user_text_subject(
        "hfmodel:build", weights, hf_text_model["data_without_vocabulary"]
    )
    assert bare.vocabulary is None and bare.prefix == ()


def _npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attention_mask": np.ones((16, 5))}, "data: 'attention_mask' must have the shape of"),
        ({"attention_mask": np.full((16, 12), 2)}, "data: 'attention_mask' must hold 0 and 1"),
        ({"vocabulary": np.array(["a", "b"])}, "data: 'x' holds token id"),
        ({"vocabulary": np.arange(50)}, "data: 'vocabulary' must be a 1-D string array"),
        ({"masks": np.ones((16, 3), bool)}, "data: 'masks' of token ids mark the tokens"),
        ({"class_names": np.array(["a", "b", "c"])}, "data: 'class_names' has 3 names"),
    ],
)
def test_bad_token_id_data_is_refused_with_the_reason(
    hf_text_model: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    arrays = {
        "x": hf_text_model["ids"].numpy(),
        "y": hf_text_model["labels"].numpy(),
        "attention_mask": hf_text_model["attention_mask"].numpy(),
        **change,
    }
    with pytest.raises(InputError) as error:
        text_input.user_text_subject("hfmodel:build", hf_text_model["weights"], _npz(**arrays))
    assert str(error.value).startswith(message), str(error.value)


def test_ids_the_model_cannot_take_are_refused(hf_text_model: dict[str, Any]) -> None:
    ids = hf_text_model["ids"].numpy().copy()
    ids[0, 0] = 99  # beyond BERT's 50 embeddings
    with pytest.raises(InputError) as error:
        text_input.user_text_subject(
            "hfmodel:build", hf_text_model["weights"], _npz(x=ids, y=np.zeros(16, int))
        )
    assert str(error.value).startswith(
        "data: the model of hfmodel:build cannot run on the token ids 'x' of shape (16, 12)"
    )
    assert not text_input.is_token_data(_npz(x=np.zeros((3, 4), np.float32), y=np.zeros(3)))
    assert not text_input.is_token_data(b"not an npz")


def test_an_image_or_a_row_cannot_be_a_text_models_input(keywords: TextSubject) -> None:
    spec = spec_for("keywords_text_cnn", keywords.inputs, None, {})
    assert spec.token_ids and not spec.is_image and spec.feature_names == ()
    with pytest.raises(InputError, match=r"^row: keywords_text_cnn is a text model: it takes"):
        read_row(b"x0\n1\n", spec)
    with pytest.raises(InputError, match=r"^image: keywords_text_cnn is a text model"):
        read_image(b"\x89PNG\r\n\x1a\n", spec)


def test_token_attributions_download_per_position(keywords: TextSubject, tmp_path: Path) -> None:
    ids = keywords.inputs[:1]
    kwargs = keywords.forward_kwargs(slice(0, 1))
    tokens = text_input.token_strings(keywords, ids)
    single = xai.explain(keywords.model, ids, model_kwargs=kwargs, tokens=tokens)
    every = xai.explain(
        keywords.model,
        ids.expand(3, -1),
        target=torch.arange(3),
        model_kwargs={"attention_mask": kwargs["attention_mask"].expand(3, -1)},
        tokens=tokens * 3,
    )
    frame = downloads.attributions_frame({"integrated_gradients": single})
    assert list(frame.columns) == ["position", "token", "id", "attention", "integrated_gradients"]
    assert list(frame["token"]) == tokens[0] and list(frame["id"]) == ids[0].tolist()
    assert frame["integrated_gradients"].tolist() == pytest.approx(single.attributions[0].tolist())
    names = ["sports", "food", "music"]
    frame = downloads.attributions_frame({"ig": every}, class_names=names)
    assert [c for c in frame.columns if c.startswith("ig")] == [f"ig ({n})" for n in names]
    assert frame["ig (music)"].tolist() == pytest.approx(every.attributions[2].tolist())
    from safetensors.torch import load

    saved = load(downloads.attributions_safetensors({"ig": single}, {"model": "m"}))
    assert saved["inputs"].dtype == torch.int64 and torch.equal(saved["inputs"], ids)
