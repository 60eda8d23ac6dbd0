"""The dashboard's downloads and its drop of one input, driven through AppTest: every file a
button hands out loads back to what the page shows (and what the library computes), and every
dropped file is explained or refused with a message."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.torch import load

import reference_models
import xai
from tests.dashboards.conftest import Download, open_page
from xai.suite.subject import FACTORIES_ENV, MAX_UPLOAD_ENV

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _errors(app: Any) -> list[str]:
    return [e.value for e in app.error] + [e.value for e in app.exception]


def _buttons(app: Any) -> dict[str, Any]:
    """Download buttons by key."""
    return {button.key: button for button in app.get("download_button")}


def _png(download: Download) -> Image.Image:
    assert download.mime == "image/png" and download.file_name.endswith(".png")
    assert download.data.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(download.data))
    image.load()
    return image


def _explain(app: Any, methods: list[str]) -> Any:
    app.multiselect(key="methods").set_value(methods)
    app.get("form_submit_button")[0].click().run()
    assert not _errors(app), _errors(app)
    return app


# --- downloads --------------------------------------------------------------------------------


def test_models_page_tables_and_figures_download(
    downloads: Callable[[Any], Download],
) -> None:
    app = open_page("models", "digits_cnn")
    buttons = _buttons(app)
    per_class = downloads(buttons["download_per_class"])
    assert per_class.mime == "text/csv" and per_class.file_name == "digits_cnn_per_class.csv"
    table = pd.read_csv(io.BytesIO(per_class.data))
    shown = app.dataframe[0].value
    assert table.shape == shown.shape == (10, len(shown.columns))
    assert list(table.columns) == list(shown.columns)
    assert np.allclose(table["f1"], shown["f1"])
    metrics = pd.read_csv(io.BytesIO(downloads(buttons["download_metrics"]).data))
    values = dict(zip(metrics["metric"], metrics["value"], strict=True))
    assert f"{values['Accuracy']:.4f}" == {m.label: m.value for m in app.metric}["Accuracy"]
    assert values["test samples"] == 359
    for name in ("confusion_matrix", "roc", "calibration", "history"):
        figure = downloads(buttons[f"download_{name}"])
        assert figure.file_name == f"digits_cnn_{name}.png"
        assert min(_png(figure).size) > 200


def test_explain_image_downloads_load_back(downloads: Callable[[Any], Download]) -> None:
    app = _explain(open_page("explain", "digits_cnn"), ["integrated_gradients", "gradcam"])
    buttons = _buttons(app)
    assert {"download_figure_integrated_gradients", "download_figure_gradcam"} <= set(buttons)
    digits = reference_models.load("digits_cnn")
    x = digits.data["test"].tensors[0][:1]
    target = int(digits.model(x).argmax())
    expected = {
        method: xai.explain(digits.model, x, method=method, target=target)
        for method in ("integrated_gradients", "gradcam")
    }

    saved = downloads(buttons["download_safetensors"])
    assert saved.mime == "application/octet-stream"
    assert saved.file_name == f"digits_cnn_sample0_class{target}_attributions.safetensors"
    tensors = load(saved.data)
    assert torch.equal(tensors["inputs"], x) and tensors["target"].tolist() == [target]
    for method, explanation in expected.items():
        assert torch.allclose(
            tensors[f"attributions.{method}"], explanation.attributions, atol=1e-6
        ), method

    table = downloads(buttons["download_attributions_csv"])
    assert table.mime == "text/csv"
    frame = pd.read_csv(io.BytesIO(table.data))
    assert frame.shape == (2 * 32 * 32, 5)
    gradcam = frame[frame["method"] == "gradcam"].sort_values(["row", "column"])
    assert np.allclose(
        gradcam["attribution"].to_numpy(), expected["gradcam"].attributions.flatten(), atol=1e-6
    )

    figure = _png(downloads(buttons["download_figure_integrated_gradients"]))
    assert figure.width > figure.height  # the input beside its map and colour bar
    assert downloads(buttons["download_figure_gradcam"]).file_name.endswith("_gradcam.png")


def test_explain_tabular_downloads_load_back(downloads: Callable[[Any], Download]) -> None:
    app = _explain(open_page("explain", "breast_cancer_mlp"), ["integrated_gradients", "shap"])
    buttons = _buttons(app)
    frame = pd.read_csv(io.BytesIO(downloads(buttons["download_attributions_csv"]).data))
    shown = app.dataframe[0].value  # "All features"
    assert frame.shape == shown.shape == (30, 4)
    assert list(frame.columns) == list(shown.columns)
    assert np.allclose(frame["integrated_gradients"], shown["integrated_gradients"], atol=1e-6)
    tensors = load(downloads(buttons["download_safetensors"]).data)
    assert tensors["attributions.shap"].shape == (1, 30)
    assert np.allclose(tensors["attributions.shap"][0].numpy(), shown["shap"], atol=1e-6)
    assert _png(downloads(buttons["download_figure_shap"])).height > 200


def test_trust_page_tables_and_figures_download(downloads: Callable[[Any], Download]) -> None:
    app = open_page("trust", "digits_cnn")
    app.multiselect(key="trust_methods").set_value(["integrated_gradients", "gradcam"]).run()
    app.slider(key="compare_count").set_value(2)
    app.get("form_submit_button")[0].click().run()
    assert not _errors(app)
    buttons = _buttons(app)
    sample = pd.read_csv(io.BytesIO(downloads(buttons["download_quality_sample0"]).data))
    shown = app.dataframe[0].value
    assert list(sample["method"]) == list(shown.index) == ["integrated_gradients", "gradcam"]
    assert list(sample.columns[1:]) == list(shown.columns)
    column = next(c for c in shown.columns if c.startswith("deletion_auc"))
    assert np.allclose(sample[column], shown[column])
    compared = pd.read_csv(io.BytesIO(downloads(buttons["download_comparison_2_samples"]).data))
    assert compared.shape == (2, 1 + len(app.dataframe[1].value.columns))
    for name in ("agreement_rank_correlation", "curves_sample0_gradcam"):
        _png(downloads(buttons[f"download_{name}"]))


# --- the drop of one input --------------------------------------------------------------------


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _drop(app: Any, name: str, content: bytes, mime: str) -> Any:
    if app.radio(key="sample_selection").value != "dropped":
        app.radio(key="sample_selection").set_value("dropped").run()
    app.file_uploader(key="drop_file").set_value((name, content, mime)).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_a_dropped_image_is_predicted_and_explained(downloads: Callable[[Any], Download]) -> None:
    shapes = reference_models.load("shapes_cnn")
    image = shapes.data["test"].tensors[0][5]
    pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    enlarged = np.asarray(Image.fromarray(pixels).resize((96, 64), Image.Resampling.NEAREST))
    app = open_page("explain", "shapes_cnn")
    app.radio(key="sample_selection").set_value("dropped").run()
    assert any("takes 3x32x32 images with pixels in [0, 1]" in c.value for c in app.caption)
    assert [i.value for i in app.info] == [
        "Drop an image above to explain it with the methods below."
    ]
    app = _drop(app, "mine.png", _png_bytes(enlarged), "image/png")
    assert not _errors(app)
    assert app.image[0].captions == [
        "mine.png (96x64 RGB image resized to 32x32, pixels scaled to [0, 1])"
    ]
    # what the model sees: the file resized as the page says, and what it predicts from it
    expected = Image.fromarray(enlarged).resize((32, 32), Image.Resampling.BILINEAR)
    x = torch.from_numpy(np.asarray(expected, np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        probabilities = torch.softmax(shapes.model(x), dim=1)[0]
    metrics = {m.label: m for m in app.metric}
    assert metrics["True class"].value == "not given"
    assert metrics["Predicted"].value == shapes.info.class_names[int(probabilities.argmax())]
    assert metrics["Predicted"].delta == f"{float(probabilities.max()):.3f}"
    assert "true" not in app.selectbox(key="target_choice").options

    app = _explain(app, ["integrated_gradients"])
    assert len(app.image) == 2
    tensors = load(downloads(_buttons(app)["download_safetensors"]).data)
    assert torch.allclose(tensors["inputs"], x, atol=1e-6)
    explanation = xai.explain(shapes.model, x, target=int(probabilities.argmax()))
    assert torch.allclose(
        tensors["attributions.integrated_gradients"], explanation.attributions, atol=1e-5
    )
    # the drop outlives a visit to another page
    app.switch_page("app_pages/models.py").run()
    app.switch_page("app_pages/explain.py").run()
    assert not _errors(app)
    assert app.image[0].captions[0].startswith("mine.png (")
    assert any(
        c.value == "mine.png, dropped earlier. Drop another file to replace it."
        for c in app.caption
    )


def test_digits_drop_can_invert_a_drawing() -> None:
    drawing = np.full((40, 40), 255, np.uint8)  # dark ink on white paper
    drawing[8:32, 18:22] = 0
    app = _drop(open_page("explain", "digits_cnn"), "one.png", _png_bytes(drawing), "image/png")
    plain = app.image[0].proto.imgs[0].url
    app.checkbox(key="drop_invert").check().run()
    assert not _errors(app)
    assert app.image[0].captions[0].endswith(", inverted)")
    assert app.image[0].proto.imgs[0].url != plain


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("cat.gif", b"GIF89a" + bytes(64), "cat.gif: image: expected a PNG or JPEG image, got a GIF image"),
        ("notes.png", b"just text, renamed", "notes.png: image: expected a PNG or JPEG image, got a file starting with 'just text, renam'"),
        ("big.png", PNG_MAGIC + bytes(int(1.5 * 2**20)), "big.png: image: the file is 1.5 MB, more than the 1.0 MB accepted"),
    ],
    ids=["gif", "text", "too-many-bytes"],
)  # fmt: skip
def test_refused_images_are_explained(
    name: str, content: bytes, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAX_UPLOAD_ENV, "1")
    app = _drop(open_page("explain", "digits_cnn"), name, content, "image/png")
    assert len(app.error) == 1 and not app.exception
    assert app.error[0].value.startswith(message), app.error[0].value
    assert not app.get("download_button") and len(app.image) == 0  # nothing explained


def test_too_many_pixels_are_refused_before_decoding() -> None:
    huge = Image.new("L", (5000, 4000))
    buffer = io.BytesIO()
    huge.save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 100_000  # compresses to little: only the header counts
    app = _drop(open_page("explain", "digits_cnn"), "huge.png", buffer.getvalue(), "image/png")
    assert app.error[0].value == (
        "huge.png: image: the image declares 5000x4000 = 20,000,000 pixels, more than the "
        "16,777,216 accepted; save it smaller."
    )


def test_a_dropped_row_round_trips_through_the_template(
    downloads: Callable[[Any], Download],
) -> None:
    app = open_page("explain", "breast_cancer_mlp")
    app.number_input(key="sample_number").set_value(4).run()
    app.radio(key="sample_selection").set_value("dropped").run()
    template = downloads(_buttons(app)["download_template"])
    assert template.file_name == "breast_cancer_mlp_template.csv" and template.mime == "text/csv"
    raw = pd.read_csv(io.BytesIO(template.data))
    cancer = reference_models.load("breast_cancer_mlp")
    assert list(raw.columns) == cancer.info.feature_names
    assert raw["mean radius"][0] > 5  # millimetres, not a z-score
    app = _drop(app, "row.csv", raw.iloc[:, ::-1].to_csv(index=False).encode(), "text/csv")
    assert not _errors(app)
    x = cancer.data["test"].tensors[0][4:5]
    metrics = {m.label: m for m in app.metric}
    assert metrics["Sample"].value == "your row"
    with torch.no_grad():
        probabilities = torch.softmax(cancer.model(x), dim=1)[0]
    assert metrics["Predicted"].delta == f"{float(probabilities.max()):.3f}"
    app = _explain(app, ["integrated_gradients"])
    table = app.dataframe[0].value
    assert np.allclose(table["value"], x[0].numpy(), atol=1e-5)  # standardised as the data
    expected = xai.explain(cancer.model, x, target=int(probabilities.argmax()))
    assert np.allclose(table["integrated_gradients"], expected.attributions[0], atol=1e-5)

    # the same values, already standardised
    app.radio(key="drop_raw").set_value(False).run()
    assert not _errors(app)
    standardised = pd.DataFrame([x[0].tolist()], columns=cancer.info.feature_names)
    app = _drop(app, "z.csv", standardised.to_csv(index=False).encode(), "text/csv")
    assert np.allclose(app.dataframe[0].value["value"], x[0].numpy(), atol=1e-5)
    # read the same way after a visit to another page (the drop and its setting are kept)
    app.switch_page("app_pages/models.py").run()
    app.switch_page("app_pages/explain.py").run()
    assert app.radio(key="drop_raw").value is False
    assert np.allclose(app.dataframe[0].value["value"], x[0].numpy(), atol=1e-5)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.drop(columns=["worst symmetry"]), "missing 1: 'worst symmetry'"),
        (lambda f: f.assign(label=1), "unexpected 1: 'label'"),
        (lambda f: f.astype(object).assign(**{"mean area": "big"}), "column 'mean area': expected a number, got 'big'"),
        (lambda f: pd.concat([f, f]), "expected one row of values under the header, got 2 rows"),
    ],
    ids=["missing-column", "extra-column", "not-a-number", "two-rows"],
)  # fmt: skip
def test_refused_rows_are_explained(
    edit: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    cancer = reference_models.load("breast_cancer_mlp")
    row = pd.DataFrame(
        [cancer.data["test"].tensors[0][0].tolist()], columns=cancer.info.feature_names
    )
    app = _drop(open_page("explain", "breast_cancer_mlp"), "row.csv", edit(row).to_csv(index=False).encode(), "text/csv")  # fmt: skip
    assert len(app.error) == 1 and app.error[0].value.startswith("row.csv: row: ")
    assert message in app.error[0].value
    assert not app.get("vega_lite_chart")  # no prediction, no explanation


def test_a_short_row_and_a_wrong_file_type() -> None:
    short = b"mean radius,mean texture\n1\n"
    app = _drop(open_page("explain", "breast_cancer_mlp"), "short.csv", short, "text/csv")
    assert "missing 28:" in app.error[0].value
    image = _png_bytes(np.zeros((8, 8), np.uint8))
    app = _drop(open_page("explain", "breast_cancer_mlp"), "row.csv", image, "text/csv")
    assert app.error[0].value.startswith(
        "row.csv: row: expected a CSV text file (UTF-8), got a file starting with bytes 89 50"
    )


def test_a_users_model_says_it_falls_back(
    user_model: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model of the user's own records no scaling: the page says the values go in as given,
    and the row (columns named as in its .npz) is explained."""
    monkeypatch.setenv(FACTORIES_ENV, "dashmodel:build")
    app = open_page("your_model")
    app.text_input(key="upload_spec").input("dashmodel:build")
    app.file_uploader(key="upload_weights").upload(
        "w.safetensors", user_model["weights"].read_bytes()
    )
    app.file_uploader(key="upload_data").upload("d.npz", user_model["data"].read_bytes())
    app.get("form_submit_button")[0].click().run()
    app.switch_page("app_pages/explain.py").run()
    app.radio(key="sample_selection").set_value("dropped").run()
    assert any(
        i.value.startswith("dashmodel:build does not say how its features are scaled")
        for i in app.info
    ), [i.value for i in app.info]
    app = _drop(app, "mine.csv", b"d,c,b,a\n0.5,0,-1,2\n", "text/csv")
    assert not _errors(app)
    app = _explain(app, ["integrated_gradients"])
    assert app.dataframe[0].value["value"].tolist() == [2.0, -1.0, 0.0, 0.5]
