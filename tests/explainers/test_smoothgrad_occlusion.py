"""SmoothGrad and Occlusion: equal to captum's ``NoiseTunnel(Saliency)`` and ``Occlusion``, their
options and errors, and their presence wherever the registry's methods appear (the common
invariants of every method are in ``test_common.py``, which picks both up from the registry)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from captum.attr import NoiseTunnel, Saliency
from captum.attr import Occlusion as CaptumOcclusion
from captum.attr._core import noise_tunnel
from torch import nn

import xai
from tests.explainers import models
from xai.explainers.parameters import applicable_methods, tunable_parameters
from xai.explainers.registry import explainer_class
from xai.explainers.smoothgrad import standard_noise

#: Tolerances against captum, elementwise ``|ours - captum| <= ATOL + RTOL * |captum|``.
#: SmoothGrad fed the same noise differs from captum only in rounding order (measured: at most
#: 1.5e-8 on attributions up to 0.25); Occlusion evaluates the same occluded inputs (measured:
#: identical, difference 0).
RTOL, ATOL = 1e-5, 1e-7


def _captum_smoothgrad(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    stdev: float,
    nsamples: int,
    seed: int,
    monkeypatch: pytest.MonkeyPatch,
    **saliency: Any,
) -> torch.Tensor:
    """captum's NoiseTunnel(Saliency) fed xai's draws of ``seed``: draw ``j`` of every sample
    is ``stdev * standard_noise(seed)[j]`` (captum's own noise is ``torch.normal`` per row)."""
    z = standard_noise(seed, nsamples, tuple(x.shape[1:]), x.dtype)

    def same_noise(inputs: torch.Tensor, stdev: float, partition: int) -> torch.Tensor:
        assert partition == nsamples  # one partition: rows are (sample, draw), sample-major
        noise = (stdev * z).repeat(inputs.shape[0], *([1] * (inputs.ndim - 1)))
        return inputs.repeat_interleave(partition, dim=0) + noise.to(inputs.dtype)

    monkeypatch.setattr(noise_tunnel.NoiseTunnel, "_add_noise_to_input", staticmethod(same_noise))
    tunnel = NoiseTunnel(Saliency(model))
    return tunnel.attribute(
        x, nt_type="smoothgrad", nt_samples=nsamples, stdevs=float(stdev), target=target, **saliency
    )


# ----------------------------------------------------------------------------------- SmoothGrad


@pytest.mark.parametrize("absolute", [True, False], ids=["abs", "signed"])
@pytest.mark.parametrize("kind", ["image", "tabular", "sequence"])
def test_smoothgrad_equals_captum_noise_tunnel(
    kind: str, absolute: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, x = {
        "image": (models.small_cnn(channels=2), models.images(channels=2, size=8)),
        "tabular": (models.small_mlp(), models.rows()),
        "sequence": (models.small_sequence_model(), models.sequences()),
    }[kind]
    target = torch.arange(x.shape[0]) % 3
    ours = xai.explain(
        model, x, "smoothgrad", target=target, nsamples=12, stdevs=0.4, abs=absolute, seed=5
    )
    reference = _captum_smoothgrad(model, x, target, 0.4, 12, 5, monkeypatch, abs=absolute)
    torch.testing.assert_close(ours.attributions, reference, rtol=RTOL, atol=ATOL)
    assert ours.attributions.abs().max() > 1000 * ATOL  # not trivially small
    torch.testing.assert_close(ours.extras["stdevs"], torch.full((x.shape[0],), 0.4))


def test_smoothgrad_noise_level_is_a_fraction_of_each_samples_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The paper's sigma = stdev_spread * (max - min), per sample: captum with that stdev."""
    model, x = models.small_cnn(), models.images()
    x = x * torch.tensor([1.0, 3.0, 0.5]).view(3, 1, 1, 1)  # different ranges per sample
    ours = xai.explain(model, x, "smoothgrad", nsamples=10, stdev_spread=0.2, seed=1)
    sigma = 0.2 * (x.flatten(1).amax(1) - x.flatten(1).amin(1))
    torch.testing.assert_close(ours.extras["stdevs"], sigma)
    for i in range(x.shape[0]):
        reference = _captum_smoothgrad(
            model, x[i : i + 1], ours.target[i : i + 1], float(sigma[i]), 10, 1, monkeypatch
        )
        torch.testing.assert_close(ours.attributions[i : i + 1], reference, rtol=RTOL, atol=ATOL)
    assert ours.params["stdev_spread"] == 0.2 and ours.params["stdevs"] is None
    default = xai.explain(model, x, "smoothgrad", nsamples=10, seed=1)
    assert default.params["stdev_spread"] == 0.15  # the default level, recorded


def test_smoothgrad_expectation_matches_captum_with_its_own_noise() -> None:
    """With captum's own random noise the two are estimates of the same expectation
    E|grad f(x + eps)|: they agree within 6 standard errors of the difference of two means
    of ``n`` draws (the per-draw spread measured on captum's draws)."""
    model, x = models.small_mlp(), models.rows()
    n = 2000
    ours = xai.explain(model, x, "smoothgrad", nsamples=n, stdevs=0.5, seed=0).attributions
    torch.manual_seed(0)
    theirs = NoiseTunnel(Saliency(model)).attribute(
        x, nt_type="smoothgrad", nt_samples=n, stdevs=0.5, target=model(x).argmax(1)
    )
    noisy = x.repeat_interleave(n, 0) + 0.5 * torch.randn(x.shape[0] * n, x.shape[1])
    draws = Saliency(model).attribute(
        noisy.requires_grad_(), target=model(x).argmax(1).repeat_interleave(n)
    )
    spread = draws.view(x.shape[0], n, -1).std(1)
    tolerance = 6 * spread * (2 / n) ** 0.5
    assert bool(((ours - theirs).abs() <= tolerance + 1e-7).all())
    assert float((ours - theirs).abs().max()) < 0.05 * float(theirs.abs().max())


def test_smoothgrad_without_noise_is_captum_saliency() -> None:
    model, x = models.small_cnn(), models.images()
    ours = xai.explain(model, x, "smoothgrad", nsamples=3, stdevs=0.0, seed=0)
    reference = Saliency(model).attribute(x.clone().requires_grad_(), target=ours.target)
    torch.testing.assert_close(ours.attributions, reference, rtol=0, atol=1e-7)


def test_smoothgrad_chunks_and_dtype() -> None:
    model, x = models.small_mlp(), models.rows()
    whole = xai.explain(model, x, "smoothgrad", nsamples=9, seed=2)
    chunked = xai.explain(model, x, "smoothgrad", nsamples=9, seed=2, internal_batch_size=4)
    torch.testing.assert_close(chunked.attributions, whole.attributions, rtol=1e-6, atol=1e-7)
    assert chunked.params["internal_batch_size"] == 4
    assert whole.extras["model_evaluations"] == x.shape[0] * (9 + 1)
    double = xai.explain(model.double(), x.double(), "smoothgrad", nsamples=9, seed=2)
    assert double.attributions.dtype == torch.float64
    torch.testing.assert_close(double.attributions.float(), whole.attributions, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"nsamples": 0}, ValueError, r"^nsamples: expected an integer >= 1, got 0"),
        ({"nsamples": 2.5}, TypeError, r"^nsamples: expected an integer >= 1, got float"),
        ({"stdevs": -0.1}, ValueError, r"^stdevs: expected a finite number >= 0, got -0.1"),
        ({"stdevs": "big"}, TypeError, r"^stdevs: expected a number >= 0, got str"),
        ({"stdev_spread": float("nan")}, ValueError, r"^stdev_spread: expected a finite number"),
        ({"stdevs": 0.1, "stdev_spread": 0.2}, ValueError, r"^stdevs: given together with"),
        ({"abs": "yes"}, TypeError, r"^abs: expected True or False, got str"),
        ({"internal_batch_size": 0}, ValueError, r"^internal_batch_size: expected an integer"),
        ({"n_steps": 4}, TypeError, r"^n_steps: not an option of method 'smoothgrad'"),
    ],
)
def test_smoothgrad_bad_options(options: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        xai.explain(models.small_mlp(), models.rows(), "smoothgrad", seed=0, **options)


def test_smoothgrad_needs_gradients() -> None:
    class NoGradient(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x[:, :3] * 2).detach()

    with pytest.raises(ValueError, match=r"^model: method 'smoothgrad' needs the gradient"):
        xai.explain(NoGradient(), models.rows(), "smoothgrad", seed=0)


# ------------------------------------------------------------------------------------ Occlusion

OCCLUSION_CASES = [
    # (kind, options): the automatic windows, cut-off last windows, int strides, baselines
    ("image", {}),
    ("image", {"sliding_window_shapes": (2, 5, 5), "strides": (1, 4, 4)}),
    ("image", {"sliding_window_shapes": (1, 3, 2), "strides": 1, "baselines": 0.5}),
    ("image", {"sliding_window_shapes": (2, 4, 4), "strides": (2, 3, 2), "baselines": "one"}),
    ("image", {"sliding_window_shapes": (2, 2, 3), "strides": (1, 2, 3), "baselines": "each"}),
    ("tabular", {}),
    ("tabular", {"sliding_window_shapes": (3,), "strides": 2, "baselines": -1.0}),
    ("tabular", {"sliding_window_shapes": (6,), "baselines": "each"}),
    ("sequence", {}),
    ("sequence", {"sliding_window_shapes": (1, 4), "strides": (1, 3)}),
]


def _occlusion_case(kind: str) -> tuple[nn.Module, torch.Tensor]:
    return {
        "image": (models.small_cnn(channels=2), models.images(channels=2, size=10) * 3),
        "tabular": (models.small_mlp(), models.rows() * 3),
        "sequence": (models.small_sequence_model(), models.sequences() * 3),
    }[kind]


@pytest.mark.parametrize(
    ("kind", "options"),
    OCCLUSION_CASES,
    ids=[f"{k}-{i}" for i, (k, _) in enumerate(OCCLUSION_CASES)],
)
def test_occlusion_equals_captum(kind: str, options: dict[str, Any]) -> None:
    model, x = _occlusion_case(kind)
    options = dict(options)
    if options.get("baselines") == "one":
        options["baselines"] = torch.rand(x.shape[1:], generator=torch.Generator().manual_seed(0))
    elif options.get("baselines") == "each":
        options["baselines"] = torch.rand(x.shape, generator=torch.Generator().manual_seed(1))
    target = torch.arange(x.shape[0]) % 3
    ours = xai.explain(model, x, "occlusion", target=target, **options)
    window, strides = ours.params["sliding_window_shapes"], ours.params["strides"]
    baselines = options.get("baselines", 0.0)
    if isinstance(baselines, torch.Tensor) and baselines.shape == x.shape[1:]:
        baselines = baselines.unsqueeze(0)  # captum: a batch dimension (broadcast)
    reference = CaptumOcclusion(model).attribute(
        x, sliding_window_shapes=window, strides=strides, baselines=baselines, target=target
    )
    torch.testing.assert_close(ours.attributions, reference, rtol=RTOL, atol=ATOL)
    assert ours.attributions.abs().max() > 1e-3
    windows = ours.extras["windows"]
    assert ours.extras["model_evaluations"] == x.shape[0] * (windows + 1)


def test_occlusion_defaults() -> None:
    images = torch.rand(2, 3, 32, 24)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    expl = xai.explain(model, images, "occlusion")
    # every channel, about 1/8 of the height and width, moved by half the window
    assert expl.params["sliding_window_shapes"] == (3, 4, 3)
    assert expl.params["strides"] == (1, 2, 1)
    assert expl.params["baselines"] is None and expl.params["batch_size"] > 0
    assert expl.extras["windows"] == 15 * 22
    rows = xai.explain(models.small_mlp(), models.rows(), "occlusion")
    assert rows.params["sliding_window_shapes"] == (1,) and rows.params["strides"] == (1,)
    assert rows.extras["windows"] == 6  # one feature at a time


def test_occlusion_chunks_and_recorded_params_rerun(tmp_path: Path) -> None:
    model, x = _occlusion_case("image")
    whole = xai.explain(model, x, "occlusion", sliding_window_shapes=(2, 3, 3), baselines=0.2)
    chunked = xai.explain(
        model, x, "occlusion", sliding_window_shapes=(2, 3, 3), baselines=0.2, batch_size=7
    )
    torch.testing.assert_close(chunked.attributions, whole.attributions, rtol=0, atol=1e-7)
    # the recorded params re-run the explanation, also after a save/load round trip
    loaded = xai.Explanation.load(whole.save(tmp_path / "occlusion.safetensors"))
    accepted = explainer_class("occlusion").accepted_options()
    for params in (whole.params, loaded.params):
        again = xai.explain(
            model, x, "occlusion", **{k: v for k, v in params.items() if k in accepted}
        )
        torch.testing.assert_close(again.attributions, whole.attributions, rtol=0, atol=0)


def test_occlusion_needs_no_gradient() -> None:
    """A perturbation method: a model whose outputs carry no gradient is explained."""

    class Detached(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = models.small_mlp()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x).detach()

    model, x = Detached(), models.rows()
    expl = xai.explain(model, x, "occlusion")
    reference = CaptumOcclusion(model).attribute(x, sliding_window_shapes=(1,), target=expl.target)
    torch.testing.assert_close(expl.attributions, reference, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"sliding_window_shapes": (2, 2)},
            ValueError,
            r"^sliding_window_shapes: expected 3 integer",
        ),
        ({"sliding_window_shapes": 2}, TypeError, r"^sliding_window_shapes: expected a tuple of 3"),
        ({"sliding_window_shapes": (1, 2.0, 2)}, TypeError, r"^sliding_window_shapes: expected a"),
        ({"sliding_window_shapes": (1, 0, 2)}, ValueError, r"^sliding_window_shapes: expected pos"),
        ({"sliding_window_shapes": (1, 20, 2)}, ValueError, r"^sliding_window_shapes: the window"),
        ({"sliding_window_shapes": (1, 3, 3), "strides": 4}, ValueError, r"^strides: 4 in dimen"),
        ({"strides": 0}, ValueError, r"^strides: expected an integer >= 1, got 0"),
        ({"strides": (1, 1)}, ValueError, r"^strides: expected 3 integer"),
        ({"strides": "1"}, TypeError, r"^strides: expected a tuple of 3 positive integers"),
        ({"baselines": torch.zeros(2, 1, 12, 12)}, ValueError, r"^baselines: expected one base"),
        ({"baselines": "zeros"}, TypeError, r"^baselines: expected a number or a tensor"),
        ({"batch_size": 0}, ValueError, r"^batch_size: expected an integer >= 1, got 0"),
        ({"seed": 1}, TypeError, r"^seed: not an option of method 'occlusion'"),
    ],
)
def test_occlusion_bad_options(options: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        xai.explain(models.small_cnn(), models.images(), "occlusion", **options)


# ------------------------------------------------------- wherever the registry's methods appear


def test_both_are_registered_with_their_knowledge() -> None:
    for name in ("smoothgrad", "occlusion"):
        assert name in xai.available_explainers()
        cls = explainer_class(name)
        assert cls.input_kinds() == ("image", "tabular", "sequence")
        assert set(cls.quick_options) <= set(cls.accepted_options())
        assert name in applicable_methods(models.images())
        assert name in applicable_methods(models.rows())
    assert explainer_class("smoothgrad").stochastic and not explainer_class("occlusion").stochastic
    smooth = {p.name: p for p in tunable_parameters("smoothgrad", None, models.images())}
    assert list(smooth) == ["nsamples", "stdev_spread", "abs"]
    assert smooth["nsamples"].default == explainer_class("smoothgrad").defaults["nsamples"]
    (window,) = tunable_parameters("occlusion", None, torch.zeros(1, 3, 32, 32))
    assert window.choices == (
        "auto",
        (3, 1, 1),
        (3, 2, 2),
        (3, 4, 4),
        (3, 8, 8),
        (3, 16, 16),
    )
    assert tunable_parameters("occlusion", None, models.rows())[0].choices == ("auto",)


def test_compare_uses_both_by_default() -> None:
    model, x = models.small_mlp(), models.rows()
    methods = applicable_methods(x)
    options = {m: dict(explainer_class(m).quick_options) for m in methods}
    comparison = xai.compare(model, x, options=options, metrics=["sparseness_score"])
    assert {"smoothgrad", "occlusion"} <= set(comparison.methods)
    assert comparison.methods == methods
    assert comparison.agreement["rank_correlation"].shape == (len(methods), len(methods))


def test_xai_explain_uses_both_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from xai.cli import main

    assert main(["explain", "breast_cancer_mlp", "--samples", "1", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    methods = applicable_methods(torch.zeros(1, 30))
    assert {"smoothgrad", "occlusion"} <= set(methods)
    for method in methods:
        assert method in printed
        saved = xai.Explanation.load(tmp_path / f"breast_cancer_mlp_{method}.safetensors")
        assert saved.method == method and len(saved) == 1
    assert (
        xai.Explanation.load(tmp_path / "breast_cancer_mlp_smoothgrad.safetensors").params["seed"]
        == 0
    )
