"""One input a user drops on the Explain page: a PNG/JPEG image or a one-row CSV, checked and
turned into the tensor the model takes. No Streamlit here, so it is tested on its own.

Nothing is evaluated or unpickled: images are decoded by Pillow (PNG and JPEG decoders only,
after the byte and pixel counts are checked from the file's header), CSV cells are read with
``float()``. Every refusal is an :class:`xai.errors.InputError` whose message says what was
expected and what was given.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xai.errors import InputError

__all__ = [
    "MAX_CSV_BYTES",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "InputSpec",
    "read_image",
    "read_row",
    "template_row",
]

#: The largest image file read, and the most pixels it may declare (checked from its header,
#: before anything is decoded: a small PNG can declare a huge, compressible image).
MAX_IMAGE_BYTES = 20 * 2**20
MAX_IMAGE_PIXELS = 4096 * 4096
#: The largest CSV read: a header and one row of numbers (a few kB for hundreds of features).
MAX_CSV_BYTES = 2**20

_PNG_MAGIC, _JPEG_MAGIC = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"
_OTHER_MAGIC = {  # to name what was given instead
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"RIFF": "a RIFF (WebP?) file",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive",
    b"\x93NUMPY": "a .npy array",
}


@dataclass(frozen=True)
class InputSpec:
    """How a dropped input becomes what the model takes.

    Attributes:
        model: the model's name (for messages).
        shape: the shape of one sample: ``(C, H, W)`` for images, ``(F,)`` for tabular data.
        feature_names: the CSV columns of a tabular model (its feature names, else ``x0, x1``
            ... as the Explain page names them).
        mean, std: the standardisation of raw tabular values, when the model's data say
            (``reference_models``' breast-cancer set records the training split's); else None.
        described: whether the model describes its input's scaling (False: the fallback).
        token_ids: whether the model takes token ids ``(N, L)`` (a text model): neither an
            image nor a row can be one of its inputs (its sentences are typed).
    """

    model: str
    shape: tuple[int, ...]
    feature_names: tuple[str, ...] = ()
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    described: bool = False
    token_ids: bool = False

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3 and not self.token_ids


def _text_refusal(spec: InputSpec, argument: str, what: str) -> InputError:
    return InputError(
        argument,
        f"{spec.model} is a text model: it takes token ids (N, {spec.shape[0]}), so {what} "
        "cannot be one of its inputs. Type a sentence instead (Explain page: Pick a sample "
        "-> a sentence you type).",
    )


def spec_for(
    name: str,
    inputs: torch.Tensor,
    feature_names: list[str] | None,
    reference_extras: dict[str, Any] | None,
) -> InputSpec:
    """The :class:`InputSpec` of a model whose test inputs are ``inputs``.

    ``reference_extras`` is :attr:`reference_models.ReferenceInfo.extras` for a reference
    model (None for a user's model, which says nothing about its scaling). The reference
    image sets are pixels in [0, 1] with no mean/std (``reference_models.datasets``); the
    breast-cancer table records the ``mean``/``std`` that standardised it.
    """
    shape = tuple(int(n) for n in inputs.shape[1:])
    token_ids = not inputs.is_floating_point() and len(shape) == 1
    names = (
        tuple(feature_names or [f"x{i}" for i in range(shape[0])])
        if len(shape) == 1 and not token_ids
        else ()
    )
    extras = reference_extras or {}
    mean, std = extras.get("mean") or (), extras.get("std") or ()
    standardised = len(mean) == len(std) == len(names) > 0
    return InputSpec(
        model=name,
        shape=shape,
        feature_names=names,
        mean=tuple(float(v) for v in mean) if standardised else None,
        std=tuple(float(v) for v in std) if standardised else None,
        described=reference_extras is not None,
        token_ids=token_ids,
    )


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def _what_it_is(data: bytes) -> str:
    for magic, name in _OTHER_MAGIC.items():
        if data.startswith(magic):
            return name
    head = data[:16]
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return f"a file starting with bytes {head[:8].hex(' ')}"
    return f"a file starting with {text!r}"


def _too_many_pixels(width: int, height: int) -> InputError:
    return InputError(
        "image",
        f"the image declares {width}x{height} = {width * height:,} pixels, more than the "
        f"{MAX_IMAGE_PIXELS:,} accepted; save it smaller.",
    )


def _undecodable(error: Exception) -> InputError:
    return InputError(
        "image",
        f"the file starts like a PNG/JPEG but could not be decoded ({error}); is it truncated "
        "or damaged?",
    )


def read_image(data: bytes, spec: InputSpec, *, max_bytes: int = MAX_IMAGE_BYTES,
               invert: bool = False) -> tuple[torch.Tensor, str]:  # fmt: skip
    """Decode a PNG or JPEG into one model input ``(1, C, H, W)`` with values in [0, 1].

    The image is converted to grey (``C == 1``) or RGB (``C == 3``), transparent parts laid on
    white, resized to the model's ``H x W`` (bilinear, as the digits data were upsampled; the
    aspect ratio is not kept) and divided by 255 (65535 for 16-bit PNGs).

    Args:
        data: the file's bytes.
        spec: the model's input (see :func:`spec_for`).
        max_bytes: the largest file accepted.
        invert: ``1 - value`` per pixel (dark strokes on white paper for a model trained on
            light strokes on black, such as the digits).

    Returns:
        ``(inputs, description)``: the tensor and one line saying what was done.

    Raises:
        InputError: ``argument == "image"``: not a PNG/JPEG, too many bytes or pixels, a
            truncated or undecodable file, or a model whose inputs are not 1- or 3-channel
            images.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if spec.token_ids:
        raise _text_refusal(spec, "image", "an image")
    if not spec.is_image or spec.shape[0] not in (1, 3):
        raise InputError(
            "image",
            f"{spec.model} takes inputs of shape {spec.shape}, not grey or RGB images "
            "(C, H, W) with C = 1 or 3: an image file cannot be one of its inputs.",
        )
    if len(data) > max_bytes:
        raise InputError(
            "image",
            f"the file is {_megabytes(len(data))}, more than the {_megabytes(max_bytes)} "
            "accepted; save it smaller (it is resized to "
            f"{spec.shape[2]}x{spec.shape[1]} anyway).",
        )
    if not (data.startswith(_PNG_MAGIC) or data.startswith(_JPEG_MAGIC)):
        raise InputError(
            "image", f"expected a PNG or JPEG image, got {_what_it_is(data)} ({len(data)} bytes)."
        )
    undecodable = (UnidentifiedImageError, OSError, ValueError, SyntaxError)
    try:
        with warnings.catch_warnings():  # Pillow's own, laxer bomb warning: ours is below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # formats=: only these two decoders may run, whatever the file claims to be
            image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
    except Image.DecompressionBombError as error:
        raise InputError(
            "image", f"the image declares more than the {MAX_IMAGE_PIXELS:,} pixels accepted."
        ) from error
    except undecodable as error:
        raise _undecodable(error) from error
    width, height = image.size  # from the header: nothing is decoded yet
    if width * height > MAX_IMAGE_PIXELS:
        raise _too_many_pixels(width, height)
    try:
        image.load()
    except undecodable as error:
        raise _undecodable(error) from error
    picture: Image.Image = ImageOps.exif_transpose(image)  # a phone photo's orientation
    channels, height_out, width_out = spec.shape
    if picture.mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit grey: scale by hand
        grey = np.asarray(picture, dtype=np.float64) / 65535.0
        picture = Image.fromarray(np.clip(grey * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if picture.mode in ("RGBA", "LA", "PA") or (
        picture.mode == "P" and "transparency" in picture.info
    ):
        rgba = picture.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(white, rgba)
    picture = picture.convert("L" if channels == 1 else "RGB")
    resized = picture.resize((width_out, height_out), Image.Resampling.BILINEAR)
    array = np.asarray(resized, dtype=np.float32) / 255.0
    array = array[None] if channels == 1 else array.transpose(2, 0, 1)
    if invert:
        array = 1.0 - array
    tensor = torch.from_numpy(np.ascontiguousarray(array)).unsqueeze(0)
    description = (
        f"{width}x{height} {'grey' if channels == 1 else 'RGB'} image resized to "
        f"{width_out}x{height_out}, pixels scaled to [0, 1]" + (", inverted" if invert else "")
    )
    return tensor, description


def template_row(spec: InputSpec, values: torch.Tensor, raw: bool) -> bytes:
    """A CSV the tabular drop accepts: the header and one sample ``values`` (as the model sees
    them; written as raw values, un-standardised, when ``raw`` and the spec has a mean/std)."""
    row = values.detach().double().cpu().flatten()
    if raw and spec.mean is not None and spec.std is not None:
        row = row * torch.tensor(spec.std, dtype=torch.float64) + torch.tensor(
            spec.mean, dtype=torch.float64
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(spec.feature_names)
    writer.writerow([repr(float(v)) for v in row])
    return buffer.getvalue().encode()


def _listed(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def read_row(data: bytes, spec: InputSpec, *, raw: bool = True,
             max_bytes: int = MAX_CSV_BYTES) -> tuple[torch.Tensor, str]:  # fmt: skip
    """Read a CSV of a header naming the model's features and one row of numbers into one
    model input ``(1, F)`` (columns in any order; standardised with the spec's mean/std when
    ``raw``).

    Raises:
        InputError: ``argument == "row"``: not UTF-8 text, too large, no header or no row,
            more than one row, missing, extra or repeated columns, a row of another length,
            a cell that is not a finite number; a text model (its inputs are typed).
    """
    if spec.token_ids:
        raise _text_refusal(spec, "row", "a CSV row")
    if spec.is_image or len(spec.shape) != 1:
        raise InputError(
            "row",
            f"{spec.model} takes inputs of shape {spec.shape}, not rows of features: "
            "a CSV row cannot be one of its inputs.",
        )
    if len(data) > max_bytes:
        raise InputError(
            "row",
            f"the file is {_megabytes(len(data))}, more than the {_megabytes(max_bytes)} "
            "accepted for one row.",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            "row", f"expected a CSV text file (UTF-8), got {_what_it_is(data)}."
        ) from error
    if "\x00" in text:
        raise InputError("row", f"expected a CSV text file, got {_what_it_is(data)}.")
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    except csv.Error as error:
        raise InputError("row", f"the file is not valid CSV ({error}).") from error
    expected = list(spec.feature_names)
    example = (
        f"a header line naming the {len(expected)} columns ({_listed(expected, 3)}), "
        "then one line of numbers"
    )
    if len(rows) < 2:
        raise InputError(
            "row",
            f"expected {example}; got {len(rows)} line{'s' if len(rows) != 1 else ''}. "
            "Download the template for the format.",
        )
    if len(rows) > 2:
        raise InputError(
            "row",
            f"expected one row of values under the header, got {len(rows) - 1} rows: drop one "
            "row at a time (a test set goes in an .npz on the Your model page).",
        )
    header = [name.strip() for name in rows[0]]
    values = [cell.strip() for cell in rows[1]]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise InputError("row", f"the header names {_listed(repeated)} more than once.")
    missing = [name for name in expected if name not in header]
    extra = [name for name in header if name not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)}: {_listed(missing)}")
        if extra:
            parts.append(f"unexpected {len(extra)}: {_listed(extra)}")
        raise InputError(
            "row",
            f"the header does not name {spec.model}'s {len(expected)} feature columns "
            f"({'; '.join(parts)}). Download the template for the names.",
        )
    if len(values) != len(header):
        raise InputError(
            "row",
            f"the header names {len(header)} columns but the row has {len(values)} values.",
        )
    numbers = {}
    for name, cell in zip(header, values, strict=True):
        try:
            number = float(cell)
        except ValueError:
            raise InputError(
                "row", f"column {name!r}: expected a number, got {cell[:40]!r}."
            ) from None
        if not math.isfinite(number):
            raise InputError("row", f"column {name!r}: expected a finite number, got {cell!r}.")
        numbers[name] = number
    row = torch.tensor([numbers[name] for name in expected], dtype=torch.float64)
    standardise = raw and spec.mean is not None and spec.std is not None
    if standardise:
        row = (row - torch.tensor(spec.mean, dtype=torch.float64)) / torch.tensor(
            spec.std, dtype=torch.float64
        )
    description = f"{len(expected)} features" + (
        ", standardised with the training data's mean and std" if standardise else ", as given"
    )
    return row.float().unsqueeze(0), description
