"""Datasets of the reference models: scikit-learn's bundled tables, a generated shapes set and a
generated keyword-text set.

Everything here is built from what installs with the packages or generated from a seed; nothing
is downloaded. Every function is deterministic: the same seed gives the same tensors, bit for bit.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

__all__ = [
    "MASK_TOKEN_ID",
    "PAD_TOKEN_ID",
    "SHAPE_CLASSES",
    "TEXT_CLASSES",
    "TEXT_KEYWORDS",
    "TEXT_VOCABULARY",
    "UNK_TOKEN_ID",
    "breast_cancer",
    "decode_tokens",
    "digits",
    "encode_text",
    "keyword_text",
    "make_keyword_text",
    "make_shapes",
    "shapes",
    "stratified_split",
]

#: Class names of the shapes set, in label order.
SHAPE_CLASSES = ("square", "circle", "triangle", "cross")

Splits = dict[str, TensorDataset]


def stratified_split(
    labels: torch.Tensor, fractions: tuple[float, float, float], seed: int
) -> dict[str, torch.Tensor]:
    """Indices of a stratified train/val/test split (each class split in the same proportions).

    Args:
        labels: integer labels ``(N,)``.
        fractions: fractions of ``(train, val, test)``; they must sum to 1.
        seed: seed of the permutation.

    Returns:
        ``{"train": idx, "val": idx, "test": idx}``, each a sorted LongTensor.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ValueError(
            f"fractions: expected three non-negative fractions (train, val, test) summing to 1, "
            f"got {fractions!r}."
        )
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, list[torch.Tensor]] = {"train": [], "val": [], "test": []}
    for label in torch.unique(labels):
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = round(len(members) * fractions[1])
        n_test = round(len(members) * fractions[2])
        n_train = len(members) - n_val - n_test
        parts["train"].append(members[:n_train])
        parts["val"].append(members[n_train : n_train + n_val])
        parts["test"].append(members[n_train + n_val :])
    return {name: torch.cat(chunks).sort().values for name, chunks in parts.items()}


def digits(
    seed: int = 0, size: int = 32, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
) -> Splits:
    """scikit-learn's bundled 8x8 digits, scaled to [0, 1] and upsampled to ``size`` x ``size``.

    Returns:
        ``{"train", "val", "test"}`` -> ``TensorDataset(images (N, 1, size, size), labels (N,))``.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    labels = torch.tensor(bunch.target, dtype=torch.long)
    split = stratified_split(labels, fractions, seed)
    return {name: TensorDataset(images[idx], labels[idx]) for name, idx in split.items()}


def breast_cancer(
    seed: int = 0, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
) -> tuple[Splits, dict[str, list]]:
    """scikit-learn's bundled breast-cancer table, standardised with the training split's statistics.

    Returns:
        ``(splits, extras)``: splits map ``"train"/"val"/"test"`` to ``TensorDataset(x (N, 30),
        y (N,))`` (label 1 = benign, as in scikit-learn); extras hold ``feature_names``,
        ``class_names`` and the ``mean``/``std`` used, to standardise new raw rows the same way.
    """
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    x = torch.tensor(bunch.data, dtype=torch.float32)
    y = torch.tensor(bunch.target, dtype=torch.long)
    split = stratified_split(y, fractions, seed)
    mean = x[split["train"]].mean(0)
    std = x[split["train"]].std(0)
    x = (x - mean) / std
    extras = {
        "feature_names": [str(n) for n in bunch.feature_names],
        "class_names": [str(n) for n in bunch.target_names],
        "mean": mean.tolist(),
        "std": std.tolist(),
    }
    return {name: TensorDataset(x[idx], y[idx]) for name, idx in split.items()}, extras


def _shape_masks(
    label: torch.Tensor, u: torch.Tensor, v: torch.Tensor
) -> torch.Tensor:  # (N, H, W) bool
    """Masks of each class's shape in normalised coordinates ``u, v`` in [-1, 1] (per image)."""
    square = (u.abs() <= 0.8) & (v.abs() <= 0.8)
    circle = u * u + v * v <= 1.0
    triangle = (v <= 0.85) & (v >= -1.0) & (u.abs() <= (v + 1.0) / 1.85)
    arm = 0.3
    cross = ((u.abs() <= arm) & (v.abs() <= 1.0)) | ((v.abs() <= arm) & (u.abs() <= 1.0))
    masks = torch.stack([square, circle, triangle, cross], dim=1)  # (N, 4, H, W)
    return masks.gather(1, label.view(-1, 1, 1, 1).expand(-1, 1, *u.shape[1:])).squeeze(1)


def make_shapes(
    n: int, seed: int, size: int = 32, clutter: int = 4, noise: float = 0.08
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Generate ``n`` images of one shape among clutter and noise, with the shape's mask.

    Each image has a random background tint, ``clutter`` small soft blobs of random colour
    (smaller than any object, so they never decide the class), one object whose shape is the
    class (square, circle, triangle, cross) drawn on top at a random position, scale (half-size
    5 to 10 pixels), rotation-free orientation and colour (kept apart from the background), and
    Gaussian pixel noise.

    Args:
        n: number of images.
        seed: generator seed; the same seed gives the same images bit for bit.
        size: height and width.
        clutter: number of distractor blobs per image.
        noise: standard deviation of the pixel noise.

    Returns:
        ``(images (n, 3, size, size) float32 in [0, 1], labels (n,) long, masks (n, 1, size, size)
        bool)``.
    """
    g = torch.Generator().manual_seed(seed)

    def uniform(*shape: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=g)

    labels = torch.randint(0, len(SHAPE_CLASSES), (n,), generator=g)
    coords = torch.arange(size, dtype=torch.float32)
    ys = coords.view(1, size, 1)
    xs = coords.view(1, 1, size)

    background = uniform(n, 3, 1, 1, low=0.0, high=0.35)
    images = background.expand(n, 3, size, size).clone()

    # clutter: soft round blobs, radius 0.8-1.8 px
    centers = uniform(n, clutter, 2, low=0.0, high=size - 1.0)
    radii = uniform(n, clutter, low=0.8, high=1.8)
    blob_colors = uniform(n, clutter, 3)
    for k in range(clutter):
        d2 = (ys - centers[:, k, 0].view(-1, 1, 1)) ** 2 + (
            xs - centers[:, k, 1].view(-1, 1, 1)
        ) ** 2
        weight = d2.div_(-2 * radii[:, k].view(-1, 1, 1) ** 2).exp_().unsqueeze(1)
        images.lerp_(blob_colors[:, k].view(n, 3, 1, 1).expand_as(images), weight)

    # the object
    half = uniform(n, low=5.0, high=10.0)
    cy = uniform(n) * (size - 1 - 2 * half) + half
    cx = uniform(n) * (size - 1 - 2 * half) + half
    u = (xs - cx.view(-1, 1, 1)) / half.view(-1, 1, 1)
    v = (ys - cy.view(-1, 1, 1)) / half.view(-1, 1, 1)
    u = u.expand(n, size, size)
    v = v.expand(n, size, size)
    masks = _shape_masks(labels, u, v)
    color = uniform(n, 3, low=0.55, high=1.0)
    # drop one channel at random for colour variety, keeping the object brighter than the tint
    drop = torch.randint(0, 4, (n,), generator=g)  # 3 = keep all channels
    keep = torch.ones(n, 3)
    rows = torch.nonzero(drop < 3).flatten()
    keep[rows, drop[rows]] = 0.0
    color = color * keep
    images = torch.where(masks.unsqueeze(1), color.view(n, 3, 1, 1), images)
    images.add_(torch.randn(n, 3, size, size, generator=g).mul_(noise)).clamp_(0.0, 1.0)
    if not math.isfinite(float(images.sum())):  # pragma: no cover - defensive
        raise RuntimeError("make_shapes produced non-finite pixels")
    return images, labels, masks.unsqueeze(1)


def shapes(seed: int = 0, n_train: int = 4000, n_val: int = 1000, n_test: int = 1000) -> Splits:
    """The shapes set split into train/val/test, each generated from its own derived seed.

    Returns:
        ``{"train", "val", "test"}`` -> ``TensorDataset(images (N, 3, 32, 32), labels (N,),
        masks (N, 1, 32, 32) bool)``.
    """
    out: Splits = {}
    for offset, (name, count) in enumerate((("train", n_train), ("val", n_val), ("test", n_test))):
        out[name] = TensorDataset(*make_shapes(count, seed * 1000 + offset))
    return out


# ----------------------------------------------------------------------------- keyword text

#: Class names of the keyword-text set, in label order.
TEXT_CLASSES = ("sports", "food", "music")

#: The keywords that decide each class (a sentence holds keywords of exactly one class).
TEXT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "sports": ("goal", "match", "team", "coach"),
    "food": ("pizza", "bread", "soup", "cheese"),
    "music": ("guitar", "song", "drum", "piano"),
}

_SPECIAL_TOKENS = ("[PAD]", "[MASK]", "[UNK]")
_DISTRACTORS = (
    "the", "a", "an", "and", "of", "to", "in", "on", "at", "with",
    "for", "from", "we", "they", "she", "he", "it", "you", "i", "my",
    "our", "their", "this", "that", "was", "is", "are", "very", "really", "quite",
    "good", "great", "nice", "old", "new", "big", "small", "today", "yesterday", "again",
    "after", "before", "every", "some", "friend", "city", "morning", "evening", "weekend", "night",
    "time", "place", "day", "week", "saw", "liked", "had", "made", "found", "loved",
)  # fmt: skip

#: Token strings of the keyword-text set; the index of a token is its id.
TEXT_VOCABULARY: tuple[str, ...] = (
    _SPECIAL_TOKENS + tuple(w for c in TEXT_CLASSES for w in TEXT_KEYWORDS[c]) + _DISTRACTORS
)
PAD_TOKEN_ID = 0  #: ``[PAD]``: right padding, attention mask 0
MASK_TOKEN_ID = 1  #: ``[MASK]``: a switched-off token (seen among the distractors in training)
UNK_TOKEN_ID = 2  #: ``[UNK]``: a word outside the vocabulary (seen among the distractors too)

_KEYWORD_IDS = torch.tensor(
    [[TEXT_VOCABULARY.index(w) for w in TEXT_KEYWORDS[c]] for c in TEXT_CLASSES]
)  # (classes, keywords per class)
_DISTRACTOR_IDS = torch.tensor([TEXT_VOCABULARY.index(w) for w in _DISTRACTORS])


def make_keyword_text(
    n: int,
    seed: int,
    max_length: int = 24,
    min_length: int = 5,
    max_keywords: int = 3,
    special_rate: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Generate ``n`` sentences of token ids whose class is decided by keywords among distractors.

    Each sentence has a length drawn uniformly from ``[min_length, max_length]`` and is
    right-padded with ``[PAD]`` to ``max_length``. Its label is drawn uniformly from
    :data:`TEXT_CLASSES`; between 1 and ``max_keywords`` of its positions (uniform count, random
    positions) hold keywords of that class (:data:`TEXT_KEYWORDS`, each drawn uniformly, repeats
    allowed), and every other real position holds a distractor word, or with probability
    ``special_rate`` a ``[MASK]`` or ``[UNK]`` (half each), so that the model learns these
    tokens are neutral. No sentence holds a keyword of another class: the keywords, and only
    they, decide the class.

    Args:
        n: number of sentences.
        seed: generator seed; the same seed gives the same tensors bit for bit.
        max_length: the padded length ``L``.
        min_length: the shortest sentence (at least ``max_keywords``).
        max_keywords: the most keywords in one sentence.
        special_rate: probability that a distractor position holds ``[MASK]`` or ``[UNK]``.

    Returns:
        ``(input_ids (n, L) long, labels (n,) long, keyword_mask (n, L) bool, attention_mask
        (n, L) long)``: ``keyword_mask`` is True exactly at the keyword positions (the ground
        truth of where the class is decided), ``attention_mask`` 1 at the real tokens and 0 at
        the padding.
    """
    if not 1 <= max_keywords <= min_length <= max_length:
        raise ValueError(
            "expected 1 <= max_keywords <= min_length <= max_length, got "
            f"max_keywords={max_keywords}, min_length={min_length}, max_length={max_length}."
        )
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, len(TEXT_CLASSES), (n,), generator=g)
    lengths = torch.randint(min_length, max_length + 1, (n,), generator=g)
    counts = torch.randint(1, max_keywords + 1, (n,), generator=g)
    positions = torch.arange(max_length).expand(n, max_length)
    attention = positions < lengths.unsqueeze(1)
    # keyword positions: the `count` real positions with the smallest random scores
    scores = torch.rand(n, max_length, generator=g).masked_fill(~attention, 2.0)
    ranks = scores.argsort(1).argsort(1)
    keyword_mask = ranks < counts.unsqueeze(1)
    keyword_choice = torch.randint(0, _KEYWORD_IDS.shape[1], (n, max_length), generator=g)
    keywords = _KEYWORD_IDS[labels.unsqueeze(1), keyword_choice]
    distractors = _DISTRACTOR_IDS[
        torch.randint(0, len(_DISTRACTOR_IDS), (n, max_length), generator=g)
    ]
    special = torch.rand(n, max_length, generator=g) < special_rate
    which = torch.randint(0, 2, (n, max_length), generator=g)
    distractors = torch.where(
        special, torch.where(which == 0, MASK_TOKEN_ID, UNK_TOKEN_ID), distractors
    )
    ids = torch.where(keyword_mask, keywords, distractors).masked_fill(~attention, PAD_TOKEN_ID)
    return ids, labels, keyword_mask, attention.long()


def keyword_text(
    seed: int = 0, n_train: int = 4000, n_val: int = 1000, n_test: int = 1000
) -> Splits:
    """The keyword-text set split into train/val/test, each generated from its own derived seed.

    Returns:
        ``{"train", "val", "test"}`` -> ``TensorDataset(input_ids (N, 24) long, labels (N,),
        keyword_mask (N, 24) bool, attention_mask (N, 24) long)``: inputs and labels first, as
        ``xai.fit`` and ``xai.evaluate`` read them, the ground-truth masks third, as for shapes.
    """
    out: Splits = {}
    for offset, (name, count) in enumerate((("train", n_train), ("val", n_val), ("test", n_test))):
        out[name] = TensorDataset(*make_keyword_text(count, seed * 1000 + offset))
    return out


def encode_text(texts: str | list[str], max_length: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of sentences in the keyword-text vocabulary (a whitespace tokenizer).

    Words are lower-cased and stripped of surrounding punctuation; words outside
    :data:`TEXT_VOCABULARY` become ``[UNK]``, and ``[PAD]``/``[MASK]``/``[UNK]`` written as such
    are kept. Sentences longer than ``max_length`` words are truncated.

    Args:
        texts: one sentence or a list of them.
        max_length: the padded length ``L``.

    Returns:
        ``(input_ids (N, max_length) long, attention_mask (N, max_length) long)``.

    Example:
        >>> ids, mask = encode_text("We loved the pizza")
        >>> decode_tokens(ids)[0][:5]
        ['we', 'loved', 'the', 'pizza', '[PAD]']
    """
    rows = [texts] if isinstance(texts, str) else list(texts)
    index = {token: i for i, token in enumerate(TEXT_VOCABULARY)}
    ids = torch.full((len(rows), max_length), PAD_TOKEN_ID, dtype=torch.long)
    for row, text in enumerate(rows):
        words = [
            w if w in _SPECIAL_TOKENS else w.strip(".,;:!?\"'()").lower() for w in text.split()
        ]
        tokens = [index.get(w, UNK_TOKEN_ID) for w in words if w][:max_length]
        ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
    return ids, (ids != PAD_TOKEN_ID).long()


def decode_tokens(input_ids: torch.Tensor) -> list[list[str]]:
    """The token strings of ids ``(N, L)``, one list of ``L`` strings per row (padding included,
    so they line up with attributions ``(N, L)``)."""
    return [[TEXT_VOCABULARY[i] for i in row] for row in input_ids.tolist()]
