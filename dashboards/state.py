"""What every page shares: the model being looked at, and the results already computed.

UI glue only: the computations are calls into :mod:`xai` and :mod:`reference_models`. Results
live in one process-wide cache keyed by what they depend on, so changing a view (a colour scale,
a page) never recomputes, and a computation that takes a while can draw its own progress bar
(which ``st.cache_*`` would replay stale).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st
import torch
from torch.utils.data import TensorDataset

import reference_models
import xai
from dashboards import text_input
from dashboards.single_input import InputSpec, spec_for
from dashboards.text_input import TextSubject, is_token_data, model_scores
from xai.errors import InputError
from xai.evaluation.classification import ClassificationReport, evaluate_outputs
from xai.explainers import explainer_class
from xai.explainers.parameters import applicable_methods
from xai.suite.subject import (
    ALLOW_CODE_ENV,
    DATA_ENV,
    DEFAULT_MAX_DATA_MB,
    DEFAULT_MAX_UPLOAD_MB,
    FACTORIES_ENV,
    MAX_DATA_ENV,
    MAX_UPLOAD_ENV,
    MB,
    MODEL_ENV,
    WEIGHTS_ENV,
    Subject,
    reference_subject,
    user_subject,
)

T = TypeVar("T")

#: Session-state keys shared between pages.
MODEL_KEY = "model"  # the key of the model shown (sidebar select box)
SAMPLE_KEY = "sample_index"  # the sample shown on the Explain and Trust pages
UPLOADS_KEY = "uploaded_models"  # key -> Subject loaded on the "Your model" page
PENDING_MODEL_KEY = "select_model_next"  # a model to select before the sidebar is drawn
DROPPED_KEY = "dropped_inputs"  # model key -> the input dropped on the Explain page for it

#: Widgets whose values survive a visit to another page (method options are "<method>.<name>").
KEPT_WIDGETS = (
    "sample_selection", "sample_number", "sample_choice", "methods", "target_choice",
    "shared_scale", "trust_methods", "trust_metrics", "compare_count", "sanity_method", "sanity_count",
    "drop_invert", "drop_raw",  # how a kept drop is read: the same after a visit elsewhere
    "dataset_run_path", "dataset_run_sample", "dataset_run_top_k",  # the Dataset runs page
)  # fmt: skip

_MAX_RESULTS = 256


def initial(widget_key: str, default: Any, allowed: Callable[[Any], bool] = lambda _: True) -> None:
    """Give a widget its first value through Session State (not through ``value=``/``default=``,
    which Streamlit refuses alongside a kept value), and replace a kept value that no longer
    fits (e.g. a layer of the previous model)."""
    if widget_key not in st.session_state or not allowed(st.session_state[widget_key]):
        st.session_state[widget_key] = default


def keep_widget_state() -> None:
    """Streamlit drops a widget's value when a run does not draw it (another page is shown).
    Re-assigning the value through Session State keeps it; called before every page."""
    for name in list(st.session_state.keys()):
        if name in KEPT_WIDGETS or (isinstance(name, str) and "." in name):
            st.session_state[name] = st.session_state[name]


@st.cache_resource
def _result_store() -> tuple[OrderedDict[tuple[Any, ...], Any], threading.Lock]:
    return OrderedDict(), threading.Lock()


def cached(key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """The result stored under ``key``, computing (and storing) it on first use.

    ``key`` must name everything the result depends on (model key, sample, method, options).
    The least recently used results are dropped beyond a few hundred.
    """
    store, lock = _result_store()
    with lock:
        if key in store:
            store.move_to_end(key)
            return store[key]  # type: ignore[no-any-return]
    value = compute()
    with lock:
        store[key] = value
        while len(store) > _MAX_RESULTS:
            store.popitem(last=False)
    return value


def cached_with_progress(
    key: tuple[Any, ...], text: str, compute: Callable[[Callable[[float, str], None]], T]
) -> T:
    """:func:`cached` for a long computation that reports progress: a progress bar shows while
    ``compute(progress)`` runs (not when the result is already there)."""
    if is_cached(key):
        return cached(key, lambda: compute(lambda fraction, message: None))
    bar = st.progress(0.0, text=text)
    try:
        return cached(
            key, lambda: compute(lambda fraction, message: bar.progress(fraction, message))
        )
    finally:
        bar.empty()


def is_cached(key: tuple[Any, ...]) -> bool:
    store, lock = _result_store()
    with lock:
        return key in store


# --- models -----------------------------------------------------------------------------------


def command_line_model() -> tuple[str, str, str] | None:
    """``(module:factory, weights, data)`` given to ``xai dashboard``, or None (also when the
    command line named a reference model, see :func:`first_model`, or a factory without files,
    see :func:`allowed_factories`)."""
    spec = os.environ.get(MODEL_ENV)
    weights, data = os.environ.get(WEIGHTS_ENV, ""), os.environ.get(DATA_ENV, "")
    if not spec or spec in reference_models.available() or not (weights or data):
        return None
    return spec, weights, data


def allowed_factories() -> list[str]:
    """The ``module:factory`` names the "Your model" page may load: the ones ``xai dashboard``
    was started with (``--model`` and the positional MODELs)."""
    names = [name.strip() for name in os.environ.get(FACTORIES_ENV, "").split(",")]
    spec = os.environ.get(MODEL_ENV, "").strip()
    if ":" in spec:
        names.insert(0, spec)
    return [name for name in dict.fromkeys(names) if name]


def code_allowed() -> bool:
    """Whether the server was started with ``--allow-code``: the page may then import any
    module named in it (anyone who can reach the page can run code)."""
    return os.environ.get(ALLOW_CODE_ENV) == "1"


def _megabytes(variable: str, default: int) -> int:
    try:
        value = int(os.environ.get(variable, default))
    except ValueError:
        return default
    return value if value > 0 else default


def upload_limits() -> tuple[int, int]:
    """``(largest uploaded file, largest uploaded data once decompressed)`` in MB
    (``xai dashboard --max-upload-mb / --max-data-mb``)."""
    return (
        _megabytes(MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD_MB),
        _megabytes(MAX_DATA_ENV, DEFAULT_MAX_DATA_MB),
    )


@st.cache_resource(show_spinner="Loading the reference model ...")
def _reference(name: str) -> Subject:
    ref = reference_models.load(name)
    if not ref.data["test"].tensors[0].is_floating_point():  # token ids: a text model
        return text_input.reference_text_subject(name, loader=lambda _: ref)
    return reference_subject(name, loader=lambda _: ref)


def load_user_subject(
    spec: str, weights: Any, data: Any, *, max_data_bytes: int | None = None
) -> Subject:
    """A user's model and data (paths or bytes): a text model when the data's ``x`` holds
    integer token ids ``(N, L)``, else as :func:`xai.suite.subject.user_subject` reads it."""
    if is_token_data(data):
        return text_input.user_text_subject(spec, weights, data, max_data_bytes=max_data_bytes)
    return user_subject(spec, weights, data, max_data_bytes=max_data_bytes)


@st.cache_resource(show_spinner="Loading your model ...")
def _command_line_subject(spec: str, weights: str, data: str) -> Subject:
    return load_user_subject(spec, weights, data)


def model_choices() -> dict[str, str]:
    """Key -> label of every model the sidebar offers: the reference models, the model given
    on the command line, the models uploaded in this session."""
    choices = {name: name for name in reference_models.available()}
    given = command_line_model()
    if given:
        choices[f"cli:{given[0]}"] = f"{given[0]} (command line)"
    for key, subject in st.session_state.get(UPLOADS_KEY, {}).items():
        choices[key] = f"{subject.name} (uploaded)"
    return choices


def first_model(choices: dict[str, str]) -> str:
    """The model shown first: the one named on the command line, else the first reference."""
    spec = os.environ.get(MODEL_ENV)
    for key in (spec, f"cli:{spec}"):
        if key in choices:
            return key
    return next(iter(choices))


def subject(key: str) -> Subject:
    """The model and data behind a model key (raises ValueError for a user model that does not
    load, with the reason)."""
    if key.startswith("cli:"):
        given = command_line_model()
        if given is None:
            raise ValueError(f"model: {key} was given on the command line, which no longer is.")
        return _command_line_subject(*given)
    uploads = st.session_state.get(UPLOADS_KEY, {})
    if key in uploads:
        return uploads[key]  # type: ignore[no-any-return]
    return _reference(key)


def current() -> tuple[str, Subject]:
    """The model key chosen in the sidebar and its subject; a model that does not load shows
    why and stops the page."""
    key = st.session_state.get(MODEL_KEY) or reference_models.available()[0]
    try:
        return key, subject(key)
    except (ValueError, TypeError) as error:
        st.error(f"The model {key} did not load: {error}")
        st.stop()
        raise  # st.stop() ends the script run; this line only satisfies type checkers


def add_upload(spec: str, weights: bytes, data: bytes) -> str:
    """Load a user's model from uploaded bytes; returns its model key (and selects it).

    Only a factory the server was started with is loaded (any, with ``--allow-code``); files
    above the upload limits are refused; the files are checked before the factory is called.

    Raises:
        ValueError, TypeError: the reason the files or the factory do not make a model.
    """
    spec = spec.strip()
    allowed = allowed_factories()
    if not code_allowed() and spec not in allowed:
        started_with = (
            f"the models it was started with ({', '.join(allowed)})"
            if allowed
            else "the models it was started with, and it was started with none of yours"
        )
        raise InputError(
            "model",
            f"this dashboard loads only {started_with}; {spec!r} is not one of them, and "
            f"nothing was imported. Restart it with: xai dashboard --model {spec}",
        )
    max_upload_mb, max_data_mb = upload_limits()
    for argument, content in (("weights", weights), ("data", data)):
        if len(content) > max_upload_mb * MB:
            raise InputError(
                argument,
                f"the uploaded file is {len(content) / MB:.1f} MB, more than the "
                f"{max_upload_mb} MB this dashboard accepts (xai dashboard --max-upload-mb).",
            )
    digest = hashlib.sha256(spec.encode() + weights + data).hexdigest()[:10]
    loaded = load_user_subject(spec, weights, data, max_data_bytes=max_data_mb * MB)
    key = f"upload:{spec}#{digest}"
    st.session_state.setdefault(UPLOADS_KEY, {})[key] = loaded
    # The sidebar's select box is already drawn in this run; select the model in the next one.
    st.session_state[PENDING_MODEL_KEY] = key
    return key


# --- results ----------------------------------------------------------------------------------


def classification(key: str, subject: Subject) -> ClassificationReport:
    """:func:`xai.evaluate` of the model on its test data (for a text model, the report of
    its scores on the token ids with their attention mask, which ``xai.evaluate`` does not
    pass)."""
    if isinstance(subject, TextSubject):
        return cached(
            ("evaluate", key),
            lambda: evaluate_outputs(
                subject.labels,
                model_scores(subject.model, subject.inputs, subject.attention_mask),
                class_names=subject.class_names,
            ),
        )
    return cached(
        ("evaluate", key),
        lambda: xai.evaluate(
            subject.model,
            TensorDataset(subject.inputs, subject.labels),
            class_names=subject.class_names,
        ),
    )


def figure_png(key: tuple[Any, ...], make_figure: Callable[[], Any]) -> bytes:
    """A matplotlib figure rendered once to PNG bytes (drawing it is the slow part)."""

    def render() -> bytes:
        buffer = io.BytesIO()
        make_figure().savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()

    return cached(("figure", *key), render)


def offered_methods(subject: Subject) -> list[str]:
    """The methods a page offers for the model: those that explain its inputs
    (``applicable_methods``; for token ids, Grad-CAM only on a model with a 1-D convolution)."""
    return applicable_methods(subject.inputs, model=subject.model)


def default_methods(subject: Subject, methods: list[str]) -> list[str]:
    """The methods preselected: the first two deterministic ones (quick, no seed to choose)
    whose class accepts the inputs' layout, as the registry lists them (Grad-CAM and
    Integrated Gradients for images, Integrated Gradients and Occlusion for token ids)."""
    accepted = applicable_methods(subject.inputs, methods)
    chosen = [m for m in accepted if not explainer_class(m).stochastic][:2]
    return chosen or accepted[:1] or methods[:1]


def option_key(options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(options.items()))


def explanation(
    key: str,
    subject: Subject,
    index: int | str,
    method: str,
    options: dict[str, Any],
    target: int | tuple[int, ...],
    inputs: torch.Tensor | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> xai.Explanation:
    """The explanation of sample ``index`` for class ``target`` by ``method`` with ``options``.

    ``index`` is a test sample's index, or the id of an input the user dropped or typed (a
    string, see :func:`dropped_id`), which is then ``inputs`` ``(1, ...)`` (with the
    ``model_kwargs`` of a typed sentence: its attention mask). A text model's explanation
    carries the token strings, and its test samples' attention mask goes to the model.
    ``target`` may be a tuple of classes: the sample is explained once for each, one row per
    class (a text model's "all classes").
    """
    sample = subject.inputs[index : index + 1] if isinstance(index, int) else inputs
    if sample is None:
        raise ValueError(f"sample: the dropped input {index} was not given.")
    targets = list(target) if isinstance(target, tuple) else None
    extra: dict[str, Any] = {}
    if isinstance(subject, TextSubject):
        kwargs = subject.forward_kwargs(slice(index, index + 1)) if isinstance(index, int) else {}
        kwargs.update(model_kwargs or {})
        if targets is not None:
            sample = sample.expand(len(targets), -1)
            kwargs = {k: v.expand(len(targets), -1) for k, v in kwargs.items()}
        if kwargs:
            extra["model_kwargs"] = kwargs
        extra["tokens"] = text_input.token_strings(subject, sample)
    elif targets is not None:
        sample = sample.expand(len(targets), *sample.shape[1:])
    explained_for = torch.tensor(targets) if targets is not None else target
    return cached(
        ("explain", key, index, method, option_key(options), target),
        lambda: xai.explain(
            subject.model, sample, method=method, target=explained_for, **options, **extra
        ),
    )


# --- an input the user drops ------------------------------------------------------------------


@st.cache_resource
def _reference_extras(name: str) -> dict[str, Any]:
    return dict(reference_models.load(name).info.extras)


def input_spec(key: str, subject: Subject) -> InputSpec:
    """How an image or row dropped for this model becomes its input: the reference models
    describe theirs (``ReferenceInfo``); a user's model does not (the fallback). A text
    model's spec refuses both (its inputs are typed)."""
    extras = _reference_extras(key) if key in reference_models.available() else None
    return spec_for(subject.name, subject.inputs, subject.feature_names, extras)


def typed_text(key: str, subject: TextSubject, text: str) -> text_input.TypedText:
    """A sentence typed for a text model, encoded (raises InputError with the reason)."""
    return cached(("typed", key, text), lambda: text_input.encode(subject, text))


def dropped_id(key: str, content: bytes, *settings: Any) -> str:
    """The id of a dropped input in the result cache: what it depends on, hashed."""
    digest = hashlib.sha256(repr((key, settings)).encode() + content).hexdigest()[:12]
    return f"dropped:{digest}"


def dropped_probabilities(
    key: str,
    subject: Subject,
    sample: str,
    inputs: torch.Tensor,
    model_kwargs: dict[str, Any] | None = None,
) -> Any:
    """Class probabilities ``(K,)`` of a dropped (or typed) input, read as the test data's
    are: the model's outputs go through :func:`xai.evaluate` beside (up to) 255 test samples,
    so that logits and probabilities are told apart on the same evidence as on the Models
    page (a typed sentence with its ``model_kwargs``, the attention mask)."""

    def compute() -> torch.Tensor:
        if isinstance(subject, TextSubject):  # the test data's scores, and this input's
            context_scores = model_scores(
                subject.model,
                subject.inputs[:255],
                subject.forward_kwargs(slice(0, 255)).get("attention_mask"),
            )
            own = model_scores(subject.model, inputs, (model_kwargs or {}).get("attention_mask"))
            labels = torch.cat([subject.labels[:255], torch.zeros(1, dtype=subject.labels.dtype)])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                report = evaluate_outputs(labels, torch.cat([context_scores, own]))
            return report.probabilities[-1]
        context = subject.inputs[:255]
        batch = torch.cat([context, inputs.to(context.dtype)])
        labels = torch.cat([subject.labels[:255], torch.zeros(1, dtype=subject.labels.dtype)])
        with warnings.catch_warnings():  # per-class AUCs of a small set: not shown here
            warnings.simplefilter("ignore")
            report = xai.evaluate(subject.model, TensorDataset(batch, labels))
        return report.probabilities[-1]

    return cached(("dropped_probabilities", key, sample), compute)


def sample_masks(subject: Subject, indices: list[int]) -> torch.Tensor | None:
    return subject.masks[indices] if subject.masks is not None else None
