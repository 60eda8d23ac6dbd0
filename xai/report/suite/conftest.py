"""Options and fixtures of the bundled suite (``xai report`` passes the options)."""

from __future__ import annotations

from typing import Any

import pytest

from xai.report.suite.subjects import Subject, reference_subject, user_subject


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
