"""xai.evaluate: the report of a model on data equals scikit-learn on the model's outputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import xai
from xai.evaluation.classification import evaluate_outputs, format_metrics_table


def _data(k: int, n: int = 150, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    x[:, 0] += y.float()
    return x, y


@pytest.mark.parametrize("k", [2, 4])
def test_evaluate_matches_sklearn(k: int) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, k))
    x, y = _data(k)
    report = xai.evaluate(model, (x, y), batch_size=32)
    with torch.no_grad():
        probs = torch.softmax(model(x).double(), 1).numpy()
    pred = probs.argmax(1)
    yn = y.numpy()
    assert report.n_samples == 150
    assert report.accuracy == pytest.approx(skm.accuracy_score(yn, pred), abs=1e-12)
    assert report.f1 == pytest.approx(skm.f1_score(yn, pred, average="macro"), abs=1e-12)
    assert report.f1_weighted == pytest.approx(
        skm.f1_score(yn, pred, average="weighted"), abs=1e-12
    )
    np.testing.assert_array_equal(
        report.confusion_matrix.numpy(), skm.confusion_matrix(yn, pred, labels=range(k))
    )
    if k == 2:
        expected_auc = skm.roc_auc_score(yn, probs[:, 1])
    else:
        expected_auc = skm.roc_auc_score(yn, probs, multi_class="ovr")
    assert report.roc_auc == pytest.approx(expected_auc, abs=1e-9)
    assert report.log_loss == pytest.approx(skm.log_loss(yn, probs, labels=range(k)), abs=1e-6)
    assert 0.0 <= report.expected_calibration_error <= 1.0


@pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")
def test_single_logit_and_probability_models() -> None:
    torch.manual_seed(1)
    x, y = _data(2, seed=1)
    logit_model = nn.Linear(6, 1)
    report = xai.evaluate(logit_model, (x, y))
    with torch.no_grad():
        z = logit_model(x).double().squeeze(1).numpy()
    p = 1 / (1 + np.exp(-z))
    assert report.num_classes == 2
    assert report.accuracy == pytest.approx(skm.accuracy_score(y.numpy(), (z > 0).astype(int)))
    assert report.roc_auc == pytest.approx(skm.roc_auc_score(y.numpy(), z), abs=1e-9)
    assert report.log_loss == pytest.approx(skm.log_loss(y.numpy(), p), abs=1e-6)
    # the same model ending in a softmax returns probabilities; they are used as such
    prob_model = nn.Sequential(nn.Linear(6, 3), nn.Softmax(dim=1))
    x3, y3 = _data(3, seed=2)
    report = xai.evaluate(prob_model, (x3, y3))
    with torch.no_grad():
        probs = prob_model(x3).double().numpy()
    assert report.log_loss == pytest.approx(skm.log_loss(y3.numpy(), probs), abs=1e-6)


def test_data_kinds_agree_and_mode_is_restored() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(6, 3), nn.Dropout(0.5))
    model.train()
    x, y = _data(3)
    a = xai.evaluate(model, (x, y))
    b = xai.evaluate(model, TensorDataset(x, y, torch.zeros(len(y))))
    c = xai.evaluate(model, DataLoader(TensorDataset(x, y), batch_size=7))

    class Pairs(Dataset):
        def __len__(self) -> int:
            return len(x)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            return x[i], y[i]

    d = xai.evaluate(model, Pairs(), batch_size=33)
    assert model.training and model[1].training
    # dropout was off (eval mode inside), so every kind of data gives the same report
    assert a.to_dict() == b.to_dict() == c.to_dict() == d.to_dict()


def test_degenerate_labels_and_to_dict() -> None:
    y = torch.tensor([1, 1, 1, 1])
    outputs = torch.tensor([[0.1, 0.9], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    with pytest.warns(UserWarning, match="only one class"):
        report = evaluate_outputs(y, outputs)
    assert math.isnan(report.roc_auc)
    data = report.to_dict()
    assert data["roc_auc"] is None
    json.dumps(data)  # serialisable
    assert report.accuracy == pytest.approx(0.75)
    assert report.f1 == pytest.approx(skm.f1_score([1, 1, 1, 1], [1, 0, 1, 1], average="macro"))
    table = format_metrics_table([("m", report)])
    assert "n/a" in table and "0.7500" in table


def test_bad_inputs() -> None:
    model = nn.Linear(6, 3)
    with pytest.raises(TypeError, match=r"model: expected a torch\.nn\.Module"):
        xai.evaluate("model", (torch.zeros(2, 6), torch.zeros(2)))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="data: expected a torch DataLoader"):
        xai.evaluate(model, torch.zeros(2, 6))
    with pytest.raises(ValueError, match="y_true: labels go up to 5"):
        xai.evaluate(model, (torch.zeros(2, 6), torch.tensor([0, 5])))
    with pytest.raises(ValueError, match="X and y must have the same number of rows"):
        xai.evaluate(model, (torch.zeros(2, 6), torch.tensor([0])))
    with pytest.raises(
        ValueError,
        match=r"data: the model failed on inputs of shape \(2, 5\) and dtype torch\.float32 "
        r"\(RuntimeError: .*\)\. Check that the inputs have the shape",
    ):
        xai.evaluate(model, (torch.zeros(2, 5), torch.tensor([0, 1])))
    with pytest.raises(ValueError, match=r"data: the model failed .* dtype torch\.int64"):
        xai.evaluate(model, (torch.zeros(2, 6, dtype=torch.long), torch.tensor([0, 1])))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_evaluate_on_cuda_matches_cpu() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).double()
    x, y = _data(3, n=500)
    cpu = xai.evaluate(model, (x.double(), y))
    gpu = xai.evaluate(model.cuda(), (x.double(), y), batch_size=64)
    assert next(model.parameters()).is_cuda  # evaluated where the model lives, left there
    assert gpu.accuracy == cpu.accuracy
    assert gpu.roc_auc == pytest.approx(cpu.roc_auc, abs=1e-9)
    assert torch.equal(gpu.confusion_matrix, cpu.confusion_matrix)
