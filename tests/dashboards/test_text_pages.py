"""Text models in the dashboard, driven through AppTest: the reference text model on every page,
a typed sentence's prediction and highlighted tokens (checked against the library), unknown
and cut words reported, typed markup shown escaped, a method that does not apply showing the
library's message, and a user's Hugging Face model through module:factory."""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load

import reference_models
import xai
from reference_models.datasets import TEXT_CLASSES, TEXT_KEYWORDS, decode_tokens, encode_text
from tests.dashboards.conftest import HF_VOCABULARY, Download, new_app, open_page
from xai.evaluation.classification import evaluate_outputs
from xai.suite.subject import DATA_ENV, FACTORIES_ENV, MODEL_ENV, WEIGHTS_ENV

TEXT = "keywords_text_cnn"
TYPED = f"typed_text.{TEXT}"
_SPAN = re.compile(r'<span [^>]*title="([^"]*)">([^<]*)</span>')


@pytest.fixture(scope="module")
def keywords() -> reference_models.ReferenceModel:
    return reference_models.load(TEXT)


def _problems(app: Any) -> list[str]:
    return [e.value for e in app.error] + [e.value for e in app.exception]


def _snippets(app: Any) -> list[str]:
    """The HTML the page wrote (``st.html``), in order."""
    return [element.proto.body for element in app.get("html")]


def _tokens(snippet: str) -> list[tuple[str, float]]:
    """``(token, attribution)`` of each highlighted token of a snippet, in order (its title
    holds ``"token: +value"``)."""
    pairs = []
    for title, shown in _SPAN.findall(snippet):
        token, _, value = html.unescape(title).rpartition(": ")
        assert token == html.unescape(shown)
        pairs.append((token, float(value)))
    return pairs


def _explain(app: Any, methods: list[str], target: Any = None) -> Any:
    app.multiselect(key="methods").set_value(methods)
    if target is not None:
        app.selectbox(key="target_choice").set_value(target)
    app.get("form_submit_button")[0].click().run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def _type(app: Any, sentence: str, key: str = TYPED) -> Any:
    if app.radio(key="sample_selection").value != "dropped":
        app.radio(key="sample_selection").set_value("dropped").run()
    app.text_area(key=key).input(sentence).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def _buttons(app: Any) -> dict[str, Any]:
    return {button.key: button for button in app.get("download_button")}


# --- the reference text model -----------------------------------------------------------------


def test_the_text_model_is_offered_and_its_models_page_shows_the_metrics(
    keywords: reference_models.ReferenceModel,
) -> None:
    assert TEXT in reference_models.available()
    app = open_page("models", TEXT)
    assert TEXT in app.selectbox(key="model").options
    ids, labels, _, mask = keywords.data["test"].tensors
    with torch.no_grad():
        scores = keywords.model(ids, attention_mask=mask)
    report = evaluate_outputs(labels, scores, class_names=list(TEXT_CLASSES))
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Accuracy"] == f"{report.accuracy:.4f}"
    assert metrics["F1 (macro)"] == f"{report.f1:.4f}"
    assert list(app.dataframe[0].value["class"]) == list(TEXT_CLASSES)
    assert "token ids of length 24, a vocabulary of 75 tokens" in app.caption[0].value
    assert len(app.image) == 4 and not app.info  # its training history ships with it


def test_a_test_sentence_is_explained_token_by_token(
    keywords: reference_models.ReferenceModel,
) -> None:
    app = open_page("explain", TEXT)
    ids, _, _, mask = keywords.data["test"].tensors
    real = int(mask[0].sum())
    words = decode_tokens(ids[:1])[0][:real]
    assert app.text[0].value == " ".join(words)  # the sample, as plain text
    # preselected: the first two deterministic methods that take token ids
    assert app.multiselect(key="methods").value == ["integrated_gradients", "occlusion"]
    assert "gradcam" in app.multiselect(key="methods").options
    app = _explain(app, ["integrated_gradients", "occlusion"])
    assert not _problems(app)
    snippets = _snippets(app)
    assert len(snippets) == 2  # one highlighted sentence per method
    expected = xai.explain(keywords.model, ids[:1], model_kwargs={"attention_mask": mask[:1]})
    shown = _tokens(snippets[0])
    assert [token for token, _ in shown] == words  # in order, the padding left out
    assert [value for _, value in shown] == pytest.approx(
        expected.attributions[0, :real].tolist(), rel=1e-3, abs=1e-4
    )
    predicted = TEXT_CLASSES[int(expected.target[0])]
    assert f"target {predicted}" in snippets[0]
    captions = [c.value for c in app.caption]
    assert any(c.startswith("integrated_gradients · ") for c in captions), captions


def test_a_typed_sentence_with_a_keyword_is_predicted_and_highlighted(
    keywords: reference_models.ReferenceModel,
) -> None:
    keyword = TEXT_KEYWORDS["food"][0]  # "pizza"
    sentence = f"We loved the {keyword} at the city"
    app = _type(open_page("explain", TEXT), sentence)
    assert not app.warning  # every word is in the vocabulary
    metrics = {m.label: m for m in app.metric}
    assert metrics["Sample"].value == "your sentence"
    assert metrics["True class"].value == "not given"
    assert metrics["Predicted"].value == "food"
    ids, mask = encode_text(sentence)
    with torch.no_grad():
        probability = float(torch.softmax(keywords.model(ids, attention_mask=mask), 1).max())
    assert metrics["Predicted"].delta == f"{probability:.3f}"
    app = _explain(app, ["integrated_gradients"])
    (snippet,) = _snippets(app)
    shown = _tokens(snippet)
    assert [token for token, _ in shown] == ["we", "loved", "the", keyword, "at", "the", "city"]
    assert max(shown, key=lambda pair: pair[1])[0] == keyword  # the keyword decides the class
    expected = xai.explain(keywords.model, ids, model_kwargs={"attention_mask": mask})
    assert [v for _, v in shown] == pytest.approx(
        expected.attributions[0, :7].tolist(), rel=1e-3, abs=1e-4
    )
    assert "target food" in snippet


def test_unknown_and_cut_words_are_reported(keywords: reference_models.ReferenceModel) -> None:
    sentence = "the goal zanzibar " + "again " * 22 + "overflow words"
    app = _type(open_page("explain", TEXT), sentence)
    warnings = [w.value for w in app.warning]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith(
        "1 word of your sentence is not in the vocabulary, read as \\[UNK\\]: 'zanzibar'."
    )
    assert warnings[1].startswith(
        "keywords_text_cnn takes 24 tokens: the last 3 words of your sentence were cut: "
        "'again', 'overflow', 'words'."
    )
    vocabulary = next(e for e in app.expander if e.label.startswith("Vocabulary"))
    assert vocabulary.label == "Vocabulary (75 tokens)"
    assert vocabulary.text[0].value.split() == list(keywords.info.vocabulary)
    app = _explain(app, ["occlusion"])
    tokens = [token for token, _ in _tokens(_snippets(app)[0])]
    assert tokens == ["the", "goal", "[UNK]", *["again"] * 21]  # 24 tokens


def test_typed_markup_is_shown_escaped_and_never_as_html() -> None:
    app = _type(open_page("explain", TEXT), "<script>alert(1)</script> <b>goal</b> goal")
    (warning,) = [w.value for w in app.warning]
    assert "'\\<script\\>alert\\(1\\)\\</script\\>', '\\<b\\>goal\\</b\\>'" in warning
    app = _explain(app, ["integrated_gradients"])
    (snippet,) = _snippets(app)
    assert "<script" not in snippet and "<b>" not in snippet
    assert [token for token, _ in _tokens(snippet)] == ["[UNK]", "[UNK]", "goal"]
    assert {m.label: m.value for m in app.metric}["Predicted"] == "sports"


def test_every_class_of_a_typed_sentence_with_its_downloads(
    keywords: reference_models.ReferenceModel, downloads: Callable[[Any], Download]
) -> None:
    sentence = "the team saw the drum"  # keywords of two classes
    app = _type(open_page("explain", TEXT), sentence)
    app = _explain(app, ["integrated_gradients", "occlusion"], target="all")
    assert not _problems(app)
    assert app.subheader[0].value == "Attributions for every class"
    snippets = _snippets(app)
    assert len(snippets) == 2 * 3  # a sentence per method and class
    for snippet, name in zip(snippets, TEXT_CLASSES * 2, strict=True):
        assert f"target {name}" in snippet
    ids, mask = encode_text(sentence)
    values = {name: dict(_tokens(s)) for s, name in zip(snippets[:3], TEXT_CLASSES, strict=True)}
    assert max(values["sports"], key=values["sports"].get) == "team"
    assert max(values["music"], key=values["music"].get) == "drum"

    buttons = _buttons(app)
    table = downloads(buttons["download_attributions_csv"])
    assert table.file_name.endswith("_all_classes_attributions.csv")
    frame = pd.read_csv(io.BytesIO(table.data), keep_default_na=False)
    assert list(frame["token"][:5]) == sentence.split() and len(frame) == 24
    expected = xai.explain(
        keywords.model, ids, target=2, model_kwargs={"attention_mask": mask}
    ).attributions[0]
    assert frame["integrated_gradients (music)"].tolist() == pytest.approx(
        expected.tolist(), rel=1e-3, abs=1e-4
    )
    saved = downloads(buttons["download_safetensors"])
    tensors = load(saved.data)
    assert tensors["inputs"].dtype == torch.int64 and tuple(tensors["inputs"].shape) == (3, 24)
    assert tuple(tensors["attributions.occlusion"].shape) == (3, 24)
    from safetensors import safe_open

    path = Path(saved.file_name)
    path.write_bytes(saved.data)
    try:
        with safe_open(str(path), "pt") as file:
            metadata = file.metadata()
    finally:
        path.unlink()
    assert metadata["text"] == sentence and metadata["target"] == "all"
    assert json.loads(metadata["tokens"])[0][:5] == sentence.split()
    figure = downloads(buttons["download_figure_integrated_gradients_class1"])
    assert figure.data.startswith(b"\x89PNG") and figure.file_name.endswith("_class1.png")


def test_the_text_model_on_the_trust_page(keywords: reference_models.ReferenceModel) -> None:
    app = open_page("trust", TEXT)
    assert not _problems(app)
    ids, _, keyword_mask, mask = keywords.data["test"].tensors
    assert app.text[0].value == " ".join(decode_tokens(ids[:1])[0][: int(mask[0].sum())])
    assert app.multiselect(key="trust_methods").value == ["integrated_gradients", "occlusion"]
    table = app.dataframe[0].value
    assert list(table.index) == ["integrated_gradients", "occlusion"]
    assert "pointing_game_score ↑" in table.columns  # the keyword masks are the ground truth
    explanation = xai.explain(keywords.model, ids[:1], model_kwargs={"attention_mask": mask[:1]})
    expected = xai.evaluate_explanation(
        keywords.model, explanation, ["deletion_auc"], masks=keyword_mask[:1]
    )
    assert table.loc["integrated_gradients", "deletion_auc ↓"] == pytest.approx(
        expected.means["deletion_auc"], abs=1e-5
    )
    app.slider(key="compare_count").set_value(3)
    app.get("form_submit_button")[0].click().run()
    assert not _problems(app)
    assert any(c.value.startswith("Means over 3 samples") for c in app.caption)


def test_the_text_model_on_the_remaining_pages(tmp_path: Path) -> None:
    app = open_page("your_model", TEXT)
    assert not _problems(app)
    reference = reference_models.load(TEXT)
    ids, labels, _, mask = reference.data["test"].tensors
    xai.explain_dataset(
        reference.model,
        (ids[:24], labels[:24], mask[:24]),
        "integrated_gradients",
        model_kwargs={"attention_mask": 2},
        out=tmp_path / "run",
        batch_size=12,
        progress=False,
    )
    app.switch_page("app_pages/dataset_runs.py").run()
    app.text_input(key="dataset_run_path").set_value(str(tmp_path / "run")).run()
    assert not _problems(app)
    assert len(app.image) >= 4  # summary, class maps, confident examples, the sample


# --- a method that does not apply -------------------------------------------------------------


def test_a_method_the_model_cannot_take_is_not_offered(
    hf_text_model: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grad-CAM explains token ids at a 1-D convolution; BERT has none, so the library refuses
    it and the page does not offer it (the reference text model, which has one, gets it)."""
    model, ids, mask = hf_text_model["model"], hf_text_model["ids"], hf_text_model["attention_mask"]
    with pytest.raises(TypeError, match=r"1-D convolution"):
        xai.explain(model, ids[:1], method="gradcam", model_kwargs={"attention_mask": mask[:1]})
    app = _upload_hf(hf_text_model, monkeypatch)
    app.switch_page("app_pages/explain.py").run()
    offered = app.multiselect(key="methods").options
    assert "gradcam" not in offered and "integrated_gradients" in offered
    app = _explain(app, ["integrated_gradients"])
    assert not app.error and len(_snippets(app)) == 1
    reference = open_page("explain", TEXT)
    assert "gradcam" in reference.multiselect(key="methods").options


# --- a user's Hugging Face text model ---------------------------------------------------------


def _upload_hf(hf: dict[str, Any], monkeypatch: pytest.MonkeyPatch, data: str = "data") -> Any:
    monkeypatch.setenv(FACTORIES_ENV, "hfmodel:build")
    app = open_page("your_model")
    app.text_input(key="upload_spec").input("hfmodel:build")
    app.file_uploader(key="upload_weights").upload("w.safetensors", hf["weights"].read_bytes())
    app.file_uploader(key="upload_data").upload("d.npz", hf[data].read_bytes())
    app.get("form_submit_button")[0].click().run()
    assert not _problems(app), _problems(app)
    assert [s.value for s in app.success] == ["Loaded hfmodel:build; it is now selected."]
    return app


def test_a_hugging_face_text_model_through_module_factory(
    hf_text_model: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _upload_hf(hf_text_model, monkeypatch)
    key = app.selectbox(key="model").value
    assert key.startswith("upload:hfmodel:build#")
    app.switch_page("app_pages/models.py").run()
    assert not _problems(app)
    assert app.title[0].value == "Model: hfmodel:build"
    assert "token ids of length 12, a vocabulary of 50 tokens" in app.caption[0].value
    assert list(app.dataframe[0].value["class"]) == ["negative", "positive"]

    app.switch_page("app_pages/explain.py").run()
    model, ids, mask = hf_text_model["model"], hf_text_model["ids"], hf_text_model["attention_mask"]
    real = int(mask[0].sum())
    words = [HF_VOCABULARY[i] for i in ids[0, :real].tolist()]
    app = _explain(app, ["integrated_gradients"])
    shown = _tokens(_snippets(app)[0])
    assert [token for token, _ in shown] == words and words[0] == "[CLS]"
    expected = xai.explain(model, ids[:1], model_kwargs={"attention_mask": mask[:1]})
    assert [v for _, v in shown] == pytest.approx(
        expected.attributions[0, :real].tolist(), rel=1e-3, abs=1e-6
    )

    # a typed sentence: split on spaces over the vocabulary, between [CLS] and [SEP]
    app = _type(app, "alpha <b>bold</b> zzz river", key=f"typed_text.{key}")
    (warning,) = [w.value for w in app.warning]
    assert "read as \\[UNK\\]: 'zzz'" in warning
    (snippet,) = _snippets(app)
    tokens = [token for token, _ in _tokens(snippet)]
    assert tokens == ["[CLS]", "alpha", "<b>bold</b>", "[UNK]", "river", "[SEP]"]
    assert "&lt;b&gt;bold&lt;/b&gt;" in snippet and "<b>" not in snippet  # escaped
    typed_ids = torch.tensor([[2, 6, 5, 1, 10, 3] + [0] * 6])
    typed_mask = (typed_ids != 0).long()
    with torch.no_grad():
        logits = model(typed_ids, attention_mask=typed_mask).logits
    predicted = ["negative", "positive"][int(logits.argmax())]
    assert {m.label: m.value for m in app.metric}["Predicted"] == predicted


def test_a_text_model_without_vocabulary_shows_ids(
    hf_text_model: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _upload_hf(hf_text_model, monkeypatch, data="data_without_vocabulary")
    app.switch_page("app_pages/models.py").run()
    assert "no vocabulary (tokens shown as ids)" in app.caption[0].value
    app.switch_page("app_pages/explain.py").run()
    app = _explain(app, ["occlusion"])
    ids, mask = hf_text_model["ids"], hf_text_model["attention_mask"]
    tokens = [token for token, _ in _tokens(_snippets(app)[0])]
    assert tokens == [str(i) for i in ids[0, : int(mask[0].sum())].tolist()]
    app.radio(key="sample_selection").set_value("dropped").run()
    assert not _problems(app)
    assert "came without a vocabulary" in app.info[0].value
    assert not app.text_area


def test_a_text_model_given_on_the_command_line(
    hf_text_model: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODEL_ENV, "hfmodel:build")
    monkeypatch.setenv(WEIGHTS_ENV, str(hf_text_model["weights"]))
    monkeypatch.setenv(DATA_ENV, str(hf_text_model["data"]))
    app = new_app().run()
    assert not _problems(app)
    assert app.selectbox(key="model").value == "cli:hfmodel:build"
    assert app.title[0].value == "Model: hfmodel:build"


def test_uploaded_token_data_that_does_not_fit_is_refused(
    hf_text_model: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FACTORIES_ENV, "hfmodel:build")
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x=hf_text_model["ids"].numpy(),
        y=hf_text_model["labels"].numpy(),
        attention_mask=np.ones((16, 3), np.int64),
    )
    app = open_page("your_model")
    app.text_input(key="upload_spec").input("hfmodel:build")
    app.file_uploader(key="upload_weights").upload(
        "w.safetensors", hf_text_model["weights"].read_bytes()
    )
    app.file_uploader(key="upload_data").upload("d.npz", buffer.getvalue())
    app.get("form_submit_button")[0].click().run()
    assert len(app.error) == 1
    assert app.error[0].value.startswith("data: 'attention_mask' must have the shape of 'x'")
