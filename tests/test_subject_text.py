"""xai.suite.subject with the text model: its subject carries the keyword masks, the attention
masks (passed to every model call) and the vocabulary; methods that do not apply say why."""

from __future__ import annotations

import pytest
import torch

import reference_models
import xai
from reference_models.datasets import decode_tokens
from xai.explainers.parameters import applicable_methods
from xai.suite.subject import method_applicability, reference_subject

NAME = "keywords_text_cnn"


@pytest.fixture(scope="module")
def subject():
    return reference_subject(NAME)


def test_the_text_subject_carries_masks_attention_and_vocabulary(subject) -> None:
    ids, labels, keywords, attention = reference_models.load(NAME).data["test"].tensors
    assert subject.is_text and not subject.is_image
    assert torch.equal(subject.inputs, ids) and torch.equal(subject.labels, labels)
    assert torch.equal(subject.masks, keywords)  # the ground truth of localization
    assert set(subject.model_kwargs) == {"attention_mask"}
    assert torch.equal(subject.forward_kwargs([3, 7])["attention_mask"], attention[[3, 7]])
    assert subject.tokens(slice(0, 2)) == decode_tokens(ids[:2])
    assert subject.vocabulary[:3] == ["[PAD]", "[MASK]", "[UNK]"]
    # the scores are the model's with the masks; the accuracy the shipped one
    torch.testing.assert_close(
        subject.outputs(slice(0, 5)),
        subject.model(ids[:5], attention_mask=attention[:5]).detach(),
    )
    shipped = reference_models.load(NAME).info.metrics["test"]["accuracy"]
    assert subject.evaluate().accuracy == pytest.approx(shipped)
    val = reference_subject(NAME, split="val")
    assert len(val.inputs) == 1000 and not torch.equal(val.inputs, ids)
    with pytest.raises(ValueError, match=r"split: expected one of train, val, test, got 'dev'"):
        reference_subject(NAME, split="dev")


def test_other_subjects_have_no_tokens_or_forward_arguments() -> None:
    digits = reference_subject("digits_cnn")
    assert not digits.is_text and digits.model_kwargs == {} and digits.forward_kwargs([0]) == {}
    assert digits.tokens([0]) is None and digits.vocabulary is None
    assert digits.evaluate().accuracy == pytest.approx(
        xai.evaluate(digits.model, (digits.inputs, digits.labels)).accuracy
    )


def test_method_applicability_says_why_a_method_does_not_apply(subject) -> None:
    # the reference text model has a 1-D convolution: Grad-CAM explains its token ids there
    reasons = method_applicability(subject.inputs[:1], subject.model)
    explained = [m for m, why in reasons.items() if not why]
    assert explained == applicable_methods(subject.inputs[:1], model=subject.model)
    assert {"gradcam", "integrated_gradients", "lime", "occlusion", "shap", "smoothgrad"} <= set(
        explained
    )
    # without the model (or for a model without one), Grad-CAM does not apply, and says so
    reasons = method_applicability(subject.inputs[:1])
    assert reasons["gradcam"] == "does not explain the token ids of this model"
    images = method_applicability(reference_subject("shapes_cnn").inputs[:1])
    assert not any(images.values())  # every method explains images


def test_a_users_text_model_keeps_token_ids_masks_and_vocabulary(tmp_path, monkeypatch) -> None:
    """An own Hugging Face text model through module:factory: integer x stays token ids, the
    attention mask becomes the forward arguments, the vocabulary gives the tokens; explained
    with the masks, padding is exactly 0."""
    import numpy as np
    from safetensors.torch import save_file

    from xai.suite.subject import user_subject

    pytest.importorskip("transformers")
    (tmp_path / "my_text_model.py").write_text(
        "import torch, transformers\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,"
        " num_attention_heads=2, intermediate_size=32, max_position_embeddings=32, num_labels=2,"
        " pad_token_id=0)\n"
        "    return transformers.BertForSequenceClassification(config).eval()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_text_model

    model = my_text_model.build()
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "w.safetensors"
    )
    ids = torch.randint(3, 50, (4, 10), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(4, 10, dtype=torch.long)
    ids[0, 6:], mask[0, 6:] = 0, 0
    vocabulary = np.array([f"w{i}" for i in range(50)])
    np.savez(
        tmp_path / "data.npz", x=ids.numpy(), y=np.array([0, 1, 0, 1]),
        attention_mask=mask.numpy(), vocabulary=vocabulary,
    )  # fmt: skip
    subject = user_subject("my_text_model:build", tmp_path / "w.safetensors", tmp_path / "data.npz")
    assert subject.is_text and subject.inputs.dtype == torch.long
    assert torch.equal(subject.model_kwargs["attention_mask"], mask)
    assert subject.tokens([0])[0][:2] == [f"w{int(ids[0, 0])}", f"w{int(ids[0, 1])}"]
    assert subject.info["task"] == "text-classification"
    with torch.no_grad():
        expected = model(ids, attention_mask=mask).logits
    torch.testing.assert_close(subject.outputs(), expected)
    expl = xai.explain(subject.model, subject.inputs, model_kwargs=subject.forward_kwargs(None))
    assert bool((expl.attributions[0, 6:] == 0).all()) and bool(
        expl.attributions[0, :6].ne(0).any()
    )
