"""Reference models: small trained classifiers with their data, for explaining and testing.

::

    import reference_models
    reference_models.available()   # ["breast_cancer_mlp", "digits_cnn", "keywords_text_cnn", ...]
    ref = reference_models.load("shapes_cnn")  # ref.model (eval mode), ref.data, ref.info
    x, y, masks = ref.data["test"].tensors     # shapes_cnn carries ground-truth object masks
    text = reference_models.load("keywords_text_cnn")  # a text model over token ids
    ids, y, keyword_mask, attention_mask = text.data["test"].tensors
    text.info.vocabulary[int(ids[0, 0])]               # the token string of an id

Weights are shipped in ``reference_models/weights`` (safetensors + JSON metadata), so ``load``
is instant; data come from scikit-learn's bundled sets or are generated from a seed. Nothing is
downloaded. :func:`train` (``xai train NAME``) retrains a model with its recorded recipe.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import TensorDataset

from reference_models.architectures import build
from reference_models.recipes import RECIPES, Recipe
from xai._progress import Progress
from xai.errors import InputError, unknown_name_error

__all__ = [
    "ReferenceInfo",
    "ReferenceModel",
    "TrainResult",
    "available",
    "get_recipe",
    "load",
    "load_data",
    "train",
    "weights_path",
]

WEIGHTS_DIR = Path(__file__).parent / "weights"
_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ReferenceInfo:
    """What a reference model is and how well its shipped weights do.

    Attributes:
        name: the model's name.
        task: ``"image-classification"``, ``"tabular-classification"`` or
            ``"text-classification"``.
        class_names: names of the classes, in label order.
        feature_names: names of the input features (tabular models), else None.
        input_shape: shape of one input sample, e.g. ``(3, 32, 32)``, ``(30,)`` or, for token
            ids, ``(24,)``.
        num_classes: number of output logits.
        metrics: metrics of the weights per split, e.g. ``metrics["test"]["accuracy"]``.
        recipe: the training recipe (architecture, config, data seed, ``xai.fit`` settings).
        weights: the safetensors file the weights came from.
        extras: anything else (e.g. the ``mean``/``std`` that standardised the breast-cancer
            features, to apply to new raw rows; the text model's ``pad_token_id``,
            ``mask_token_id``, ``unk_token_id``, ``max_length`` and ``keywords`` per class).
        vocabulary: the token strings of a text model (index = token id), else None.
    """

    name: str
    task: str
    class_names: list[str]
    feature_names: list[str] | None
    input_shape: tuple[int, ...]
    num_classes: int
    metrics: dict[str, dict[str, Any]]
    recipe: dict[str, Any]
    weights: str
    extras: dict[str, Any] = field(default_factory=dict)
    vocabulary: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReferenceModel:
    """A loaded reference model.

    Attributes:
        name: the model's name.
        model: the ``nn.Module`` with the shipped (or given) weights, in eval mode.
        data: ``{"train", "val", "test"}`` -> ``TensorDataset``: ``(inputs, labels)``, plus the
            ground-truth masks ``(N, 1, H, W)`` (bool) for ``shapes_cnn``; for
            ``keywords_text_cnn`` ``(input_ids (N, L) long, labels, keyword_mask (N, L) bool,
            attention_mask (N, L) long)``.
        info: a :class:`ReferenceInfo`.
    """

    name: str
    model: nn.Module
    data: dict[str, TensorDataset]
    info: ReferenceInfo


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    model: nn.Module
    history: Any  # xai.training.History
    metrics: dict[str, dict[str, Any]]
    path: Path | None


def available() -> list[str]:
    """Names of the reference models, sorted: the image, tabular and text classifiers.

    Every face of the toolkit handles each of them: the demo, the report suite, the dashboard
    and ``xai explain``. ``keywords_text_cnn`` takes token ids ``(N, L)`` and an
    ``attention_mask`` (its data's fourth tensor): pass ``model_kwargs={"attention_mask":
    mask}`` when explaining it; Grad-CAM does not apply to it (no spatial layer).

    Returns:
        Names :func:`load` accepts.

    Example:
        >>> import reference_models
        >>> reference_models.available()
        ['breast_cancer_mlp', 'digits_cnn', 'keywords_text_cnn', 'shapes_cnn']
    """
    return sorted(RECIPES)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or name not in RECIPES:
        raise unknown_name_error(
            "name",
            "reference model",
            name,
            available(),
            problem=f"expected one of {', '.join(map(repr, available()))}, got {name!r}",
            listing=None,
        )
    return name


def get_recipe(name: str) -> Recipe:
    """The training recipe of reference model ``name``."""
    return RECIPES[_check_name(name)]


def weights_path(name: str) -> Path:
    """The shipped weights file of reference model ``name``."""
    return WEIGHTS_DIR / f"{_check_name(name)}.safetensors"


@functools.lru_cache(maxsize=8)
def _cached_data(dataset: str, seed: int) -> tuple[dict[str, TensorDataset], dict[str, Any]]:
    from reference_models import datasets

    if dataset == "digits":
        return datasets.digits(seed), {
            "class_names": [str(d) for d in range(10)],
            "feature_names": None,
        }
    if dataset == "breast_cancer":
        splits, extras = datasets.breast_cancer(seed)
        return splits, extras
    if dataset == "shapes":
        return datasets.shapes(seed), {
            "class_names": list(datasets.SHAPE_CLASSES),
            "feature_names": None,
        }
    if dataset == "keyword_text":
        splits = datasets.keyword_text(seed)
        return splits, {
            "class_names": list(datasets.TEXT_CLASSES),
            "feature_names": None,
            "vocabulary": list(datasets.TEXT_VOCABULARY),
            "pad_token_id": datasets.PAD_TOKEN_ID,
            "mask_token_id": datasets.MASK_TOKEN_ID,
            "unk_token_id": datasets.UNK_TOKEN_ID,
            "max_length": int(splits["test"].tensors[0].shape[1]),
            "keywords": {c: list(datasets.TEXT_KEYWORDS[c]) for c in datasets.TEXT_CLASSES},
        }
    raise InputError("dataset", f"unknown dataset {dataset!r}.")  # pragma: no cover


def load_data(name: str) -> dict[str, TensorDataset]:
    """The train/val/test ``TensorDataset``s of reference model ``name`` (built, not downloaded).

    Results are cached per process; the tensors are shared between calls, so copy them before
    modifying them in place.
    """
    recipe = get_recipe(name)
    splits, _ = _cached_data(recipe.dataset, recipe.data_seed)
    return dict(splits)


def _info(recipe: Recipe, weights: Path, metadata: dict[str, Any]) -> ReferenceInfo:
    splits, extras = _cached_data(recipe.dataset, recipe.data_seed)
    sample = splits["test"].tensors[0]
    extras = dict(extras)
    class_names = list(extras.pop("class_names"))
    feature_names = extras.pop("feature_names")
    vocabulary = extras.pop("vocabulary", None)
    return ReferenceInfo(
        name=recipe.name,
        task=recipe.task,
        class_names=class_names,
        feature_names=list(feature_names) if feature_names else None,
        input_shape=tuple(int(d) for d in sample.shape[1:]),
        num_classes=int(recipe.config["num_classes"]),
        metrics=dict(metadata.get("metrics", {})),
        recipe=recipe.to_dict(),
        weights=str(weights),
        extras=extras,
        vocabulary=list(vocabulary) if vocabulary else None,
    )


def load(
    name: str, device: str | torch.device = "cpu", weights: str | Path | None = None
) -> ReferenceModel:
    """Load a reference model with its data and info.

    Args:
        name: one of :func:`available`.
        device: where to put the model (``"auto"``: CUDA when present, else CPU). The data stay
            on the CPU.
        weights: a checkpoint to load instead of the shipped weights (e.g. one written by
            ``xai train NAME --out DIR``).

    Returns:
        A :class:`ReferenceModel` with ``.model`` in eval mode, ``.data`` and ``.info``.

    Raises:
        ValueError: for an unknown name, or weights that are not a safetensors file or do not
            fit the model.
        FileNotFoundError: when the weights file is missing (retrain with ``xai train NAME``).

    Example::

        ref = reference_models.load("digits_cnn")
        xai.evaluate(ref.model, ref.data["test"]).accuracy
    """
    from xai.training import load_checkpoint, pick_device

    recipe = get_recipe(name)
    path = Path(weights) if weights is not None else weights_path(name)
    if not path.is_file():
        hint = (
            f"expected a .safetensors file, got the folder {str(path)!r}."
            if path.is_dir()
            else f"no weights file at {str(path)!r}. Retrain the model with "
            f"`xai train {name} --out {path.parent}`."
        )
        raise FileNotFoundError(f"weights: {hint}")
    try:
        state, metadata = load_checkpoint(path)
    except InputError as error:  # about load_checkpoint's `path`: here the `weights`
        raise error.renamed("weights") from error
    architecture = metadata.get("architecture") or {}
    if architecture and architecture.get("name") != recipe.architecture:
        raise InputError(
            "weights",
            f"{str(path)!r} holds a {architecture.get('name')!r} model, but {name!r} "
            f"is a {recipe.architecture!r}. Pass the checkpoint of the right model.",
        )
    model = build(recipe.architecture, architecture.get("config") or recipe.config)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise InputError(
            "weights",
            f"{str(path)!r} does not fit the {name!r} model: {' '.join(str(error).split())[:600]}",
        ) from error
    model.to(pick_device(device)).eval()
    return ReferenceModel(
        name=name, model=model, data=load_data(name), info=_info(recipe, path, metadata)
    )


def _headline(report: Any) -> dict[str, Any]:
    data = report.to_dict()
    keys = ("n_samples", "accuracy", "f1", "roc_auc", "log_loss", "expected_calibration_error")
    return {k: data[k] for k in keys}


def train(
    name: str,
    *,
    epochs: int | None = None,
    device: str | torch.device = "auto",
    seed: int | None = None,
    out: str | Path | None = None,
    progress: Progress = None,
    **fit_options: Any,
) -> TrainResult:
    """Retrain reference model ``name`` with its recorded recipe.

    Args:
        name: one of :func:`available`.
        epochs: override the recipe's number of epochs (e.g. a short budget for a test).
        device: training device (``"auto"``: CUDA when present).
        seed: override the recipe's seed (weight initialisation and ``xai.fit``).
        out: a folder; when given, ``NAME.safetensors``, ``NAME.json`` and
            ``NAME.history.json`` are written there.
        progress: as for ``xai.fit``: None (default: a bar on a terminal, else one log line
            per epoch), True, False, or a callable ``(fraction_done, message)``.
        **fit_options: other ``xai.fit`` settings overriding the recipe.

    Returns:
        A :class:`TrainResult` with the trained model (eval mode), history, val/test metrics and
        the weights path (None without ``out``).
    """
    import json
    import os

    from xai._files import write_json
    from xai.evaluation.classification import evaluate
    from xai.training import fit
    from xai.training.checkpoint import metadata_path

    recipe = get_recipe(name)
    seed = recipe.seed if seed is None else seed
    options = {**recipe.fit, **fit_options}
    if epochs is not None:
        options["epochs"] = epochs
    data = load_data(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(recipe.architecture, recipe.config)
    path = None if out is None else Path(out) / f"{name}.safetensors"
    history = fit(
        model,
        data["train"],
        data["val"],
        device=device,
        seed=seed,
        progress=progress,
        checkpoint=path,
        metadata={
            "reference_model": name,
            "architecture": {"name": recipe.architecture, "config": recipe.config},
            "data": {"dataset": recipe.dataset, "split_seed": recipe.data_seed},
            "recipe": {**recipe.to_dict(), "seed": seed, "fit": options},
        },
        **options,
    )
    _, extras = _cached_data(recipe.dataset, recipe.data_seed)
    class_names = extras.get("class_names")
    metrics = {
        split: _headline(evaluate(model, data[split], class_names=class_names))
        for split in ("val", "test")
    }
    if path is not None and int(os.environ.get("RANK", "0")) == 0:
        # fit wrote weights, history and metadata; the metadata gets the val/test metrics
        record = json.loads(metadata_path(path).read_text(encoding="utf-8"))
        record["best_epoch_record"] = record.pop("metrics", {})
        record = {**record, "metrics": metrics, "epochs_run": len(history)}
        write_json(metadata_path(path), record)
    return TrainResult(model=model, history=history, metrics=metrics, path=path)
