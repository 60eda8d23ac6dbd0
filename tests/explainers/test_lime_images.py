"""LIME on images: meaningful superpixels on small images, large model batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

import xai
from tests.explainers import models
from xai.explainers.lime.segmentation import quickshift_segments, segment_image


def digits_32() -> torch.Tensor:
    images = torch.tensor(load_digits().images[:6], dtype=torch.float32).unsqueeze(1) / 16
    return F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)


def test_default_segmentation_gives_tens_of_segments_on_32px_digits() -> None:
    for image in digits_32():
        hwc = image.permute(1, 2, 0).double().numpy()
        labels, how = segment_image(hwc, None, None)
        assert how == "slic"
        assert 20 <= len(np.unique(labels)) <= 100
        # lime's own default (quickshift) collapses these images to a handful of segments
        assert len(np.unique(quickshift_segments(hwc))) <= 3


@pytest.mark.parametrize("size", [8, 16, 64])
def test_default_segmentation_scales_with_image_size(size: int) -> None:
    image = torch.rand(size, size, 3, generator=torch.Generator().manual_seed(0)).double().numpy()
    labels, _ = segment_image(image, None, None)
    assert 10 <= len(np.unique(labels)) <= 110
    assert sorted(np.unique(labels)) == list(range(len(np.unique(labels))))


def test_flat_image_still_gets_segments() -> None:
    labels, _ = segment_image(np.zeros((32, 32, 1)), None, 64)
    assert len(np.unique(labels)) >= 16


def test_falls_back_to_grid_when_slic_finds_too_few(monkeypatch: pytest.MonkeyPatch) -> None:
    from xai.explainers.lime import segmentation as _segmentation

    monkeypatch.setattr(
        _segmentation, "slic_segments", lambda image, n: np.zeros(image.shape[:2], int)
    )
    labels, how = segment_image(np.random.rand(32, 32, 1), None, 64)
    assert how == "grid (slic found too few segments)"
    assert len(np.unique(labels)) == 64


def test_explanation_records_segments_and_params() -> None:
    model = models.small_cnn()
    expl = xai.explain(model, digits_32()[:2], method="lime", num_samples=100, seed=0)
    segments = expl.extras["segments"]
    assert segments.shape == (2, 32, 32) and segments.dtype == torch.long
    assert expl.params["segmentation"] == "slic"
    # every pixel of a superpixel carries the same weight
    heat = expl.heatmap()[0]
    for label in torch.unique(segments[0]):
        values = heat[segments[0] == label]
        assert torch.all(values == values[0])


def test_custom_segmentations() -> None:
    model, x = models.small_cnn(), models.images(2)
    quarters = torch.zeros(12, 12, dtype=torch.long)
    quarters[:6, 6:], quarters[6:, :6], quarters[6:, 6:] = 1, 2, 3
    given = xai.explain(model, x, method="lime", segmentation=quarters, num_samples=50, seed=0)
    assert given.heatmap()[0].unique().numel() <= 4
    assert torch.equal(given.extras["segments"][1], quarters)

    def halves(image: np.ndarray) -> np.ndarray:
        return (
            (np.arange(image.shape[1])[None, :] >= image.shape[1] // 2)
            .repeat(image.shape[0], 0)
            .astype(int)
        )

    called = xai.explain(model, x, method="lime", segmentation=halves, num_samples=50, seed=0)
    assert called.extras["segments"][0].unique().tolist() == [0, 1]
    with pytest.raises(
        ValueError,
        match=r"segmentation: the callable must return integer labels of shape \(12, 12\)",
    ):
        xai.explain(
            model,
            x,
            method="lime",
            segmentation=lambda image: np.zeros((3, 3), int),
            num_samples=20,
            seed=0,
        )
    with pytest.raises(
        ValueError, match=r"segmentation: expected one of 'slic', 'grid', 'quickshift'"
    ):
        xai.explain(model, x, method="lime", segmentation="watershed", seed=0)


def test_model_is_called_in_large_batches() -> None:
    """lime's own default calls the model 10 images at a time; here one call covers them all."""
    model = models.small_cnn()
    batch_sizes: list[int] = []
    handle = model.register_forward_hook(
        lambda module, inputs, output: batch_sizes.append(inputs[0].shape[0])
    )
    try:
        expl = xai.explain(model, models.images(2), method="lime", num_samples=500, seed=0)
    finally:
        handle.remove()
    lime_calls = [size for size in batch_sizes if size > 2]
    assert lime_calls == [500, 500]
    assert expl.extras["model_evaluations"] == sum(batch_sizes)


def test_batch_size_option_bounds_model_batches() -> None:
    model = models.small_cnn()
    batch_sizes: list[int] = []
    handle = model.register_forward_hook(
        lambda module, inputs, output: batch_sizes.append(inputs[0].shape[0])
    )
    try:
        xai.explain(model, models.images(1), method="lime", num_samples=300, batch_size=128, seed=0)
    finally:
        handle.remove()
    assert max(batch_sizes) == 128


def test_hide_color_none_needs_rgb() -> None:
    with pytest.raises(
        ValueError,
        match=r"hide_color: None \(superpixel mean colour\) needs 3-channel images, got 1",
    ):
        xai.explain(models.small_cnn(), models.images(1), method="lime", hide_color=None, seed=0)
    rgb = xai.explain(
        models.small_cnn(channels=3),
        models.images(1, channels=3),
        method="lime",
        hide_color=None,
        num_samples=50,
        seed=0,
    )
    assert torch.isfinite(rgb.attributions).all()


@pytest.mark.parametrize(
    ("hide_color", "error", "message"),
    [
        ("black", TypeError, r"hide_color: expected a number, or None .* got str"),
        (
            torch.zeros(1, 12, 12),
            TypeError,
            r"hide_color: expected a number, or None .* got Tensor",
        ),
        (float("nan"), ValueError, r"hide_color: expected a finite number"),
        (1e39, ValueError, r"hide_color: expected a finite number"),
    ],
)
def test_bad_hide_color(hide_color: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        xai.explain(models.small_cnn(), models.images(1), method="lime", hide_color=hide_color)
