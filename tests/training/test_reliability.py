"""xai.fit refuses bad arguments and data before any work, stops on a non-finite loss, writes
its checkpoint every epoch as one unit, survives Ctrl+C, and resumes to the same weights."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

import xai
import xai.training.loop as loop
from xai.errors import InputError, InputTypeError
from xai.training import History, NonFiniteLossError, load_checkpoint, save_checkpoint


def _blobs(n: int = 256, k: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    centers = torch.randn(k, 8, generator=g) * 3
    return centers[y] + torch.randn(n, 8, generator=g), y


class _Net(nn.Module):
    """A small MLP with dropout (so the RNG matters) that counts its training forward passes
    and raises KeyboardInterrupt on pass ``interrupt_at`` (1-based), like Ctrl+C mid-epoch."""

    def __init__(self, k: int = 3, seed: int = 0, interrupt_at: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, k))
        self.interrupt_at = interrupt_at
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            if self.calls == self.interrupt_at:
                raise KeyboardInterrupt
        return self.body(x)


class _Pairs(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ----------------------------------------------------------------------- arguments (case 1)
BAD_ARGUMENTS: list[tuple[str, dict[str, Any], type[Exception]]] = [
    ("lr", {"lr": math.inf}, InputError),
    ("lr", {"lr": math.nan}, InputError),
    ("lr", {"lr": 1e300}, InputError),
    ("lr", {"lr": 0.0}, InputError),
    ("lr", {"lr": -1.0}, InputError),
    ("lr", {"lr": "0.1"}, InputTypeError),
    ("weight_decay", {"weight_decay": -0.1}, InputError),
    ("weight_decay", {"weight_decay": math.nan}, InputError),
    ("weight_decay", {"lr": 0.5, "weight_decay": 2.0}, InputError),  # lr * wd >= 1
    ("warmup_epochs", {"warmup_epochs": -1}, InputError),
    ("warmup_epochs", {"warmup_epochs": math.nan}, InputError),
    ("warmup_epochs", {"warmup_epochs": 3, "epochs": 2}, InputError),
    ("warmup_epochs", {"warmup_epochs": "1"}, InputTypeError),
    ("epochs", {"epochs": 0}, InputError),
    ("epochs", {"epochs": 2.5}, InputTypeError),
    ("epochs", {"epochs": True}, InputTypeError),
    ("batch_size", {"batch_size": 0}, InputError),
    ("restore_best", {"restore_best": "no"}, InputTypeError),
    ("compile", {"compile": "yes"}, InputTypeError),
    ("progress", {"progress": "no"}, InputTypeError),
    ("num_workers", {"num_workers": -1}, InputError),
    ("num_workers", {"num_workers": 1.0}, InputTypeError),
    ("max_grad_norm", {"max_grad_norm": 0}, InputError),
    ("max_grad_norm", {"max_grad_norm": math.inf}, InputError),
    ("patience", {"patience": 0}, InputError),
    ("optimizer", {"optimizer": 5}, InputTypeError),
    ("scheduler", {"scheduler": "linear"}, InputError),
    ("loss", {"loss": "mse"}, InputTypeError),
    ("amp", {"amp": "fast"}, InputError),
    ("seed", {"seed": -1}, InputError),
    ("checkpoint_every", {"checkpoint_every": 0}, InputError),
    ("nan_policy", {"nan_policy": "ignore"}, InputError),
    ("checkpoint", {"checkpoint": "model.pt"}, InputError),
    ("checkpoint", {"checkpoint": 5}, InputTypeError),
    ("metadata", {"metadata": {"loss": nn.MSELoss()}}, InputTypeError),
    ("metadata", {"metadata": [("a", 1)]}, InputTypeError),
    ("metadata", {"metadata": {"metrics": [1, 2]}}, InputTypeError),
    ("resume", {"resume": "missing.safetensors"}, InputError),
    ("monitor", {"monitor": "val_accuracy"}, InputError),  # no val_data
]


@pytest.mark.parametrize(
    ("argument", "options", "kind"),
    BAD_ARGUMENTS,
    ids=[f"{a}={next(iter(o.values()))!r}"[:40] for a, o, _ in BAD_ARGUMENTS],
)
def test_every_argument_is_checked_before_any_work(
    argument: str, options: dict[str, Any], kind: type[Exception], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    x, y = _blobs(n=64)
    model = _Net()
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    options = {"checkpoint": tmp_path / "m.safetensors", "progress": False, **options}
    with pytest.raises(kind) as info:
        xai.fit(model, (x, y), **options)
    assert info.value.argument == argument, info.value
    assert str(info.value).startswith(f"{argument}: ")
    assert model.calls == 0 and not model.training  # no forward pass, mode untouched
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert _listing(tmp_path) == []  # nothing written


def test_checkpoint_that_is_a_folder(tmp_path: Path) -> None:
    x, y = _blobs(n=64)
    folder = tmp_path / "runs.safetensors"
    folder.mkdir()
    with pytest.raises(InputError, match="is a folder") as info:
        xai.fit(_Net(), (x, y), checkpoint=folder, progress=False)
    assert info.value.argument == "checkpoint"


# ----------------------------------------------------------------------- labels and inputs
@pytest.mark.parametrize(
    ("labels", "outputs", "message", "kind"),
    [
        (torch.full((64,), 6), 3, r"class labels in \[0, 3\) .* got label 6", InputError),
        (torch.full((64,), -1), 3, r"class labels in \[0, 3\) .* got label -1", InputError),
        (torch.zeros(64), 3, "expected integer class labels .*float32", InputTypeError),
        (torch.zeros(64, 2, dtype=torch.long), 3, r"shape \(64,\), got .* \(64, 2\)", InputError),
        (torch.full((64,), 2), 1, "binary labels 0/1, got label 2", InputError),
        (torch.zeros(64, dtype=torch.bool), 3, "got torch.bool labels", InputTypeError),
    ],
)
def test_labels_are_checked_on_the_first_batch(
    labels: torch.Tensor, outputs: int, message: str, kind: type[Exception]
) -> None:
    x, _ = _blobs(n=64)
    model = nn.Linear(8, outputs)
    with pytest.raises(kind, match=message) as info:
        xai.fit(model, (x, labels), epochs=1, progress=False)
    assert info.value.argument == "train_data"


def test_validation_labels_are_checked_too_and_good_labels_pass() -> None:
    x, y = _blobs(n=64)
    with pytest.raises(InputError, match=r"\[0, 3\)") as info:
        xai.fit(nn.Linear(8, 3), (x, y), (x, y + 3), epochs=1, progress=False)
    assert info.value.argument == "val_data"
    # int32 labels and class probabilities are fine with the default loss
    xai.fit(nn.Linear(8, 3), (x, y.int()), (x, y.int()), epochs=1, progress=False)
    soft = torch.nn.functional.one_hot(y, 3).float()
    history = xai.fit(nn.Linear(8, 3), (x, soft), (x, soft), epochs=1, progress=False)
    assert 0 <= history[-1]["val_accuracy"] <= 1


def test_nan_inputs_are_refused() -> None:
    x, y = _blobs(n=64)
    x[3, 2] = math.nan
    with pytest.raises(InputError, match="1 NaN or infinite input value") as info:
        xai.fit(_Net(), (x, y), epochs=1, progress=False)
    assert info.value.argument == "train_data"
    # past the first batch, the non-finite loss they cause stops training before the update
    x, y = _blobs(n=96)
    x[40, 0] = math.inf
    model = _Net()
    loader = DataLoader(TensorDataset(x, y), batch_size=32)  # NaN row in step 2
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 2 .*inputs of this batch") as err:
        xai.fit(model, loader, epochs=1, progress=False)
    assert (err.value.epoch, err.value.step) == (1, 2)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    with pytest.raises(InputError) as info:
        xai.fit(_Net(), (x[:32], y[:32]), (x[32:64], y[32:64]), epochs=1, progress=False)
    assert info.value.argument == "val_data"


# ----------------------------------------------------------------------- non-finite loss (2)
def _loss_nan_at(call: int) -> Any:
    calls = [0]

    def loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        value = nn.functional.cross_entropy(outputs, targets)
        return value * math.nan if calls[0] == call else value

    return loss


def test_non_finite_loss_stops_training_naming_epoch_and_step(tmp_path: Path) -> None:
    x, y = _blobs()  # 4 steps per epoch: call 7 is epoch 2, step 3
    model = _Net()
    model.eval()
    path = tmp_path / "m.safetensors"
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 3 \(of 4\) is nan") as info:
        xai.fit(model, (x, y), epochs=3, loss=_loss_nan_at(7), checkpoint=path, progress=False)
    assert (info.value.epoch, info.value.step) == (2, 3)
    assert isinstance(info.value, FloatingPointError)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not model.training  # the mode it had
    assert History.load(path.with_suffix(".history.json")).column("epoch") == [1]


def test_skip_batch_policy_skips_the_batch() -> None:
    x, y = _blobs()
    model = _Net()
    history = xai.fit(
        model, (x, y), epochs=2, loss=_loss_nan_at(3), nan_policy="skip_batch", progress=False
    )
    assert history.column("skipped_batches") == [1, 0]
    assert all(math.isfinite(v) for v in history.column("train_loss"))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_loss_check_deferred_on_an_accelerator_still_names_the_step(monkeypatch) -> None:
    """On CUDA the check stays on the device and is read every few steps; the same logic runs
    here on CPU when the loop is told to check like that."""
    monkeypatch.setattr(loop, "_checks_on_host", lambda device, policy: False)
    monkeypatch.setattr(loop, "_FINITE_CHECK_EVERY", 3)
    x, y = _blobs(n=640)  # 10 steps per epoch
    with pytest.raises(NonFiniteLossError, match="epoch 1, step 2 ") as info:
        xai.fit(_Net(), (x, y), epochs=1, loss=_loss_nan_at(2), progress=False)
    assert info.value.step == 2
    with pytest.raises(NonFiniteLossError, match="epoch 1, step 10 "):  # found at epoch end
        xai.fit(_Net(), (x, y), epochs=1, loss=_loss_nan_at(10), progress=False)


# ----------------------------------------------------------------------- empty data (3)
class _Nothing(IterableDataset):
    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())


def test_empty_loaders_are_refused() -> None:
    x, y = _blobs(n=64)
    empty = TensorDataset(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long))
    with pytest.raises(InputError, match="at least one batch") as info:
        xai.fit(_Net(), DataLoader(empty), progress=False)
    assert info.value.argument == "train_data"
    short = DataLoader(TensorDataset(x, y), batch_size=100, drop_last=True)
    with pytest.raises(InputError, match="drop_last") as info:
        xai.fit(_Net(), short, progress=False)
    assert info.value.argument == "train_data"
    with pytest.raises(InputError, match="at least one batch") as info:
        xai.fit(_Net(), (x, y), DataLoader(empty), epochs=1, progress=False)
    assert info.value.argument == "val_data"
    with pytest.raises(InputError, match="yielded no batches") as info:
        xai.fit(_Net(), DataLoader(_Nothing()), epochs=1, progress=False)
    assert info.value.argument == "train_data"
    with pytest.raises(InputError, match="yielded no batches") as info:
        xai.fit(_Net(), (x, y), DataLoader(_Nothing()), epochs=1, progress=False)
    assert info.value.argument == "val_data"


# ----------------------------------------------------------------------- checkpoints (4)
def _ids(path: Path) -> dict[str, str | None]:
    ids: dict[str, str | None] = {}
    for name in (path, path.with_suffix(".resume.safetensors")):
        if name.is_file():
            with safe_open(str(name), framework="pt") as handle:
                ids[name.name] = (handle.metadata() or {}).get("checkpoint_id")
    for name in (path.with_suffix(".json"), path.with_suffix(".history.json")):
        if name.is_file():
            ids[name.name] = json.loads(name.read_text()).get("checkpoint_id")
    return ids


def test_checkpoint_every_epoch_as_one_unit(tmp_path: Path, monkeypatch) -> None:
    x, y = _blobs()
    path = tmp_path / "m.safetensors"
    model = _Net(interrupt_at=10)  # 4 steps per epoch: Ctrl+C in epoch 3, step 2
    model.train()
    model.body[2].eval()  # a mixed mode, to be restored exactly
    with pytest.raises(KeyboardInterrupt):
        xai.fit(model, (x, y), (x, y), epochs=4, seed=0, checkpoint=path, progress=False)
    # the mode it had before fit, submodule by submodule
    assert model.training and model.body.training and not model.body[2].training
    assert _listing(tmp_path) == [
        "m.history.json", "m.json", "m.resume.safetensors", "m.safetensors",
    ]  # fmt: skip
    ids = _ids(path)
    assert len(set(ids.values())) == 1 and None not in ids.values()  # one unit
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["training"]["epochs_run"] == 2 and meta["training"]["complete"] is False
    assert History.load(path.with_suffix(".history.json")).column("epoch") == [1, 2]

    def no_pickle(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("torch.load must not be used")

    monkeypatch.setattr(torch, "load", no_pickle)
    fresh = _Net(seed=9)
    _, metadata = load_checkpoint(path, fresh)
    assert metadata["best_epoch"] in (1, 2)
    # a finished run: the training state is gone, the unit says it is complete
    with pytest.warns(UserWarning, match="holds an unfinished run"):
        xai.fit(_Net(), (x, y), (x, y), epochs=2, checkpoint=path, progress=False)
    assert _listing(tmp_path) == ["m.history.json", "m.json", "m.safetensors"]
    assert json.loads(path.with_suffix(".json").read_text())["training"]["complete"] is True
    assert len(set(_ids(path).values())) == 1


def test_metadata_is_checked_before_an_existing_checkpoint_is_touched(tmp_path: Path) -> None:
    x, y = _blobs(n=64)
    path = tmp_path / "m.safetensors"
    xai.fit(_Net(), (x, y), epochs=1, checkpoint=path, metadata={"run": 1}, progress=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    model = _Net()
    with pytest.raises(InputTypeError, match=r"metadata\['loss'\]") as info:
        xai.fit(model, (x, y), checkpoint=path, metadata={"loss": nn.MSELoss()}, progress=False)
    assert info.value.argument == "metadata" and model.calls == 0
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_failed_write_leaves_the_previous_unit(tmp_path: Path, monkeypatch) -> None:
    import safetensors.torch

    x, y = _blobs(n=64)
    path = tmp_path / "m.safetensors"
    xai.fit(_Net(), (x, y), epochs=1, checkpoint=path, progress=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = safetensors.torch.save_file
    calls = [0]

    def failing(tensors: Any, filename: str, metadata: Any = None) -> None:
        calls[0] += 1
        if calls[0] == 2:  # the training state, after the weights went to their temporary
            raise KeyboardInterrupt
        real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(safetensors.torch, "save_file", failing)
    with pytest.raises(KeyboardInterrupt):
        xai.fit(_Net(seed=1), (x, y), epochs=3, checkpoint=path, progress=False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp litter


def test_a_reader_never_mixes_two_units(tmp_path: Path) -> None:
    """A metadata file of another write beside the weights (a crash between two renames):
    load_checkpoint says so and returns the metadata stored with the weights."""
    first = save_checkpoint(tmp_path / "a.safetensors", nn.Linear(2, 2), {"run": "first"})
    stale = first.with_suffix(".json").read_text()
    save_checkpoint(first, nn.Linear(2, 2), {"run": "second"})
    first.with_suffix(".json").write_text(stale)
    with pytest.warns(UserWarning, match="belongs to another write"):
        _, metadata = load_checkpoint(first)
    assert metadata["run"] == "second"


# ----------------------------------------------------------------------- resume (5, 6)
def _data(kind: str, x: torch.Tensor, y: torch.Tensor) -> Any:
    if kind == "tensors":
        return (x, y)
    if kind == "dataset":
        return _Pairs(x, y)
    # a loader's sampler draws from torch's RNG, or from the loader's own generator
    generator = torch.Generator().manual_seed(5) if kind == "loader_generator" else None
    return DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, generator=generator)


@pytest.mark.parametrize("kind", ["tensors", "dataset", "loader", "loader_generator"])
def test_resume_after_ctrl_c_reaches_the_same_weights(kind: str, tmp_path: Path) -> None:
    x, y = _blobs()
    options: dict[str, Any] = {
        "epochs": 4, "lr": 1e-2, "seed": 3, "patience": 3, "progress": False,
    }  # fmt: skip
    straight = _Net()
    expected = xai.fit(
        straight, _data(kind, x, y), (x, y), checkpoint=tmp_path / "a.safetensors", **options
    )
    path = tmp_path / "b.safetensors"
    interrupted = _Net(interrupt_at=10)  # epoch 3, step 2
    with pytest.raises(KeyboardInterrupt):
        xai.fit(interrupted, _data(kind, x, y), (x, y), checkpoint=path, **options)
    resumed = _Net(seed=7)  # other initial weights: they come from the checkpoint
    history = xai.fit(resumed, _data(kind, x, y), (x, y), resume=path, **options)
    assert _same_weights(resumed, straight)
    assert history.column("train_loss") == expected.column("train_loss")
    assert history.column("val_loss") == expected.column("val_loss")
    assert history.best_epoch == expected.best_epoch and not resumed.training
    a, _ = load_checkpoint(tmp_path / "a.safetensors")
    b, meta = load_checkpoint(path)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert meta["training"]["complete"] is True and meta["training"]["epochs_run"] == 4
    assert not path.with_suffix(".resume.safetensors").exists()


def test_dataset_and_tensors_shuffle_alike() -> None:
    """A Dataset is shuffled like (X, y) tensors, from the seed and the epoch alone."""
    x, y = _blobs()
    a, b = nn.Linear(8, 3), nn.Linear(8, 3)
    b.load_state_dict(a.state_dict())
    xai.fit(a, (x, y), epochs=2, seed=1, progress=False)
    xai.fit(b, _Pairs(x, y), epochs=2, seed=1, progress=False)
    assert _same_weights(a, b)


def test_resume_refuses_another_run_and_returns_a_finished_one(tmp_path: Path) -> None:
    x, y = _blobs(n=128)
    path = tmp_path / "m.safetensors"
    with pytest.raises(KeyboardInterrupt):
        xai.fit(_Net(interrupt_at=3), (x, y), epochs=3, seed=0, checkpoint=path, progress=False)
    with pytest.raises(InputError, match=r"started with lr=0\.001, this call has lr=0\.01") as e:
        xai.fit(_Net(), (x, y), epochs=3, seed=0, lr=1e-2, resume=path, progress=False)
    assert e.value.argument == "resume"
    with pytest.raises(InputError, match="train_samples") as e:
        xai.fit(_Net(), (x[:100], y[:100]), epochs=3, seed=0, resume=path, progress=False)
    with pytest.raises(InputError, match="do not fit the model") as e:
        xai.fit(nn.Linear(8, 3), (x, y), epochs=3, seed=0, resume=path, progress=False)
    model = _Net()  # resume= the training state itself works too
    state = path.with_suffix(".resume.safetensors")
    stale = state.read_bytes()
    history = xai.fit(model, (x, y), epochs=3, seed=0, resume=state, progress=False)
    assert not state.exists() and len(history) == 3
    state.write_bytes(stale)  # as if Ctrl+C came between the last unit and the state's removal
    again = _Net(seed=4)  # resuming a finished run: its weights and history, nothing trained
    assert xai.fit(again, (x, y), epochs=3, seed=0, resume=path, progress=False).column(
        "train_loss"
    ) == history.column("train_loss")
    assert again.calls == 0 and _same_weights(again, model)
    plain = save_checkpoint(tmp_path / "plain.safetensors", _Net())
    with pytest.raises(InputError, match="no training state to resume from") as e:
        xai.fit(_Net(), (x, y), epochs=1, resume=plain, progress=False)


def test_a_new_run_over_an_unfinished_one_warns(tmp_path: Path) -> None:
    x, y = _blobs(n=64)
    path = tmp_path / "m.safetensors"
    with pytest.raises(KeyboardInterrupt):
        xai.fit(_Net(interrupt_at=2), (x, y), epochs=2, checkpoint=path, progress=False)
    with pytest.warns(UserWarning, match="holds an unfinished run"):
        xai.fit(_Net(), (x, y), epochs=1, checkpoint=path, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xai.fit(_Net(), (x, y), epochs=1, checkpoint=path, progress=False)


# ----------------------------------------------------------------------- load_checkpoint (7)
def test_load_checkpoint_refuses_metadata_that_is_not_an_object(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.safetensors", nn.Linear(2, 2))
    path.with_suffix(".json").write_text("[1, 2, 3]")
    with pytest.raises(InputError, match=r"is a list; expected a JSON object .* top level") as e:
        load_checkpoint(path)
    assert e.value.argument == "path" and "m.json" in str(e.value)
    path.with_suffix(".json").write_text('{"architecture": ["small_cnn"]}')
    with pytest.raises(InputError, match=r"field 'architecture' .* got a list") as e:
        load_checkpoint(path)
    assert e.value.argument == "path"
    path.with_suffix(".json").write_text('{"architecture": {"name": "x", "config": 3}}')
    with pytest.raises(InputError, match=r"field 'architecture\.config'"):
        load_checkpoint(path)


def test_load_checkpoint_refuses_a_training_state(tmp_path: Path) -> None:
    x, y = _blobs(n=64)
    path = tmp_path / "m.safetensors"
    with pytest.raises(KeyboardInterrupt):
        xai.fit(_Net(interrupt_at=2), (x, y), epochs=2, checkpoint=path, progress=False)
    with pytest.raises(InputError, match="training state of an unfinished run") as e:
        load_checkpoint(path.with_suffix(".resume.safetensors"))
    assert e.value.argument == "path"
