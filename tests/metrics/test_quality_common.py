"""Every registered quality metric passes the same invariants: direction declared, category
and paper given, finite ``(N,)`` output, deterministic, and a batch scores like its samples one
by one. A metric added to the registry without an entry in CLASSIFIED fails here."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import xai
from xai.metrics import CATEGORIES, quality_metrics

# name -> (category, higher_is_better): the classification every metric must have.
CLASSIFIED = {
    "deletion_auc": ("faithfulness", False),
    "insertion_auc": ("faithfulness", True),
    "infidelity_error": ("faithfulness", False),
    "completeness_error": ("faithfulness", False),
    "max_sensitivity_error": ("robustness", False),
    "seed_stability_score": ("robustness", True),
    "pointing_game_score": ("localization", True),
    "relevance_mass_score": ("localization", True),
    "relevance_rank_score": ("localization", True),
    "sparseness_score": ("complexity", True),
    "rank_correlation": ("agreement", True),
    "top_k_overlap": ("agreement", True),
    "structural_similarity": ("agreement", True),
}

N = 4


def _cnn() -> nn.Module:
    torch.manual_seed(5)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 3),
    ).eval()


def _mlp() -> nn.Module:
    torch.manual_seed(6)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).eval()


def _context(kind: str) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(7)
    if kind == "image":
        model = _cnn()
        inputs = torch.rand(N, 2, 8, 8, generator=generator)
        masks = torch.zeros(N, 1, 8, 8, dtype=torch.bool)
        for i in range(N):
            masks[i, :, i : i + 3, 2 : 5 + i] = True
        segments = (torch.arange(64).reshape(8, 8) // 16).expand(N, 8, 8).clone()
    else:
        model = _mlp()
        inputs = torch.randn(N, 6, generator=generator)
        masks = torch.zeros(N, 6, dtype=torch.bool)
        masks[:, :2] = True
        segments = None
    target = torch.tensor([0, 1, 2, 1])

    def explain(x: torch.Tensor, target: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        attributions = xai.explain(
            model, x, "integrated_gradients", target=target, n_steps=4
        ).attributions
        if seed is not None:  # a "stochastic" method whose result depends on the seed
            attributions = attributions + 0.05 * torch.sin(x * (seed + 1))
        return attributions

    return {
        "model": model,
        "inputs": inputs,
        "attributions": torch.randn(inputs.shape, generator=generator),
        "other": torch.randn(inputs.shape, generator=generator),
        "target": target,
        "masks": masks,
        "segments": segments,
        "explain": explain,
    }


def _cases() -> list[tuple[str, str]]:
    cases = []
    for name, metric in quality_metrics().items():
        for kind in ("image", "tabular"):
            if kind == "tabular" and metric.image_only:
                continue
            cases.append((name, kind))
    return cases


def _row(value: Any, i: int) -> Any:
    if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == N:
        return value[i : i + 1]
    return value


def test_every_registered_metric_is_classified() -> None:
    registered = quality_metrics()
    unclassified = sorted(set(registered) - set(CLASSIFIED))
    assert not unclassified, f"add these metrics to CLASSIFIED (and check them): {unclassified}"
    assert not set(CLASSIFIED) - set(registered), "CLASSIFIED lists metrics no longer registered"
    for name, metric in registered.items():
        category, higher = CLASSIFIED[name]
        assert metric.category == category and metric.category in CATEGORIES, name
        assert isinstance(metric.higher_is_better, bool) and metric.higher_is_better is higher, name
        assert metric.reference.startswith("https://"), name
        assert metric.reference in (metric.function.__doc__ or ""), f"{name}: docstring cites paper"
        assert metric.summary, name
        if name.endswith("_score"):
            assert metric.higher_is_better, name
        if name.endswith(("_error", "_loss")):
            assert not metric.higher_is_better, name


@pytest.mark.parametrize(("name", "kind"), _cases())
def test_metric_invariants(name: str, kind: str) -> None:
    metric = quality_metrics()[name]
    context = _context(kind)
    values = metric(**context)
    assert isinstance(values, torch.Tensor) and values.shape == (N,), name
    assert torch.is_floating_point(values)
    assert bool(values.isfinite().all()), f"{name}: {values}"
    again = metric(**context)
    torch.testing.assert_close(values, again, msg=f"{name} is not deterministic")
    one_by_one = torch.cat(
        [metric(**{k: _row(v, i) for k, v in context.items()}) for i in range(N)]
    )
    torch.testing.assert_close(
        values, one_by_one, rtol=1e-4, atol=1e-5, msg=f"{name}: batch != one by one"
    )
