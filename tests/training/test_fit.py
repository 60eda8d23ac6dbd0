"""xai.fit: data kinds, repeatability, early stopping, checkpoints, precision, errors."""

from __future__ import annotations

import copy
import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import xai
from xai.training import History, load_checkpoint, save_checkpoint


def _blobs(n: int = 256, k: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    centers = torch.randn(k, 8, generator=g) * 3
    return centers[y] + torch.randn(n, 8, generator=g), y


def _model(k: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, k))


class _PairDataset(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


@pytest.mark.parametrize("kind", ["tensors", "tensor_dataset", "dataset", "loader"])
def test_fit_learns_from_every_data_kind(kind: str) -> None:
    x, y = _blobs()
    data = {
        "tensors": (x, y),
        "tensor_dataset": TensorDataset(x, y),
        "dataset": _PairDataset(x, y),
        "loader": DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True),
    }[kind]
    model = _model()
    history = xai.fit(model, data, (x, y), epochs=6, lr=3e-2, seed=0, progress=False)
    assert isinstance(history, History) and len(history) == 6
    record = history[-1]
    for key in ("epoch", "train_loss", "val_loss", "val_accuracy", "lr", "seconds"):
        assert key in record
    assert record["samples_per_second"] > 0
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history.best["val_accuracy"] > 0.9
    assert not model.training


def test_seed_makes_cpu_runs_bit_for_bit_repeatable() -> None:
    x, y = _blobs()
    first, second, third = _model(), _model(), _model()
    h1 = xai.fit(first, (x, y), (x, y), epochs=3, seed=7, progress=False)
    h2 = xai.fit(second, (x, y), (x, y), epochs=3, seed=7, progress=False)
    xai.fit(third, (x, y), (x, y), epochs=3, seed=8, progress=False)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert h1.column("train_loss") == h2.column("train_loss")
    assert not all(
        torch.equal(a, c)
        for a, c in zip(first.state_dict().values(), third.state_dict().values(), strict=True)
    )
    # the caller's global RNG is left alone
    model = _model()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    xai.fit(model, (x, y), epochs=1, seed=1, progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_early_stopping_restores_best_weights() -> None:
    x, y = _blobs(k=2)
    val = (x, 1 - y)  # labels flipped: the better the model fits train, the worse val gets
    model = _model(k=2)
    history = xai.fit(
        model, (x, y), val, epochs=20, lr=1e-2, patience=2, monitor="val_loss", seed=0,
        progress=False,
    )  # fmt: skip
    assert history.stopped_early
    assert len(history) == history.best_epoch + 2
    with torch.no_grad():
        val_loss = F.cross_entropy(model(x), 1 - y).item()
    assert val_loss == pytest.approx(history.best["val_loss"], rel=1e-5)
    assert val_loss < history[-1]["val_loss"]


def test_checkpoint_files_and_loading_without_pickle(tmp_path, monkeypatch) -> None:
    x, y = _blobs()
    model = _model()
    path = tmp_path / "run" / "model.safetensors"
    meta = {"architecture": {"name": "mlp", "config": {"hidden": [16]}}, "data": {"split_seed": 3}}
    history = xai.fit(
        model, (x, y), (x, y), epochs=2, seed=0, checkpoint=path, metadata=meta, progress=False
    )
    assert path.is_file()
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["architecture"] == meta["architecture"]
    assert record["data"] == {"split_seed": 3}
    assert record["metrics"]["val_accuracy"] == history.best["val_accuracy"]
    assert record["training"]["seed"] == 0 and record["training"]["amp"] == "off"
    assert "torch" in record["library_versions"]
    other = tmp_path / "plain.safetensors"
    xai.fit(_model(), (x, y), epochs=1, checkpoint=other, progress=False)
    assert (
        json.loads(other.with_suffix(".json").read_text())["architecture"]["name"] == "Sequential"
    )
    saved = History.load(path.with_suffix(".history.json"))
    assert saved.column("train_loss") == history.column("train_loss")

    def no_pickle(*args, **kwargs):
        raise AssertionError("torch.load must not be used")

    monkeypatch.setattr(torch, "load", no_pickle)
    fresh = _model(seed=5)
    _state, metadata = load_checkpoint(path, fresh)
    assert metadata["data"]["split_seed"] == 3
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), model.eval()(x))
    with pytest.raises(ValueError, match=r"path: expected a file name ending in '\.safetensors'"):
        save_checkpoint(tmp_path / "model.pt", model)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_single_logit_binary_and_custom_loss() -> None:
    x, y = _blobs(k=2)
    model = nn.Sequential(nn.Linear(8, 1))
    history = xai.fit(model, (x, y), (x, y), epochs=5, lr=5e-2, seed=0, progress=False)
    assert history[-1]["val_accuracy"] > 0.9
    calls = []

    def loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        calls.append(outputs.shape)
        return F.cross_entropy(outputs, targets)

    xai.fit(_model(), (x, y), epochs=1, batch_size=100, loss=loss, progress=False)
    assert calls == [(100, 3), (100, 3), (56, 3)]


def test_schedules_and_clipping() -> None:
    x, y = _blobs()
    cosine = xai.fit(_model(), (x, y), epochs=2, lr=0.1, progress=False)
    assert cosine[-1]["lr"] == pytest.approx(0.0, abs=1e-12)
    constant = xai.fit(_model(), (x, y), epochs=2, lr=0.1, scheduler="constant", progress=False)
    assert constant[-1]["lr"] == pytest.approx(0.1)
    # with SGD, clipping the gradient norm to ~0 keeps the weights where they were
    model = _model()
    before = copy.deepcopy(model.state_dict())
    xai.fit(
        model, (x, y), epochs=1, max_grad_norm=1e-9, scheduler="constant",
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1), progress=False,
    )  # fmt: skip
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, before[name], atol=1e-9, rtol=0)


def test_precision_on_cpu() -> None:
    x, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xai.fit(_model(), (x, y), epochs=1, amp="auto", device="cpu", progress=False)
    with pytest.warns(UserWarning, match="mixed precision is used on CUDA only"):
        xai.fit(_model(), (x, y), epochs=1, amp=True, device="cpu", progress=False)
    with pytest.raises(ValueError, match="amp: 'fp16' needs a CUDA device"):
        xai.fit(_model(), (x, y), epochs=1, amp="fp16", device="cpu")
    history = xai.fit(_model(), (x, y), epochs=2, amp="bf16", device="cpu", progress=False)
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_progress_bar(capsys) -> None:
    x, y = _blobs()
    xai.fit(_model(), (x, y), epochs=1, progress=False)
    assert "epoch 1/1" not in capsys.readouterr().err
    xai.fit(_model(), (x, y), epochs=1, progress=True)
    assert "epoch 1/1" in capsys.readouterr().err


def test_bad_arguments_name_the_argument() -> None:
    x, y = _blobs()
    with pytest.raises(TypeError, match=r"model: expected a torch\.nn\.Module"):
        xai.fit("model", (x, y))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="epochs: expected an integer >= 1, got 0"):
        xai.fit(_model(), (x, y), epochs=0)
    with pytest.raises(TypeError, match="train_data: expected a torch DataLoader"):
        xai.fit(_model(), x.numpy(), progress=False)
    with pytest.raises(ValueError, match="train_data: X and y must have the same number of rows"):
        xai.fit(_model(), (x, y[:10]), progress=False)
    with pytest.raises(ValueError, match=r"monitor: expected one of 'train_loss'.*Pass val_data"):
        xai.fit(_model(), (x, y), monitor="val_accuracy")
    with pytest.raises(ValueError, match="lr: expected a positive number"):
        xai.fit(_model(), (x, y), lr=-1.0)
    with pytest.raises(ValueError, match="scheduler"):
        xai.fit(_model(), (x, y), scheduler="linear", progress=False)
    with pytest.raises(ValueError, match="device"):
        xai.fit(_model(), (x, y), device="tpu:9")


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on a machine without CUDA"
)
def test_cuda_requested_without_a_gpu() -> None:
    x, y = _blobs()
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"device: 'cuda:1' asked for a CUDA GPU, but none"):
        xai.fit(model, (x, y), epochs=1, device="cuda:1", progress=False)
    for key, value in model.state_dict().items():  # failed before touching the model
        assert torch.equal(value, before[key])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_on_cuda_uses_mixed_precision(tmp_path) -> None:
    x, y = _blobs(n=2048)
    model = _model()
    path = tmp_path / "m.safetensors"
    history = xai.fit(
        model, (x, y), (x, y), epochs=3, device="cuda", checkpoint=path, progress=False
    )
    assert next(model.parameters()).device.type == "cuda"
    expected = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    assert json.loads(path.with_suffix(".json").read_text())["training"]["amp"] == expected
    assert history.best["val_accuracy"] > 0.9
    fp16 = xai.fit(_model(), (x, y), epochs=3, device="cuda", amp="fp16", progress=False)
    assert fp16[-1]["train_loss"] < fp16[0]["train_loss"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # from torch internals
def test_compile_trains_the_same_module() -> None:
    x, y = _blobs(n=128)
    model = _model()
    before = copy.deepcopy(model.state_dict())
    history = xai.fit(model, (x, y), (x, y), epochs=2, lr=3e-2, compile=True, progress=False)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert not torch.equal(model.state_dict()["0.weight"], before["0.weight"])
    assert type(model) is nn.Sequential  # the user's module is trained in place, not replaced
