"""``xai demo``: explain small models with every method and write the figures to a folder.

Two models are trained on the spot (a few seconds on a CPU) from scikit-learn's bundled data:
a small CNN on the digits (upsampled to 32x32) and an MLP on the breast-cancer table. Each is
explained with every registered method; figures and explanation files go to ``out``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import xai
from xai.viz import plot_comparison

_log = logging.getLogger(__name__)


def _digits(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
    return images, torch.tensor(digits.target)


def _breast_cancer() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x = torch.tensor(data.data, dtype=torch.float32)
    x = (x - x.mean(0)) / x.std(0)
    return x, torch.tensor(data.target), list(data.feature_names)


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int) -> float:
    """A few epochs of Adam; returns training accuracy."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for batch in order.split(64):
            optimizer.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def run_demo(out: str | Path = "demo_output", seed: int = 0) -> Path:
    """Train two small models, explain them with every method, write figures to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)

    images, labels = _digits(seed)
    cnn = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )  # fmt: skip  (global average pooling: the architecture Grad-CAM assumes)
    rows, targets, names = _breast_cancer()
    mlp = nn.Sequential(nn.Linear(rows.shape[1], 32), nn.ReLU(), nn.Linear(32, 2))
    cases = [
        ("digits_cnn", cnn, images, labels, images[:4], {}),
        ("breast_cancer_mlp", mlp, rows, targets, rows[:4], {"feature_names": names}),
    ]

    print(f"xai demo: figures go to {out.resolve()}")
    print(f"{'model':<20}{'method':<22}{'seconds':>9}{'evaluations':>13}")
    for name, model, x, y, samples, extras in cases:
        accuracy = _train(model, x, y, epochs=8, seed=seed)
        _log.info("%s: training accuracy %.3f", name, accuracy)
        explanations = []
        for method in xai.available_explainers():
            if method == "gradcam" and samples.ndim != 4:
                continue
            options = {"seed": seed} if xai.get_explainer(method, model).stochastic else {}
            started = time.perf_counter()
            explanation = xai.explain(model, samples, method=method, **options)
            explanation.extras.update(extras)
            seconds = time.perf_counter() - started
            explanation.save(out / f"{name}_{method}.safetensors")
            explanation.plot(0).savefig(out / f"{name}_{method}.png", dpi=110)
            explanations.append(explanation)
            evaluations = explanation.extras["model_evaluations"]
            print(f"{name:<20}{method:<22}{seconds:>9.2f}{evaluations:>13}")
        for index in range(len(samples)):
            figure = plot_comparison(explanations, index)
            figure.savefig(out / f"{name}_compare_sample{index}.png", dpi=110)
    print(f"xai demo: wrote {len(list(out.glob('*.png')))} figures to {out.resolve()}")
    return out
