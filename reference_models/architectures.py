"""Architectures of the reference models, built from a name and a JSON-serialisable config.

The CNNs end in global average pooling (conv blocks -> ``AdaptiveAvgPool2d(1)`` -> ``Linear``),
the architecture Grad-CAM assumes, and every activation is its own module used once, so hooks
on any layer see exactly one call per forward pass.

The text model, :class:`TextCNN`, follows the Hugging Face conventions explainers read:
``forward(input_ids, attention_mask=None)``, ``get_input_embeddings()`` and a ``config`` with
``pad_token_id`` and ``mask_token_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

__all__ = ["ARCHITECTURES", "MLP", "SmallCNN", "TextCNN", "build"]


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


class TextCNN(nn.Module):
    """Token embedding, one 1-D convolution with ReLU, masked mean pooling, a linear head.

    Positions where ``attention_mask`` is 0 do not influence the output: their embeddings are
    zeroed before the convolution (so they are not seen by their neighbours' windows either) and
    they are left out of the pooling. Without an ``attention_mask`` every token that is not
    ``pad_token_id`` counts (the mask right-padded data imply), so ``xai.fit`` and
    ``xai.evaluate``, which call ``model(input_ids)``, see the same function.

    Args:
        vocab_size: number of token ids.
        num_classes: number of output logits.
        embedding_dim: size of the token embeddings.
        channels: output channels of the convolution.
        kernel_size: width of the convolution window (odd, so the output keeps the length).
        dropout: dropout before the linear head.
        pad_token_id: the padding token (its embedding row is zero and never trained).
        mask_token_id: the token perturbation methods switch tokens off with.

    Attributes:
        config: a ``SimpleNamespace`` of the arguments above (``config.pad_token_id``,
            ``config.mask_token_id``, ... as on a Hugging Face model).
    """

    def __init__(
        self,
        vocab_size: int = 80,
        num_classes: int = 3,
        embedding_dim: int = 32,
        channels: int = 64,
        kernel_size: int = 3,
        dropout: float = 0.0,
        pad_token_id: int = 0,
        mask_token_id: int = 1,
    ) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd positive int, got {kernel_size!r}.")
        self.config = SimpleNamespace(
            vocab_size=vocab_size,
            num_classes=num_classes,
            embedding_dim=embedding_dim,
            channels=channels,
            kernel_size=kernel_size,
            dropout=dropout,
            pad_token_id=pad_token_id,
            mask_token_id=mask_token_id,
        )
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_token_id)
        self.conv = nn.Conv1d(embedding_dim, channels, kernel_size, padding=kernel_size // 2)
        self.act = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, num_classes)

    def get_input_embeddings(self) -> nn.Embedding:
        """The token embedding (the Hugging Face accessor)."""
        return self.embedding

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``(N, num_classes)`` of token ids ``(N, L)``.

        Args:
            input_ids: a LongTensor ``(N, L)``.
            attention_mask: ``(N, L)``, 1 (or True) where a token counts, 0 where it is padding;
                default ``input_ids != config.pad_token_id``.
        """
        if attention_mask is None:
            attention_mask = input_ids != self.config.pad_token_id
        elif attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask: expected the shape of input_ids {tuple(input_ids.shape)}, got "
                f"{tuple(attention_mask.shape)}. Pass one 0/1 value per token."
            )
        embeddings = self.embedding(input_ids)  # (N, L, D)
        keep = attention_mask.to(embeddings.dtype).unsqueeze(1)  # (N, 1, L)
        hidden = self.act(self.conv(embeddings.transpose(1, 2) * keep))  # (N, C, L)
        pooled = (hidden * keep).sum(2) / keep.sum(2).clamp_min(1.0)  # (N, C)
        return self.classifier(self.dropout(pooled))


#: Architecture names as recorded in checkpoints' metadata.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    "small_cnn": SmallCNN,
    "mlp": MLP,
    "text_cnn": TextCNN,
}


def build(name: str, config: Mapping[str, Any]) -> nn.Module:
    """Instantiate architecture ``name`` with keyword arguments ``config``."""
    if name not in ARCHITECTURES:
        raise ValueError(
            f"architecture: expected one of {', '.join(map(repr, sorted(ARCHITECTURES)))}, "
            f"got {name!r}."
        )
    return ARCHITECTURES[name](**dict(config))
