"""The ``progress=`` argument of every long call (``xai.fit``, ``xai.evaluate_explanation``,
``xai.compare``, the sanity checks): a callable is called as ``progress(fraction_done, message)``
with non-decreasing fractions in [0, 1] ending at 1 once; True draws a tqdm bar, None a bar on a
terminal and one log line per stage elsewhere, False nothing."""

from __future__ import annotations

import itertools
import logging
import sys
from typing import Any

import pytest
import torch
from torch import nn

import xai
import xai._progress
import xai.explainers
from xai._progress import Tracker, check_progress
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
    with pytest.raises(xai.InputTypeError, match=r"^progress: expected None \(a bar") as caught:
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
    with pytest.raises(xai.InputTypeError, match=r"^progress: expected None \(a bar") as caught:
        model_randomization_check(model, x, n_steps=4, progress=progress)  # type: ignore[arg-type]
    assert type(progress).__name__ in str(caught.value)


# ----------------------------------------------------------------------------- helpers


def test_data_randomization_check_reports_its_three_stages() -> None:
    from xai.metrics.sanity import data_randomization_check

    model, x = _tabular()
    train = (torch.randn(32, 6), torch.randint(0, 3, (32,)))
    recorder = Recorder()
    result = data_randomization_check(
        model, train, x, "integrated_gradients", epochs=1, n_steps=4, progress=recorder
    )
    _check_calls(recorder.calls)
    messages = [message for _, message in recorder.calls]
    assert len(messages) == 3 and "shuffled labels" in messages[1], messages
    # the retrained copy reused: two stages
    again = Recorder()
    data_randomization_check(
        model, train, x, "integrated_gradients", retrained=result.model, n_steps=4, progress=again
    )
    _check_calls(again.calls)
    assert len(again.calls) == 2


# ----------------------------------------------------------------------------- evaluate_explanation


def test_evaluate_explanation_reports_each_metric() -> None:
    model, x = _tabular()
    explanation = xai.explain(model, x, method="integrated_gradients", n_steps=4)
    recorder = Recorder()
    metrics = ["sparseness_score", "completeness_error"]
    report = xai.evaluate_explanation(model, explanation, metrics=metrics, progress=recorder)
    _check_calls(recorder.calls)
    # before each metric its name, after it its name and mean value
    assert [message for _, message in recorder.calls[::2]] == metrics
    ends = [message for _, message in recorder.calls[1::2]]
    for name, message in zip(metrics, ends, strict=True):
        assert message == f"{name} = {report.means[name]:.4g}"


def test_compare_shows_one_bar_not_one_per_method(monkeypatch: pytest.MonkeyPatch) -> None:
    """compare scores each method with evaluate_explanation(progress=False): only its own
    tracker draws."""
    made: list[str] = []
    real = Tracker.__init__

    def spy(self: Tracker, progress: Any, what: str, *args: Any, **kwargs: Any) -> None:
        made.append(f"{what}:{progress!r}")
        real(self, progress, what, *args, **kwargs)

    monkeypatch.setattr(Tracker, "__init__", spy)
    model, x = _tabular()
    xai.compare(model, x, methods=["integrated_gradients"], options=_fast(["integrated_gradients"]),
                metrics=METRICS, progress=True)  # fmt: skip
    assert made[0] == "compare:True"
    assert all(entry.endswith(":False") for entry in made[1:]), made


# ----------------------------------------------------------------------------- fit


def test_fit_calls_progress_after_each_epoch() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 3))
    data = (torch.randn(40, 6), torch.randint(0, 3, (40,)))
    recorder = Recorder()
    history = xai.fit(model, data, epochs=3, batch_size=16, seed=0, progress=recorder)
    _check_calls(recorder.calls)
    assert [fraction for fraction, _ in recorder.calls] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert recorder.calls[0][1].startswith("epoch 1/3: ")
    assert len(history) == 3


def test_fit_progress_reaches_one_when_stopping_early() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 3))
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    recorder = Recorder()
    # lr tiny: no improvement beyond noise; patience 1 stops it long before 50 epochs
    history = xai.fit(
        model, (x, y), (x, y), epochs=50, lr=1e-9, patience=1, seed=0, progress=recorder
    )
    assert history.stopped_early
    _check_calls(recorder.calls)
    assert len(recorder.calls) == len(history) < 50


@pytest.mark.parametrize("progress", ["yes", 1, [print]])
def test_fit_rejects_other_progress_values(progress: Any) -> None:
    with pytest.raises(xai.InputTypeError) as caught:
        xai.fit(nn.Linear(2, 2), (torch.randn(4, 2), torch.tensor([0, 1, 0, 1])), progress=progress)
    assert caught.value.argument == "progress"


# ----------------------------------------------------------------------------- the modes


def _stages(progress: Any, total: int = 3) -> None:
    with Tracker(progress, "work", total) as tracker:
        for step in range(total):
            tracker.begin(f"stage {step}")
            tracker.end(f"stage {step} done")


def test_true_draws_a_bar_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    _stages(True)
    captured = capsys.readouterr()
    assert "work" in captured.err and "/3 [" in captured.err  # tqdm's counter
    assert captured.out == ""


def test_none_off_a_terminal_logs_one_line_per_stage(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.INFO, logger="xai.progress"):
        _stages(None)
    lines = [r.getMessage() for r in caplog.records if r.name == "xai.progress"]
    assert len(lines) == 3
    assert lines[0].startswith("work: stage 0 done (1/3, ") and lines[0].endswith(" s)")
    assert capsys.readouterr().err == ""  # pytest's stderr is no terminal: no bar


def test_none_on_a_terminal_draws_a_bar(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("XAI_NO_PROGRESS", raising=False)
    monkeypatch.setattr(xai._progress, "on_terminal", lambda: True)
    drawn: list[int] = []
    import tqdm.auto

    class Bar:
        def __init__(self, total: int, **kwargs: Any) -> None:
            drawn.append(total)

        def update(self, n: int) -> None:
            drawn.append(-n)

        def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
            pass

        def close(self) -> None:
            drawn.append(0)

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    with caplog.at_level(logging.INFO, logger="xai.progress"):
        _stages(None)
    assert drawn == [3, -1, -1, -1, 0]
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]  # the bar says it


def test_false_says_nothing(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.INFO, logger="xai.progress"):
        _stages(False)
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]
    assert capsys.readouterr().err == ""


def test_ci_environment_is_no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("CI", "1")
    assert not xai._progress.on_terminal()
    monkeypatch.delenv("CI")
    monkeypatch.delenv("XAI_NO_PROGRESS", raising=False)
    assert xai._progress.on_terminal()


def test_callback_hears_one_final_call_even_without_a_last_stage() -> None:
    recorder = Recorder()
    with Tracker(recorder, "work", 2) as tracker:
        tracker.begin("first")
        tracker.end("first done")
        tracker.begin("second", part=0.5)
        tracker.end("second done")
    _check_calls(recorder.calls)
    assert recorder.calls == [
        (0.0, "first"),
        (0.5, "first done"),
        (0.75, "second"),
        (1.0, "second done"),
    ]


def test_an_error_halfway_does_not_say_done() -> None:
    recorder = Recorder()
    with pytest.raises(RuntimeError), Tracker(recorder, "work", 3) as tracker:
        tracker.end("one")
        raise RuntimeError("boom")
    assert [fraction for fraction, _ in recorder.calls] == [pytest.approx(1 / 3)]


def test_check_progress() -> None:
    recorder = Recorder()
    for value in (None, True, False, recorder, print):
        assert check_progress(value) is value
    for value in (0, 1, "bar", 0.5):
        with pytest.raises(xai.InputTypeError, match=r"^progress: "):
            check_progress(value)
