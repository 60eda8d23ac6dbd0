"""reference_models: shipped weights load instantly and meet their targets; data are generated
deterministically; retraining with the recorded recipe reproduces the metrics."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from torch.utils.data import TensorDataset

import reference_models
import xai
from reference_models.datasets import SHAPE_CLASSES, make_shapes, stratified_split

TARGETS = {
    "digits_cnn": {"accuracy": 0.97},
    "breast_cancer_mlp": {"accuracy": 0.95, "roc_auc": 0.98},
    "shapes_cnn": {"accuracy": 0.95},
    "keywords_text_cnn": {"accuracy": 0.95},
}


def test_available() -> None:
    # every reference model, the text model included (issue 16): each face explains token ids
    assert reference_models.available() == [
        "breast_cancer_mlp",
        "digits_cnn",
        "keywords_text_cnn",
        "shapes_cnn",
    ]
    assert sorted(TARGETS) == reference_models.available()  # every listed model is checked


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_shipped_weights_meet_targets_and_match_info(name: str) -> None:
    ref = reference_models.load(name)
    assert not ref.model.training
    assert set(ref.data) == {"train", "val", "test"}
    assert all(isinstance(d, TensorDataset) for d in ref.data.values())
    x_test = ref.data["test"].tensors[0]
    assert tuple(x_test.shape[1:]) == ref.info.input_shape
    assert len(ref.info.class_names) == ref.info.num_classes
    report = xai.evaluate(ref.model, ref.data["test"])
    for metric, target in TARGETS[name].items():
        assert getattr(report, metric) >= target
        assert ref.info.metrics["test"][metric] == pytest.approx(getattr(report, metric), abs=1e-3)
    assert ref.info.metrics["test"]["n_samples"] == report.n_samples
    assert reference_models.weights_path(name).stat().st_size < 1_000_000
    # splits are disjoint in size terms and non-empty
    assert min(len(d) for d in ref.data.values()) > 50


def test_info_of_tabular_and_image_models() -> None:
    mlp = reference_models.load("breast_cancer_mlp")
    assert mlp.info.task == "tabular-classification"
    assert len(mlp.info.feature_names) == 30 and mlp.info.feature_names[0] == "mean radius"
    assert mlp.info.class_names == ["malignant", "benign"]
    assert len(mlp.info.extras["mean"]) == 30
    shapes = reference_models.load("shapes_cnn")
    assert shapes.info.task == "image-classification"
    assert shapes.info.feature_names is None
    assert shapes.info.class_names == list(SHAPE_CLASSES)
    json.dumps(shapes.info.to_dict())


def test_shapes_data_carry_boolean_masks() -> None:
    ref = reference_models.load("shapes_cnn")
    for split in ref.data.values():
        x, y, masks = split.tensors
        assert x.shape[1:] == (3, 32, 32) and x.dtype == torch.float32
        assert masks.shape == (len(x), 1, 32, 32) and masks.dtype == torch.bool
        assert bool((masks.flatten(1).sum(1) >= 20).all())  # every image has an object
        assert set(y.unique().tolist()) == {0, 1, 2, 3}


def test_shapes_generator_is_deterministic() -> None:
    a = make_shapes(40, seed=3)
    b = make_shapes(40, seed=3)
    c = make_shapes(40, seed=4)
    for left, right in zip(a, b, strict=True):
        assert torch.equal(left, right)
    assert not torch.equal(a[0], c[0])
    images, labels, masks = a
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    # the label is the shape: check each mask's geometry within its bounding box
    for label, mask in zip(labels.tolist(), masks[:, 0], strict=True):
        rows = mask.any(1).nonzero().flatten()
        cols = mask.any(0).nonzero().flatten()
        box = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        widths = box.sum(1)
        fill = float(box.float().mean())
        if SHAPE_CLASSES[label] == "square":
            assert fill == 1.0
        elif SHAPE_CLASSES[label] == "circle":
            assert 0.7 <= fill <= 0.92
            assert widths[0] < box.shape[1] and widths[len(widths) // 2] == box.shape[1]
        elif SHAPE_CLASSES[label] == "triangle":
            assert widths[0] < widths[-1] == box.shape[1]  # apex at the top, base at the bottom
        else:  # cross: full-width bar in the middle, narrow arms at top and bottom
            assert widths[0] == widths[-1] < 0.5 * box.shape[1]
            assert int(widths.max()) == box.shape[1]


def test_stratified_split() -> None:
    labels = torch.tensor([0] * 50 + [1] * 30)
    split = stratified_split(labels, (0.6, 0.2, 0.2), seed=0)
    assert sorted(torch.cat(list(split.values())).tolist()) == list(range(80))
    assert int((labels[split["test"]] == 1).sum()) == 6
    with pytest.raises(ValueError, match="fractions"):
        stratified_split(labels, (0.5, 0.2, 0.2), seed=0)


def test_gradcam_localises_the_shape() -> None:
    ref = reference_models.load("shapes_cnn")
    x, _, masks = ref.data["test"][:32]
    heatmap = xai.explain(ref.model, x, method="gradcam").heatmap()
    peak = heatmap.flatten(1).argmax(1, keepdim=True)
    hits = masks[:, 0].flatten(1).gather(1, peak).float().mean()
    assert hits >= 0.9  # pointing game on the ground-truth masks


@pytest.mark.slow
def test_retraining_reproduces_metrics_with_reduced_budget(tmp_path) -> None:
    shipped = reference_models.load("digits_cnn").info.metrics["test"]["accuracy"]
    result = reference_models.train("digits_cnn", epochs=8, device="cpu", out=tmp_path)
    assert result.metrics["test"]["accuracy"] >= shipped - 0.06
    assert len(result.history) == 8
    retrained = reference_models.load("digits_cnn", weights=result.path)
    report = xai.evaluate(retrained.model, retrained.data["test"])
    assert report.accuracy == pytest.approx(result.metrics["test"]["accuracy"])
    meta = json.loads(result.path.with_suffix(".json").read_text())
    assert meta["reference_model"] == "digits_cnn"
    assert meta["architecture"]["name"] == "small_cnn"
    assert meta["recipe"]["fit"]["epochs"] == 8
    assert meta["training"]["epochs_run"] == 8 and meta["data"]["split_seed"] == 0
    assert set(meta["metrics"]) == {"val", "test"}
    assert result.path.with_suffix(".history.json").is_file()


def test_errors(tmp_path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(
        ValueError, match=r"weights: '.*junk\.safetensors' is not a readable safetensors"
    ):
        reference_models.load("digits_cnn", weights=junk)
    other = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, other)  # no JSON beside it: the architecture is not named
    with pytest.raises(
        ValueError,
        match=r"weights: '.*other\.safetensors' does not fit the 'digits_cnn' model: .*Missing key",
    ):
        reference_models.load("digits_cnn", weights=other)
    with pytest.raises(
        FileNotFoundError, match=r"weights: expected a \.safetensors file, got the folder"
    ):
        reference_models.load("digits_cnn", weights=tmp_path)
    with pytest.raises(ValueError, match="Did you mean 'digits_cnn'"):
        reference_models.load("digit_cnn")
    with pytest.raises(FileNotFoundError, match="xai train digits_cnn"):
        reference_models.load("digits_cnn", weights="/nonexistent/digits_cnn.safetensors")
    with pytest.raises(ValueError, match="holds a 'mlp' model"):
        reference_models.load(
            "digits_cnn", weights=reference_models.weights_path("breast_cancer_mlp")
        )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_load_on_cuda_and_retrain_with_mixed_precision(tmp_path) -> None:
    ref = reference_models.load("digits_cnn", device="auto")
    assert next(ref.model.parameters()).is_cuda
    report = xai.evaluate(ref.model, ref.data["test"])
    assert report.accuracy == pytest.approx(ref.info.metrics["test"]["accuracy"], abs=0.01)
    result = reference_models.train("digits_cnn", device="cuda", out=tmp_path)
    meta = json.loads(result.path.with_suffix(".json").read_text())
    assert result.metrics["test"]["accuracy"] >= 0.97
    assert meta["recipe"]["fit"]["epochs"] == 25
    assert meta["training"]["amp"] in ("bfloat16", "float16")
    assert meta["training"]["device"].startswith("cuda")
