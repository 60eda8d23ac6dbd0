"""ClassificationReport.per_class(): one row per class, equal to scikit-learn's
precision_recall_fscore_support (zero_division=0) and one-vs-rest roc_auc_score."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

import reference_models
import xai
from xai.evaluation.classification import evaluate_outputs

KEYS = ["class", "support", "precision", "recall", "f1", "roc_auc"]


def _check_against_sklearn(
    rows: list[dict], y: np.ndarray, probabilities: np.ndarray, names: list[str]
) -> None:
    k = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y, predicted, labels=list(range(k)), zero_division=0
    )
    assert len(rows) == k
    for c, row in enumerate(rows):
        assert list(row) == KEYS
        assert row["class"] == names[c]
        assert isinstance(row["support"], int) and row["support"] == int(support[c])
        assert row["precision"] == pytest.approx(precision[c], abs=1e-12)
        assert row["recall"] == pytest.approx(recall[c], abs=1e-12)
        assert row["f1"] == pytest.approx(f1[c], abs=1e-12)
        positives = y == c
        if positives.all() or not positives.any():
            assert math.isnan(row["roc_auc"])
        else:
            expected = skm.roc_auc_score(positives, probabilities[:, c])
            assert row["roc_auc"] == pytest.approx(expected, abs=1e-9), f"class {c}"


@pytest.mark.parametrize("name", ["breast_cancer_mlp", "digits_cnn"])
def test_per_class_on_reference_models(name: str) -> None:
    ref = reference_models.load(name)
    x, y = ref.data["test"].tensors[:2]
    report = xai.evaluate(ref.model, (x, y), class_names=ref.info.class_names)
    with torch.no_grad():
        probabilities = torch.softmax(ref.model(x).double(), dim=1).numpy()
    rows = report.per_class()
    _check_against_sklearn(rows, y.numpy(), probabilities, list(ref.info.class_names))
    assert sum(row["support"] for row in rows) == len(y)
    # The macro F1 of the report is the mean of the rows' F1 (every class occurs in the labels).
    assert report.f1 == pytest.approx(np.mean([row["f1"] for row in rows]), abs=1e-12)


def test_never_predicted_and_absent_classes() -> None:
    """Class 2 is never predicted; class 3 never occurs in the labels."""
    rng = np.random.default_rng(0)
    n = 120
    y = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 4))
    logits[np.arange(n), y] += 1.5  # mostly right ...
    logits[:, 2] -= 10.0  # ... but class 2 never wins
    logits[:30, 3] += 4.0  # class 3 is predicted sometimes, though it never occurs
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    predicted = probabilities.argmax(axis=1)
    assert 2 not in predicted and 3 in predicted and 3 not in y  # the case is what it says

    with pytest.warns(UserWarning, match=r"class\(es\) \[3\] have no samples in y_true"):
        report = evaluate_outputs(
            torch.from_numpy(y), torch.from_numpy(probabilities), kind="probabilities"
        )
    rows = report.per_class()
    _check_against_sklearn(rows, y, probabilities, ["0", "1", "2", "3"])
    assert rows[2]["precision"] == 0.0 and rows[2]["recall"] == 0.0 and rows[2]["f1"] == 0.0
    assert rows[2]["support"] == int((y == 2).sum()) > 0
    assert 0.0 <= rows[2]["roc_auc"] <= 1.0  # ranked, though never the top class
    assert rows[3]["support"] == 0 and rows[3]["recall"] == 0.0 and rows[3]["precision"] == 0.0
    assert math.isnan(rows[3]["roc_auc"])


def test_perfect_and_inverted_binary_predictions() -> None:
    y = torch.tensor([0, 0, 1, 1, 1, 0])
    perfect = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9], [0.4, 0.6], [0.6, 0.4]])
    rows = evaluate_outputs(y, perfect, class_names=["no", "yes"]).per_class()
    _check_against_sklearn(rows, y.numpy(), perfect.double().numpy(), ["no", "yes"])
    assert [row["f1"] for row in rows] == [1.0, 1.0]
    assert [row["roc_auc"] for row in rows] == [1.0, 1.0]
    inverted = perfect.flip(1)
    rows = evaluate_outputs(y, inverted).per_class()
    _check_against_sklearn(rows, y.numpy(), inverted.double().numpy(), ["0", "1"])
    assert [row["recall"] for row in rows] == [0.0, 0.0]
    assert [row["roc_auc"] for row in rows] == [0.0, 0.0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_multiclass_predictions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 5
    y = rng.integers(0, k, 80)
    logits = rng.normal(size=(80, k))
    logits[np.arange(80), y] += rng.normal(1.0, 1.0, 80)
    probabilities = torch.softmax(torch.from_numpy(logits), dim=1)
    rows = evaluate_outputs(torch.from_numpy(y), probabilities).per_class()
    _check_against_sklearn(rows, y, probabilities.numpy(), [str(c) for c in range(k)])
