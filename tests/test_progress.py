"""Progress callbacks of ``xai.compare`` and the model-randomization check: called as
``progress(fraction_done, message)`` with non-decreasing fractions in [0, 1] ending at 1."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from torch import nn

import xai
import xai.explainers
from xai._progress import check_progress, notify
from xai.explainers.parameters import applicable_methods
from xai.explainers.registry import explainer_class
from xai.metrics.sanity import model_randomization_check

#: A cheap metric: progress does not depend on which metrics are computed.
METRICS = ["sparseness_score"]


def _fast(methods: list[str]) -> dict[str, dict[str, Any]]:
    """Each method's cheap options (its class's ``quick_options``)."""
    return {name: dict(explainer_class(name).quick_options) for name in methods}


class Recorder:
    """A progress callback (any callable object) that records its calls, and other events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def __call__(self, fraction: float, message: str) -> None:
        self.events.append(("progress", (fraction, message)))

    @property
    def calls(self) -> list[tuple[float, str]]:
        return [value for kind, value in self.events if kind == "progress"]


def _check_calls(calls: list[tuple[float, str]]) -> None:
    assert calls, "progress was never called"
    fractions = [fraction for fraction, _ in calls]
    assert all(isinstance(f, float) and 0.0 <= f <= 1.0 for f in fractions), fractions
    assert all(a <= b for a, b in itertools.pairwise(fractions)), fractions
    assert fractions[-1] == 1.0
    assert fractions.count(1.0) == 1  # "done" is said once, at the end
    assert all(isinstance(message, str) and message for _, message in calls)


def _tabular() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)), torch.randn(4, 6)


def _image() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 36, 3)
    )
    return model, torch.randn(2, 1, 6, 6)


# ----------------------------------------------------------------------------- compare


@pytest.mark.parametrize(
    ("case", "methods"),
    [
        (_tabular, ["integrated_gradients", "shap"]),
        (_image, None),  # every method that applies: gradcam, IG, LIME, SHAP
    ],
    ids=["tabular", "image-default-methods"],
)
def test_compare_reports_progress_per_method(
    case: Any, methods: list[str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, x = case()
    recorder = Recorder()
    real_get_explainer = xai.explainers.get_explainer

    def spy(name: str, *args: Any, **kwargs: Any) -> Any:
        recorder.events.append(("explain", name))
        return real_get_explainer(name, *args, **kwargs)

    monkeypatch.setattr(xai.evaluation.comparison, "get_explainer", spy)
    options = _fast(methods or applicable_methods(x))
    comparison = xai.compare(
        model, x, methods=methods, options=options, metrics=METRICS, progress=recorder
    )
    _check_calls(recorder.calls)
    assert [name for kind, name in recorder.events if kind == "explain"] == comparison.methods
    assert len(recorder.calls) >= len(comparison.methods) + 1
    # Each method is announced (by name) before it is explained.
    for name in comparison.methods:
        explained = recorder.events.index(("explain", name))
        before = [e for e in recorder.events[:explained] if e[0] == "progress"]
        assert any(name in message for _, (_, message) in before), name
        assert before[-1][1][0] < 1.0
    # The last call comes after every method was explained.
    assert recorder.events[-1][0] == "progress" and recorder.events[-1][1][0] == 1.0


def test_compare_without_progress() -> None:
    model, x = _tabular()
    comparison = xai.compare(
        model, x, methods=["integrated_gradients"], options=_fast(["integrated_gradients"])
    )
    assert comparison.methods == ["integrated_gradients"]


@pytest.mark.parametrize("progress", [5, "bar", [print], object()])
def test_compare_rejects_a_non_callable_progress(progress: object) -> None:
    model, x = _tabular()
    with pytest.raises(TypeError, match=r"^progress: expected None or a callable") as caught:
        xai.compare(model, x, methods=["integrated_gradients"], progress=progress)  # type: ignore[arg-type]
    assert type(progress).__name__ in str(caught.value)


# ----------------------------------------------------------------------------- sanity check


def test_randomization_check_reports_each_layer() -> None:
    model, x = _tabular()
    recorder = Recorder()
    attributed: list[nn.Module] = []

    def saliency(m: nn.Module, inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        attributed.append(m)
        recorder.events.append(("attribute", len(attributed)))
        inputs = inputs.clone().requires_grad_(True)
        m(inputs).gather(1, target[:, None]).sum().backward()
        return inputs.grad.abs()

    result = model_randomization_check(model, x, saliency, progress=recorder)
    calls = recorder.calls
    _check_calls(calls)
    # One call per attribution: the trained model, then each randomised layer (output first).
    assert len(calls) == len(attributed) == 3
    kinds = [kind for kind, _ in recorder.events]
    assert kinds == ["attribute", "progress"] * 3  # progress after each step
    assert calls[1][1].endswith(" 2") and calls[2][1].endswith(" 0")
    assert result is not None


def test_randomization_check_with_chosen_layers() -> None:
    model, x = _image()
    recorder = Recorder()
    model_randomization_check(
        model, x, "integrated_gradients", layers=["3"], n_steps=4, progress=recorder
    )
    _check_calls(recorder.calls)
    assert len(recorder.calls) == 2
    assert recorder.calls[1][1].endswith(" 3")


@pytest.mark.parametrize("progress", [1.0, "bar", {}])
def test_randomization_check_rejects_a_non_callable_progress(progress: object) -> None:
    model, x = _tabular()
    with pytest.raises(TypeError, match=r"^progress: expected None or a callable") as caught:
        model_randomization_check(model, x, n_steps=4, progress=progress)  # type: ignore[arg-type]
    assert type(progress).__name__ in str(caught.value)


# ----------------------------------------------------------------------------- helpers


def test_notify_clamps_and_ignores_none() -> None:
    recorder = Recorder()
    notify(recorder, 1.5, "over")
    notify(recorder, -0.2, "under")
    notify(recorder, 0.4, "inside")
    notify(None, 0.5, "nobody listens")
    assert recorder.calls == [(1.0, "over"), (0.0, "under"), (0.4, "inside")]
    assert check_progress(None) is None and check_progress(recorder) is recorder
