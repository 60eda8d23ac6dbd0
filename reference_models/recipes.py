"""Training recipes of the reference models: architecture, data, and the settings of ``xai.fit``.

``xai train NAME`` (or :func:`reference_models.train`) follows the recipe recorded here; the
shipped weights were produced by exactly these recipes (their JSON metadata repeats them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["RECIPES", "Recipe"]


@dataclass(frozen=True)
class Recipe:
    """How one reference model is built and trained.

    Attributes:
        name: the reference model's name.
        task: ``"image-classification"``, ``"tabular-classification"`` or
            ``"text-classification"``.
        architecture: a key of :data:`reference_models.architectures.ARCHITECTURES`.
        config: keyword arguments of the architecture.
        dataset: name of the dataset function in :mod:`reference_models.datasets`.
        data_seed: seed of the data split (or of the generator, for shapes and keyword text).
        seed: seed of the weight initialisation and of ``xai.fit``.
        fit: keyword arguments of ``xai.fit`` (epochs, batch size, learning rate ...).
        targets: minimum test metrics the trained model must reach.
    """

    name: str
    task: str
    architecture: str
    config: dict[str, Any]
    dataset: str
    data_seed: int
    seed: int
    fit: dict[str, Any]
    targets: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


RECIPES: dict[str, Recipe] = {
    "digits_cnn": Recipe(
        name="digits_cnn",
        task="image-classification",
        architecture="small_cnn",
        config={"in_channels": 1, "num_classes": 10, "widths": [16, 32, 64], "dropout": 0.1},
        dataset="digits",
        data_seed=0,
        seed=0,
        fit={
            "epochs": 25,
            "batch_size": 64,
            "lr": 3e-3,
            "weight_decay": 1e-2,
            "max_grad_norm": 2.0,
            "warmup_epochs": 1.0,
            "monitor": "val_accuracy",
        },
        targets={"accuracy": 0.97},
    ),
    "breast_cancer_mlp": Recipe(
        name="breast_cancer_mlp",
        task="tabular-classification",
        architecture="mlp",
        config={"in_features": 30, "num_classes": 2, "hidden": [64, 32], "dropout": 0.1},
        dataset="breast_cancer",
        data_seed=0,
        seed=0,
        fit={
            "epochs": 40,
            "batch_size": 32,
            "lr": 1e-3,
            "weight_decay": 1e-2,
            "max_grad_norm": 2.0,
            "monitor": "val_loss",
        },
        targets={"accuracy": 0.95, "roc_auc": 0.98},
    ),
    "shapes_cnn": Recipe(
        name="shapes_cnn",
        task="image-classification",
        architecture="small_cnn",
        config={"in_channels": 3, "num_classes": 4, "widths": [16, 32, 64], "dropout": 0.1},
        dataset="shapes",
        data_seed=0,
        seed=0,
        fit={
            "epochs": 15,
            "batch_size": 64,
            "lr": 3e-3,
            "weight_decay": 1e-2,
            "max_grad_norm": 2.0,
            "warmup_epochs": 1.0,
            "monitor": "val_accuracy",
        },
        targets={"accuracy": 0.95},
    ),
    "keywords_text_cnn": Recipe(
        name="keywords_text_cnn",
        task="text-classification",
        architecture="text_cnn",
        config={
            "vocab_size": 75,
            "num_classes": 3,
            "embedding_dim": 32,
            "channels": 64,
            "kernel_size": 3,
            "dropout": 0.1,
            "pad_token_id": 0,
            "mask_token_id": 1,
        },
        dataset="keyword_text",
        data_seed=0,
        seed=0,
        fit={
            "epochs": 10,
            "batch_size": 64,
            "lr": 3e-3,
            "weight_decay": 1e-2,
            "max_grad_norm": 2.0,
            "warmup_epochs": 1.0,
            "monitor": "val_loss",
        },
        targets={"accuracy": 0.95},
    ),
}
