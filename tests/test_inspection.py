"""xai.evaluation.inspection: which samples to explain, and one sample's class ranking.

Expected orders are computed independently with numpy (lexsort / stable argsort).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reference_models
import xai
from xai.evaluation.inspection import SAMPLE_SELECTIONS, class_ranking, select_samples


def _probabilities(n: int = 60, k: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    probabilities = torch.softmax(3 * torch.randn(n, k, generator=g), dim=1)
    labels = torch.randint(0, k, (n,), generator=g)
    return probabilities, labels


def _expected_misclassified(probabilities: np.ndarray, labels: np.ndarray) -> list[int]:
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    # Descending confidence, ties by ascending index.
    return wrong[np.lexsort((wrong, -confidence[wrong]))].tolist()


def _expected_least_confident(probabilities: np.ndarray) -> list[int]:
    confidence = probabilities.max(axis=1)
    index = np.arange(len(confidence))
    return index[np.lexsort((index, confidence))].tolist()


def test_selection_names() -> None:
    assert set(SAMPLE_SELECTIONS) == {"index", "misclassified", "least_confident"}


def test_index_selects_every_sample_in_order() -> None:
    probabilities, labels = _probabilities(n=17)
    assert select_samples(probabilities, labels) == list(range(17))
    assert select_samples(probabilities, labels, by="index") == list(range(17))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_misclassified_most_confident_first(seed: int) -> None:
    probabilities, labels = _probabilities(seed=seed)
    chosen = select_samples(probabilities, labels, by="misclassified")
    expected = _expected_misclassified(probabilities.numpy(), labels.numpy())
    assert len(expected) > 5  # the case is not trivial
    assert chosen == expected
    predicted = probabilities.argmax(1)
    assert all(int(predicted[i]) != int(labels[i]) for i in chosen)
    confidence = probabilities.max(1).values[chosen]
    assert torch.all(confidence[:-1] >= confidence[1:])


@pytest.mark.parametrize("seed", [0, 1])
def test_least_confident_ascending(seed: int) -> None:
    probabilities, labels = _probabilities(seed=seed)
    chosen = select_samples(probabilities, labels, by="least_confident")
    assert chosen == _expected_least_confident(probabilities.numpy())
    assert sorted(chosen) == list(range(len(labels)))  # every sample, once


def test_ties_keep_index_order() -> None:
    # Rows 0, 2, 4 share a top-1 probability of 0.6 and are all wrong; rows 1 and 3 share 0.9.
    probabilities = torch.tensor(
        [[0.6, 0.4], [0.9, 0.1], [0.4, 0.6], [0.1, 0.9], [0.6, 0.4], [0.7, 0.3]]
    )
    labels = torch.tensor([1, 1, 0, 0, 1, 0])
    assert select_samples(probabilities, labels, by="misclassified") == [1, 3, 0, 2, 4]
    assert select_samples(probabilities, labels, by="least_confident") == [0, 2, 4, 5, 1, 3]


def test_nothing_misclassified_gives_an_empty_list() -> None:
    probabilities, _ = _probabilities(n=20)
    labels = probabilities.argmax(1)
    assert select_samples(probabilities, labels, by="misclassified") == []
    assert select_samples(probabilities, labels, by="least_confident") != []


def test_labels_as_sequence_or_array() -> None:
    probabilities, labels = _probabilities(n=30, seed=4)
    expected = select_samples(probabilities, labels, by="misclassified")
    assert select_samples(probabilities, labels.tolist(), by="misclassified") == expected
    assert select_samples(probabilities, labels.numpy(), by="misclassified") == expected


def test_on_a_reference_model() -> None:
    ref = reference_models.load("digits_cnn")
    x, y = ref.data["test"].tensors[:2]
    report = xai.evaluate(ref.model, (x, y))
    with torch.no_grad():
        probabilities = torch.softmax(ref.model(x).double(), dim=1).numpy()
    chosen = select_samples(report.probabilities, report.y_true, by="misclassified")
    predicted = probabilities.argmax(1)
    assert sorted(chosen) == np.flatnonzero(predicted != y.numpy()).tolist()
    confidence = probabilities.max(1)[chosen]
    assert np.all(np.diff(confidence) <= 1e-6)
    least = select_samples(report.probabilities, report.y_true, by="least_confident")
    assert len(least) == len(y)
    assert np.all(np.diff(probabilities.max(1)[least]) >= -1e-6)


@pytest.mark.parametrize("by", ["random", "", "Index", None])
def test_unknown_selection(by: object) -> None:
    probabilities, labels = _probabilities(n=5)
    with pytest.raises(ValueError, match=r"^by: expected one of index, misclassified") as caught:
        select_samples(probabilities, labels, by=by)  # type: ignore[arg-type]
    assert repr(by) in str(caught.value)


@pytest.mark.parametrize(
    "probabilities",
    [torch.rand(5), torch.rand(5, 2, 2), np.random.default_rng(0).random((5, 2)), [[0.5, 0.5]]],
    ids=["1d", "3d", "numpy", "list"],
)
def test_bad_probabilities(probabilities: object) -> None:
    with pytest.raises(ValueError, match=r"^probabilities: expected a tensor \(N, classes\)"):
        select_samples(probabilities, torch.zeros(5, dtype=torch.long))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("labels", "given"),
    [(torch.zeros(4, dtype=torch.long), r"\(4,\)"), (torch.zeros(5, 1), r"\(5, 1\)")],
)
def test_bad_labels(labels: torch.Tensor, given: str) -> None:
    probabilities, _ = _probabilities(n=5)
    with pytest.raises(ValueError, match=rf"^labels: expected shape \(5,\).*got {given}"):
        select_samples(probabilities, labels, by="misclassified")


# ----------------------------------------------------------------------------- class_ranking


def test_class_ranking_order_and_values() -> None:
    probabilities = torch.softmax(torch.randn(10, generator=torch.Generator().manual_seed(5)), 0)
    ranking = class_ranking(probabilities)
    order = np.argsort(-probabilities.numpy(), kind="stable")
    assert [k for k, _, _ in ranking] == order.tolist()
    assert [name for _, name, _ in ranking] == [str(k) for k in order]
    np.testing.assert_allclose(
        [p for _, _, p in ranking], probabilities.numpy()[order], rtol=0, atol=1e-7
    )
    assert all(isinstance(p, float) for _, _, p in ranking)


def test_class_ranking_names_and_top() -> None:
    probabilities = torch.tensor([0.1, 0.5, 0.05, 0.35])
    names = ["cat", "dog", "fish", "bird"]
    assert class_ranking(probabilities, names, top=2) == [
        (1, "dog", pytest.approx(0.5)),
        (3, "bird", pytest.approx(0.35)),
    ]
    assert [n for _, n, _ in class_ranking(probabilities, tuple(names))] == [
        "dog",
        "bird",
        "cat",
        "fish",
    ]
    assert len(class_ranking(probabilities, top=1)) == 1
    assert len(class_ranking(probabilities, top=10)) == 4  # more than there are: all


def test_class_ranking_ties_by_class_number() -> None:
    ranking = class_ranking(torch.tensor([0.25, 0.25, 0.5, 0.0]))
    assert [k for k, _, _ in ranking] == [2, 0, 1, 3]


def test_class_ranking_of_a_reference_prediction() -> None:
    ref = reference_models.load("digits_cnn")
    x = ref.data["test"].tensors[0][:1]
    with torch.no_grad():
        probabilities = torch.softmax(ref.model(x), dim=1)[0]
    ranking = class_ranking(probabilities, ref.info.class_names, top=3)
    expected = np.argsort(-probabilities.numpy(), kind="stable")[:3]
    assert [k for k, _, _ in ranking] == expected.tolist()
    assert [n for _, n, _ in ranking] == [ref.info.class_names[k] for k in expected]


@pytest.mark.parametrize(
    "probabilities",
    [torch.rand(2, 3), torch.tensor(0.5), np.array([0.5, 0.5]), [0.5, 0.5]],
    ids=["2d", "scalar", "numpy", "list"],
)
def test_class_ranking_bad_probabilities(probabilities: object) -> None:
    with pytest.raises(ValueError, match=r"^probabilities: expected one sample's tensor \(K,\)"):
        class_ranking(probabilities)  # type: ignore[arg-type]


def test_class_ranking_bad_names() -> None:
    with pytest.raises(ValueError, match=r"^class_names: expected 3 names, one per class, got 2"):
        class_ranking(torch.tensor([0.2, 0.3, 0.5]), ["a", "b"])


@pytest.mark.parametrize("top", [0, -1, 1.5, "2"])
def test_class_ranking_bad_top(top: object) -> None:
    with pytest.raises(ValueError, match=r"^top: expected a positive int or None") as caught:
        class_ranking(torch.tensor([0.2, 0.3, 0.5]), top=top)  # type: ignore[arg-type]
    assert repr(top) in str(caught.value)
