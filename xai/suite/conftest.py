"""Options and fixtures of the bundled suite (``xai report`` passes the options)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from xai.suite.subject import Subject, reference_subject, user_subject


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xai-suite", "xai bundled evaluation suite")
    group.addoption(
        "--suite-model",
        action="append",
        default=None,
        help="reference model name or module:factory (repeatable; default: every reference model)",
    )
    group.addoption("--suite-weights", default=None, help="safetensors weights for module:factory")
    group.addoption("--suite-data", default=None, help=".npz test data (x, y) for module:factory")
    group.addoption("--min-accuracy", type=float, default=0.8, help="accuracy threshold")
    group.addoption("--min-f1", type=float, default=0.8, help="macro F1 threshold")
    group.addoption("--min-roc-auc", type=float, default=0.9, help="ROC-AUC threshold")
    group.addoption("--suite-samples", type=int, default=3, help="samples explained per model")


def _models(config: pytest.Config) -> list[str]:
    names = config.getoption("suite_model")
    if names:
        return list(names)
    import reference_models

    return reference_models.available()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "subject" in metafunc.fixturenames:
        names = _models(metafunc.config)
        metafunc.parametrize("subject", names, indirect=True, scope="session", ids=names)


@pytest.fixture(scope="session")
def subject(request: pytest.FixtureRequest, xai_reference_model: Any) -> Subject:
    """The model under test (one per ``--suite-model``)."""
    import reference_models

    name = request.param
    if name in reference_models.available():
        return reference_subject(name, xai_reference_model)
    config = request.config
    return user_subject(name, config.getoption("suite_weights"), config.getoption("suite_data"))


@pytest.fixture(autouse=True)
def _record_model(request: pytest.FixtureRequest, xai_report: Any) -> None:
    if "subject" in request.fixturenames:
        subject = request.getfixturevalue("subject")
        xai_report.model(subject.name, **subject.info)


@pytest.fixture(scope="session")
def thresholds(request: pytest.FixtureRequest) -> dict[str, float]:
    config = request.config
    return {
        "accuracy": config.getoption("min_accuracy"),
        "f1": config.getoption("min_f1"),
        "roc_auc": config.getoption("min_roc_auc"),
    }


@pytest.fixture(scope="session")
def samples(request: pytest.FixtureRequest) -> int:
    count = request.config.getoption("suite_samples")
    if count < 1:
        raise pytest.UsageError(f"--suite-samples: expected a positive count, got {count}.")
    return count


@pytest.fixture(scope="session")
def timings() -> dict[str, float]:
    """Seconds taken by the suite's shared computations, by name (e.g. ``"evaluate"``)."""
    return {}


@pytest.fixture(scope="session")
def evaluation(subject: Subject, timings: dict[str, float]) -> Any:
    """``xai.evaluate`` on the subject's test set, once per model."""
    started = time.perf_counter()
    report = subject.evaluate()  # with the subject's model_kwargs (a text model's masks)
    timings[f"evaluate {subject.name}"] = time.perf_counter() - started
    return report


def method_options(methods: list[str]) -> dict[str, dict[str, Any]]:
    """Small budgets so the whole suite runs in seconds per model: each method's own
    ``quick_options`` (few steps or samples), asked of its class."""
    from xai.explainers.registry import explainer_class

    return {name: dict(explainer_class(name).quick_options) for name in methods}


METRIC_OPTIONS: dict[str, dict[str, Any]] = {
    "max_sensitivity_error": {"n_perturb_samples": 2},
    "seed_stability_score": {"seeds": (0, 1)},
    "deletion_auc": {"steps": 10},
}
#: Quality metrics computed for every method. Max-sensitivity re-explains each perturbed input,
#: which costs seconds per sample for LIME and SHAP: the suite computes it only for the
#: methods that explain with few model evaluations (``test_explanation_quality``).
METRICS = [
    "deletion_auc",
    "insertion_auc",
    "infidelity_error",
    "completeness_error",
    "seed_stability_score",
    "pointing_game_score",
    "relevance_mass_score",
    "relevance_rank_score",
    "sparseness_score",
]


@pytest.fixture(scope="session")
def comparison(subject: Subject, samples: int) -> Any:
    """``xai.compare`` of every method that explains the subject's inputs (the registry's,
    third-party ones included), on the first ``samples`` test inputs, once per model. A text
    model's samples go with their attention masks (``model_kwargs``), and its explanations
    carry their tokens for the figures."""
    import xai
    from xai.explainers.parameters import applicable_methods

    rows = slice(0, samples)
    inputs = subject.inputs[rows]
    methods = applicable_methods(inputs, model=subject.model)
    masks = subject.masks[rows] if subject.masks is not None else None
    metrics = [
        m
        for m in METRICS
        if masks is not None or not m.endswith(("_game_score", "mass_score", "rank_score"))
    ]
    kwargs = subject.forward_kwargs(rows)
    comparison = xai.compare(
        subject.model,
        inputs,
        methods,
        masks=masks,
        metrics=metrics,
        options=method_options(methods),
        metric_options=METRIC_OPTIONS,
        seed=0,
        model_kwargs=kwargs or None,  # a text model's attention masks
    )
    tokens = subject.tokens(rows)
    if tokens is not None:
        for method, explanation in comparison.explanations.items():
            comparison.explanations[method] = dataclasses.replace(explanation, tokens=tokens)
    return comparison


def chance_localization(subject: Subject, samples: int) -> float | None:
    """The pointing game (and relevance mass) a uniformly random attribution scores on the
    first ``samples`` test inputs: the mean share of the ground-truth positions among the
    positions that count (a text model's real tokens, every pixel of an image); None without
    masks."""
    if subject.masks is None:
        return None
    rows = slice(0, samples)
    masks = subject.masks[rows].reshape(len(subject.masks[rows]), -1).float()
    attention = subject.forward_kwargs(rows).get("attention_mask")
    if attention is not None and attention.shape == subject.inputs[rows].shape:
        valid = attention.reshape(len(masks), -1).float()
        if valid.shape == masks.shape:
            return float(((masks * valid).sum(1) / valid.sum(1).clamp_min(1)).mean())
    return float(masks.mean(1).mean())
