"""Tiny models and data for the dataset-run tests (built from a seed, so a subprocess builds
the same ones)."""

from __future__ import annotations

import torch
from torch import nn


def tabular_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3)).eval()


def tabular_data(n: int = 50, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    return x, torch.randint(0, 3, (n,), generator=g)


def image_model(seed: int = 0, channels: int = 1) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 3),
    ).eval()


def image_data(n: int = 20, seed: int = 1, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g), torch.randint(0, 3, (n,), generator=g)


class TextModel(nn.Module):
    """Token ids (N, L) -> 2 logits, with an embedding the gradient methods attribute at."""

    def __init__(self, vocab: int = 20, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = nn.Embedding(vocab, 4)
        self.head = nn.Linear(4, 2)

    def get_input_embeddings(self) -> nn.Module:
        return self.embedding

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(ids).mean(dim=1))


def collect(run) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    """Every stored batch of a run, concatenated."""
    parts = list(run)
    return {
        "attributions": torch.cat([e.attributions for e in parts]),
        "target": torch.cat([e.target for e in parts]),
        "indices": torch.cat([e.extras["indices"] for e in parts]),
        "predictions": torch.cat([e.extras["predictions"] for e in parts]),
        "inputs": torch.cat([e.inputs for e in parts]),
    }
