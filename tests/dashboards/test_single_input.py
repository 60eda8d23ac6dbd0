"""The dashboard's readers of one dropped input and its download builders, without Streamlit:
each accepted file gives the tensor the model's data would hold, each refused one a message
naming what was expected and what was given."""

from __future__ import annotations

import io
import json
import re
import struct

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.torch import load

import reference_models
import xai
from dashboards import downloads
from dashboards.single_input import (
    MAX_IMAGE_PIXELS,
    InputSpec,
    read_image,
    read_row,
    spec_for,
    template_row,
)
from xai.errors import InputError

GREY = InputSpec(model="digits_cnn", shape=(1, 32, 32), described=True)
RGB = InputSpec(model="shapes_cnn", shape=(3, 32, 32), described=True)


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_reference_specs_say_what_the_data_are() -> None:
    cancer = reference_models.load("breast_cancer_mlp")
    x = cancer.data["test"].tensors[0]
    spec = spec_for("breast_cancer_mlp", x, cancer.info.feature_names, cancer.info.extras)
    assert spec.described and spec.shape == (30,)
    assert spec.feature_names == tuple(cancer.info.feature_names)
    assert spec.mean == pytest.approx(cancer.info.extras["mean"])
    digits = reference_models.load("digits_cnn")
    spec = spec_for("digits_cnn", digits.data["test"].tensors[0], None, digits.info.extras)
    assert spec.described and spec.shape == (1, 32, 32) and spec.mean is None
    # a user's model says nothing: the fallback, with the page's default column names
    spec = spec_for("mine:build", torch.zeros(3, 4), None, None)
    assert not spec.described and spec.feature_names == ("x0", "x1", "x2", "x3")


def test_an_image_of_the_models_size_reads_back_exactly() -> None:
    images = reference_models.load("shapes_cnn").data["test"].tensors[0][:1]
    pixels = (images[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    tensor, how = read_image(png(pixels), RGB)
    assert tensor.shape == (1, 3, 32, 32) and tensor.dtype == torch.float32
    assert torch.equal(tensor, torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255)
    assert (tensor - images).abs().max() <= 0.5 / 255 + 1e-6  # the PNG's 8-bit rounding only
    assert how == "32x32 RGB image resized to 32x32, pixels scaled to [0, 1]"


def test_a_larger_colour_jpeg_becomes_a_grey_model_input() -> None:
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=95)
    tensor, how = read_image(buffer.getvalue(), GREY, invert=True)
    assert tensor.shape == (1, 1, 32, 32)
    decoded = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    expected = np.asarray(decoded.resize((32, 32), Image.Resampling.BILINEAR)) / 255.0
    assert np.allclose(tensor[0, 0].numpy(), 1.0 - expected, atol=1e-6)
    assert how == "64x48 grey image resized to 32x32, pixels scaled to [0, 1], inverted"


def test_transparency_lies_on_white_and_16_bit_grey_is_scaled() -> None:
    rgba = np.zeros((32, 32, 4), np.uint8)  # black, fully transparent except one opaque pixel
    rgba[0, 0, 3] = 255
    tensor, _ = read_image(png(rgba), GREY)
    assert float(tensor[0, 0, 0, 0]) == 0.0 and float(tensor[0, 0, 1:, 1:].min()) == 1.0
    deep = np.full((32, 32), 65535, np.uint16)
    deep[:16] = 0
    buffer = io.BytesIO()
    Image.fromarray(deep).save(buffer, format="PNG")
    tensor, _ = read_image(buffer.getvalue(), GREY)
    assert float(tensor[0, 0, :16].max()) == 0.0 and float(tensor[0, 0, 16:].min()) == 1.0


NOISE = png(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width x height`` pixels (and holds none of them)."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a" + bytes(40), "image: expected a PNG or JPEG image, got a GIF image (46 bytes)."),
        (b"name,value\n1,2\n", "image: expected a PNG or JPEG image, got a file starting with"),
        (b"\x89PNG\r\n\x1a\n" + bytes(2000), "image: expected a PNG or JPEG image, got"),
        (_png_declaring(5000, 4000), "image: the image declares 5000x4000 = 20,000,000 pixels"),
        (
            _png_declaring(40_000, 40_000),  # beyond Pillow's own bound, refused when opened
            "image: the image declares more than the 16,777,216 pixels accepted.",
        ),
        (NOISE[: len(NOISE) // 2], "image: the file starts like a PNG/JPEG but could not be"),
    ],
    ids=["gif", "text", "png-magic-garbage", "too-many-pixels", "pillow-bomb", "truncated"],
)
def test_refused_images(data: bytes, message: str) -> None:
    if message.endswith("got"):  # the garbage after a PNG signature: Pillow's own refusal
        message = "image: the file starts like a PNG/JPEG but could not be decoded"
    with pytest.raises(InputError, match="^" + re.escape(message)):
        read_image(data, GREY)


def test_image_size_limits() -> None:
    data = png(np.zeros((32, 32), np.uint8))
    with pytest.raises(InputError, match=r"^image: the file is 0\.0 MB, more than the 0\.0 MB"):
        read_image(data, GREY, max_bytes=10)
    assert MAX_IMAGE_PIXELS == 4096 * 4096
    with pytest.raises(InputError, match=r"takes inputs of shape \(30,\), not grey or RGB"):
        read_image(data, InputSpec(model="breast_cancer_mlp", shape=(30,)))
    with pytest.raises(InputError, match=r"takes inputs of shape \(2, 8, 8\)"):
        read_image(data, InputSpec(model="two_channels", shape=(2, 8, 8)))


SPEC = InputSpec(
    model="tiny",
    shape=(3,),
    feature_names=("a", "b", "c"),
    mean=(1.0, 2.0, 3.0),
    std=(2.0, 4.0, 0.5),
    described=True,
)


def test_a_row_in_any_column_order_is_read_and_standardised() -> None:
    row, how = read_row(b"c,a,b\n3.5,5,-2\n", SPEC)
    assert row.tolist() == [[2.0, -1.0, 1.0]]
    assert how == "3 features, standardised with the training data's mean and std"
    row, how = read_row("\ufeffa , b, c\r\n\r\n 1e-3, 2 ,3\r\n".encode(), SPEC, raw=False)
    assert row[0].tolist() == pytest.approx([1e-3, 2.0, 3.0]) and how == "3 features, as given"


def test_the_template_reads_back_to_the_sample() -> None:
    cancer = reference_models.load("breast_cancer_mlp")
    x = cancer.data["test"].tensors[0]
    spec = spec_for("breast_cancer_mlp", x, cancer.info.feature_names, cancer.info.extras)
    for raw in (True, False):
        template = template_row(spec, x[7], raw)
        frame = pd.read_csv(io.BytesIO(template))
        assert list(frame.columns) == cancer.info.feature_names and len(frame) == 1
        row, _ = read_row(template, spec, raw=raw)
        assert torch.allclose(row[0], x[7], atol=1e-5)
    raw_row = pd.read_csv(io.BytesIO(template_row(spec, x[7], True))).iloc[0].to_numpy()
    assert raw_row[0] == pytest.approx(float(x[7, 0]) * spec.std[0] + spec.mean[0])  # mm, not z


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a,b\n1,2\n", "row: the header does not name tiny's 3 feature columns (missing 1: 'c')"),
        (b"a,b,c,label\n1,2,3,0\n", "unexpected 1: 'label')"),
        (b"a,b,d\n1,2,3\n", "(missing 1: 'c'; unexpected 1: 'd')"),
        (b"a,b,c\n1,2\n", "row: the header names 3 columns but the row has 2 values."),
        (b"a,b,c\n1,abc,3\n", "row: column 'b': expected a number, got 'abc'."),
        (b"a,b,c\n1,nan,3\n", "row: column 'b': expected a finite number, got 'nan'."),
        (b"a,b,c\n1,2,3\n4,5,6\n", "row: expected one row of values under the header, got 2"),
        (b"1,2,3\n", "row: expected a header line naming the 3 columns ('a', 'b', 'c'), then"),
        (b"a,a,c\n1,2,3\n", "row: the header names 'a' more than once."),
        (
            b"\x89PNG\r\n\x1a\n\xff\xfe",
            "row: expected a CSV text file (UTF-8), got a file starting",
        ),
        (b"a,b,c\n1,2,3" + b" " * 2**20, "row: the file is 1.0 MB, more than the 1.0 MB accepted"),
    ],
    ids=[
        "missing",
        "extra",
        "both",
        "short-row",
        "not-a-number",
        "nan",
        "two-rows",
        "no-header",
        "repeated",
        "binary",
        "too-large",
    ],
)
def test_refused_rows(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as caught:
        read_row(data, SPEC)
    assert caught.value.argument == "row"
    assert message in str(caught.value)


def test_downloads_build_files_that_load_back() -> None:
    digits = reference_models.load("digits_cnn")
    x = digits.data["test"].tensors[0][:1]
    shown = {
        method: xai.explain(digits.model, x, method=method, target=3)
        for method in ("integrated_gradients", "gradcam")
    }
    data = downloads.attributions_safetensors(shown, {"model": "digits_cnn", "target": 3})
    tensors = load(data)
    assert set(tensors) == {
        "inputs", "target", "attributions.integrated_gradients", "attributions.gradcam"
    }  # fmt: skip
    assert torch.equal(tensors["inputs"], x) and tensors["target"].tolist() == [3]
    for method, explanation in shown.items():
        assert torch.equal(tensors[f"attributions.{method}"], explanation.attributions)
    (length,) = struct.unpack("<Q", data[:8])
    metadata = json.loads(data[8 : 8 + length])["__metadata__"]
    assert metadata["model"] == "digits_cnn" and metadata["target"] == "3"
    assert json.loads(metadata["methods"]) == ["integrated_gradients", "gradcam"]
    assert json.loads(metadata["params.integrated_gradients"])["n_steps"] == 50

    frame = downloads.attributions_frame(shown)
    assert list(frame.columns) == ["method", "channel", "row", "column", "attribution"]
    assert len(frame) == 2 * 32 * 32  # IG's one input channel, Grad-CAM's one map
    ig = frame[frame["method"] == "integrated_gradients"]
    grid = np.zeros((32, 32))
    grid[ig["row"], ig["column"]] = ig["attribution"]
    assert np.allclose(grid, shown["integrated_gradients"].attributions[0, 0].numpy())
    assert downloads.file_stem("dashmodel:build", "dropped:ab12", "class3") == (
        "dashmodel_build_dropped_ab12_class3"
    )
