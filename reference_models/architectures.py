"""Architectures of the reference models, built from a name and a JSON-serialisable config.

The CNNs end in global average pooling (conv blocks -> ``AdaptiveAvgPool2d(1)`` -> ``Linear``),
the architecture Grad-CAM assumes, and every activation is its own module used once, so hooks
on any layer see exactly one call per forward pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["ARCHITECTURES", "MLP", "SmallCNN", "build"]


class SmallCNN(nn.Module):
    """Conv-BN-ReLU blocks (max-pooling between them), global average pooling, a linear head.

    Args:
        in_channels: channels of the input images.
        num_classes: number of output logits.
        widths: output channels of each conv block.
        dropout: dropout before the linear head.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: Sequence[int] = (16, 32, 64),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.config = {
            "in_channels": in_channels,
            "num_classes": num_classes,
            "widths": list(widths),
            "dropout": dropout,
        }
        layers: list[nn.Module] = []
        channels = in_channels
        for index, width in enumerate(widths):
            layers += [
                nn.Conv2d(channels, width, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
            ]
            if index < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.flatten(self.pool(self.features(x)))))


class MLP(nn.Module):
    """Linear-ReLU(-Dropout) hidden layers and a linear head.

    Args:
        in_features: input features.
        num_classes: number of output logits.
        hidden: widths of the hidden layers.
        dropout: dropout after each hidden activation.
    """

    def __init__(
        self,
        in_features: int = 30,
        num_classes: int = 2,
        hidden: Sequence[int] = (64, 32),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.config = {
            "in_features": in_features,
            "num_classes": num_classes,
            "hidden": list(hidden),
            "dropout": dropout,
        }
        layers: list[nn.Module] = []
        features = in_features
        for width in hidden:
            layers += [nn.Linear(features, width), nn.ReLU(), nn.Dropout(dropout)]
            features = width
        layers.append(nn.Linear(features, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


#: Architecture names as recorded in checkpoints' metadata.
ARCHITECTURES: dict[str, type[nn.Module]] = {"small_cnn": SmallCNN, "mlp": MLP}


def build(name: str, config: Mapping[str, Any]) -> nn.Module:
    """Instantiate architecture ``name`` with keyword arguments ``config``."""
    if name not in ARCHITECTURES:
        raise ValueError(
            f"architecture: expected one of {', '.join(map(repr, sorted(ARCHITECTURES)))}, "
            f"got {name!r}."
        )
    return ARCHITECTURES[name](**dict(config))
