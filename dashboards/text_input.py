"""Text models in the dashboard: token-id data, a sentence the user types, and the model's
scores on them. No Streamlit here, so it is tested on its own.

A text model's test inputs are token ids ``(N, L)`` (integers, as :func:`xai.explain` reads
them). :class:`TextSubject` is a :class:`xai.suite.subject.Subject` that also carries what the
pages need to explain and show them: the attention mask of the test data, the vocabulary (token
strings, index = id) and its special tokens, and how a typed sentence becomes ids.

- :func:`reference_text_subject`: a reference text model (``keywords_text_cnn``), whose
  sentences are encoded with its own tokenizer (:func:`reference_models.datasets.encode_text`).
- :func:`user_text_subject`: a user's ``module:factory`` with safetensors weights and an
  ``.npz`` whose ``x`` holds integer token ids, optionally ``attention_mask`` (``(N, L)``, 0/1)
  and ``vocabulary`` (a string array). Typed sentences are split on whitespace and looked up
  in the vocabulary. Nothing is unpickled, and both files are read and checked before the
  factory's module is imported, as :func:`xai.suite.subject.user_subject` does.
- :func:`encode`: a typed sentence as ids ``(1, L)``, with the words that were not in the
  vocabulary (read as the unknown token) and those cut beyond ``L``.
- :func:`model_scores`: the model's scores ``(N, K)`` on ids with their attention mask.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from xai._device import model_device
from xai._model import as_output_matrix, select_output
from xai._state import eval_mode
from xai.errors import InputError
from xai.suite import subject as _subject
from xai.suite.subject import FileLike, Subject

__all__ = [
    "MAX_TEXT_CHARACTERS",
    "TextSubject",
    "TypedText",
    "default_sentence",
    "encode",
    "is_text",
    "is_token_data",
    "listed_words",
    "markdown_escaped",
    "model_scores",
    "reference_text_subject",
    "sentence",
    "token_strings",
    "user_text_subject",
]

#: The longest sentence read (the models take a few dozen tokens; this bounds the work).
MAX_TEXT_CHARACTERS = 10_000

#: Special tokens looked for in a user's vocabulary, in order of preference.
_PAD_NAMES = ("[PAD]", "<pad>", "<PAD>")
_UNK_NAMES = ("[UNK]", "<unk>", "<UNK>")
#: Tokens that open and close every sentence of a BERT- or RoBERTa-style vocabulary: added to a
#: typed sentence when every test sentence starts (ends) with the same one.
_START_NAMES = ("[CLS]", "<s>", "[BOS]", "<bos>")
_END_NAMES = ("[SEP]", "</s>", "[EOS]", "<eos>")
_PUNCTUATION = ".,;:!?\"'()"

#: ``(texts, max_length) -> (ids, attention_mask)``: a reference model's tokenizer.
Tokenizer = Callable[[str, int], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class TextSubject(Subject):
    """A text model with its test token ids (``inputs`` ``(N, L)``, integer), its
    ``model_kwargs`` (the attention mask, when the data have one) and its ``vocabulary`` (token
    strings, index = id; None: tokens are shown as ids, and no sentence can be typed).

    Attributes:
        pad_token_id: the token a typed sentence is padded with.
        unk_token_id: the token of a word outside the vocabulary, or None (such words are
            refused).
        prefix, suffix: token ids put around every typed sentence (``[CLS]`` ... ``[SEP]``).
        tokenizer: the reference model's own tokenizer, or None (whitespace over the
            vocabulary).
        keywords: the words that decide each class, when the data say (the reference set).
    """

    pad_token_id: int = 0
    unk_token_id: int | None = None
    prefix: tuple[int, ...] = ()
    suffix: tuple[int, ...] = ()
    tokenizer: Tokenizer | None = None
    keywords: dict[str, list[str]] | None = None
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.vocabulary is not None and not self._index:
            # the first id of a string that occurs twice
            for i, token in reversed(list(enumerate(self.vocabulary))):
                self._index[token] = i

    @property
    def length(self) -> int:
        """``L``: the number of tokens in one input."""
        return int(self.inputs.shape[1])

    @property
    def attention_mask(self) -> torch.Tensor | None:
        """``(N, L)`` of the test data (1 at real tokens), or None (the model is called
        without one, as its data were given)."""
        return self.model_kwargs.get("attention_mask")


def is_text(subject: Subject) -> bool:
    return isinstance(subject, TextSubject)


def token_strings(subject: TextSubject, ids: torch.Tensor) -> list[list[str]]:
    """The token strings of ids ``(N, L)``: the vocabulary's, else the ids as text."""
    vocabulary = subject.vocabulary
    rows = ids.tolist()
    if vocabulary is None:
        return [[str(i) for i in row] for row in rows]
    size = len(vocabulary)
    return [[vocabulary[i] if 0 <= i < size else str(i) for i in row] for row in rows]


# --- a sentence the user types ----------------------------------------------------------------


@dataclass(frozen=True)
class TypedText:
    """A typed sentence as the model's input.

    Attributes:
        ids: ``(1, L)`` token ids, padded with the pad token.
        attention_mask: ``(1, L)``: 1 at the sentence's tokens, 0 at the padding.
        unknown: the typed words outside the vocabulary (read as the unknown token), each once,
            in the order typed.
        cut: the words beyond the ``L`` tokens the model takes (left out).
        n_tokens: the number of real tokens (the sentence's and any ``[CLS]``/``[SEP]``).
    """

    ids: torch.Tensor
    attention_mask: torch.Tensor
    unknown: tuple[str, ...]
    cut: tuple[str, ...]
    n_tokens: int


def _lookup(subject: TextSubject, word: str) -> int | None:
    """The id of a typed word: itself, else lower-cased and stripped of punctuation, else
    None (unknown); -1 for a word that is only punctuation (no token)."""
    index = subject._index
    if word in index:
        return index[word]
    plain = word.strip(_PUNCTUATION).lower()
    if not plain:
        return -1
    return index.get(plain)


def _reference_words(subject: TextSubject, words: list[str]) -> list[tuple[str, bool]]:
    """``(word, unknown)`` for each typed word that the reference tokenizer turns into a token
    (it drops words that are only punctuation), asked of the tokenizer itself one word at a
    time, so that this agrees with it."""
    tokenizer = subject.tokenizer
    if tokenizer is None:
        raise ValueError(f"{subject.name} has no tokenizer of its own.")
    kept = []
    for word in words:
        ids, mask = tokenizer(word, 1)
        if not int(mask[0, 0]) and word != "[PAD]":
            continue  # no token
        unknown = int(ids[0, 0]) == subject.unk_token_id and word != "[UNK]"
        kept.append((word, unknown))
    return kept


def encode(subject: TextSubject, text: str) -> TypedText:
    """A typed sentence as ids ``(1, L)`` for ``subject``'s model.

    The reference model's sentences go through its tokenizer; a user's model's are split on
    whitespace and each word looked up in the vocabulary (as typed, else lower-cased and
    stripped of surrounding punctuation), between the ``[CLS]``/``[SEP]`` its test sentences
    have. Words outside the vocabulary become the unknown token; words beyond ``L`` tokens are
    cut.

    Raises:
        InputError: ``argument == "text"``: not a string, too long, no words, a model without
            a vocabulary, or unknown words when the vocabulary has no unknown token.
    """
    if not isinstance(text, str):
        raise InputError("text", f"expected a sentence (str), got {type(text).__name__}.")
    if len(text) > MAX_TEXT_CHARACTERS:
        raise InputError(
            "text",
            f"the sentence has {len(text):,} characters, more than the "
            f"{MAX_TEXT_CHARACTERS:,} read; {subject.name} takes {subject.length} tokens.",
        )
    if subject.vocabulary is None:
        raise InputError(
            "text",
            f"{subject.name} came without a vocabulary, so a typed sentence cannot be turned "
            "into its token ids. Save its token strings in the .npz as a string array "
            "'vocabulary' (index = token id), or pick a test sample.",
        )
    words = text.split()
    length = subject.length
    body = length - len(subject.prefix) - len(subject.suffix)
    if subject.tokenizer is not None:
        kept = _reference_words(subject, words)
        unknown = [word for word, missing in kept[:length] if missing]
        ids, mask = subject.tokenizer(text, length)
        cut = [word for word, _ in kept[length:]]
        n_tokens = min(len(kept), length)
    else:
        looked_up = [(word, _lookup(subject, word)) for word in words]
        found = [(word, token) for word, token in looked_up if token != -1]  # -1: no token
        missing = [word for word, token in found if token is None]
        if missing and subject.unk_token_id is None:
            raise InputError(
                "text",
                f"{len(missing)} word(s) are not in the vocabulary of {subject.name}, which "
                f"has no unknown token ({' or '.join(_UNK_NAMES[:2])}) to read them as: "
                f"{', '.join(repr(w) for w in dict.fromkeys(missing))}. Use words of its "
                "vocabulary.",
            )
        room = max(body, 0)
        tokens = [subject.unk_token_id if t is None else t for _, t in found[:room]]
        unknown = [word for word, token in found[:room] if token is None]
        cut = [word for word, _ in found[room:]]
        sequence = [*subject.prefix, *tokens[: max(body, 0)], *subject.suffix][:length]
        n_tokens = len(sequence)
        ids = torch.full((1, length), subject.pad_token_id, dtype=torch.long)
        ids[0, :n_tokens] = torch.tensor(sequence, dtype=torch.long)
        mask = torch.zeros((1, length), dtype=torch.long)
        mask[0, :n_tokens] = 1
    if n_tokens - len(subject.prefix) - len(subject.suffix) <= 0:
        raise InputError(
            "text",
            f"expected a sentence of at least one word, got {text.strip()[:40]!r}"
            + (" (punctuation only)." if text.strip() else "."),
        )
    return TypedText(
        ids=ids.long(),
        attention_mask=mask.long(),
        unknown=tuple(dict.fromkeys(unknown)),
        cut=tuple(cut),
        n_tokens=n_tokens,
    )


# --- the model's scores -----------------------------------------------------------------------


def model_scores(
    model: nn.Module,
    ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """The model's scores ``(N, K)`` (logits or probabilities, as it returns them; read from a
    Hugging Face ``ModelOutput`` as the explainers read it) on ids ``(N, L)``, called with the
    attention mask when there is one. Runs under the model's lock in eval mode, so that it
    never sees another session's explanation hooks."""
    device = model_device(model)
    outputs = []
    with eval_mode(model), torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            rows = slice(start, start + batch_size)
            kwargs = {} if attention_mask is None else {"attention_mask": attention_mask[rows]}
            raw = model(ids[rows].to(device), **{k: v.to(device) for k, v in kwargs.items()})
            scores = as_output_matrix(select_output(raw, None), len(ids[rows]))
            outputs.append(scores.float().cpu())
    return torch.cat(outputs)


# --- the reference text model -----------------------------------------------------------------


def _subject_fields(subject: Subject) -> dict[str, Any]:
    return {f.name: getattr(subject, f.name) for f in fields(Subject)}


def as_text_subject(
    subject: Subject,
    *,
    pad_token_id: int | None = None,
    unk_token_id: int | None = None,
    tokenizer: Tokenizer | None = None,
    keywords: dict[str, list[str]] | None = None,
) -> TextSubject:
    """``subject`` (token ids) as a :class:`TextSubject`. What is not given is found: the pad
    token in the model's config (``pad_token_id``, as on a Hugging Face model) or the
    vocabulary (``[PAD]``, ``<pad>``), else 0; the unknown token in the vocabulary
    (``[UNK]``, ``<unk>``); the ``[CLS]``/``[SEP]`` (``<s>``/``</s>``) that every test
    sentence starts and ends with."""
    if isinstance(subject, TextSubject):
        return subject
    vocabulary = subject.vocabulary
    ids = subject.inputs
    pad = pad_token_id if pad_token_id is not None else _config_id(subject.model, "pad_token_id")
    if pad is None:
        pad = _special(vocabulary, _PAD_NAMES) or 0
    unk = unk_token_id if unk_token_id is not None else _special(vocabulary, _UNK_NAMES)
    mask = subject.model_kwargs.get("attention_mask")
    real = mask if isinstance(mask, torch.Tensor) else (ids != pad).long()
    last = real.sum(1) - 1
    return TextSubject(
        **_subject_fields(subject),
        pad_token_id=pad,
        unk_token_id=unk,
        prefix=_common_token(ids, torch.zeros_like(last), vocabulary, _START_NAMES),
        suffix=_common_token(ids, last, vocabulary, _END_NAMES),
        tokenizer=tokenizer,
        keywords=keywords,
    )


def reference_text_subject(name: str, loader: Any = None) -> TextSubject:
    """The reference text model ``name`` on its test split (``loader``: default
    :func:`reference_models.load`), its sentences typed through its own tokenizer."""
    import reference_models
    from reference_models import datasets

    ref = (loader or reference_models.load)(name)
    base = _subject.reference_subject(name, loader=lambda _: ref)
    extras = dict(ref.info.extras)
    if not base.model_kwargs:  # the test data's fourth tensor, else what right padding implies
        tensors = ref.data["test"].tensors
        pad = int(extras.get("pad_token_id", 0))
        mask = tensors[3] if len(tensors) > 3 else (tensors[0] != pad)
        base.model_kwargs = {"attention_mask": mask.long()}
    if base.vocabulary is None and ref.info.vocabulary:
        base.vocabulary = list(ref.info.vocabulary)
    own_tokenizer = base.vocabulary == list(datasets.TEXT_VOCABULARY)
    keywords = extras.get("keywords")
    return as_text_subject(
        base,
        pad_token_id=extras.get("pad_token_id"),
        unk_token_id=extras.get("unk_token_id"),
        tokenizer=(lambda text, length: datasets.encode_text(text, length))
        if own_tokenizer
        else None,
        keywords={str(k): list(v) for k, v in keywords.items()}
        if isinstance(keywords, Mapping)
        else None,
    )


# --- a user's text model ----------------------------------------------------------------------


def is_token_data(data: FileLike) -> bool:
    """Whether the ``.npz`` ``data`` holds integer ``x`` of two dimensions (token ids), read
    from the array's header alone. False for anything else, also a file that cannot be read
    (:func:`xai.suite.subject.user_subject` then says why)."""
    try:
        source = io.BytesIO(data) if isinstance(data, bytes) else data
        with zipfile.ZipFile(source) as archive, archive.open("x.npy") as stream:
            version = np.lib.format.read_magic(stream)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read(stream)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return False
    return dtype.kind in "iu" and len(shape) == 2


def _special(vocabulary: list[str] | None, names: Sequence[str]) -> int | None:
    if vocabulary is None:
        return None
    for name in names:
        if name in vocabulary:
            return vocabulary.index(name)
    return None


def _config_id(model: nn.Module, key: str) -> int | None:
    config = getattr(model, "config", None)
    value = config.get(key) if isinstance(config, Mapping) else getattr(config, key, None)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _common_token(
    ids: torch.Tensor, positions: torch.Tensor, vocabulary: list[str] | None, names: Sequence[str]
) -> tuple[int, ...]:
    """``(id,)`` when every row holds the same token at its position and it is one of
    ``names`` (a sentence's ``[CLS]`` or ``[SEP]``), else ``()``."""
    if vocabulary is None or not len(ids):
        return ()
    found = ids.gather(1, positions.clamp(min=0).unsqueeze(1)).squeeze(1)
    first = int(found[0])
    if bool((found == first).all()) and 0 <= first < len(vocabulary):
        return (first,) if vocabulary[first] in names else ()
    return ()


def user_text_subject(
    spec: str, weights: FileLike, data: FileLike, *, max_data_bytes: int | None = None
) -> TextSubject:
    """A user's text model: ``spec`` is ``module:factory``, ``weights`` a safetensors state
    dict, ``data`` an ``.npz`` with integer token ids ``x`` ``(N, L)`` and labels ``y``;
    optionally ``attention_mask`` (``(N, L)``, 0/1), ``vocabulary`` (token strings, index =
    id), ``masks`` (``(N, L)`` ground truth of the tokens that decide the class) and
    ``class_names``. The model is called as ``model(input_ids, attention_mask=mask)`` (without
    the mask when there is none) and may return a tensor or a Hugging Face output.

    Read and checked by :func:`xai.suite.subject.user_subject` (both files before the module
    is imported), then made a :class:`TextSubject`.

    Raises:
        InputError: the reasons :func:`~xai.suite.subject.user_subject` gives, and ids below
            0 or beyond the vocabulary, an attention mask of another shape or not 0/1.
        InputTypeError: a factory that does not return an ``nn.Module``.
    """
    return as_text_subject(
        _subject.user_subject(spec, weights, data, max_data_bytes=max_data_bytes)
    )


# --- showing user text ------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&\"'=^])")


def markdown_escaped(text: str) -> str:
    """``text`` for a Streamlit element that renders Markdown (``st.warning``, ``st.caption``
    ...): every character Markdown (or Streamlit's ``:color[...]``, ``:icon:`` and ``$math$``)
    reads is backslash-escaped, so typed words show as typed and nothing in them becomes a
    link, an image or markup."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def listed_words(words: Sequence[str], limit: int = 12) -> str:
    """Typed words as one Markdown-safe line: ``'a', 'b' and 3 more``."""
    shown = ", ".join(f"'{markdown_escaped(w)}'" for w in words[:limit])
    return shown + (f" and {len(words) - limit} more" if len(words) > limit else "")


def sentence(subject: TextSubject, row: int) -> str:
    """Test sample ``row`` as text: its real tokens (not the padding, nor ``[CLS]``/``[SEP]``)
    joined by spaces."""
    ids = subject.inputs[row]
    real = (
        subject.attention_mask[row].bool()
        if subject.attention_mask is not None
        else ids != subject.pad_token_id
    )
    tokens = [
        t
        for t, keep in zip(token_strings(subject, ids[None])[0], real.tolist(), strict=True)
        if keep
    ]
    start, end = len(subject.prefix), len(tokens) - len(subject.suffix)
    return " ".join(tokens[start:end])


def default_sentence(subject: TextSubject, search: int = 50) -> str:
    """A test sentence to start the text box with: the first of the first ``search`` test
    samples without special tokens (``[UNK]``, ``[MASK]`` ...), else the first one."""
    for row in range(min(search, len(subject.inputs))):
        text = sentence(subject, row)
        if not any(word.startswith("[") and word.endswith("]") for word in text.split()):
            return text
    return sentence(subject, 0)
