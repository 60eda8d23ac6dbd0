"""Options that would exhaust the machine are named errors before any work; values that are
merely large still run.

Every bound is checked before the model runs and before anything large is allocated: the
tests count the model's forward passes (none) and pretend the machine has 8 GiB free, so they
are fast and give the same answer on every machine.
"""

from __future__ import annotations

import math
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import xai
import xai._batching
from tests.explainers import models
from xai.cli import main
from xai.errors import InputError
from xai.explainers import integrated_gradients as ig
from xai.metrics import classification as M

FREE = 8 * 2**30  # what the tests pretend is available


@pytest.fixture(autouse=True)
def _eight_gib_free(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xai._batching, "available_memory", lambda device: FREE, raising=False)


class Forwards:
    """Counts the forward passes of a model (a hook on the model itself)."""

    def __init__(self, model: nn.Module) -> None:
        self.calls = 0
        self.handle = model.register_forward_hook(self._count)

    def _count(self, module: nn.Module, inputs: Any, output: Any) -> None:
        self.calls += 1


@pytest.fixture
def counted() -> Iterator[list[Forwards]]:
    made: list[Forwards] = []
    yield made
    for forwards in made:
        forwards.handle.remove()


def _refused(
    counted: list[Forwards], model: nn.Module, x: torch.Tensor, method: str, **options: Any
) -> InputError:
    forwards = Forwards(model)
    counted.append(forwards)
    started = time.perf_counter()
    with pytest.raises(InputError) as info:
        xai.explain(model, x, method=method, **options)
    assert forwards.calls == 0, "the bound must be checked before the model runs"
    assert time.perf_counter() - started < 5
    return info.value


# --------------------------------------------------------------------- the Gauss-Legendre rule
def _captum_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    from captum.attr._utils.approximation_methods import approximation_parameters

    from xai._threads import one_blas_thread

    step_sizes, alphas = approximation_parameters("gausslegendre")
    with one_blas_thread():
        return np.array(alphas(n)), np.array(step_sizes(n))


@pytest.mark.parametrize("n", [1, 2, 3, 8, 24, 50, 127, 128])
def test_the_rule_is_captums_own_up_to_128_steps(n: int) -> None:
    alphas, weights = ig._rule(n)
    captum_alphas, captum_weights = _captum_rule(n)
    assert np.array_equal(alphas.numpy(), captum_alphas)
    assert np.array_equal(weights.numpy(), captum_weights)


@pytest.mark.parametrize("n", [129, 130, 200, 301, 1000])
def test_the_linear_rule_equals_captums_beyond_128_steps(n: int) -> None:
    alphas, weights = ig._rule(n)
    captum_alphas, captum_weights = _captum_rule(n)
    # captum's (numpy's leggauss) own rounding: its end weights lose ~1e-8 at n = 1000
    np.testing.assert_allclose(alphas.numpy(), captum_alphas, rtol=0, atol=1e-15)
    np.testing.assert_allclose(weights.numpy(), captum_weights, rtol=0, atol=1e-13)
    interior = slice(8, -8)  # away from the ends both are exact to double precision
    np.testing.assert_allclose(
        weights.numpy()[interior], captum_weights[interior], rtol=1e-9, atol=0
    )


@pytest.mark.parametrize("n", [129, 5000, 10**6 + 1])
def test_the_linear_rule_integrates_polynomials_exactly(n: int) -> None:
    alphas, weights = (t.numpy() for t in ig._rule(n))
    assert np.all(np.diff(alphas) > 0) and alphas[0] > 0 and alphas[-1] < 1
    np.testing.assert_allclose(alphas + alphas[::-1], 1.0, rtol=0, atol=1e-15)  # symmetric
    for k in (0, 1, 2, 7, 40, 201):  # exact for degrees up to 2n - 1
        assert math.fsum(weights * alphas**k) == pytest.approx(1 / (k + 1), rel=1e-13, abs=0)
    assert math.fsum(weights * np.cos(alphas)) == pytest.approx(math.sin(1), rel=1e-13)


def test_the_rule_of_a_million_steps_is_fast_and_linear_in_memory() -> None:
    # captum's rule asks for 8 TB here (a 10**6 x 10**6 companion matrix), and 31 s for 6000
    tracemalloc.start()
    started = time.perf_counter()
    try:
        alphas, weights = ig._rule(10**6)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 10
    assert peak < 100 * 10**6  # bytes: ~40 per step
    assert alphas.shape == weights.shape == (10**6,)
    assert math.fsum(weights.tolist()) == pytest.approx(1.0, rel=1e-14)


def test_integrated_gradients_beyond_128_steps_equals_captum() -> None:
    from captum.attr import IntegratedGradients

    from xai._threads import one_blas_thread

    model, x = models.small_mlp(), models.rows(3)
    ours = xai.explain(model, x, target=1, n_steps=300)
    with one_blas_thread():
        theirs = IntegratedGradients(model).attribute(x, target=1, n_steps=300)
    torch.testing.assert_close(ours.attributions, theirs, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------- size options: the bounds
def test_integrated_gradients_n_steps_beyond_the_bound(counted: list[Forwards]) -> None:
    model = models.small_mlp()
    error = _refused(counted, model, models.rows(2), "integrated_gradients", n_steps=10**9)
    assert error.argument == "n_steps"
    assert "at most 1,000,000 model evaluations per sample, got 1,000,000,000 steps" in str(error)
    assert "fewer steps" in str(error) and "internal_batch_size" in str(error)


def test_integrated_gradients_internal_batch_size_beyond_memory(counted: list[Forwards]) -> None:
    model, x = models.small_cnn(channels=3), torch.zeros(2, 3, 512, 512)
    error = _refused(
        counted, model, x, "integrated_gradients", n_steps=1000, internal_batch_size=10**6
    )
    assert error.argument == "internal_batch_size"
    # 2000 rows (2 samples x 1000 steps) of 3 MiB, three copies: 17.6 GiB
    assert "2,000 in the largest pass" in str(error) and "17.6 GiB" in str(error)
    assert "8 GiB available" in str(error) and "smaller value" in str(error)


def test_shap_gradient_nsamples_beyond_the_bound(counted: list[Forwards]) -> None:
    model = models.small_mlp()
    error = _refused(
        counted, model, models.rows(2), "shap", algorithm="gradient", nsamples=10**9, seed=0
    )
    assert error.argument == "nsamples" and "1,000,000,000 samples" in str(error)


def test_shap_kernel_nsamples_beyond_memory(counted: list[Forwards]) -> None:
    model = models.small_mlp(features=40)
    error = _refused(
        counted, model, models.rows(2, 40), "shap", algorithm="kernel", nsamples=10**9, seed=0
    )
    assert error.argument == "nsamples"
    assert "1,000,000,000 coalitions of 40 features" in str(error) and "GiB" in str(error)


def test_lime_tabular_num_samples_beyond_memory(counted: list[Forwards]) -> None:
    model = models.small_mlp()
    error = _refused(counted, model, models.rows(2), "lime", num_samples=10**9, seed=0)
    assert error.argument == "num_samples"
    assert "1,000,000,000 perturbed samples would need at least 142 GiB" in str(error)
    assert "8 GiB available" in str(error) and "fewer samples" in str(error)


def test_lime_image_num_samples_beyond_memory(counted: list[Forwards]) -> None:
    model = models.small_cnn()
    error = _refused(counted, model, models.images(2), "lime", num_samples=10**9, seed=0)
    assert error.argument == "num_samples" and "1,000,000,000 perturbed samples" in str(error)


def test_lime_image_num_samples_checked_with_the_superpixels_found() -> None:
    # 10**8 samples pass the first check (2 superpixels); the 9 found make them 25 GiB
    model = models.small_cnn()
    with pytest.raises(InputError, match=r"^num_samples: 100,000,000 perturbed samples of 9 "):
        xai.explain(model, models.images(1), method="lime", num_samples=10**8, seed=0)


def test_smoothgrad_nsamples_beyond_the_bound_and_memory(counted: list[Forwards]) -> None:
    model = models.small_cnn()
    error = _refused(counted, model, models.rows(2), "smoothgrad", nsamples=10**9, seed=0)
    assert error.argument == "nsamples" and "1,000,000,000 noisy samples" in str(error)
    # within the bound, but the noise of all samples is drawn at once: 10**5 x 4 MiB
    error = _refused(
        counted, model, torch.zeros(1, 1, 1024, 1024), "smoothgrad", nsamples=10**5, seed=0
    )
    assert error.argument == "nsamples" and "391 GiB" in str(error)


def test_occlusion_window_positions_beyond_the_bound(counted: list[Forwards]) -> None:
    model, x = models.small_cnn(), torch.zeros(1, 1, 1200, 1200)
    error = _refused(counted, model, x, "occlusion", sliding_window_shapes=(1, 1, 1), strides=1)
    assert error.argument == "strides"
    assert "1,440,000 window positions" in str(error) and "larger window" in str(error)


def test_batch_sizes_beyond_memory(counted: list[Forwards]) -> None:
    model, x = models.small_cnn(channels=3), torch.zeros(2, 3, 512, 512)
    for method, options in (
        ("shap", {"algorithm": "gradient", "nsamples": 1000, "seed": 0}),
        ("occlusion", {"sliding_window_shapes": (3, 8, 8)}),
        ("lime", {"num_samples": 5000, "seed": 0}),
    ):
        error = _refused(counted, model, x, method, batch_size=10**9, **options)
        assert error.argument == "batch_size" and "rows per pass" in str(error)


def test_evaluate_n_bins_beyond_memory(counted: list[Forwards]) -> None:
    model = models.small_mlp()
    forwards = Forwards(model)
    counted.append(forwards)
    x, y = models.rows(6), torch.arange(6) % 3
    with pytest.raises(InputError) as info:
        xai.evaluate(model, (x, y), n_bins=10**9)
    assert forwards.calls == 0  # checked before the model runs over the data
    assert info.value.argument == "n_bins"
    assert "1,000,000,000 calibration bins would need at least 74.5 GiB" in str(info.value)
    with pytest.raises(InputError, match=r"^n_bins: "):
        M.reliability_bins(y, torch.full((6, 3), 1 / 3), n_bins=2**40)
    with pytest.raises(TypeError, match=r"^n_bins: expected a positive int, got float"):
        xai.evaluate(model, (x, y), n_bins=2.5)


def test_large_values_that_fit_still_run() -> None:
    mlp, rows = models.small_mlp(), models.rows(2)
    expl = xai.explain(mlp, rows, n_steps=20_000)  # the linear rule: fast
    assert expl.extras["convergence_delta"].abs().max() < 1e-4
    # Kernel SHAP enumerates the 62 coalitions of 6 features whatever nsamples asks for
    kernel = xai.explain(mlp, rows, "shap", algorithm="kernel", nsamples=10**9, seed=0)
    exact = xai.explain(mlp, rows, "shap", algorithm="kernel", nsamples=62, seed=0)
    torch.testing.assert_close(kernel.attributions, exact.attributions)
    xai.explain(mlp, rows, "lime", num_samples=50_000, seed=0)
    xai.explain(mlp, rows, "smoothgrad", nsamples=5000, seed=0)
    xai.explain(mlp, rows, "integrated_gradients", n_steps=64, internal_batch_size=10**12)
    report = xai.evaluate(mlp, (models.rows(3), torch.tensor([0, 1, 2])), n_bins=100_000)
    assert 0 <= report.expected_calibration_error <= 1


def test_the_memory_helper() -> None:
    free = xai._batching._meminfo_available() or 0
    assert free >= 0
    assert xai._batching.format_bytes(1.6e11) == "149 GiB"
    assert xai._batching.format_bytes(1536) == "1.5 KiB"
    assert xai._batching.format_bytes(2**60) == "1,024 PiB"


# ------------------------------------------------------------------------------------ targets
@pytest.mark.parametrize(
    "target",
    [
        2**63,
        -(2**63) - 1,
        [2**63, 0],
        [0, 2**64],
        np.array([2**63, 0], dtype=np.uint64),
        torch.tensor([2**63, 0], dtype=torch.uint64),
    ],
    ids=["int", "negative", "list", "list-2**64", "numpy-uint64", "torch-uint64"],
)
def test_targets_beyond_int64_are_named_errors(target: Any) -> None:
    with pytest.raises(InputError, match=r"^target: .*int64 range") as info:
        xai.explain(models.small_mlp(), models.rows(2), target=target, n_steps=4)
    assert info.value.argument == "target"


def test_targets_within_int64_beyond_the_classes_name_the_classes() -> None:
    with pytest.raises(InputError, match=r"^target: class index 9223372036854775807 .* 0\.\.2"):
        xai.explain(models.small_mlp(), models.rows(2), target=2**63 - 1, n_steps=4)


def test_a_target_sequence_torch_cannot_read_is_a_named_error() -> None:
    with pytest.raises(TypeError, match=r"^target: expected one integer class index per sample"):
        xai.explain(models.small_mlp(), models.rows(2), target=["a", "b"], n_steps=4)


# ------------------------------------------------------------------------- the command line
def test_explain_option_beyond_its_bound_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "explain",
            "breast_cancer_mlp",
            "--method",
            "integrated_gradients",
            "--option",
            "n_steps=1000000000",
            "--samples",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error and error.count("\n") == 1
    assert error.startswith("xai explain: integrated_gradients: --option n_steps: expected at most")


# ------------------------------------------------------------------------ LIME's kernel width
@pytest.mark.parametrize(
    ("width", "error", "message"),
    [
        (True, TypeError, r"expected a positive number, got bool True"),
        ("0.5", TypeError, r"expected a positive number, got str"),
        (float("inf"), ValueError, r"expected a finite positive number between 1e-150 .* got inf"),
        (float("nan"), ValueError, r"expected a positive number, got nan"),
        (0, ValueError, r"expected a positive number, got 0"),
        (-1, ValueError, r"expected a positive number, got -1"),
        (1e-300, ValueError, r"expected a finite positive number between .* got 1e-300"),
        (1e300, ValueError, r"expected a finite positive number between .* got 1e\+300"),
        (10**400, ValueError, r"expected a finite positive number between 1e-150 and 1e150"),
    ],
)
def test_lime_kernel_width_must_be_a_usable_number(width: Any, error: type, message: str) -> None:
    for model, x in ((models.small_mlp(), models.rows(2)), (models.small_cnn(), models.images(1))):
        with pytest.raises(error, match=rf"^kernel_width: {message}"):
            xai.explain(model, x, method="lime", kernel_width=width, num_samples=20, seed=0)


@pytest.mark.parametrize(
    "options",
    [{}, {"background": models.rows(30)}, {"sampler": "lime"}],
    ids=["gaussian", "discretised", "lime-sampler"],
)
def test_lime_tabular_kernel_width_that_underflows_is_refused(options: dict[str, Any]) -> None:
    model = models.small_mlp()
    forwards = Forwards(model)
    try:
        with pytest.raises(InputError, match=r"^kernel_width: 0\.0001 is too small") as info:
            xai.explain(model, models.rows(2), "lime", kernel_width=1e-4, seed=0, **options)
        assert forwards.calls == 1  # f(x) only: refused before the perturbed samples run
    finally:
        forwards.handle.remove()
    assert "1.837 (lime's default here)" in str(info.value)


def test_lime_image_kernel_width_that_underflows_is_refused() -> None:
    with pytest.raises(InputError, match=r"^kernel_width: 0\.0001 is too small.*e\.g\. 0\.25"):
        xai.explain(
            models.small_cnn(), models.images(1), "lime", kernel_width=1e-4, num_samples=50, seed=0
        )


def test_lime_kernel_widths_that_leave_weight_still_run() -> None:
    model, x = models.small_mlp(), models.rows(2)
    narrow = xai.explain(model, x, "lime", kernel_width=0.3, seed=0)
    assert torch.isfinite(narrow.attributions).all()
    as_float32 = xai.explain(model, x, "lime", kernel_width=np.float32(2.0), seed=0)
    as_int = xai.explain(model, x, "lime", kernel_width=2, seed=0)
    torch.testing.assert_close(as_float32.attributions, as_int.attributions)
    assert as_int.params["kernel_width"] == 2  # the value given is recorded


# --------------------------------------------------------------------- LIME's given labels
def test_lime_float_segmentation_labels_are_not_truncated() -> None:
    model, x = models.small_cnn(), models.images(2)
    labels = torch.arange(144).reshape(12, 12) // 36
    with pytest.raises(TypeError, match=r"^segmentation: expected integer labels.*0\.5"):
        xai.explain(model, x, "lime", segmentation=labels + 0.5, num_samples=20, seed=0)
    with pytest.raises(TypeError, match=r"^segmentation: expected integer labels"):
        xai.explain(model, x, "lime", segmentation=labels.numpy() * 1.3, num_samples=20, seed=0)
    with pytest.raises(TypeError, match=r"^segmentation: expected integer labels.*complex"):
        xai.explain(model, x, "lime", segmentation=labels.cfloat(), num_samples=20, seed=0)
    # whole numbers as floats are the same labels
    as_float = xai.explain(model, x, "lime", segmentation=labels.double(), num_samples=20, seed=0)
    as_long = xai.explain(model, x, "lime", segmentation=labels, num_samples=20, seed=0)
    torch.testing.assert_close(as_float.attributions, as_long.attributions)


# ------------------------------------------------------------------------ SHAP deep, bfloat16
def test_shap_deep_on_bfloat16_names_the_dtype_and_the_fix() -> None:
    model, x = models.small_mlp().to(torch.bfloat16), models.rows(2).to(torch.bfloat16)
    with pytest.raises(InputError, match=r"^algorithm: .*bfloat16.*'gradient'.*float32"):
        xai.explain(model, x, "shap", algorithm="deep", seed=0)
    # what the message offers works
    gradient = xai.explain(model, x, "shap", algorithm="gradient", nsamples=20, seed=0)
    assert gradient.attributions.dtype == torch.bfloat16
    xai.explain(model.float(), x.float(), "shap", algorithm="deep", seed=0)


# ------------------------------------------------------------------------------ class names
def test_evaluate_class_names_must_be_a_sequence_of_strings() -> None:
    model, x, y = models.small_mlp(), models.rows(6), torch.arange(6) % 3
    with pytest.raises(TypeError, match=r"^class_names: expected a sequence of strings.*'abc'"):
        xai.evaluate(model, (x, y), class_names="abc")
    with pytest.raises(TypeError, match=r"^class_names: expected strings, got int 0"):
        xai.evaluate(model, (x, y), class_names=[0, 1, 2])
    with pytest.raises(TypeError, match=r"^class_names: expected a sequence"):
        xai.evaluate(model, (x, y), class_names={"a", "b", "c"})
    for names in (["a", "b", "c"], ("a", "b", "c"), np.array(["a", "b", "c"])):
        assert xai.evaluate(model, (x, y), class_names=names).class_names == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"^class_names: expected 3 names, got 1"):
        xai.evaluate(model, (x, y), class_names=["abc"])
