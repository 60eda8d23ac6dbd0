"""Every dashboard page driven through Streamlit's AppTest: widgets set, elements checked against
what the library computes for the same model and sample."""

from __future__ import annotations

import gc
import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import reference_models
import xai
from tests.dashboards.conftest import new_app, open_page
from xai.evaluation.inspection import select_samples
from xai.explainers.parameters import applicable_methods, tunable_parameters
from xai.suite.subject import ALLOW_CODE_ENV, FACTORIES_ENV, MAX_DATA_ENV, MAX_UPLOAD_ENV


@pytest.fixture(scope="module")
def digits() -> reference_models.ReferenceModel:
    return reference_models.load("digits_cnn")


def _errors(app) -> list[str]:
    return [e.value for e in app.error] + [e.value for e in app.exception]


def _explain(app, methods: list[str]):
    app.multiselect(key="methods").set_value(methods)
    app.get("form_submit_button")[0].click().run()
    assert not _errors(app), _errors(app)
    return app


# --- Models -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", reference_models.available())
def test_models_page_shows_the_library_metrics(name: str) -> None:
    app = open_page("models", name)
    ref = reference_models.load(name)
    report = xai.evaluate(ref.model, ref.data["test"], class_names=ref.info.class_names)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Accuracy"] == f"{report.accuracy:.4f}"
    assert metrics["F1 (macro)"] == f"{report.f1:.4f}"
    assert metrics["ROC-AUC"] == f"{report.roc_auc:.4f}"
    per_class = app.dataframe[0].value
    assert list(per_class["class"]) == ref.info.class_names
    assert per_class["support"].sum() == len(ref.data["test"])
    # confusion matrix, ROC curves, calibration, training history (shipped with the weights)
    assert len(app.image) == 4
    assert not app.info  # the history was found


def test_models_page_confusion_toggle_redraws_without_error() -> None:
    app = open_page("models", "shapes_cnn")
    before = app.image[0].value
    app.toggle[0].set_value(True).run()
    assert not _errors(app)
    assert len(app.image) == 4 and app.image[0].value != before


# --- Explain ----------------------------------------------------------------------------------


def test_explain_page_images_one_per_method(digits: reference_models.ReferenceModel) -> None:
    app = open_page("explain", "digits_cnn")
    assert [i.value for i in app.info] == ["Choose one or more methods and press **Explain**."]
    assert len(app.image) == 1  # the input only
    app = _explain(app, ["integrated_gradients", "gradcam"])
    captions = [image.captions[0] for image in app.image]
    assert captions[0] == "sample #0"
    assert captions[1].startswith("integrated_gradients · ")
    assert captions[2].startswith("gradcam · ")
    assert len(app.image) == 3
    # the prediction shown is the model's
    with torch.no_grad():
        logits = digits.model(digits.data["test"].tensors[0][:1])
    probabilities = torch.softmax(logits, dim=1)[0]
    metrics = {m.label: m for m in app.metric}
    assert metrics["Predicted"].value == digits.info.class_names[int(probabilities.argmax())]
    assert metrics["Predicted"].delta.startswith(f"{float(probabilities.max()):.3f}")


def test_explain_shared_scale_gives_every_map_the_same_scale() -> None:
    app = _explain(open_page("explain", "digits_cnn"), ["integrated_gradients", "gradcam"])
    scales = [image.captions[0].rsplit("scale ", 1)[1] for image in app.image[1:]]
    assert scales[0] != scales[1]  # IG and Grad-CAM have different magnitudes
    app.toggle(key="shared_scale").set_value(True).run()
    shared = [image.captions[0].rsplit("scale ", 1)[1] for image in app.image[1:]]
    assert shared[0] == shared[1] == max(scales, key=lambda s: float(s.strip("±")))


def test_explain_parameters_reach_the_method(digits: reference_models.ReferenceModel) -> None:
    app = open_page("explain", "digits_cnn")
    app.number_input(key="integrated_gradients.n_steps").set_value(8)
    app = _explain(app, ["integrated_gradients"])
    expected = xai.explain(digits.model, digits.data["test"].tensors[0][:1], n_steps=8)
    evaluations = expected.extras["model_evaluations"]
    assert f"· {evaluations} model evaluations ·" in app.image[1].captions[0]


def test_explain_every_method_on_images() -> None:
    """Every registered method that explains images, each with the controls its class
    declares (``tunable_parameters``), side by side."""
    app = open_page("explain", "shapes_cnn")
    ref = reference_models.load("shapes_cnn")
    sample = ref.data["test"].tensors[0][:1]
    everything = applicable_methods(sample)
    assert {"gradcam", "integrated_gradients", "lime", "shap", "smoothgrad", "occlusion"} <= set(
        everything
    )
    assert app.multiselect(key="methods").options == everything
    for method in everything:  # one control per tunable parameter of each method
        for parameter in tunable_parameters(method, ref.model, sample):
            widget = f"{method}.{parameter.name}"
            control = (
                app.selectbox(key=widget) if parameter.is_choice else app.number_input(key=widget)
            )
            assert control.value == parameter.default, widget
    app.number_input(key="lime.num_samples").set_value(200)
    app = _explain(app, everything)
    assert len(app.image) == len(everything) + 1
    methods = [image.captions[0].split(" · ")[0] for image in app.image[1:]]
    assert methods == everything


def test_explain_misclassified_samples_are_the_mistakes(
    digits: reference_models.ReferenceModel,
) -> None:
    app = open_page("explain", "digits_cnn")
    app.radio(key="sample_selection").set_value("misclassified").run()
    assert not _errors(app)
    inputs, labels = digits.data["test"].tensors[:2]
    with torch.no_grad():
        probabilities = torch.softmax(digits.model(inputs), dim=1)
    expected = select_samples(probabilities, labels, "misclassified")
    assert expected, "digits_cnn makes a few mistakes on its test set"
    box = app.selectbox(key="sample_choice")
    assert list(box.options) == [box.format_func(i) for i in expected][: len(box.options)]
    assert box.value == expected[0]
    assert int(probabilities[expected[0]].argmax()) != int(labels[expected[0]])
    metrics = {m.label: m for m in app.metric}
    assert "wrong" in metrics["Predicted"].delta


def test_explain_least_confident_sample_first(digits: reference_models.ReferenceModel) -> None:
    app = open_page("explain", "digits_cnn")
    app.radio(key="sample_selection").set_value("least_confident").run()
    inputs = digits.data["test"].tensors[0]
    with torch.no_grad():
        confidence = torch.softmax(digits.model(inputs), dim=1).max(dim=1).values
    assert app.selectbox(key="sample_choice").value == int(confidence.argmin())


def test_explain_tabular_bar_charts_with_feature_names() -> None:
    app = _explain(open_page("explain", "breast_cancer_mlp"), ["integrated_gradients", "shap"])
    charts = app.get("vega_lite_chart")
    assert len(charts) == 2 + 1  # one per method + the class probabilities
    table = app.dataframe[0].value
    ref = reference_models.load("breast_cancer_mlp")
    assert list(table["feature"]) == ref.info.feature_names
    assert list(table.columns) == ["feature", "value", "integrated_gradients", "shap"]
    expected = xai.explain(ref.model, ref.data["test"].tensors[0][:1], target=None)
    assert table["integrated_gradients"].tolist() == pytest.approx(
        expected.attributions[0].tolist(), abs=1e-6
    )


def test_explain_sample_index_persists_across_pages() -> None:
    app = open_page("explain", "digits_cnn")
    app.number_input(key="sample_number").set_value(5).run()
    app.switch_page("app_pages/models.py").run()
    app.switch_page("app_pages/explain.py").run()
    assert app.number_input(key="sample_number").value == 5
    assert app.image[0].captions == ["sample #5"]


# --- Trust ------------------------------------------------------------------------------------


def test_trust_page_metrics_comparison_and_sanity_check() -> None:
    app = open_page("explain", "digits_cnn")
    app.number_input(key="sample_number").set_value(3).run()
    app.switch_page("app_pages/trust.py").run()
    app.multiselect(key="trust_methods").set_value(["integrated_gradients", "gradcam"]).run()
    assert not _errors(app)
    assert "Sample #3" in [h.value for h in app.header]
    table = app.dataframe[0].value
    assert list(table.index) == ["integrated_gradients", "gradcam"]
    assert any(column.startswith("deletion_auc") for column in table.columns)
    assert len(app.image) == 2  # deletion/insertion curves per method
    assert not any(column.startswith("max_sensitivity") for column in table.columns)
    chosen = app.multiselect(key="trust_metrics").value
    app.multiselect(key="trust_metrics").set_value([*chosen, "max_sensitivity_error"]).run()
    table = app.dataframe[0].value
    assert "max_sensitivity_error ↓" in table.columns
    digits = reference_models.load("digits_cnn")
    explanation = xai.explain(digits.model, digits.data["test"].tensors[0][3:4], n_steps=50)
    expected = xai.evaluate_explanation(digits.model, explanation, ["deletion_auc"])
    assert table.loc["integrated_gradients", "deletion_auc ↓"] == pytest.approx(
        expected.means["deletion_auc"], abs=1e-6
    )

    app.slider(key="compare_count").set_value(3)
    app.get("form_submit_button")[0].click().run()
    assert not _errors(app)
    # + mean deletion/insertion curves per method and two agreement matrices
    assert len(app.dataframe) == 2 and len(app.image) == 2 + 2 + 2

    app.selectbox(key="sanity_method").set_value("gradcam")
    app.slider(key="sanity_count").set_value(2)
    app.get("form_submit_button")[1].click().run()
    verdicts = [m.value for m in app.success] + [e.value for e in app.error]
    assert len(verdicts) == 1 and "gradcam" in verdicts[0]
    assert "model randomization check" in verdicts[0]
    assert len(app.image) == 7


# --- Your model -------------------------------------------------------------------------------


def _upload(app, spec: str, weights: bytes | None, data: bytes | None):
    app.text_input(key="upload_spec").input(spec)
    if weights is not None:
        app.file_uploader(key="upload_weights").upload("w.safetensors", weights)
    if data is not None:
        app.file_uploader(key="upload_data").upload("d.npz", data)
    app.get("form_submit_button")[0].click().run()
    assert not app.exception, [e.value for e in app.exception]
    return app


@pytest.fixture
def started_with(monkeypatch: pytest.MonkeyPatch, user_model: dict[str, Path]) -> None:
    """The dashboard as ``xai dashboard dashmodel:build`` starts it: that factory's weights and
    data may be uploaded."""
    monkeypatch.setenv(FACTORIES_ENV, "dashmodel:build")


def test_upload_a_model_then_see_it_on_every_page(
    user_model: dict[str, Path], started_with: None
) -> None:
    app = open_page("your_model")
    assert app.text_input(key="upload_spec").value == "dashmodel:build"  # the one allowed
    assert any("`dashmodel:build`" in c.value for c in app.caption)
    app = _upload(
        app,
        "dashmodel:build",
        user_model["weights"].read_bytes(),
        user_model["data"].read_bytes(),
    )
    assert not app.error
    assert [s.value for s in app.success] == ["Loaded dashmodel:build; it is now selected."]
    assert app.selectbox(key="model").value.startswith("upload:dashmodel:build#")
    app.switch_page("app_pages/models.py").run()
    assert not _errors(app)
    assert app.title[0].value == "Model: dashmodel:build"
    assert list(app.dataframe[0].value["class"]) == ["red", "green", "blue"]
    assert next(i.value for i in app.info).startswith("No training history")
    app.switch_page("app_pages/explain.py").run()
    app.radio(key="sample_selection").set_value("misclassified").run()
    assert len(app.selectbox(key="sample_choice").options) == 3


def test_upload_errors_are_shown(user_model: dict[str, Path], started_with: None) -> None:
    weights, data = user_model["weights"].read_bytes(), user_model["data"].read_bytes()
    app = _upload(open_page("your_model"), "dashmodel:build", b"not safetensors", data)
    assert len(app.error) == 1 and app.error[0].value.startswith("weights: expected a .safetensors")

    app = _upload(open_page("your_model"), "dashmodel:build", weights, b"not an npz")
    assert len(app.error) == 1 and app.error[0].value.startswith("data: expected an .npz file")

    app = _upload(open_page("your_model"), "dashmodel:build", None, data)
    assert app.error[0].value == "Give weights to load a model."
    assert app.selectbox(key="model").value == reference_models.available()[0]


@pytest.fixture
def no_code_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records calls of ``os.abort`` (replaced, so that a test that fails does not kill
    pytest) and whether the garbage collector was switched off (switched back on after)."""
    calls: list[str] = []
    monkeypatch.setattr(os, "abort", lambda: calls.append("os.abort"))
    assert gc.isenabled()
    yield calls
    if not gc.isenabled():
        calls.append("gc.disable")
        gc.enable()


@pytest.mark.parametrize(
    ("typed", "allowed"),
    [("gc:disable", None), ("os:abort", "dashmodel:build")],
    ids=["gc-disable-started-with-none", "os-abort-started-with-another"],
)
def test_a_typed_module_runs_nothing_without_allow_code(
    user_model: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    no_code_run: list[str],
    typed: str,
    allowed: str | None,
) -> None:
    """The page loads only the models the server was started with: a module typed in it is
    not imported, its function not called, whatever the files."""
    if allowed:
        monkeypatch.setenv(FACTORIES_ENV, allowed)
    app = open_page("your_model")
    notes = [i.value for i in app.info]
    app = _upload(app, typed, user_model["weights"].read_bytes(), user_model["data"].read_bytes())
    assert gc.isenabled() and no_code_run == []
    assert len(app.error) == 1
    message = app.error[0].value
    assert message.startswith("model: this dashboard loads only the models it was started with")
    assert f"{typed!r} is not one of them, and nothing was imported" in message
    assert f"xai dashboard --model {typed}" in message
    assert not app.warning  # no --allow-code
    assert app.selectbox(key="model").value == reference_models.available()[0]
    if allowed is None:  # the page says so before anything is typed
        assert any("none of yours was given" in note for note in notes), notes


def test_allow_code_checks_the_files_before_running_the_factory(
    user_model: dict[str, Path], monkeypatch: pytest.MonkeyPatch, no_code_run: list[str]
) -> None:
    """With --allow-code a typed module is imported, but only once both files have been read
    and checked."""
    monkeypatch.setenv(ALLOW_CODE_ENV, "1")
    weights, data = user_model["weights"].read_bytes(), user_model["data"].read_bytes()
    app = open_page("your_model")
    warnings = [w.value for w in app.warning]
    app = _upload(app, "gc:disable", b"not safetensors", data)
    assert app.error[0].value.startswith("weights: expected a .safetensors")
    app = _upload(open_page("your_model"), "os:abort", weights, b"not an npz")
    assert app.error[0].value.startswith("data: expected an .npz file")
    assert gc.isenabled() and no_code_run == []

    app = _upload(open_page("your_model"), "nosuchmodule:build", weights, data)
    assert "could not import module 'nosuchmodule'" in app.error[0].value
    app = _upload(open_page("your_model"), "dashmodel:build", weights, data)
    assert not app.error
    assert app.selectbox(key="model").value.startswith("upload:dashmodel:build#")
    assert any("Anyone who can reach this page can run code" in w for w in warnings), warnings


def _zeros_npz(rows: int, columns: int) -> bytes:
    """A compressed .npz whose x decompresses to rows * columns * 4 bytes of zeros."""
    buffer = io.BytesIO()
    x = np.zeros((rows, columns), np.float32)
    np.savez_compressed(buffer, x=x, y=np.zeros(rows, np.int64))
    return buffer.getvalue()


def test_uploads_above_the_limits_are_refused(
    user_model: dict[str, Path], started_with: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAX_UPLOAD_ENV, "1")
    monkeypatch.setenv(MAX_DATA_ENV, "2")
    weights = user_model["weights"].read_bytes()
    app = open_page("your_model")
    captions = [c.value for c in app.caption]

    bomb = _zeros_npz(250_000, 4)  # 4 MB of zeros (+ 2 MB of labels) in a few kB
    assert len(bomb) < 100_000
    app = _upload(app, "dashmodel:build", weights, bomb)
    assert len(app.error) == 1
    message = app.error[0].value
    assert message.startswith(f"data: the uploaded file ({len(bomb)} bytes) holds 5.7 MB")
    assert "more than the limit of 2 MB" in message

    big = np.random.default_rng(0).bytes(int(1.5 * 2**20))
    app = _upload(open_page("your_model"), "dashmodel:build", big, bomb)
    assert app.error[0].value == (
        "weights: the uploaded file is 1.5 MB, more than the 1 MB this dashboard accepts "
        "(xai dashboard --max-upload-mb)."
    )
    assert app.selectbox(key="model").value == reference_models.available()[0]
    limits = "Up to 1 MB a file, and 2 MB of test data once decompressed"
    assert any(caption.startswith(limits) for caption in captions), captions


def test_upload_shape_mismatch_is_explained(
    user_model: dict[str, Path], started_with: None
) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((5, 7), np.float32), y=np.zeros(5, np.int64))
    app = _upload(
        open_page("your_model"),
        "dashmodel:build",
        user_model["weights"].read_bytes(),
        buffer.getvalue(),
    )
    message = app.error[0].value
    assert message.startswith(
        "data: the model of dashmodel:build cannot run on 'x' of shape (5, 7)"
    )


def test_command_line_model_is_offered_first(
    user_model: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_DASHBOARD_MODEL", "dashmodel:build")
    monkeypatch.setenv("XAI_DASHBOARD_WEIGHTS", str(user_model["weights"]))
    monkeypatch.setenv("XAI_DASHBOARD_DATA", str(user_model["data"]))
    app = new_app().run()
    assert not _errors(app)
    assert app.selectbox(key="model").value == "cli:dashmodel:build"
    assert app.title[0].value == "Model: dashmodel:build"
    app.switch_page("app_pages/your_model.py").run()
    assert app.success[0].value.startswith("Given on the command line: **dashmodel:build**")


def test_command_line_model_that_does_not_load(
    user_model: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_DASHBOARD_MODEL", "dashmodel:build")
    monkeypatch.setenv("XAI_DASHBOARD_WEIGHTS", str(user_model["folder"] / "missing.safetensors"))
    monkeypatch.setenv("XAI_DASHBOARD_DATA", str(user_model["data"]))
    app = new_app()
    app.run()
    app.switch_page("app_pages/your_model.py").run()
    assert "did not load: weights: expected an existing .safetensors file" in app.error[0].value


def test_command_line_reference_model_is_selected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XAI_DASHBOARD_MODEL", "shapes_cnn")
    app = new_app().run()
    assert app.selectbox(key="model").value == "shapes_cnn"
    assert app.title[0].value == "Model: shapes_cnn"
