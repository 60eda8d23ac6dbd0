"""The classification metrics equal scikit-learn's on the same predictions."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from xai.metrics import (
    accuracy_score,
    as_probabilities,
    confusion_matrix,
    expected_calibration_error,
    f1_score,
    log_loss,
    reliability_bins,
    roc_auc_score,
    roc_curve,
)

TOL = 1e-12


def _random_case(seed: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]  # informative but imperfect
    return y, logits


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [2, 3, 7])
def test_random_predictions_match_sklearn(seed: int, k: int) -> None:
    y, logits = _random_case(seed, 200, k)
    probs = _softmax(logits)
    pred = probs.argmax(1)
    yt, pt = torch.from_numpy(y), torch.from_numpy(pred)
    assert accuracy_score(yt, pt) == pytest.approx(skm.accuracy_score(y, pred), abs=TOL)
    assert f1_score(yt, pt, k) == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=TOL)
    assert f1_score(yt, pt, k, "weighted") == pytest.approx(
        skm.f1_score(y, pred, average="weighted"), abs=TOL
    )
    np.testing.assert_allclose(
        f1_score(yt, pt, k, None).numpy(),
        skm.f1_score(y, pred, average=None, labels=range(k), zero_division=0),
        atol=TOL,
    )
    np.testing.assert_array_equal(
        confusion_matrix(yt, pt, k).numpy(), skm.confusion_matrix(y, pred, labels=range(k))
    )
    assert log_loss(yt, torch.from_numpy(probs)) == pytest.approx(
        skm.log_loss(y, probs, labels=range(k)), abs=1e-10
    )
    if k == 2:
        expected_auc = skm.roc_auc_score(y, probs[:, 1])
        assert roc_auc_score(yt, torch.from_numpy(probs[:, 1])) == pytest.approx(
            expected_auc, abs=TOL
        )
    else:
        expected_auc = skm.roc_auc_score(y, probs, multi_class="ovr", average="macro")
        assert roc_auc_score(yt, torch.from_numpy(probs)) == pytest.approx(expected_auc, abs=TOL)


def test_auc_with_ties_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    scores = rng.integers(0, 5, 300).astype(float) / 4  # many ties
    got = roc_auc_score(torch.from_numpy(y), torch.from_numpy(scores))
    assert got == pytest.approx(skm.roc_auc_score(y, scores), abs=TOL)
    assert roc_auc_score(torch.tensor([0, 1, 0, 1]), torch.tensor([0.5, 0.5, 0.5, 0.5])) == 0.5


def test_roc_curve_matches_sklearn_points() -> None:
    y, logits = _random_case(3, 150, 2)
    scores = logits[:, 1] - logits[:, 0]
    fpr, tpr, thresholds = roc_curve(torch.from_numpy(y), torch.from_numpy(scores))
    sk_fpr, sk_tpr, _ = skm.roc_curve(y, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr.numpy(), sk_fpr, atol=TOL)
    np.testing.assert_allclose(tpr.numpy(), sk_tpr, atol=TOL)
    assert math.isinf(float(thresholds[0]))


def test_class_missing_from_y_true() -> None:
    rng = np.random.default_rng(1)
    k = 4
    y = rng.choice([0, 1, 3], 120)  # class 2 never occurs in y_true
    probs = _softmax(rng.normal(size=(120, k)) + 2 * np.eye(k)[y])
    probs[:5] = np.eye(k)[2] * 0.7 + 0.075  # class 2 is predicted sometimes
    pred = probs.argmax(1)
    yt, pt = torch.from_numpy(y), torch.from_numpy(pred)
    assert 2 in set(pred.tolist())
    assert f1_score(yt, pt, k) == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=TOL)
    assert f1_score(yt, pt, k, "weighted") == pytest.approx(
        skm.f1_score(y, pred, average="weighted"), abs=TOL
    )
    assert log_loss(yt, torch.from_numpy(probs)) == pytest.approx(
        skm.log_loss(y, probs, labels=range(k)), abs=1e-10
    )
    # macro one-vs-rest AUC over the classes present in y_true (sklearn cannot score class 2)
    present = [0, 1, 3]
    onehot = np.eye(k)[y][:, present]
    expected = skm.roc_auc_score(onehot, probs[:, present], average="macro")
    with pytest.warns(UserWarning, match="no samples in y_true"):
        got = roc_auc_score(yt, torch.from_numpy(probs))
    assert got == pytest.approx(expected, abs=TOL)


def test_class_absent_from_both_is_left_out_of_macro_f1() -> None:
    y = np.array([0, 0, 1, 1, 3])
    pred = np.array([0, 1, 1, 1, 3])  # class 2 absent from both
    got = f1_score(torch.from_numpy(y), torch.from_numpy(pred), num_classes=4)
    assert got == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=TOL)


def test_single_class_auc_is_nan_with_warning() -> None:
    with pytest.warns(UserWarning, match="only one class"):
        value = roc_auc_score(torch.tensor([1, 1, 1]), torch.tensor([0.1, 0.4, 0.3]))
    assert math.isnan(value)


def test_single_logit_binary_outputs() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 100)
    z = rng.normal(size=100) + 2 * (y - 0.5)
    z[:3] = [40.0, 45.0, -50.0]  # sigmoid saturates in float32; ranking uses the logit
    probs, scores = as_probabilities(torch.from_numpy(z).float().unsqueeze(1))
    p1 = 1 / (1 + np.exp(-z.astype(np.float32).astype(np.float64)))
    np.testing.assert_allclose(probs[:, 1].numpy(), p1, rtol=1e-12)
    assert roc_auc_score(torch.from_numpy(y), scores[:, 1]) == pytest.approx(
        skm.roc_auc_score(y, z), abs=TOL
    )
    assert log_loss(torch.from_numpy(y), probs[:, 1]) == pytest.approx(
        skm.log_loss(y, p1), abs=1e-10
    )


def test_as_probabilities_auto_detection() -> None:
    probs = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
    got, _ = as_probabilities(probs)
    torch.testing.assert_close(got, probs.double())
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.4]])
    got, _ = as_probabilities(logits)
    torch.testing.assert_close(got, torch.softmax(logits.double(), 1))
    with pytest.raises(ValueError, match="outputs: expected one of"):
        as_probabilities(logits, kind="probs")
    with pytest.raises(ValueError, match="logits"):
        as_probabilities(logits, kind="probabilities")


def _ece_reference(y: np.ndarray, probs: np.ndarray, n_bins: int) -> float:
    conf = probs.max(1)
    correct = probs.argmax(1) == y
    total = 0.0
    for i in range(n_bins):
        low, high = i / n_bins, (i + 1) / n_bins
        inside = (conf > low) & (conf <= high) if i else (conf >= low) & (conf <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return total


@pytest.mark.parametrize("n_bins", [5, 15])
def test_expected_calibration_error(n_bins: int) -> None:
    y, logits = _random_case(4, 400, 5)
    probs = _softmax(logits)
    got = expected_calibration_error(torch.from_numpy(y), torch.from_numpy(probs), n_bins)
    assert got == pytest.approx(_ece_reference(y, probs, n_bins), abs=1e-12)
    # confident and always right: 0; confident and always wrong: 1
    onehot = torch.eye(3)[torch.tensor([0, 1, 2, 0])]
    assert expected_calibration_error(torch.tensor([0, 1, 2, 0]), onehot) == 0.0
    assert expected_calibration_error(torch.tensor([1, 2, 0, 1]), onehot) == 1.0
    bins = reliability_bins(torch.tensor([0, 1, 2, 0]), onehot, n_bins)
    assert int(bins["count"].sum()) == 4


def test_bad_inputs_name_the_argument() -> None:
    with pytest.raises(ValueError, match="y_pred: expected one row per label"):
        accuracy_score(torch.tensor([0, 1]), torch.tensor([0, 1, 1]))
    with pytest.raises(TypeError, match="y_true: expected integer class indices"):
        f1_score(torch.tensor([0.5, 1.0]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="average"):
        f1_score(torch.tensor([0, 1]), torch.tensor([0, 1]), average="micro-ish")
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), num_classes=2)
    with pytest.raises(ValueError, match="finite"):
        log_loss(torch.tensor([0, 1]), torch.tensor([[0.5, math.nan], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(torch.tensor([0]), torch.tensor([[1.0, 0.0]]), n_bins=0)
    labels = torch.tensor([0, 1, 2])
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 3.0, -2.0], [0.0, 0.0, 1.0]])
    for metric in (expected_calibration_error, log_loss, reliability_bins):
        with pytest.raises(ValueError, match=r"probabilities: expected values in \[0, 1\].*logits"):
            metric(labels, logits)
        with pytest.raises(ValueError, match=r"probabilities: expected each row to sum to 1"):
            metric(labels, torch.full((3, 3), 0.5))
        metric(labels, logits.softmax(1))  # the same scores as probabilities are accepted
        metric(torch.tensor([0, 1, 1]), torch.tensor([0.2, 0.9, 0.6]))  # one binary column
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert accuracy_score([0, 1, 1], [0, 1, 0]) == pytest.approx(2 / 3)
