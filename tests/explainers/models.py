"""Small models for the explainer tests, including a zoo of awkward ones."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def small_cnn(classes: int = 3, inplace: bool = False, channels: int = 1) -> nn.Module:
    """Conv blocks -> global average pooling -> linear (the architecture Grad-CAM assumes)."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(channels, 6, 3, padding=1),
        nn.ReLU(inplace=inplace),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.ReLU(inplace=inplace),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, classes),
    ).eval()


def small_mlp(features: int = 6, classes: int = 3, inplace: bool = False) -> nn.Module:
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Linear(features, 16), nn.ReLU(inplace=inplace), nn.Linear(16, classes)
    ).eval()


def images(n: int = 3, channels: int = 1, size: int = 12) -> torch.Tensor:
    return torch.randn(n, channels, size, size, generator=torch.Generator().manual_seed(3))


def rows(n: int = 4, features: int = 6) -> torch.Tensor:
    return torch.randn(n, features, generator=torch.Generator().manual_seed(4))


def small_sequence_model(channels: int = 2, classes: int = 3) -> nn.Module:
    """A 1-D convolution over ``(N, C, L)`` sequences -> global average pooling -> linear."""
    torch.manual_seed(5)
    return nn.Sequential(
        nn.Conv1d(channels, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(6, classes),
    ).eval()


def sequences(n: int = 3, channels: int = 2, length: int = 10) -> torch.Tensor:
    return torch.randn(n, channels, length, generator=torch.Generator().manual_seed(6))


class ReusedReLU(nn.Module):
    """The same ReLU module called at three places (twice spatial, once after the head)."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        return self.fc(self.pool(x).flatten(1))


class FunctionalActivations(nn.Module):
    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 5, 3, padding=1)
        self.fc = nn.Linear(5, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.conv(x)) * torch.sigmoid(x.mean())
        return self.fc(F.adaptive_avg_pool2d(torch.relu(x), 1).flatten(1))


class TupleOutput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = small_cnn()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.body(x)
        return logits, logits.softmax(-1)


class DictOutput(TupleOutput):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return {"logits": self.body(x), "features": x.mean((2, 3))}


@dataclass
class ModelOutput:
    logits: torch.Tensor
    hidden: torch.Tensor


class ObjectOutput(TupleOutput):
    def forward(self, x: torch.Tensor) -> ModelOutput:  # type: ignore[override]
        return ModelOutput(logits=self.body(x), hidden=x)


class DropoutBatchNorm(nn.Module):
    """Dropout and batch norm: random and batch-dependent in train mode."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Dropout2d(0.5)
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(6, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Nested(nn.Module):
    """Containers inside containers: ModuleDict of Sequential of ModuleList."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict(
            {
                "stem": nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()),
                "body": nn.Sequential(
                    nn.ModuleList([nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(inplace=True)])
                ),
            }
        )
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks["stem"](x)
        for layer in self.blocks["body"][0]:
            x = layer(x)
        return self.head(x.mean((2, 3)))


class SingleOutput(nn.Module):
    """A binary classifier with one logit, returned as shape (N,)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = small_cnn(classes=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(1)


def zoo() -> dict[str, tuple[nn.Module, dict]]:
    """name -> (model on image inputs, options needed to explain it)."""
    torch.manual_seed(5)
    models = {
        "inplace_relu": (small_cnn(inplace=True), {}),
        "reused_relu": (ReusedReLU(), {}),
        "functional": (FunctionalActivations(), {}),
        "tuple_output": (TupleOutput(), {"output": 0}),
        "dict_output": (DictOutput(), {"output": "logits"}),
        "object_output": (ObjectOutput(), {"output": "logits"}),
        "callable_output": (DictOutput(), {"output": lambda out: out["logits"]}),
        "dropout_batchnorm_train": (DropoutBatchNorm().train(), {}),
        "nested": (Nested(), {}),
        "single_output": (SingleOutput(), {}),
    }
    for model, _ in models.values():
        if not isinstance(model, DropoutBatchNorm):
            model.eval()
    return models
