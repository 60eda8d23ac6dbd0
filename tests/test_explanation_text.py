"""Token-id explanations: ``tokens``, views, save/load, the text figure and ``to_html``."""

from __future__ import annotations

import itertools
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from matplotlib.text import Text
from safetensors import safe_open
from safetensors.torch import save_file

import reference_models
import xai
import xai.explanation
from reference_models.datasets import TEXT_CLASSES, decode_tokens
from xai.evaluation.quality import rerun_function
from xai.explanation import UnsavedOption
from xai.viz import DIVERGING, text_html

CMAP = matplotlib.colormaps[DIVERGING]


@pytest.fixture(scope="module")
def text_model() -> Any:
    return reference_models.load("keywords_text_cnn")


@pytest.fixture(scope="module")
def ig(text_model: Any) -> xai.Explanation:
    ids, _labels, _keywords, mask = text_model.data["test"].tensors
    ids, mask = ids[:4], mask[:4]
    return xai.explain(
        text_model.model,
        ids,
        method="integrated_gradients",
        model_kwargs={"attention_mask": mask},
        tokens=decode_tokens(ids),
    )


def hand_made(**changes: Any) -> xai.Explanation:
    """Two sentences of 6 tokens; the first has two padding positions (attribution 0)."""
    values: dict[str, Any] = {
        "attributions": torch.tensor(
            [[0.0, 2.0, -1.0, 0.5, 0.0, 0.0], [4.0, -0.5, 0.25, 0.0, 1.0, -2.0]]
        ),
        "inputs": torch.tensor([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14]]),
        "target": torch.tensor([1, 2]),
        "method": "occlusion",
        "params": {"model_kwargs": {"attention_mask": torch.tensor([[1, 1, 1, 1, 0, 0], [1] * 6])}},
        "extras": {"class_names": list(TEXT_CLASSES)},
        "tokens": [
            ["zero", "max", "neg", "half", "[PAD]", "[PAD]"],
            ["four", "<b>", '" onmouseover="x', "<script>", "a&b", "end"],
        ],
    }
    values.update(changes)
    return xai.Explanation(**values)


def box(text: Text) -> FancyBboxPatch:
    patch = text.get_bbox_patch()
    assert patch is not None, f"token {text.get_text()!r} has no coloured box"
    return patch


def facecolours(figure: Figure) -> dict[str, np.ndarray]:
    return {text.get_text(): np.asarray(box(text).get_facecolor()) for text in figure.axes[0].texts}


class Spans(HTMLParser):
    """The text, style and title of every <span> of an HTML snippet, and every tag seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.spans: list[dict[str, str]] = []
        self.tags: list[str] = []
        self._open: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "span":
            self._open = {name: value or "" for name, value in attrs} | {"text": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._open is not None:
            self.spans.append(self._open)
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open["text"] += data


def spans_of(snippet: str) -> Spans:
    parser = Spans()
    parser.feed(snippet)
    parser.close()
    return parser


# ------------------------------------------------------------------ tokens and views
def test_text_explanation_has_one_value_per_token(ig: xai.Explanation, text_model: Any) -> None:
    ids, _labels, keywords, mask = (t[:4] for t in text_model.data["test"].tensors)
    assert ig.is_text and not ig.is_image
    assert ig.tokens == decode_tokens(ids)
    assert ig.heatmap().shape == ids.shape == (4, 24)
    torch.testing.assert_close(ig.heatmap(), ig.attributions)
    assert bool((ig.attributions[mask == 0] == 0).all())
    # ground truth: each sentence's most attributed token is one of its keywords
    top = ig.attributions.argmax(dim=1)
    assert bool(keywords[torch.arange(4), top].all())


def test_is_text_only_for_integer_rows() -> None:
    assert hand_made().is_text
    floats = xai.Explanation(torch.ones(2, 6), torch.ones(2, 6), torch.tensor([0, 1]), "demo")
    assert not floats.is_text
    images = xai.Explanation(
        torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2).long(), torch.tensor([0]), "demo"
    )
    assert not images.is_text


@pytest.mark.parametrize(
    ("tokens", "error", "match"),
    [
        ("zero max", TypeError, r"tokens: expected one list of 6 token strings per row \(2 rows\)"),
        ([["a"] * 6], TypeError, r"tokens: expected one list of 6 .* per row \(2 rows\)"),
        ([["a"] * 6, ["a"] * 5], ValueError, r"tokens: row 1: expected 6 token strings .* got 5"),
        ([["a"] * 6, [1, 2, 3, 4, 5, 6]], TypeError, r"tokens: row 1: expected a list of 6 str"),
        ([["a"] * 6, "abcdef"], TypeError, r"tokens: row 1: expected a list of 6 strings"),
    ],
)
def test_bad_tokens_are_named(tokens: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match) as caught:
        hand_made(tokens=tokens)
    assert caught.value.argument == "tokens"  # type: ignore[attr-defined]


def test_tokens_need_token_ids(text_model: Any) -> None:
    with pytest.raises(ValueError, match=r"tokens: token strings go with token ids"):
        xai.Explanation(
            torch.ones(1, 2), torch.ones(1, 2), torch.tensor([0]), "demo", tokens=[["a", "b"]]
        )
    ids = text_model.data["test"].tensors[0][:2]
    with pytest.raises(ValueError, match=r"tokens: row 0: expected 24 token strings"):
        xai.explain(text_model.model, ids, method="occlusion", tokens=[["a"], ["b"]])


@pytest.mark.parametrize("index", [1, slice(1, 2), [1], torch.tensor([False, True])])
def test_indexing_keeps_the_rows_tokens_and_attention_mask(index: Any) -> None:
    expl = hand_made()
    one = expl[index]
    assert one.tokens == [expl.tokens[1]]  # type: ignore[index]
    assert torch.equal(
        one.params["model_kwargs"]["attention_mask"],
        expl.params["model_kwargs"]["attention_mask"][1:2],
    )
    assert [t.get_text() for t in one.plot(0).axes[0].texts] == expl.tokens[1]  # type: ignore[index]


def test_reordering_and_moving_keep_tokens() -> None:
    expl = hand_made()
    assert expl[[1, 0]].tokens == expl.tokens[::-1]  # type: ignore[index]
    assert expl[:].tokens == expl.tokens
    moved = expl.to("cpu")
    assert moved.tokens == expl.tokens and moved.tokens is not expl.tokens
    moved.tokens[0][0] = "changed"  # type: ignore[index]
    assert expl.tokens[0][0] == "zero"  # type: ignore[index]
    assert torch.equal(
        moved.params["model_kwargs"]["attention_mask"],
        expl.params["model_kwargs"]["attention_mask"],
    )
    no_tokens = hand_made(tokens=None)
    assert no_tokens[0].tokens is None and no_tokens.to("cpu").tokens is None


# ------------------------------------------------------------------ save/load
def test_save_load_keeps_tokens_and_model_kwargs_names(
    tmp_path: Path, ig: xai.Explanation, text_model: Any
) -> None:
    loaded = xai.Explanation.load(ig.save(tmp_path / "ig.safetensors"))
    assert loaded.tokens == ig.tokens
    assert torch.equal(loaded.inputs, ig.inputs)
    torch.testing.assert_close(loaded.attributions, ig.attributions, rtol=0, atol=0)
    kwargs = loaded.params["model_kwargs"]
    assert isinstance(kwargs, UnsavedOption)
    assert kwargs == "{attention_mask: tensor (4, 24) int64}"
    # the mask itself is not in the file: neither as JSON nor as a tensor
    with safe_open(str(tmp_path / "ig.safetensors"), framework="pt") as handle:
        header = json.loads(handle.metadata()["xai"])
        names = set(handle.keys())
    assert header["params"]["model_kwargs"] == {"xai.unsaved": kwargs}
    assert header["tokens"] == ig.tokens
    assert not any(name.startswith("params.") for name in names)
    # in memory the explanation re-runs from its params; loaded, like any unsaved option, not
    assert rerun_function(text_model.model, ig) is not None
    assert rerun_function(text_model.model, loaded) is None
    again = xai.Explanation.load(loaded.save(tmp_path / "again.safetensors"))
    assert again.params["model_kwargs"] == kwargs and again.tokens == ig.tokens


def test_json_model_kwargs_stay_a_dict(tmp_path: Path) -> None:
    expl = hand_made(params={"model_kwargs": {"scale": 2.0, "return_dict": False}})
    loaded = xai.Explanation.load(expl.save(tmp_path / "e.safetensors"))
    assert loaded.params["model_kwargs"] == {"scale": 2.0, "return_dict": False}


def test_files_without_tokens_load_with_none(tmp_path: Path) -> None:
    loaded = xai.Explanation.load(hand_made(tokens=None).save(tmp_path / "none.safetensors"))
    assert loaded.tokens is None and loaded.is_text
    # a file written before tokens existed: no "tokens" key in its header
    old = tmp_path / "old.safetensors"
    header = {"method": "occlusion", "params": {}, "extras": {}, "nonfinite_attributions": False}
    save_file(
        {
            "attributions": torch.ones(1, 3),
            "inputs": torch.ones(1, 3).long(),
            "target": torch.zeros(1).long(),
        },
        str(old),
        metadata={"format": "xai.explanation", "format_version": "1", "xai": json.dumps(header)},
    )
    assert xai.Explanation.load(old).tokens is None


@pytest.mark.parametrize(
    ("tokens", "match"),
    [([["a", "b"]], r"tokens: row 0: expected 3 token strings"), ("abc", "tokens: expected")],
)
def test_bad_tokens_in_a_file_name_the_path(tmp_path: Path, tokens: Any, match: str) -> None:
    path = tmp_path / "bad.safetensors"
    header = {"method": "occlusion", "tokens": tokens}
    save_file(
        {
            "attributions": torch.ones(1, 3),
            "inputs": torch.ones(1, 3).long(),
            "target": torch.zeros(1).long(),
        },
        str(path),
        metadata={"format": "xai.explanation", "format_version": "1", "xai": json.dumps(header)},
    )
    with pytest.raises(ValueError, match=match) as caught:
        xai.Explanation.load(path)
    assert caught.value.argument == "path"  # type: ignore[attr-defined]
    assert "is not a valid xai explanation file" in str(caught.value)


def test_too_many_tokens_for_the_header_names_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expl = hand_made(tokens=[["word" * 40] * 6] * 2, params={}, extras={})
    monkeypatch.setattr(xai.explanation, "MAX_HEADER_CHARS", 1000)
    with pytest.raises(ValueError, match=r"tokens: the JSON header would be") as caught:
        expl.save(tmp_path / "big.safetensors")
    assert caught.value.argument == "tokens"  # type: ignore[attr-defined]
    assert not (tmp_path / "big.safetensors").exists()


# ------------------------------------------------------------------ the figure
def test_plot_shows_the_unmasked_tokens_in_order(ig: xai.Explanation, text_model: Any) -> None:
    mask = ig.params["model_kwargs"]["attention_mask"]
    for index in range(len(ig)):
        figure = ig.plot(index)
        assert isinstance(figure, Figure)
        shown = [text.get_text() for text in figure.axes[0].texts]
        expected = [t for t, m in zip(ig.tokens[index], mask[index], strict=True) if m]  # type: ignore[index]
        assert shown == expected and "[PAD]" not in shown
    title = ig.plot(0).axes[0].get_title()
    assert "integrated_gradients · sample 0" in title
    # the class name comes from extras["class_names"] or class_names=
    named = xai.viz.plot_explanation(ig, 0, class_names=text_model.info.class_names)
    assert f"target {TEXT_CLASSES[int(ig.target[0])]}" in named.axes[0].get_title()


def test_plot_colours_are_centred_on_zero() -> None:
    expl = hand_made()
    colours = facecolours(expl.plot(0))
    assert list(colours) == ["zero", "max", "neg", "half"]  # the padding is left out
    np.testing.assert_allclose(colours["zero"], CMAP(0.5), atol=1e-12)
    np.testing.assert_allclose(colours["max"], CMAP(1.0), atol=1e-12)
    np.testing.assert_allclose(colours["neg"], CMAP(0.25), atol=1e-12)  # -1 on a ±2 scale
    np.testing.assert_allclose(colours["half"], CMAP(0.625), atol=1e-12)
    texts = {text.get_text(): text.get_color() for text in expl.plot(0).axes[0].texts}
    assert texts["max"] == "white" and texts["zero"] == "black"
    # shared_scale: the batch's largest magnitude (4.0, in the second sentence)
    shared = facecolours(expl.plot(0, shared_scale=True))
    np.testing.assert_allclose(shared["max"], CMAP(0.75), atol=1e-12)
    np.testing.assert_allclose(shared["zero"], CMAP(0.5), atol=1e-12)
    labels = [ax.get_xlabel() for ax in expl.plot(0).axes]
    assert "attribution (signed)" in labels


def test_plot_without_mask_or_tokens_shows_every_id() -> None:
    expl = hand_made(tokens=None, params={})
    shown = [text.get_text() for text in expl.plot(0).axes[0].texts]
    assert shown == ["#5", "#6", "#7", "#8", "#0", "#0"]


def test_a_mask_of_another_shape_is_not_used() -> None:
    expl = hand_made(params={"model_kwargs": {"attention_mask": torch.ones(6)}})
    assert len(expl.plot(0).axes[0].texts) == 6


def test_long_sentences_wrap_without_overlap() -> None:
    words = ("the quick brown fox jumps over <script>alert(1)</script> lazy dogs " * 8).split()
    n = len(words)
    expl = xai.Explanation(
        torch.linspace(-1, 1, n)[None],
        torch.arange(n)[None] + 3,
        torch.tensor([0]),
        "demo",
        tokens=[words],
    )
    figure = expl.plot(0)
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    boxes = [box(text).get_window_extent(renderer) for text in figure.axes[0].texts]
    rows = sorted({round(box.y0) for box in boxes})
    assert len(rows) >= 3  # several lines
    width = figure.get_figwidth() * figure.dpi
    assert all(box.x0 >= 0 and box.x1 <= width for box in boxes)
    for left, right in itertools.pairwise(boxes):
        if round(left.y0) == round(right.y0):
            assert right.x0 > left.x1  # boxes on a line do not overlap


def test_plot_into_a_given_axes() -> None:
    figure = Figure(figsize=(6, 4), layout="constrained")
    ax, other = figure.subplots(2, 1)
    returned = hand_made().plot(1, ax=ax)
    assert returned is figure
    assert [t.get_text() for t in ax.texts] == hand_made().tokens[1]  # type: ignore[index]
    assert not other.texts
    FigureCanvasAgg(figure).draw()


def test_plot_comparison_of_text_explanations(ig: xai.Explanation) -> None:
    figure = xai.viz.plot_comparison([ig, ig], 1)
    token_axes = [ax for ax in figure.axes if ax.texts]
    assert len(token_axes) == 2
    mask = ig.params["model_kwargs"]["attention_mask"][1]
    expected = [t for t, m in zip(ig.tokens[1], mask, strict=True) if m]  # type: ignore[index]
    assert all([t.get_text() for t in ax.texts] == expected for ax in token_axes)


# ------------------------------------------------------------------ HTML
def test_html_has_every_unmasked_token_in_order(ig: xai.Explanation) -> None:
    mask = ig.params["model_kwargs"]["attention_mask"]
    for index in range(len(ig)):
        snippet = ig.to_html(index)
        parsed = spans_of(snippet)
        expected = [t for t, m in zip(ig.tokens[index], mask[index], strict=True) if m]  # type: ignore[index]
        assert [span["text"] for span in parsed.spans] == expected
        values = ig.attributions[index][mask[index] != 0]
        titles = [float(span["title"].rpartition(": ")[2]) for span in parsed.spans]
        np.testing.assert_allclose(titles, values.numpy(), rtol=1e-3, atol=1e-6)


def test_html_colours_match_the_figure() -> None:
    expl = hand_made()
    for index in range(2):
        for shared in (False, True):
            plotted = facecolours(expl.plot(index, shared_scale=shared))
            spans = spans_of(expl.to_html(index, shared_scale=shared)).spans
            assert [span["text"] for span in spans] == list(plotted)
            for span in spans:
                background = span["style"].partition("background-color:")[2].partition(";")[0]
                assert background == to_hex(tuple(plotted[span["text"]]))
    zero = spans_of(expl.to_html(0)).spans[0]
    assert "background-color:" + to_hex(CMAP(0.5)) in zero["style"]


def test_html_escapes_tokens_and_is_self_contained() -> None:
    expl = hand_made(extras={"class_names": ["sports", "food", "<script>alert(1)</script>"]})
    snippet = expl.to_html(1)
    assert "&lt;b&gt;" in snippet and "<b>" not in snippet
    assert "&lt;script&gt;" in snippet and "<script" not in snippet.lower()
    assert "a&amp;b" in snippet
    parsed = spans_of(snippet)
    assert set(parsed.tags) <= {"div", "span", "br"}
    assert all(set(span) == {"style", "title", "text"} for span in parsed.spans)  # no onmouseover
    assert [span["text"] for span in parsed.spans] == expl.tokens[1]  # type: ignore[index]
    for forbidden in ("http", "src=", "url(", "<link", "<img", "<style", "javascript:"):
        assert forbidden not in snippet.lower()
    assert "occlusion · sample 1 · target &lt;script&gt;" in snippet


def test_html_header_names_method_and_target(ig: xai.Explanation) -> None:
    named = xai.viz.text_html(ig, 2, class_names=TEXT_CLASSES)
    assert f"integrated_gradients · sample 2 · target {TEXT_CLASSES[int(ig.target[2])]}" in named
    assert f"target {int(ig.target[2])}" in ig.to_html(2)  # no class names: the number


def test_html_refuses_other_explanations() -> None:
    tabular = xai.Explanation(torch.ones(2, 3), torch.ones(2, 3), torch.tensor([0, 1]), "demo")
    with pytest.raises(TypeError, match=r"explanation: to_html .* token-id explanations") as caught:
        tabular.to_html(0)
    assert caught.value.argument == "explanation"  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match=r"explanation: expected an xai.Explanation"):
        text_html("not an explanation")  # type: ignore[arg-type]
    with pytest.raises(IndexError):
        hand_made().to_html(5)
    with pytest.raises(TypeError, match="shared_scale"):
        hand_made().to_html(0, shared_scale="yes")  # type: ignore[arg-type]


def test_to_html_names_the_target_class_given() -> None:
    ids = torch.tensor([[5, 6, 7]])
    expl = xai.Explanation(
        attributions=torch.tensor([[0.5, -1.0, 0.0]]),
        inputs=ids,
        target=torch.tensor([1]),
        method="integrated_gradients",
        tokens=[["a", "<i>b</i>", "c"]],
    )
    html = expl.to_html(0, class_names=["zero", "o<n>e"])
    assert "target o&lt;n&gt;e" in html and "&lt;i&gt;b&lt;/i&gt;" in html
    assert "target 1" in expl.to_html(0)
