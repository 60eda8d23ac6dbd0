"""What the figures share: the two colormaps, how an image and a map are scaled, and how
labels (class names, predictions, titles, colorbar labels, annotation colours) are written."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from xai.errors import InputError, InputTypeError
from xai.explanation import Explanation

#: Signed maps: diverging, centred on zero (red positive, blue negative).
DIVERGING = "RdBu_r"
#: Non-negative maps (Grad-CAM): sequential from zero.
SEQUENTIAL = "inferno"


def display_image(image: torch.Tensor) -> tuple[np.ndarray, str | None]:
    """``(C, H, W)`` -> something imshow can draw: grey for 1 channel, RGB for 3, mean otherwise."""
    array = image.detach().float().cpu().numpy()
    if array.shape[0] == 3:
        array = array.transpose(1, 2, 0)
        cmap = None
    else:
        array = array.mean(axis=0)
        cmap = "gray"
    low, high = float(array.min()), float(array.max())
    array = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return array, cmap


def color_scale(values: torch.Tensor) -> tuple[float, bool]:
    """(largest magnitude, whether values are signed)."""
    magnitude = float(values.abs().max()) if values.numel() else 0.0
    return (magnitude if magnitude > 0 else 1.0), bool((values < 0).any())


#: Colorbar / axis labels: what a colour means. Grad-CAM's map is a non-negative relevance of
#: the layer's regions, not an attribution to each input value.
_RELEVANCE_LABELS = {"gradcam": "Grad-CAM relevance"}


def value_label(method: str, signed: bool) -> str:
    """What a map's colours (a bar's length) mean, for the colorbar's label."""
    if signed:
        return "attribution (signed)"
    return _RELEVANCE_LABELS.get(method, "attribution (non-negative)")


def check_class_names(class_names: object, name: str = "class_names") -> list[str] | None:
    """``class_names`` as a list of strings (None stays None); anything else is refused."""
    if class_names is None:
        return None
    if isinstance(class_names, str | bytes) or not isinstance(class_names, Sequence | np.ndarray):
        raise InputTypeError(
            name,
            "expected a sequence of class names (strings) in label order, got "
            f"{type(class_names).__name__} {class_names!r:.60}.",
        )
    names = list(class_names)
    if not all(isinstance(n, str | np.str_) for n in names):
        raise InputTypeError(name, f"expected strings, got {names!r:.80}.")
    return [str(n) for n in names]


def check_probabilities(probabilities: object, n: int) -> torch.Tensor | None:
    """``probabilities`` as a float tensor ``(n, K)`` (None stays None)."""
    if probabilities is None:
        return None
    if isinstance(probabilities, np.ndarray):
        probabilities = torch.from_numpy(probabilities)
    if not isinstance(probabilities, torch.Tensor):
        raise InputTypeError(
            "probabilities",
            "expected the model's class probabilities as a tensor or array (N, K), got "
            f"{type(probabilities).__name__}. Pass e.g. model(x).softmax(-1).",
        )
    if probabilities.ndim != 2 or probabilities.shape[0] != n:
        raise InputError(
            "probabilities",
            f"expected one row of class probabilities per explained sample, ({n}, K), got "
            f"shape {tuple(probabilities.shape)}. Pass model(x).softmax(-1) of the explained x.",
        )
    return probabilities.detach().float().cpu()


def class_label(index: int, class_names: Sequence[str] | None) -> str:
    """The name of class ``index`` (its number when there are no names for it)."""
    if class_names is not None and 0 <= index < len(class_names):
        return str(class_names[index])
    return str(index)


def prediction_text(
    target: int, class_names: Sequence[str] | None, probabilities: torch.Tensor | None
) -> str:
    """``"target circle, predicted (p = 0.97)"`` or ``"target circle (p = 0.02) · predicted
    square (p = 0.97)"``: the explained class, and the model's predicted class with its
    probability when the probabilities are known."""
    text = f"target {class_label(target, class_names)}"
    if probabilities is None:
        return text
    predicted = int(probabilities.argmax())
    confidence = f"p = {float(probabilities[predicted]):.2f}"
    if predicted == target:
        return f"{text}, predicted ({confidence})"
    if 0 <= target < len(probabilities):
        text += f" (p = {float(probabilities[target]):.2f})"
    return f"{text} · predicted {class_label(predicted, class_names)} ({confidence})"


def text_colour(rgba: Sequence[float]) -> str:
    """Black or white, whichever reads better on a cell of colour ``rgba`` (by its relative
    luminance, WCAG's weights on linearised sRGB)."""

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(float(c)) for c in rgba[:3])
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    # the luminance at which black and white text have equal contrast
    return "black" if luminance > 0.179 else "white"


def check_explanation(value: object, name: str) -> None:
    """Refuse anything but an :class:`~xai.Explanation` for argument ``name``."""
    if not isinstance(value, Explanation):
        raise InputTypeError(
            name,
            f"expected an xai.Explanation (from xai.explain), got {type(value).__name__}.",
        )


def check_model_name(model_name: object) -> str | None:
    """``model_name`` as a string (None stays None)."""
    if model_name is not None and not isinstance(model_name, str):
        raise InputTypeError(
            "model_name", f"expected the model's name as a string, got {type(model_name).__name__}."
        )
    return model_name


def figure_labels(
    explanation: Explanation, class_names: object, probabilities: object
) -> tuple[list[str] | None, torch.Tensor | None]:
    """The class names and probabilities a figure shows: the arguments, else the
    explanation's ``extras["class_names"]`` / ``extras["probabilities"]``."""
    names = check_class_names(
        class_names if class_names is not None else explanation.extras.get("class_names"),
        "class_names" if class_names is not None else 'extras["class_names"]',
    )
    if probabilities is None:
        probabilities = explanation.extras.get("probabilities")
    return names, check_probabilities(probabilities, len(explanation))


def sample_title(
    explanation: Explanation,
    index: int,
    class_names: Sequence[str] | None,
    probabilities: torch.Tensor | None,
    model_name: str | None = None,
    method: bool = True,
) -> str:
    """``"shapes_cnn · gradcam · sample 0\ntarget circle, predicted (p = 0.97)"``."""
    head = [model_name] if model_name else []
    head += [explanation.method] if method else []
    head.append(f"sample {index}")
    row = probabilities[index] if probabilities is not None else None
    prediction = prediction_text(int(explanation.target[index]), class_names, row)
    return " · ".join(head) + "\n" + prediction
