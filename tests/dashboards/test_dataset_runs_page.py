"""The Dataset runs page, driven through AppTest: a run written by ``xai.explain_dataset`` is
opened from its folder, its settings, figures and tables are shown, the sample browser shows
each sample's explanation, the downloads load back, and a folder that is not a run is refused
with a message naming it."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from PIL import Image

import reference_models
import xai
from dashboards import downloads as dashboard_downloads
from tests.dashboards.conftest import Download, open_page

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PAGE = "dataset_runs"


def _problems(app: Any) -> list[str]:
    return [e.value for e in app.error] + [e.value for e in app.exception]


def _buttons(app: Any) -> dict[str, Any]:
    return {button.key: button for button in app.get("download_button")}


def _settings(app: Any) -> dict[str, str]:
    frame = app.dataframe[0].value
    return dict(zip(frame["setting"], frame["value"], strict=True))


def _open(folder: Path | str) -> Any:
    app = open_page(PAGE)
    app.text_input(key="dataset_run_path").set_value(str(folder)).run()
    return app


def _run(name: str, out: Path, method: str, **options: Any) -> xai.DatasetExplanation:
    reference = reference_models.load(name)
    x, y = reference.data["test"].tensors[:2]
    return xai.explain_dataset(
        reference.model,
        (x[:40], y[:40]),
        method,
        out=out,
        target="label",
        batch_size=16,
        progress=False,
        **options,
    )


@pytest.fixture
def tabular_run(tmp_path: Path) -> xai.DatasetExplanation:
    return _run("breast_cancer_mlp", tmp_path / "ig", "integrated_gradients", n_steps=8)


@pytest.fixture
def image_run(tmp_path: Path) -> xai.DatasetExplanation:
    return _run("digits_cnn", tmp_path / "gradcam", "gradcam")


def _png(download: Download) -> Image.Image:
    assert download.mime == "image/png" and download.file_name.endswith(".png")
    assert download.data.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(download.data))
    image.load()
    return image


@pytest.mark.parametrize("kind", ["tabular", "image"])
def test_a_run_opens_with_its_settings_figures_and_tables(
    kind: str, request: pytest.FixtureRequest
) -> None:
    run = request.getfixturevalue(f"{kind}_run")
    app = _open(run.path)
    assert not _problems(app), _problems(app)
    settings = _settings(app)
    assert settings["method"] == run.method
    assert settings["target"] == "label"
    assert settings["samples"] == "40" and settings["samples stored"] == "40"
    assert settings["batch size"] == "16" and settings["shards stored"] == "3 of 3"
    assert settings["complete"] == "yes"
    assert json.loads(settings["options"]) == run.options
    assert settings["version: xai"] == run.versions["xai"]
    assert not app.warning  # complete: no warning
    # the four summary figures and the sample's
    assert len(app.image) == 5
    summary = run.summary(top_k=5)
    counts = app.dataframe[1].value
    assert list(counts["class"]) == list(range(summary.num_classes))
    assert list(counts["label"]) == summary.class_counts["label"].tolist()
    assert list(counts["predicted"]) == summary.class_counts["predicted"].tolist()
    assert list(counts["explained"]) == summary.class_map_counts.tolist()
    examples = app.dataframe[2].value
    expected = summary.to_dict()
    assert list(examples["index"]) == [
        e["index"] for e in expected["most_confident"] + expected["least_confident"]
    ]
    assert list(examples["examples"]) == ["most"] * 5 + ["least"] * 5


def test_sample_browser_changes_the_figure(tabular_run: xai.DatasetExplanation) -> None:
    app = _open(tabular_run.path)
    first = app.image[-1].value
    caption = [c.value for c in app.caption if c.value.startswith("Sample 0")]
    assert caption, [c.value for c in app.caption]
    app.number_input(key="dataset_run_sample").set_value(33).run()
    assert not _problems(app), _problems(app)
    second = app.image[-1].value
    assert second != first
    sample = tabular_run.sample(33)
    shown = [c.value for c in app.caption if c.value.startswith("Sample 33")]
    assert shown and f"predicted {int(sample.extras['predictions'][0])}" in shown[0]
    # back to sample 0: the cached figure again
    app.number_input(key="dataset_run_sample").set_value(0).run()
    assert app.image[-1].value == first


def test_downloads_load_back(
    image_run: xai.DatasetExplanation, downloads: Callable[[Any], Download]
) -> None:
    app = _open(image_run.path)
    assert not _problems(app), _problems(app)
    buttons = _buttons(app)
    summary = downloads(buttons["download_run_summary_json"])
    assert summary.mime == "application/json"
    assert summary.file_name == "gradcam_gradcam_summary.json"
    assert json.loads(summary.data) == image_run.summary(top_k=5).to_dict()
    for name in ("summary", "class_maps", "most_confident", "least_confident"):
        figure = downloads(buttons[f"download_run_{name}"])
        assert figure.file_name == f"gradcam_gradcam_{name}.png"
        assert min(_png(figure).size) > 100
    assert min(_png(downloads(buttons["download_run_sample"])).size) > 100
    counts = pd.read_csv(io.BytesIO(downloads(buttons["download_run_class_counts"]).data))
    assert counts.shape == app.dataframe[1].value.shape
    examples = pd.read_csv(io.BytesIO(downloads(buttons["download_run_confidence"]).data))
    assert list(examples["index"]) == list(app.dataframe[2].value["index"])


def test_fewer_examples_change_the_summary(tabular_run: xai.DatasetExplanation) -> None:
    app = _open(tabular_run.path)
    app.number_input(key="dataset_run_top_k").set_value(2).run()
    assert not _problems(app), _problems(app)
    assert list(app.dataframe[2].value["examples"]) == ["most"] * 2 + ["least"] * 2


def test_a_run_being_written_is_read_again(tmp_path: Path) -> None:
    """A run with a shard missing shows as incomplete; once resumed (the index changes), the
    page shows it complete without a restart."""
    run = _run("breast_cancer_mlp", tmp_path / "run", "integrated_gradients", n_steps=4)
    (run.path / "shard-000002.safetensors").unlink()
    index = json.loads((run.path / "index.json").read_text())
    index["updated"] = "2000-01-01T00:00:00+00:00"  # as the index of a run still at work
    (run.path / "index.json").write_text(json.dumps(index))
    app = _open(run.path)
    assert not _problems(app), _problems(app)
    settings = _settings(app)
    assert settings["complete"] == "no" and settings["shards stored"] == "2 of 3"
    assert app.warning and "2 of 3 batches" in app.warning[0].value
    app.number_input(key="dataset_run_sample").set_value(39).run()
    assert any("not stored" in i.value for i in app.info)
    _run("breast_cancer_mlp", tmp_path / "run", "integrated_gradients", n_steps=4)
    app.button[0].click().run()
    assert not _problems(app), _problems(app)
    assert _settings(app)["complete"] == "yes"
    assert not app.warning


def test_no_folder_typed_shows_a_hint() -> None:
    app = open_page(PAGE)
    assert not _problems(app)
    assert app.info and "folder" in app.info[0].value


@pytest.mark.parametrize("case", ["missing", "file", "not a run", "foreign index"])
def test_a_bad_folder_is_refused_naming_it(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "runs"
    if case == "file":
        folder.write_text("not a folder")
    elif case == "not a run":
        folder.mkdir()
        (folder / "notes.txt").write_text("hello")
    elif case == "foreign index":
        folder.mkdir()
        (folder / "index.json").write_text(json.dumps({"format": "something else"}))
    app = _open(folder)
    assert not app.exception, [e.value for e in app.exception]
    assert len(app.error) == 1
    assert str(folder) in app.error[0].value
    assert not app.dataframe and not app.image


def test_json_bytes_round_trip() -> None:
    value = {"a": [1, 2.5, None], "b": "x"}
    assert json.loads(dashboard_downloads.json_bytes(value)) == value
    with pytest.raises(ValueError):
        dashboard_downloads.json_bytes({"a": float("nan")})
