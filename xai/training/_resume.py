"""The training state of an unfinished :func:`xai.fit` run, read back by ``resume=``.

One safetensors file (``model.resume.safetensors`` beside the checkpoint): its tensors are the
current and best weights, the optimizer's state tensors and the RNG states; its header holds
everything else as JSON (the run's settings, history and counters, the optimizer's
hyper-parameters, the scheduler's and the gradient scaler's states). Nothing is pickled, and
being one file it is replaced in one rename: a resumed run never mixes two epochs' states.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from xai._files import dumps_json, to_json_value
from xai.errors import InputError
from xai.training.checkpoint import STATE_FORMAT, read_header

__all__ = ["TrainingState", "capture_rng", "check_settings", "read_state", "restore_rng"]

STATE_VERSION = 1


@dataclass
class TrainingState:
    """Everything a resumed run needs, as of the end of epoch ``epoch`` (1-based count)."""

    epoch: int
    settings: dict[str, Any]
    base_seed: int
    history: dict[str, Any]
    best_value: float | None
    stale: int
    model: Mapping[str, torch.Tensor]
    best: Mapping[str, torch.Tensor] | None
    optimizer: Mapping[str, Any]
    scheduler: Mapping[str, Any] | None
    scaler: Mapping[str, Any] | None
    rng: Mapping[str, torch.Tensor]
    source: str = ""

    def encode(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """The file's tensors and header. The JSON is made first: a state JSON cannot hold is
        a TypeError before anything is written."""
        tensors: dict[str, torch.Tensor] = {f"model/{k}": v for k, v in self.model.items()}
        if self.best is not None:
            tensors.update({f"best/{k}": v for k, v in self.best.items()})
        optimizer_state: dict[str, dict[str, Any]] = {}
        for index, entries in self.optimizer.get("state", {}).items():
            plain: dict[str, Any] = {}
            for name, value in entries.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer/{index}/{name}"] = value
                else:
                    plain[name] = value
            optimizer_state[str(index)] = plain
        tensors.update({f"rng/{k}": v for k, v in self.rng.items()})
        info = {
            "epoch": self.epoch,
            "settings": self.settings,
            "base_seed": self.base_seed,
            "history": self.history,
            "best_value": self.best_value,
            "stale": self.stale,
            "has_best": self.best is not None,
            "optimizer": {
                "param_groups": self.optimizer.get("param_groups", []),
                "state": optimizer_state,
            },
            "scheduler": self.scheduler,
            "scaler": self.scaler,
        }
        header = {
            "format": STATE_FORMAT,
            "format_version": str(STATE_VERSION),
            "state": dumps_json(info, strict=True, where="training state"),
        }
        return tensors, header


def read_state(path: Path) -> TrainingState:
    """Read a training state written by :meth:`TrainingState.encode` (errors name ``resume``)."""
    from safetensors.torch import load_file

    header = read_header(path, "resume")
    if header.get("format") != STATE_FORMAT or "state" not in header:
        raise InputError("resume", f"{str(path)!r} is not the training state of an xai.fit run.")
    try:
        info = json.loads(header["state"])
        if not isinstance(info, dict):
            raise TypeError(f"a JSON {type(info).__name__} instead of an object")
        tensors = load_file(str(path), device="cpu")
        optimizer_info = info["optimizer"]
        optimizer_state: dict[Any, dict[str, Any]] = {}
        for index, plain in optimizer_info["state"].items():
            entries = dict(plain)
            prefix = f"optimizer/{index}/"
            entries.update(
                {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            )
            optimizer_state[int(index) if index.isdigit() else index] = entries

        def group(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

        return TrainingState(
            epoch=int(info["epoch"]),
            settings=dict(info["settings"]),
            base_seed=int(info["base_seed"]),
            history=dict(info["history"]),
            best_value=info["best_value"],
            stale=int(info["stale"]),
            model=group("model/"),
            best=group("best/") if info["has_best"] else None,
            optimizer={"state": optimizer_state, "param_groups": optimizer_info["param_groups"]},
            scheduler=info["scheduler"],
            scaler=info["scaler"],
            rng=group("rng/"),
            source=repr(str(path)),
        )
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as error:
        raise InputError(
            "resume",
            f"the training state {str(path)!r} is damaged ({type(error).__name__}: "
            f"{str(error)[:200]}). Start a new run, or resume from an intact copy.",
        ) from error


def capture_rng(device: torch.device, generators: Sequence[torch.Generator]) -> dict[str, Any]:
    """torch's CPU RNG state, the training device's CUDA RNG state, and the states of the data
    loaders' own generators."""
    rng = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    for i, generator in enumerate(generators):
        rng[f"generator/{i}"] = generator.get_state()
    return rng


def restore_rng(
    rng: Mapping[str, torch.Tensor], device: torch.device, generators: Sequence[torch.Generator]
) -> None:
    """Set the states :func:`capture_rng` saved (a CUDA state only when resuming on CUDA)."""
    if "torch" in rng:
        torch.set_rng_state(rng["torch"].cpu())
    if device.type == "cuda" and "cuda" in rng:
        torch.cuda.set_rng_state(rng["cuda"].cpu(), device)
    for i, generator in enumerate(generators):
        if f"generator/{i}" in rng:
            generator.set_state(rng[f"generator/{i}"].cpu())


def check_settings(saved: Mapping[str, Any], current: Mapping[str, Any], source: str) -> None:
    """Refuse to resume a run whose settings differ from this call's (its schedule, data order
    or stopping rule would differ, and so would the result)."""
    current = to_json_value(dict(current))
    for key, value in current.items():
        if key in saved and saved[key] != value:
            raise InputError(
                "resume",
                f"the run in {source} was started with {key}={saved[key]!r}, this call has "
                f"{key}={value!r}. Resume with the run's settings (and the same data), or start "
                "a new run without resume.",
            )
