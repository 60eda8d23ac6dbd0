"""xai.viz.overlay_image / input_image / attribution_scale: fast RGB arrays for interactive
views. Colours are checked against matplotlib's colormaps evaluated here, in the test."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch

import reference_models
import xai
from xai import Explanation
from xai.viz import attribution_scale, input_image, overlay_image

RDBU_R = matplotlib.colormaps["RdBu_r"]
INFERNO = matplotlib.colormaps["inferno"]


def _explanation(
    attributions: torch.Tensor, inputs: torch.Tensor | None = None, method: str = "test"
) -> Explanation:
    if inputs is None:
        n, _, h, w = attributions.shape
        inputs = torch.zeros(n, 1, h, w)
    return Explanation(attributions, inputs, torch.zeros(len(inputs), dtype=torch.long), method)


def _signed(height: int = 6, width: int = 6) -> Explanation:
    """One sample: +2 at (1, 1), -2 at (4, 3), +1 at (2, 5), 0 elsewhere; a flat grey input."""
    attributions = torch.zeros(1, 1, height, width)
    attributions[0, 0, 1, 1] = 2.0
    attributions[0, 0, 4, 3] = -2.0
    attributions[0, 0, 2, 5] = 1.0
    return _explanation(attributions)


def _rgb(cmap: matplotlib.colors.Colormap, value: float) -> np.ndarray:
    return np.asarray(cmap(value)[:3]) * 255


# ----------------------------------------------------------------------------- overlay_image


@pytest.mark.parametrize(
    ("height", "width", "size", "factor"),
    [(8, 8, 224, 28), (8, 8, 20, 2), (8, 8, 5, 1), (6, 10, 224, 22), (32, 32, 224, 7)],
)
def test_overlay_shape_dtype_and_enlargement(
    height: int, width: int, size: int, factor: int
) -> None:
    torch.manual_seed(0)
    attributions = torch.randn(2, 3, height, width)
    explanation = _explanation(attributions, torch.rand(2, 3, height, width))
    small = overlay_image(explanation, 1, size=1)
    assert small.shape == (height, width, 3) and small.dtype == np.uint8
    big = overlay_image(explanation, 1, size=size)
    assert big.dtype == np.uint8
    assert big.shape == (height * factor, width * factor, 3)
    # Nearest-pixel enlargement: each input pixel becomes a factor x factor block.
    np.testing.assert_array_equal(big, np.kron(small, np.ones((factor, factor, 1), np.uint8)))


def test_signed_map_colours_at_full_opacity() -> None:
    image = overlay_image(_signed(), alpha=1.0, size=1).astype(float)
    positive, negative, half, zero = image[1, 1], image[4, 3], image[2, 5], image[0, 0]
    # Red for positive, blue for negative, white-ish for zero.
    assert positive[0] > max(positive[1], positive[2]) + 50
    assert negative[2] > max(negative[0], negative[1]) + 40
    assert zero.min() > 200
    # Diverging RdBu_r centred on 0, full colour at the largest magnitude (2).
    np.testing.assert_allclose(positive, _rgb(RDBU_R, 1.0), atol=1)
    np.testing.assert_allclose(negative, _rgb(RDBU_R, 0.0), atol=1)
    np.testing.assert_allclose(zero, _rgb(RDBU_R, 0.5), atol=1)
    np.testing.assert_allclose(half, _rgb(RDBU_R, 0.75), atol=1)


def test_signed_map_over_its_input_is_still_red_and_blue() -> None:
    explanation = _signed()
    faded = overlay_image(explanation, size=1).astype(int)  # default alpha
    assert faded[1, 1, 0] > faded[1, 1, 2] + 40
    assert faded[4, 3, 2] > faded[4, 3, 0] + 40


def test_magnitude_sets_full_colour() -> None:
    explanation = _signed()
    # Twice the largest value at full colour: +2 is drawn as +2/4 of the way to red.
    wider = overlay_image(explanation, magnitude=4.0, alpha=1.0, size=1).astype(float)
    np.testing.assert_allclose(wider[1, 1], _rgb(RDBU_R, 0.75), atol=1)
    np.testing.assert_allclose(wider[4, 3], _rgb(RDBU_R, 0.25), atol=1)
    np.testing.assert_allclose(wider[2, 5], _rgb(RDBU_R, 0.625), atol=1)
    # A smaller magnitude saturates: +1 is drawn as full red, like +2.
    narrower = overlay_image(explanation, magnitude=1.0, alpha=1.0, size=1).astype(float)
    np.testing.assert_allclose(narrower[2, 5], _rgb(RDBU_R, 1.0), atol=1)
    np.testing.assert_allclose(narrower[1, 1], _rgb(RDBU_R, 1.0), atol=1)
    np.testing.assert_allclose(narrower[4, 3], _rgb(RDBU_R, 0.0), atol=1)
    # Larger magnitude: lighter (closer to the white of zero) than on the map's own scale.
    own = overlay_image(explanation, alpha=1.0, size=1).astype(float)
    assert wider[1, 1].sum() > own[1, 1].sum() + 100


def test_non_negative_map_uses_the_sequential_colormap() -> None:
    attributions = torch.zeros(1, 1, 4, 4)
    attributions[0, 0, 0, 0] = 3.0
    attributions[0, 0, 2, 2] = 1.5
    image = overlay_image(_explanation(attributions), alpha=1.0, size=1).astype(float)
    np.testing.assert_allclose(image[0, 0], _rgb(INFERNO, 1.0), atol=1)
    np.testing.assert_allclose(image[2, 2], _rgb(INFERNO, 0.5), atol=1)
    np.testing.assert_allclose(image[3, 3], _rgb(INFERNO, 0.0), atol=1)
    scaled = overlay_image(_explanation(attributions), magnitude=6.0, alpha=1.0, size=1)
    np.testing.assert_allclose(scaled[0, 0].astype(float), _rgb(INFERNO, 0.5), atol=1)


def test_channels_are_summed_into_one_map() -> None:
    attributions = torch.zeros(1, 3, 4, 4)
    attributions[0, 0, 1, 1], attributions[0, 1, 1, 1] = 1.0, 1.0  # +2 at (1, 1)
    attributions[0, 0, 2, 2], attributions[0, 2, 2, 2] = 1.0, -1.0  # cancels to 0
    attributions[0, 2, 3, 3] = -1.0  # -1 at (3, 3)
    image = overlay_image(
        _explanation(attributions, torch.zeros(1, 3, 4, 4)), alpha=1.0, size=1
    ).astype(float)
    np.testing.assert_allclose(image[1, 1], _rgb(RDBU_R, 1.0), atol=1)
    np.testing.assert_allclose(image[2, 2], _rgb(RDBU_R, 0.5), atol=1)
    np.testing.assert_allclose(image[3, 3], _rgb(RDBU_R, 0.25), atol=1)


def test_alpha_blends_map_and_faded_input() -> None:
    torch.manual_seed(1)
    inputs = torch.rand(1, 1, 5, 5)
    explanation = _explanation(torch.randn(1, 1, 5, 5), inputs)
    bare = overlay_image(explanation, alpha=0.0, size=1).astype(float)
    # Without the map: the input in grey, brighter where the input is brighter, never black.
    assert np.all(bare[..., 0] == bare[..., 1]) and np.all(bare[..., 1] == bare[..., 2])
    order = np.argsort(inputs.flatten().numpy())
    assert np.all(np.diff(bare[..., 0].flatten()[order]) >= 0)
    assert bare.min() > 0 and bare.max() == 255
    full = overlay_image(explanation, alpha=1.0, size=1).astype(float)
    for alpha in (0.3, 0.65):
        blended = overlay_image(explanation, alpha=alpha, size=1).astype(float)
        np.testing.assert_allclose(blended, (1 - alpha) * bare + alpha * full, atol=1.01)
    assert np.array_equal(overlay_image(explanation, size=1), overlay_image(explanation, 0, size=1))


def test_index_picks_the_sample() -> None:
    attributions = torch.zeros(3, 1, 4, 4)
    attributions[0] = 1.0
    attributions[1] = -1.0
    attributions[2, 0, 0, 0] = 1.0
    attributions[2, 0, 0, 1] = -1.0
    explanation = _explanation(attributions)
    first = overlay_image(explanation, 0, alpha=1.0, size=1).astype(float)
    second = overlay_image(explanation, 1, alpha=1.0, size=1).astype(float)
    last = overlay_image(explanation, -1, alpha=1.0, size=1)
    np.testing.assert_allclose(first[0, 0], _rgb(INFERNO, 1.0), atol=1)
    np.testing.assert_allclose(second[0, 0], _rgb(RDBU_R, 0.0), atol=1)
    np.testing.assert_array_equal(last, overlay_image(explanation, 2, alpha=1.0, size=1))


def test_overlay_of_a_real_explanation() -> None:
    ref = reference_models.load("digits_cnn")
    x = ref.data["test"].tensors[0][:2]
    explanation = xai.explain(ref.model, x, method="integrated_gradients", n_steps=8)
    image = overlay_image(explanation, 1)
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8
    gradcam = xai.explain(ref.model, x, method="gradcam")  # (N, 1, H, W) layer maps
    assert overlay_image(gradcam, 0, size=64).shape == (64, 64, 3)


@pytest.mark.parametrize("index", [2, -3, 1.0, "0", None])
def test_bad_index(index: object) -> None:
    explanation = _explanation(torch.randn(2, 1, 4, 4))
    with pytest.raises(IndexError, match=r"^index: expected an int in \[0, 2\)"):
        overlay_image(explanation, index)  # type: ignore[arg-type]


@pytest.mark.parametrize("alpha", [-0.1, 1.5, math.nan])
def test_bad_alpha(alpha: float) -> None:
    with pytest.raises(ValueError, match=r"^alpha: expected a float in \[0, 1\]"):
        overlay_image(_signed(), alpha=alpha)


@pytest.mark.parametrize("magnitude", [0.0, -1.0, math.nan])
def test_bad_magnitude(magnitude: float) -> None:
    with pytest.raises(ValueError, match=r"^magnitude: expected a positive float") as caught:
        overlay_image(_signed(), magnitude=magnitude)
    assert repr(magnitude) in str(caught.value)


def test_tabular_explanation_is_refused() -> None:
    explanation = Explanation(torch.randn(2, 5), torch.randn(2, 5), torch.zeros(2), "test")
    with pytest.raises(ValueError, match=r"^explanation: overlay_image draws image") as caught:
        overlay_image(explanation)
    assert "(2, 5)" in str(caught.value)


# ----------------------------------------------------------------------------- attribution_scale


def test_attribution_scale_is_the_largest_absolute_map_value() -> None:
    torch.manual_seed(2)
    first = _explanation(torch.randn(3, 2, 5, 5), torch.rand(3, 2, 5, 5))
    second = _explanation(torch.randn(3, 2, 5, 5) * 3, torch.rand(3, 2, 5, 5))
    for index in range(3):
        expected = max(
            np.abs(e.attributions[index].numpy().sum(axis=0)).max() for e in (first, second)
        )
        assert attribution_scale([first, second], index) == pytest.approx(expected, rel=1e-6)
        assert attribution_scale([first], index) == pytest.approx(
            np.abs(first.attributions[index].numpy().sum(axis=0)).max(), rel=1e-6
        )


def test_shared_scale_makes_maps_comparable() -> None:
    weak = _explanation(torch.full((1, 1, 3, 3), 1.0))
    strong = _explanation(torch.full((1, 1, 3, 3), 4.0))
    scale = attribution_scale([weak, strong])
    assert scale == pytest.approx(4.0)
    weak_image = overlay_image(weak, magnitude=scale, alpha=1.0, size=1).astype(float)
    strong_image = overlay_image(strong, magnitude=scale, alpha=1.0, size=1).astype(float)
    np.testing.assert_allclose(weak_image[0, 0], _rgb(INFERNO, 0.25), atol=1)
    np.testing.assert_allclose(strong_image[0, 0], _rgb(INFERNO, 1.0), atol=1)


def test_attribution_scale_of_empty_maps_is_usable() -> None:
    scale = attribution_scale([_explanation(torch.zeros(1, 1, 3, 3))])
    assert scale > 0
    overlay_image(_explanation(torch.zeros(1, 1, 3, 3)), magnitude=scale)


def test_attribution_scale_needs_explanations() -> None:
    with pytest.raises(ValueError, match=r"^explanations: expected at least one explanation"):
        attribution_scale([])


# ----------------------------------------------------------------------------- input_image


def test_input_image_grey_is_contrast_stretched() -> None:
    image = torch.tensor([[[2.0, 3.0], [4.0, 6.0]]])  # (1, 2, 2)
    array = input_image(image, size=1)
    assert array.shape == (2, 2, 3) and array.dtype == np.uint8
    assert np.all(array[..., 0] == array[..., 1]) and np.all(array[..., 1] == array[..., 2])
    expected = np.round((np.array([[2.0, 3.0], [4.0, 6.0]]) - 2.0) / 4.0 * 255)
    np.testing.assert_array_equal(array[..., 0], expected)


def test_input_image_rgb_keeps_channels() -> None:
    image = torch.zeros(3, 2, 2)
    image[0, 0, 0] = 1.0  # red
    image[2, 1, 1] = 1.0  # blue
    array = input_image(image, size=1)
    np.testing.assert_array_equal(array[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(array[1, 1], [0, 0, 255])
    np.testing.assert_array_equal(array[0, 1], [0, 0, 0])


@pytest.mark.parametrize(("size", "factor"), [(224, 28), (100, 12), (3, 1)])
def test_input_image_enlargement(size: int, factor: int) -> None:
    torch.manual_seed(3)
    image = torch.rand(1, 8, 8)
    small = input_image(image, size=1)
    big = input_image(image, size=size)
    assert big.shape == (8 * factor, 8 * factor, 3)
    np.testing.assert_array_equal(big, np.kron(small, np.ones((factor, factor, 1), np.uint8)))


def test_input_image_constant_image() -> None:
    array = input_image(torch.full((1, 4, 4), 7.0), size=1)
    assert array.dtype == np.uint8 and array.shape == (4, 4, 3)
    assert len(np.unique(array)) == 1


@pytest.mark.parametrize(
    ("image", "given"),
    [
        (torch.zeros(4, 4), r"\(4, 4\)"),
        (torch.zeros(1, 1, 4, 4), r"\(1, 1, 4, 4\)"),
        (np.zeros((1, 4, 4)), "ndarray"),
    ],
)
def test_input_image_errors(image: object, given: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^image: expected one image tensor \(C, H, W\), got {given}"
    ):
        input_image(image)  # type: ignore[arg-type]
