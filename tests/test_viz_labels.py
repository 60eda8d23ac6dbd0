"""Figures that explain themselves (issue 19): labelled colorbars, class names and predictions
in titles, an input panel and a title naming model and sample in comparison figures, tick
labels inside the figure, annotations readable on their cells. Checked on the matplotlib
objects and on the rendered pixels."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

import reference_models
import xai
import xai.viz
from xai.errors import InputError, InputTypeError
from xai.viz._common import text_colour


@pytest.fixture(scope="module")
def shapes() -> tuple[reference_models.ReferenceModel, torch.Tensor, torch.Tensor]:
    ref = reference_models.load("shapes_cnn")
    images = ref.data["test"].tensors[0][:2]
    with torch.no_grad():
        probabilities = ref.model(images).softmax(-1)
    return ref, images, probabilities


@pytest.fixture(scope="module")
def explanations(shapes) -> list[xai.Explanation]:
    ref, images, _ = shapes
    return [
        xai.explain(ref.model, images, method="gradcam"),
        xai.explain(ref.model, images, method="integrated_gradients", n_steps=8),
    ]


def _colorbar_labels(figure: Figure) -> list[str]:
    return [axis.get_ylabel() for axis in figure.axes if axis.get_label() == "<colorbar>"]


def _png(figure: Figure) -> Image.Image:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return Image.open(io.BytesIO(buffer.getvalue()))


def _outside(figure: Figure) -> list[float]:
    """How far (in pixels) what the figure draws reaches past its left, bottom, right and top
    edges: all zeros when nothing is cut off."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    drawn = figure.get_tightbbox(canvas.get_renderer())  # in inches, every drawn artist
    dpi, (width, height) = figure.dpi, figure.get_size_inches()
    return [
        max(0.0, round(-drawn.x0 * dpi, 1)),
        max(0.0, round(-drawn.y0 * dpi, 1)),
        max(0.0, round((drawn.x1 - width) * dpi, 1)),
        max(0.0, round((drawn.y1 - height) * dpi, 1)),
    ]


def test_explanation_titles_name_classes_and_prediction(shapes, explanations) -> None:
    ref, _, probabilities = shapes
    gradcam, ig = explanations
    figure = xai.viz.plot_explanation(
        ig, 0, class_names=ref.info.class_names, probabilities=probabilities, model_name="shapes"
    )
    title = figure.axes[1].get_title()
    target = ref.info.class_names[int(ig.target[0])]
    confidence = float(probabilities[0].max())
    assert title.startswith("shapes · integrated_gradients · sample 0\n")
    assert f"target {target}" in title and f"p = {confidence:.2f}" in title
    assert figure.axes[0].get_title() == "input"
    assert _colorbar_labels(figure) == ["attribution (signed)"]
    grad_figure = xai.viz.plot_explanation(gradcam, 1)
    assert _colorbar_labels(grad_figure) == ["Grad-CAM relevance"]
    assert grad_figure.axes[1].get_title().endswith(f"target {int(gradcam.target[1])}")


def test_class_names_and_probabilities_from_the_extras(shapes, explanations) -> None:
    ref, _, probabilities = shapes
    ig = explanations[1]
    labelled = xai.Explanation(
        ig.attributions,
        ig.inputs,
        ig.target,
        ig.method,
        ig.params,
        {**ig.extras, "class_names": ref.info.class_names, "probabilities": probabilities},
    )
    title = labelled.plot(0).axes[1].get_title()  # Explanation.plot reads them too
    assert ref.info.class_names[int(ig.target[0])] in title and "predicted" in title


def test_comparison_has_an_input_panel_and_a_title(shapes, explanations) -> None:
    ref, _, probabilities = shapes
    figure = xai.viz.plot_comparison(
        explanations,
        1,
        class_names=ref.info.class_names,
        probabilities=probabilities,
        model_name="shapes_cnn",
    )
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert titles == ["input", "gradcam", "integrated_gradients"]
    suptitle = figure.get_suptitle()
    assert suptitle.startswith("shapes_cnn · sample 1 · target ")
    assert ref.info.class_names[int(explanations[0].target[1])] in suptitle
    assert _colorbar_labels(figure) == ["Grad-CAM relevance", "attribution (signed)"]
    image = _png(figure)
    assert image.width > 2.5 * image.height  # one row: input and two maps
    assert _outside(figure) == [0, 0, 0, 0]


def test_colorbar_ticks_stay_inside_the_figure() -> None:
    """The README example (a random CNN: attributions near 1e-4) had its colorbar's tick
    labels cut off at the figure's right edge."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )
    expl = xai.explain(model, torch.rand(2, 1, 28, 28), method="integrated_gradients", n_steps=8)
    assert float(expl.attributions.abs().max()) < 0.01  # tiny values: long tick labels
    figure = expl.plot(0)
    assert _outside(figure) == [0, 0, 0, 0]
    colorbar = next(axis for axis in figure.axes if axis.get_label() == "<colorbar>")
    labels = [
        re.sub(r"^\$\\mathdefault\{(.*)\}\$$", r"\1", t.get_text())
        for t in colorbar.get_yticklabels()
        if t.get_text()
    ]
    assert labels and max(len(label) for label in labels) <= 3, labels  # "2", not "0.0002"
    offset = colorbar.yaxis.get_offset_text().get_text().replace("\N{MINUS SIGN}", "-")
    assert "10^{-4}" in offset  # the power of ten, above the bar


def test_the_check_finds_cut_off_text() -> None:
    figure = Figure(figsize=(2, 2))
    figure.text(0.9, 0.5, "a long label past the right edge")
    assert _outside(figure)[2] > 50


def test_agreement_numbers_are_readable_on_their_cells() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3)).eval()
    comparison = xai.compare(
        model,
        torch.randn(4, 6),
        ["integrated_gradients", "occlusion", "smoothgrad"],
        metrics=["deletion_auc"],
        seed=0,
    )
    figure = xai.viz.plot_agreement_matrix(comparison)
    axis = figure.axes[0]
    image = axis.get_images()[0]
    matrix = comparison.agreement["rank_correlation"].numpy()
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in axis.texts}
    assert len(texts) == matrix.size
    for (i, j), text in texts.items():
        background = image.cmap(image.norm(matrix[i, j]))
        assert _contrast(text.get_color(), background) >= 4.5, (i, j, matrix[i, j])
    assert all(texts[(i, i)].get_color() == "white" for i in range(len(matrix)))  # dark red
    assert _colorbar_labels(figure) == ["rank correlation (1: same ranking)"]


def _luminance(rgb) -> float:
    channels = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def _contrast(colour: str, background) -> float:
    from matplotlib.colors import to_rgb

    a, b = sorted((_luminance(to_rgb(colour)), _luminance(background)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_prediction_text() -> None:
    from xai.viz._common import prediction_text

    names = ["circle", "square"]
    assert prediction_text(1, names, None) == "target square"
    assert (
        prediction_text(1, names, torch.tensor([0.1, 0.9])) == "target square, predicted (p = 0.90)"
    )
    assert prediction_text(0, names, torch.tensor([0.1, 0.9])) == (
        "target circle (p = 0.10) · predicted square (p = 0.90)"
    )
    assert prediction_text(7, None, None) == "target 7"  # no name for it: its number


def test_text_colour_by_luminance() -> None:
    assert text_colour((0.4, 0.0, 0.12, 1.0)) == "white"  # RdBu_r's dark red end
    assert text_colour((0.97, 0.97, 0.97, 1.0)) == "black"  # its white centre
    assert text_colour((0.02, 0.19, 0.38, 1.0)) == "white"  # its dark blue end


def test_bad_labels_are_clear_errors(explanations) -> None:
    ig = explanations[1]
    with pytest.raises(InputTypeError, match="class_names: expected a sequence"):
        xai.viz.plot_explanation(ig, 0, class_names="circle")
    with pytest.raises(InputError, match=r"probabilities: expected one row .* \(2, K\)"):
        xai.viz.plot_explanation(ig, 0, probabilities=torch.rand(3, 4))
    with pytest.raises(InputTypeError, match="probabilities: expected the model's class"):
        xai.viz.plot_comparison([ig], 0, probabilities=[[0.5, 0.5]])
    with pytest.raises(InputTypeError, match="model_name: expected the model's name"):
        xai.viz.plot_comparison([ig], 0, model_name=3)


def test_tabular_bars_say_what_they_show() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3)).eval()
    expl = xai.explain(model, torch.randn(2, 4), method="integrated_gradients", n_steps=8)
    figure = xai.viz.plot_explanation(expl, 0, class_names=["a", "b", "c"])
    assert figure.axes[0].get_xlabel() == "attribution (signed)"
    assert figure.axes[0].get_title().endswith(f"target {'abc'[int(expl.target[0])]}")
    comparison = xai.viz.plot_comparison([expl, expl], 1, model_name="mlp")
    assert comparison.get_suptitle().startswith("mlp · sample 1 · target ")
    assert np.asarray(_png(comparison)).std() > 0
