"""xai._files: the one atomic write (mode from the umask, no temporary litter, the old file kept
after a failure) and the one JSON conversion (NaN and infinities as null, never invalid JSON)."""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import xai
import xai.report
from xai import _files
from xai._files import (
    atomic_open,
    atomic_path,
    atomic_write,
    current_umask,
    dumps_json,
    to_json_value,
    write_json,
)
from xai.training import History, load_checkpoint, save_checkpoint

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@pytest.fixture
def umask() -> Iterator[object]:
    """Set the process umask for a test (``umask.set(0o077)``) and restore it afterwards."""
    original = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(original)

    class Setter:
        def set(self, mask: int) -> None:
            os.umask(mask)

    try:
        yield Setter()
    finally:
        os.umask(original)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _provenance() -> dict[str, object]:
    return {"date": "2024-01-01", "libraries": {}, "device": {}, "seeds": {}, "git_commit": None}


# ------------------------------------------------------------------------------ modes


@posix_only
@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_mode_follows_the_umask(tmp_path: Path, umask, mask: int, expected: int) -> None:
    umask.set(mask)
    assert current_umask() == mask
    assert _mode(atomic_write(tmp_path / "a.txt", "text")) == expected
    with atomic_open(tmp_path / "b.bin", "wb") as stream:
        stream.write(b"bytes")
    assert _mode(tmp_path / "b.bin") == expected
    with atomic_path(tmp_path / "c.bin") as temporary:
        temporary.write_bytes(b"by name")
    assert _mode(tmp_path / "c.bin") == expected
    assert _mode(write_json(tmp_path / "d.json", {"x": 1})) == expected


@posix_only
def test_mode_read_without_proc(tmp_path: Path, umask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where /proc is missing the umask is read by setting it for an instant, and restored."""
    umask.set(0o027)
    real_open = open

    def no_proc(file, *args, **kwargs):
        if str(file).startswith("/proc/"):
            raise FileNotFoundError(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_proc)
    assert current_umask() == 0o027
    assert _mode(atomic_write(tmp_path / "a.txt", "x")) == 0o640
    assert os.umask(0o027) == 0o027  # unchanged


@posix_only
def test_checkpoint_explanation_and_report_files_get_the_umask_mode(tmp_path: Path, umask) -> None:
    umask.set(0o022)
    weights = save_checkpoint(tmp_path / "m.safetensors", nn.Linear(2, 2), {"seed": 1})
    History(records=[{"epoch": 1, "train_loss": 0.5}]).save(tmp_path / "m.history.json")
    expl = xai.Explanation(torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([0, 1]), "demo")
    saved = expl.save(tmp_path / "e.safetensors")
    report = xai.report.Report()
    report.record("t.py::test").metrics.append(xai.report.Metric("m", 0.5))
    written = xai.report.write_report(report, tmp_path / "report")
    files = [weights, weights.with_suffix(".json"), tmp_path / "m.history.json", saved]
    for path in files + list(written.values()):
        assert _mode(path) == 0o644, path
    assert not list(tmp_path.rglob("*.tmp"))


# ------------------------------------------------------------------------------ atomicity


def test_write_replaces_and_returns_the_path(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "dir" / "a.txt"  # folders are created
    assert atomic_write(target, "one") == target
    assert atomic_write(str(target), b"two") == target
    assert target.read_bytes() == b"two"
    assert atomic_write(target, "é") and target.read_text(encoding="utf-8") == "é"
    assert _listing(target.parent) == ["a.txt"]
    with pytest.raises(TypeError, match="data: expected str or bytes, got int"):
        atomic_write(target, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_write_leaves_no_litter_and_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    target = tmp_path / "a.txt"
    target.write_text("original")

    def failing_write(descriptor: int, data: bytes) -> int:
        os.ftruncate(descriptor, 0)
        raise error

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(type(error)):
        atomic_write(target, "x" * 100_000)
    monkeypatch.undo()
    assert target.read_text() == "original"
    assert _listing(tmp_path) == ["a.txt"]


@pytest.mark.parametrize("error", [ValueError("bad row"), KeyboardInterrupt()])
def test_failed_stream_or_path_writer_leaves_no_litter(
    tmp_path: Path, error: BaseException
) -> None:
    target = tmp_path / "a.txt"
    target.write_text("original")
    with pytest.raises(type(error)), atomic_open(target) as stream:
        stream.write("half of it")
        raise error
    with pytest.raises(type(error)), atomic_path(target) as temporary:
        temporary.write_text("half of it")
        raise error
    assert target.read_text() == "original"
    assert _listing(tmp_path) == ["a.txt"]


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_failure_while_committing_leaves_no_litter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    target = tmp_path / "a.txt"
    target.write_text("original")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, step, interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "original"
    assert _listing(tmp_path) == ["a.txt"]


def test_interrupted_safetensors_save_leaves_no_litter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Explanation.save and save_checkpoint write through safetensors' save_file by name."""
    import safetensors.torch

    expl = xai.Explanation(torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([0, 1]), "demo")
    path = expl.save(tmp_path / "e.safetensors")
    before = path.read_bytes()
    real_save = safetensors.torch.save_file

    def interrupted_save(tensors, filename, metadata=None):
        real_save(tensors, filename, metadata=metadata)
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        expl.save(path)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "m.safetensors", nn.Linear(2, 2))
    assert path.read_bytes() == before
    assert _listing(tmp_path) == ["e.safetensors"]


def test_a_folder_is_never_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("kept")
    with pytest.raises(IsADirectoryError, match=r"path: '.*out' is a folder"):
        atomic_write(folder, "x")
    with pytest.raises(IsADirectoryError), atomic_path(folder):
        pass
    with pytest.raises(IsADirectoryError):
        xai.Explanation(torch.ones(1, 2), torch.ones(1, 2), torch.tensor([0]), "demo").save(folder)
    assert _listing(tmp_path) == ["out"] and _listing(folder) == ["keep.txt"]


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges")
def test_a_symbolic_link_is_replaced_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("target")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    atomic_write(link, "new")
    assert not link.is_symlink() and link.read_text() == "new"
    assert real.read_text() == "target"


def test_temporary_file_is_private_and_beside_the_target(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "a.bin") as temporary:
        assert temporary.parent == tmp_path
        assert temporary.name.startswith(".a.bin.") and temporary.name.endswith(".tmp")
        if os.name == "posix":
            assert _mode(temporary) == 0o600
        temporary.write_bytes(b"x")
    assert _listing(tmp_path) == ["a.bin"]


def test_long_file_names_fit(tmp_path: Path) -> None:
    target = tmp_path / ("n" * 250)
    atomic_write(target, "x")
    assert _listing(tmp_path) == [target.name]


def test_bad_stream_mode() -> None:
    with (
        pytest.raises(ValueError, match=r"mode: expected 'w' or 'wb', got 'a'"),
        atomic_open("never.txt", "a"),
    ):
        pass


# ------------------------------------------------------------------------------ JSON


@dataclass
class _Settings:
    name: str
    rate: float
    shape: tuple[int, ...]


def test_one_rule_for_non_finite_numbers() -> None:
    data = {
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        "np": np.float32("nan"),
        "np64": np.float64("inf"),
        "tensor": torch.tensor([1.0, math.nan, -math.inf]),
        "array": np.array([[math.nan, 2.0]]),
        "scalar": torch.tensor(math.nan),
        "nested": [(math.nan,), {"deep": {math.inf}}],
        "ok": [1, 2.5, True, None, "nan"],
    }
    value = to_json_value(data)
    assert value == {
        "nan": None,
        "inf": None,
        "-inf": None,
        "np": None,
        "np64": None,
        "tensor": [1.0, None, None],
        "array": [[None, 2.0]],
        "scalar": None,
        "nested": [[None], {"deep": [None]}],
        "ok": [1, 2.5, True, None, "nan"],  # the string "nan" is just a string
    }
    text = dumps_json(data)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == value
    # the serialiser itself refuses NaN: nothing can slip past the conversion
    with pytest.raises(ValueError):
        json.dumps(math.nan, allow_nan=False)


def test_json_conversion_of_library_types() -> None:
    value = to_json_value(
        {
            1: np.int64(3),
            "path": Path("a") / "b.txt",
            "shape": torch.Size([2, 3]),
            "dtype": torch.float32,
            "device": torch.device("cpu"),
            "bool": np.bool_(True),
            "settings": _Settings("x", math.nan, (1, 2)),
            "history": History(records=[{"epoch": 1, "val_loss": math.inf}]),
            "module": nn.Linear(1, 1),
            "callable": len,
            "set": {3, 1, 2},
        }
    )
    assert value == {
        "1": 3,
        "path": str(Path("a") / "b.txt"),
        "shape": [2, 3],
        "dtype": "torch.float32",
        "device": "cpu",
        "bool": True,
        "settings": {"name": "x", "rate": None, "shape": [1, 2]},
        "history": {
            "monitor": None,
            "best_epoch": None,
            "stopped_early": False,
            "records": [{"epoch": 1, "val_loss": None}],
        },
        "module": "<module Linear>",
        "callable": "<callable len>",
        "set": [1, 2, 3],
    }
    assert type(value["1"]) is int and type(value["bool"]) is bool
    json.dumps(value, allow_nan=False)


def test_strict_conversion_names_where_the_bad_value_is() -> None:
    with pytest.raises(TypeError, match=r"metadata\['config'\]\[1\]: expected JSON data .*Linear"):
        to_json_value({"config": [1, nn.Linear(1, 1)]}, strict=True, where="metadata")


def test_write_json_is_valid_json_with_a_final_newline(tmp_path: Path) -> None:
    path = write_json(tmp_path / "a.json", {"x": math.nan, "y": [1.5]})
    text = path.read_text()
    assert text.endswith("\n") and "NaN" not in text
    assert json.loads(text) == {"x": None, "y": [1.5]}


def test_to_dicts_follow_the_rule() -> None:
    from xai.evaluation.classification import evaluate_outputs

    with pytest.warns(UserWarning):
        report = evaluate_outputs(torch.tensor([1, 1]), torch.tensor([[0.2, 0.8], [0.6, 0.4]]))
    assert report.to_dict()["roc_auc"] is None
    document = xai.report.Report(provenance=_provenance())
    document.record("t::a").metrics.append(xai.report.Metric("m", math.nan, 0.5))
    document.models["m"] = {"auc": math.nan}
    data = document.to_dict()
    assert data["tests"][0]["metrics"][0]["value"] is None
    assert data["models"]["m"]["auc"] is None
    xai.report.validate(data)
    json.dumps(data, allow_nan=False)


# ------------------------------------------------------------------------------ round trips


def test_explanation_round_trip_with_nan_metadata(tmp_path: Path) -> None:
    expl = xai.Explanation(
        torch.tensor([[0.5, math.nan]]),
        torch.zeros(1, 2),
        torch.tensor([0]),
        "demo",
        params={"alpha": math.nan, "sizes": (1, 2)},
        extras={"score": math.inf, "curve": [1.0, math.nan], "seconds": math.nan},
    )
    path = expl.save(tmp_path / "e.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata()["xai"]
    assert "NaN" not in header and "Infinity" not in header
    loaded = xai.Explanation.load(path)
    # params re-run the explanation: their numbers come back as numbers, NaN included
    assert math.isnan(loaded.params["alpha"]) and loaded.params["sizes"] == [1, 2]
    assert loaded.extras == {"score": None, "curve": [1.0, None], "seconds": None}
    # tensors keep their NaN: only JSON numbers follow the null rule
    assert torch.equal(loaded.attributions.isnan(), expl.attributions.isnan())
    assert _listing(tmp_path) == ["e.safetensors"]


def test_checkpoint_round_trip_with_nan_metadata(tmp_path: Path) -> None:
    model = nn.Linear(3, 2)
    path = save_checkpoint(
        tmp_path / "m.safetensors",
        model,
        {"metrics": {"val_loss": math.nan, "auc": np.float32("inf")}, "lr": torch.tensor(0.1)},
    )
    text = path.with_suffix(".json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    fresh = nn.Linear(3, 2)
    _state, metadata = load_checkpoint(path, fresh)
    assert metadata["metrics"] == {"val_loss": None, "auc": None}
    assert metadata["lr"] == pytest.approx(0.1)
    assert metadata["format"] == "xai.checkpoint"
    assert torch.equal(fresh.weight, model.weight)
    assert _listing(tmp_path) == ["m.json", "m.safetensors"]


def test_checkpoint_refuses_metadata_json_cannot_hold_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"metadata\['loss'\]: expected JSON data"):
        save_checkpoint(tmp_path / "m.safetensors", nn.Linear(1, 1), {"loss": nn.MSELoss()})
    assert _listing(tmp_path) == []


def test_old_checkpoint_metadata_with_nan_tokens_still_loads(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.safetensors", nn.Linear(1, 1))
    path.with_suffix(".json").write_text('{"format": "xai.checkpoint", "val_loss": NaN}')
    _, metadata = load_checkpoint(path)
    assert math.isnan(metadata["val_loss"])


def test_history_round_trip_reads_null_as_nan(tmp_path: Path) -> None:
    history = History(records=[{"epoch": 1, "train_loss": math.nan, "best": True}])
    path = history.save(tmp_path / "h.json")
    assert json.loads(path.read_text())["records"][0]["train_loss"] is None
    loaded = History.load(path)
    assert math.isnan(loaded.records[0]["train_loss"]) and loaded.records[0]["best"] is True


def test_report_json_with_nan_is_valid(tmp_path: Path) -> None:
    report = xai.report.Report(provenance=_provenance())
    record = report.record("t.py::test")
    record.metrics.append(xai.report.Metric("auc", math.nan, threshold=0.5))
    record.tables.append(xai.report.model.Table("t", ["a"], [[math.nan]]))
    paths = xai.report.write_report(report, tmp_path)
    document = json.loads(paths["json"].read_text())
    assert document["tests"][0]["metrics"][0]["value"] is None
    assert document["tests"][0]["tables"][0]["rows"] == [[None]]
    xai.report.validate(document)
    assert xai.report.atomic_write is _files.atomic_write
    assert _listing(tmp_path) == [".xai-report", "index.html", "report.json", "summary.md"]
