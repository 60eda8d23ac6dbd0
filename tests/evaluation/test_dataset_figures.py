"""Figures of a dataset run's summary: one per kind of input, signed maps on a diverging
colormap centred on zero, bad arguments named."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

import xai
from tests.evaluation._models import image_data, image_model, tabular_data, tabular_model
from xai.evaluation.dataset_run import explain_dataset
from xai.viz import DIVERGING, plot_class_maps, plot_confidence_examples, plot_dataset_summary


@pytest.fixture(scope="module")
def summaries(tmp_path_factory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("runs")
    tabular = explain_dataset(tabular_model(), tabular_data(20), "integrated_gradients",
                              out=out / "t", target="label", batch_size=8, n_steps=4)  # fmt: skip
    image = explain_dataset(image_model(), image_data(12), "integrated_gradients",
                            out=out / "i", batch_size=5, n_steps=4)  # fmt: skip
    return {"tabular": tabular.summary(top_k=3), "image": image.summary(top_k=3)}


@pytest.mark.parametrize("kind", ["tabular", "image"])
def test_every_figure_draws(summaries, kind) -> None:
    summary = summaries[kind]
    for figure in (
        plot_dataset_summary(summary),
        plot_class_maps(summary),
        plot_confidence_examples(summary, "most"),
        plot_confidence_examples(summary, "least"),
        summary.plot(),
    ):
        assert isinstance(figure, Figure) and figure.axes


def test_signed_class_maps_are_centred_on_zero(summaries) -> None:
    figure = plot_class_maps(summaries["image"])
    images = [image for ax in figure.axes for image in ax.get_images()]
    assert images
    for image in images:
        low, high = image.get_clim()
        assert image.get_cmap().name == DIVERGING and low == pytest.approx(-high)


def test_bad_arguments(summaries) -> None:
    with pytest.raises(xai.InputTypeError):
        plot_dataset_summary("not a summary")
    with pytest.raises(xai.InputError) as error:
        plot_confidence_examples(summaries["tabular"], "best")
    assert error.value.argument == "which"
