"""Property-based tests of the public calls: whatever the arguments, ``xai.explain``,
``xai.evaluate`` and ``xai.fit`` give a correct result or a clear error that names the argument
(``"argument: ..."``), never a stack trace from inside torch, numpy or another library.

Bounded to a few seconds each (``max_examples`` below); the example counts are in the note of
the change that added them.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xai
from tests.explainers import models

#: A clear error: a ValueError/TypeError/IndexError whose message starts with the argument.
NAMED = re.compile(r"^[A-Za-z_][\w.\[\]'-]*: ")
CLEAR_ERRORS = (ValueError, TypeError, IndexError)

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,  # the same examples on every run: a red test is reproducible
)


def _clear(error: BaseException) -> None:
    assert isinstance(error, CLEAR_ERRORS), f"{type(error).__name__}: {error}"
    assert NAMED.match(str(error)), f"message does not name the argument: {error}"


targets = st.one_of(
    st.none(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.lists(st.integers(min_value=-2, max_value=5), max_size=6),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=3),
)
values = st.sampled_from([0.0, 1.0, -3.5, float("nan"), float("inf"), 1e30])


@st.composite
def tabular_inputs(draw: Any) -> torch.Tensor:
    n = draw(st.integers(min_value=0, max_value=4))
    features = draw(st.sampled_from([6, 6, 6, 5]))  # mostly the model's width, sometimes not
    dtype = draw(st.sampled_from([torch.float32, torch.float32, torch.float64, torch.int64]))
    x = torch.randn(n, features, generator=torch.Generator().manual_seed(n)).to(dtype)
    if n and dtype.is_floating_point and draw(st.booleans()):
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = draw(values)
    shape = draw(st.sampled_from(["batch", "batch", "batch", "flat", "extra"]))
    if shape == "flat":
        return x.flatten()
    if shape == "extra":
        return x.unsqueeze(1)
    return x


@SETTINGS
@given(
    x=tabular_inputs(),
    target=targets,
    method=st.sampled_from(sorted(xai.available_explainers())),
)
def test_explain_gives_a_result_or_a_named_error(x: torch.Tensor, target: Any, method: str) -> None:
    model = models.small_mlp()
    cls = xai.explainers.explainer_class(method)
    options = dict(cls.quick_options)
    if cls.stochastic:
        options["seed"] = 0
    try:
        explanation = xai.explain(model, x, method=method, target=target, **options)
    except Exception as error:
        _clear(error)
        return
    assert explanation.attributions.shape == x.shape
    assert torch.isfinite(explanation.attributions).all()
    assert explanation.target.shape == (x.shape[0],)
    assert ((explanation.target >= 0) & (explanation.target < 3)).all()


@SETTINGS
@given(
    n=st.integers(min_value=0, max_value=6),
    labels=st.lists(st.integers(min_value=-2, max_value=4), min_size=0, max_size=7),
    float_labels=st.booleans(),
    n_bins=st.one_of(st.integers(min_value=-2, max_value=2**40), st.floats(), st.none()),
    class_names=st.one_of(
        st.none(), st.text(max_size=4), st.lists(st.text(max_size=3), max_size=4)
    ),
)
def test_evaluate_gives_a_result_or_a_named_error(
    n: int, labels: list[int], float_labels: bool, n_bins: Any, class_names: Any
) -> None:
    model = models.small_mlp()
    x = torch.randn(n, 6, generator=torch.Generator().manual_seed(7))
    y = torch.tensor(labels, dtype=torch.float32 if float_labels else torch.long)
    options: dict[str, Any] = {"class_names": class_names}
    if n_bins is not None:
        options["n_bins"] = n_bins
    try:
        report = xai.evaluate(model, (x, y), **options)
    except Exception as error:
        _clear(error)
        return
    assert 0.0 <= report.accuracy <= 1.0
    assert report.confusion_matrix.sum() == n


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(
    lr=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 2)),
    epochs=st.one_of(st.integers(min_value=-1, max_value=2), st.floats(0, 3), st.text(max_size=2)),
    weight_decay=st.one_of(st.floats(-1, 1), st.just(float("nan"))),
    warmup_epochs=st.one_of(st.floats(allow_nan=True), st.integers(-1, 2)),
    batch_size=st.one_of(st.integers(min_value=-1, max_value=9), st.just(True)),
    restore_best=st.one_of(st.booleans(), st.sampled_from(["no", 1, None])),
)
def test_fit_trains_or_names_the_argument(
    lr: Any, epochs: Any, weight_decay: Any, warmup_epochs: Any, batch_size: Any, restore_best: Any
) -> None:
    model = models.small_mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(12, 6, generator=torch.Generator().manual_seed(8))
    y = torch.arange(12) % 3
    try:
        history = xai.fit(
            model,
            (x, y),
            (x[:6], y[:6]),
            epochs=epochs,
            lr=lr,
            weight_decay=weight_decay,
            warmup_epochs=warmup_epochs,
            batch_size=batch_size,
            restore_best=restore_best,
            device="cpu",
            seed=0,
            progress=False,
        )
    except Exception as error:
        _clear(error)
        # a refused call leaves the weights as they were
        for key, value in model.state_dict().items():
            assert torch.equal(value, before[key]), key
        return
    assert len(history.records) >= 1
    for record in history.records:
        assert all(
            math.isfinite(v) for v in record.values() if isinstance(v, float)
        ), record
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("size", [10**9, 2**62])
def test_size_options_far_too_large_are_named_errors(size: int) -> None:
    model, x = models.small_mlp(), models.rows(n=2)
    for method, option in (
        ("integrated_gradients", "n_steps"),
        ("shap", "nsamples"),
        ("lime", "num_samples"),
        ("smoothgrad", "nsamples"),
    ):
        with pytest.raises(CLEAR_ERRORS, match=rf"^{option}: "):
            xai.explain(model, x, method=method, **{option: size})
