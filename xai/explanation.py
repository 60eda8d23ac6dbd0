"""``xai.Explanation``: the one result type, whatever the method."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from xai._device import pick_device
from xai._files import atomic_path, dumps_json, to_json_value
from xai._validation import check_sample_index, index_out_of_range, integer_value
from xai.errors import IndexTypeError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_FORMAT = "xai.explanation"
_FORMAT_VERSION = 1
#: How a param that a file cannot hold (a callable, a module) is written: ``{_UNSAVED: text}``.
_UNSAVED = "xai.unsaved"


class UnsavedOption(str):
    """A param that :meth:`Explanation.save` could not write (a callable ``output``, a module),
    as loaded back: its description. An explanation holding one cannot be re-run from its
    params (``evaluate_explanation`` then skips the metrics that re-run the method)."""


@dataclass
class Explanation:
    """Attributions of a batch of inputs, with everything needed to read and reproduce them.

    Attributes:
        attributions: tensor on the inputs' device with the inputs' shape; layer methods such
            as Grad-CAM may keep a single channel, ``(N, 1, H, W)`` for ``(N, C, H, W)`` inputs.
        inputs: the explained inputs ``(N, ...)``.
        target: the explained class of each sample, LongTensor ``(N,)``.
        method: name of the method, e.g. ``"integrated_gradients"``.
        params: the options that re-run the explanation: each method's options with ``None``
            for a default and the values chosen automatically (seed, layer, n_steps ...).
            After :meth:`load`, callables and modules are :class:`UnsavedOption` descriptions.
        extras: everything else the method reports: convergence delta, LIME segments, SHAP
            expected value, ``model_evaluations``, ``seconds``, ``library_versions`` ...

    Example::

        expl = xai.explain(model, images, method="gradcam")
        expl.heatmap().shape  # (N, H, W)
        fig = expl.plot(0)
        expl.save("gradcam.safetensors")
        same = xai.Explanation.load("gradcam.safetensors")
    """

    attributions: torch.Tensor
    inputs: torch.Tensor
    target: torch.Tensor
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.inputs.shape[0]
        if self.attributions.shape[0] != n:
            raise ValueError(
                f"attributions: expected {n} rows (one per input), got shape "
                f"{tuple(self.attributions.shape)}."
            )
        layer_map = (
            self.inputs.ndim == 4
            and self.attributions.ndim == 4
            and self.attributions.shape[1] == 1
            and self.attributions.shape[2:] == self.inputs.shape[2:]
        )
        if self.attributions.shape != self.inputs.shape and not layer_map:
            raise ValueError(
                f"attributions: expected the inputs' shape {tuple(self.inputs.shape)} (or "
                f"(N, 1, H, W) for image layer maps), got {tuple(self.attributions.shape)}."
            )
        self.target = torch.as_tensor(self.target, dtype=torch.long)
        if self.target.shape != (n,):
            raise ValueError(f"target: expected shape ({n},), got {tuple(self.target.shape)}.")

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> Explanation:
        """The explanation of a subset of samples (``expl[0]``, ``expl[2:5]``, ``expl[[0, 3]]``)."""
        n = len(self)
        index = _sample_index(index, n)

        def pick(value: Any) -> Any:
            if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == n:
                return value[index]
            return value

        return Explanation(
            attributions=self.attributions[index],
            inputs=self.inputs[index],
            target=self.target[index],
            method=self.method,
            params=dict(self.params),
            extras={key: pick(value) for key, value in self.extras.items()},
        )

    @property
    def is_image(self) -> bool:
        """True for ``(N, C, H, W)`` inputs."""
        return self.inputs.ndim == 4

    def heatmap(self) -> torch.Tensor:
        """One map per sample, channels summed with their sign kept.

        Returns:
            A detached tensor on the attributions' device: ``(N, H, W)`` for images,
            ``(N, F)`` for tabular data, ``(N, L)`` for ``(N, C, L)`` sequences.
        """
        attributions = self.attributions.detach()
        if attributions.ndim in (3, 4):
            return attributions.sum(dim=1)
        if attributions.ndim == 2:
            return attributions
        return attributions.reshape(attributions.shape[0], -1)

    def numpy(self) -> np.ndarray:
        """The attributions as a numpy array.

        Returns:
            A CPU copy of :attr:`attributions`, same shape and dtype.
        """
        return self.attributions.detach().cpu().numpy()

    def to(self, device: str | torch.device) -> Explanation:
        """A copy with every tensor moved to ``device``."""

        def move(value: Any) -> Any:
            return value.to(device) if isinstance(value, torch.Tensor) else value

        return Explanation(
            attributions=self.attributions.to(device),
            inputs=self.inputs.to(device),
            target=self.target.to(device),
            method=self.method,
            params={k: move(v) for k, v in self.params.items()},
            extras={k: move(v) for k, v in self.extras.items()},
        )

    def plot(
        self,
        index: int = 0,
        *,
        shared_scale: bool = False,
        overlay: bool = True,
        feature_names: Sequence[str] | None = None,
        max_features: int = 20,
        ax: Axes | None = None,
    ) -> Figure:
        """Plot sample ``index`` with :func:`xai.viz.plot_explanation`.

        Args:
            index: which sample.
            shared_scale: use one colour/axis scale for all samples of the batch.
            overlay: draw image maps over a faded copy of the input.
            feature_names: names of tabular features (default: ``extras["feature_names"]``,
                else ``x0, x1, ...``).
            max_features: bars shown for tabular data.
            ax: draw the attribution panel into this Axes instead of a new figure.

        Returns:
            The matplotlib Figure (input and attribution map for images, a bar chart for
            tabular data).
        """
        from xai.viz import plot_explanation

        return plot_explanation(
            self,
            index,
            shared_scale=shared_scale,
            overlay=overlay,
            feature_names=feature_names,
            max_features=max_features,
            ax=ax,
        )

    def __repr__(self) -> str:
        return (
            f"Explanation(method={self.method!r}, inputs={tuple(self.inputs.shape)}, "
            f"attributions={tuple(self.attributions.shape)}, target={self.target.tolist()[:8]}"
            f"{'...' if len(self) > 8 else ''})"
        )

    # ------------------------------------------------------------- save/load
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the explanation to one safetensors file (tensors) with a JSON header (the rest).

        Tensor-valued params/extras are stored as tensors; other values as JSON. Params JSON
        cannot hold (modules, callables) are stored as their description and load back as
        :class:`UnsavedOption`; extras as their description. A NaN or infinite number is
        written as ``null`` and loads back as None. Nothing is pickled. The file is written
        atomically (temp file, then rename) with the mode the umask gives.

        Args:
            path: the file to write, conventionally ``*.safetensors``; replaced if it exists.

        Returns:
            The path written.
        """
        from safetensors.torch import save_file

        path = Path(path)
        tensors = {
            "attributions": self.attributions,
            "inputs": self.inputs,
            "target": self.target,
        }
        header: dict[str, Any] = {"method": self.method}
        for section in ("params", "extras"):
            values = getattr(self, section)
            json_part: dict[str, Any] = {}
            for key, value in values.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"{section}.{key}"] = value
                elif section == "params" and _is_unsaveable(value):
                    json_part[key] = {_UNSAVED: str(to_json_value(value))}
                else:
                    json_part[key] = value
            header[section] = json_part
        tensors = _unshared({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
        metadata = {
            "format": _FORMAT,
            "format_version": str(_FORMAT_VERSION),
            "xai": dumps_json(header),
        }
        with atomic_path(path) as temporary:
            save_file(tensors, str(temporary), metadata=metadata)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Explanation:
        """Read an explanation written by :meth:`save` (no unpickling).

        Args:
            path: a file written by :meth:`save`.
            device: where the tensors are loaded (``"cpu"``, ``"cuda"``, ``"auto"`` ...).

        Returns:
            The explanation; options that could not be saved load as :class:`UnsavedOption`.

        Raises:
            FileNotFoundError: there is no file at ``path``.
            ValueError: the file is not a safetensors file written by :meth:`save`, or
                ``device`` is not available.
        """
        from safetensors import safe_open

        device = pick_device(device)  # a clear error for a GPU that is not there
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"path: no explanation file at {str(path)!r}.")
        try:
            with safe_open(str(path), framework="pt", device=str(device)) as handle:
                metadata = handle.metadata() or {}
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        except Exception as error:
            raise ValueError(
                f"path: {str(path)!r} is not a safetensors file written by Explanation.save ({error})."
            ) from error
        if metadata.get("format") != _FORMAT:
            raise ValueError(
                f"path: {str(path)!r} is a safetensors file but not an xai explanation "
                f"(format {metadata.get('format')!r})."
            )
        header = json.loads(metadata["xai"])
        sections: dict[str, dict[str, Any]] = {
            "params": {
                key: UnsavedOption(value[_UNSAVED])
                if isinstance(value, dict) and set(value) == {_UNSAVED}
                else value
                for key, value in dict(header.get("params", {})).items()
            },
            "extras": dict(header.get("extras", {})),
        }
        for key, tensor in tensors.items():
            section, _, name = key.partition(".")
            if section in sections and name:
                sections[section][name] = tensor
        return cls(
            attributions=tensors["attributions"],
            inputs=tensors["inputs"],
            target=tensors["target"],
            method=header["method"],
            params=sections["params"],
            extras=sections["extras"],
        )


def _is_unsaveable(value: Any) -> bool:
    """Whether a param is a live object JSON cannot hold (a module, a callable)."""
    return isinstance(value, UnsavedOption | torch.nn.Module) or (
        callable(value) and not isinstance(value, type)
    )


def _unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Copy tensors that share memory with an earlier one (``baselines=X[0]`` is a view of the
    inputs): safetensors refuses to write shared memory."""
    seen: set[int] = set()
    result = {}
    for key, value in tensors.items():
        storage = value.untyped_storage().data_ptr()
        if storage in seen and value.numel():
            value = value.clone()
        seen.add(value.untyped_storage().data_ptr())
        result[key] = value
    return result


def _sample_index(index: Any, n: int) -> slice | torch.Tensor:
    """A slice or LongTensor of sample positions from an int (Python, numpy or 0-d tensor), a
    slice, a sequence of ints or a boolean mask of ``n`` values. Another type is a TypeError,
    a position out of range an IndexError (both :class:`xai.errors.InputError`); one int is
    checked by :func:`xai._validation.check_sample_index`, as everywhere."""
    if isinstance(index, slice):
        return index
    if integer_value(index) is not None:
        position = check_sample_index(index, n)
        return slice(position, position + 1)
    try:
        positions = torch.as_tensor(np.asarray(index) if isinstance(index, list | tuple) else index)
    except (TypeError, ValueError, RuntimeError):
        positions = None
    if positions is not None and positions.dtype == torch.bool and positions.shape == (n,):
        return positions.nonzero().flatten()
    if (
        positions is None
        or positions.ndim != 1
        or positions.is_floating_point()
        or (positions.dtype == torch.bool)
    ):
        raise IndexTypeError(
            "index",
            f"expected an int, a slice, a sequence of ints or a boolean mask of {n} "
            f"values, got {type(index).__name__}"
            + (f" {index!r}" if isinstance(index, float | str | bool) else "")
            + ".",
        )
    positions = positions.long()
    outside = (positions < -n) | (positions >= n)
    if bool(outside.any()):
        raise index_out_of_range(int(positions[outside][0]), n)
    return positions % n
