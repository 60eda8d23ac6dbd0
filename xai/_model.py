"""How explainers talk to a model: calling it and reading its scores.

- :class:`ModelFunction` calls the model, selects the logits from tuple/dict/object outputs
  (Hugging Face's ``ModelOutput`` and ``return_dict=False`` tuples without options, others with
  the ``output`` option), makes them ``(N, K)``, and counts model evaluations.
- :func:`call_model` turns a model's failure on inputs of the wrong shape or dtype into an
  error naming the argument; :func:`input_gradient` says plainly when there is no gradient.

Leaving the model as found is :mod:`xai._state`; finding layers is :mod:`xai._layers`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from xai.errors import InputError, InputTypeError

OutputSelector = int | str | Callable[[Any], torch.Tensor] | None

_OUTPUT_HELP = (
    "Pass the `output` option to say which part holds the logits: an index for tuples/lists "
    "(output=0), a key or attribute name for dicts and objects (output='logits'), or a callable "
    "(output=lambda out: out['logits'])."
)


def _describe(raw: Any) -> str:
    if isinstance(raw, torch.Tensor):
        return f"a tensor of shape {tuple(raw.shape)}"
    if isinstance(raw, Mapping):
        return f"a {type(raw).__name__} with keys {list(raw.keys())}"
    if isinstance(raw, tuple | list):
        parts = ", ".join(
            _describe(x) if isinstance(x, torch.Tensor) else type(x).__name__ for x in raw
        )
        return f"a {type(raw).__name__} of {len(raw)} elements ({parts})"
    if hasattr(raw, "logits"):
        return f"a {type(raw).__name__} object with a .logits attribute"
    return f"a {type(raw).__name__}"


def automatic_selector(raw: Any) -> int | str | None:
    """The selector ``output=None`` stands for, read from what the model returned: ``None`` for
    a tensor; ``"logits"`` for a mapping or object with a ``logits`` tensor (Hugging Face's
    ``ModelOutput``); ``0`` for a tuple or list whose first element is the only tensor of at
    most two dimensions in it (Hugging Face's ``return_dict=False`` outputs: logits, then
    tuples of hidden states or attentions). Anything else is ambiguous: an error naming
    ``output`` (a tuple of two score tensors, a loss beside the logits, a dict without
    ``logits``)."""
    if isinstance(raw, torch.Tensor):
        return None
    if isinstance(raw, Mapping):
        if isinstance(raw.get("logits"), torch.Tensor):
            return "logits"
    elif isinstance(getattr(raw, "logits", None), torch.Tensor):
        return "logits"
    elif (
        isinstance(raw, tuple | list)
        and raw
        and _is_scores(raw[0])
        and not any(_is_scores(part) for part in raw[1:])
    ):
        return 0
    raise InputTypeError(
        "output",
        f"the model returned {_describe(raw)}, not a tensor, and which part holds the logits "
        f"is ambiguous. {_OUTPUT_HELP}",
    )


def _is_scores(part: Any) -> bool:
    """Whether ``part`` could be the scores: a tensor of at most two dimensions."""
    return isinstance(part, torch.Tensor) and part.ndim <= 2


def select_output(raw: Any, output: OutputSelector) -> torch.Tensor:
    """Pick the logits tensor out of whatever the model returned (``output=None``: the
    :func:`automatic_selector`)."""
    if output is None:
        output = automatic_selector(raw)
        if output is None:
            return raw  # a tensor
    try:
        if callable(output):
            selected = output(raw)
        elif isinstance(output, bool):
            raise TypeError("bool is not a valid selector")
        elif isinstance(output, int):
            selected = raw[output]
        elif isinstance(output, str):
            selected = raw[output] if isinstance(raw, Mapping) else getattr(raw, output)
        else:
            raise TypeError(f"unsupported selector type {type(output).__name__}")
    except (KeyError, IndexError, AttributeError, TypeError) as error:
        raise InputError(
            "output",
            f"could not select {output!r} from the model's output, which is "
            f"{_describe(raw)} ({error}). {_OUTPUT_HELP}",
        ) from error
    if not isinstance(selected, torch.Tensor):
        raise InputTypeError(
            "output",
            f"selecting {output!r} gave {_describe(selected)}, expected a logits tensor. "
            f"{_OUTPUT_HELP}",
        )
    return selected


def as_output_matrix(out: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Make the selected output ``(N, K)``: ``(N,)`` becomes ``(N, 1)``."""
    if not (out.is_floating_point() or out.is_complex()):
        out = out.to(torch.get_default_dtype())  # integer or bool scores (0/1 votes)
    if out.ndim == 1:
        out = out.unsqueeze(1)
    if out.ndim != 2 or out.shape[0] != batch_size:
        raise InputError(
            "output",
            "expected the model to return one row of scores per sample, shape "
            f"({batch_size}, K) or ({batch_size},), got shape {tuple(out.shape)}. For other outputs "
            "pass output=callable that reduces them to (N, K) scores.",
        )
    return out


#: ``rows=`` of a call on the first sample alone (layer traces, probes).
FIRST_SAMPLE = torch.zeros(1, dtype=torch.long)


class ModelFunction:
    """The model as a function ``inputs (M, ...) -> scores (M, K)`` that counts its evaluations.

    ``evaluations`` is the number of samples (rows) passed through the model's forward.

    ``model_kwargs`` are extra forward arguments (``attention_mask=...``). Tensors whose first
    dimension is the number of explained samples ``n`` belong to the samples: each call takes
    ``rows``, the explained sample each input row belongs to (methods evaluate interpolation
    points, perturbed copies ... of their samples), and passes those rows of them. Other values
    are passed as they are.
    """

    #: Whether the inputs are embeddings of token ids (:class:`xai._tokens.EmbeddingFunction`).
    on_embeddings = False

    def __init__(
        self,
        model: nn.Module,
        output: OutputSelector = None,
        model_kwargs: Mapping[str, Any] | None = None,
        n: int | None = None,
    ) -> None:
        self.model = model
        self.output = output
        self.evaluations = 0
        self.model_kwargs = dict(model_kwargs or {})
        self.n = n
        self.per_sample = sorted(
            key
            for key, value in self.model_kwargs.items()
            if isinstance(value, torch.Tensor)
            and value.ndim >= 1
            and n is not None
            and value.shape[0] == n
        )

    @property
    def pairs_rows(self) -> bool:
        """Whether calls must say which sample each row belongs to (per-sample kwargs)."""
        return bool(self.per_sample)

    def sample_rows(self, batch: int, rows: torch.Tensor | None) -> torch.Tensor:
        """``rows``, or for a call on exactly the ``n`` samples (``rows=None``) all of them;
        any other call without ``rows`` is a bug in the method."""
        if rows is not None:
            return rows
        if batch != self.n:
            raise RuntimeError(
                f"a method evaluated {batch} rows without saying which of the {self.n} samples "
                "they belong to, so they cannot be paired with the samples' model_kwargs or "
                "token ids (a bug in the method: it must pass rows=)."
            )
        return torch.arange(batch)

    def kwargs_for(self, batch: int, rows: torch.Tensor | None) -> dict[str, Any]:
        """The forward arguments of a call on ``batch`` rows belonging to samples ``rows``."""
        if not self.per_sample:
            return self.model_kwargs
        if rows is None:
            self.sample_rows(batch, rows)  # raises unless these are the samples themselves
            return self.model_kwargs
        index = rows.to(self.model_kwargs[self.per_sample[0]].device)
        return {
            key: value[index] if key in self.per_sample else value
            for key, value in self.model_kwargs.items()
        }

    def __call__(self, inputs: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        batch = int(inputs.shape[0])
        return self.scores(self.model(inputs, **self.kwargs_for(batch, rows)), batch)

    def scores(self, raw: Any, batch: int) -> torch.Tensor:
        """The ``(batch, K)`` scores in what a forward pass on ``batch`` rows returned; the
        rows are counted as evaluations."""
        self.evaluations += batch
        if self.output is None:
            # read once: the explanation records it, and later calls skip the search
            self.output = automatic_selector(raw)
        return as_output_matrix(select_output(raw, self.output), batch)


class TargetColumn(nn.Module):
    """A view of the model as a single-output module ``x -> scores[:, column:column+1]``.

    The model is a registered submodule, because shap's DeepExplainer hooks every submodule;
    what shap changes on it (eval mode, zeroed grads, hooks) is undone by :func:`preserved_state`.
    """

    _fn: ModelFunction

    def __init__(self, function: ModelFunction, column: int = 0) -> None:
        super().__init__()
        object.__setattr__(self, "_fn", function)  # not a module: kept out of the module tree
        self.column = column
        self.model = function.model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self._fn(inputs)[:, self.column : self.column + 1]


_OUTPUT_ONLY_METHODS = (
    "Use method='lime' or method='occlusion', or method='shap' with algorithm='kernel' for "
    "tabular data: they need only the model's outputs."
)


def input_gradient(score: torch.Tensor, wrt: torch.Tensor, method: str) -> torch.Tensor:
    """``d score / d wrt`` for a gradient method, with a plain error when there is none: a
    score without gradient, or one whose graph does not reach ``wrt`` (its gradient would be
    reported as zero, a silently wrong answer)."""
    if not score.requires_grad:
        raise InputError(
            "model",
            f"method {method!r} needs the gradient of the model's output, but the output "
            "carries none: the forward detaches it, converts it to numpy, returns integers or "
            f"runs under torch.no_grad(). {_OUTPUT_ONLY_METHODS}",
        )
    (gradient,) = torch.autograd.grad(score, wrt, allow_unused=True)
    if gradient is None:
        raise InputError(
            "model",
            f"method {method!r} needs the gradient of the model's output with respect to its "
            "inputs, but the outputs carry no gradient w.r.t. the inputs: they depend on the "
            "model's weights only, because the forward cuts the inputs out of the graph (casts "
            "them to integers with .long(), detaches them, or reads them through numpy). "
            f"{_OUTPUT_ONLY_METHODS}",
        )
    return gradient


def depends_on_input(scores: torch.Tensor, probe: torch.Tensor) -> bool:
    """Whether ``scores`` (computed from ``probe``, which requires grad) have a gradient path
    to ``probe`` (one backward pass)."""
    if not scores.requires_grad:
        return False
    (gradient,) = torch.autograd.grad(scores.sum(), probe, allow_unused=True)
    return gradient is not None


def call_model(
    model: nn.Module,
    inputs: torch.Tensor,
    name: str = "inputs",
    run: Callable[[torch.Tensor], Any] | None = None,
) -> Any:
    """``run(inputs)`` (default: ``model(inputs)``), where a failure of the model on inputs of
    the wrong shape or dtype becomes an :class:`~xai.errors.InputError` about ``name`` saying
    what to check, instead of a stack trace from inside torch. Errors of the model itself (it
    also fails on one sample of the right kind) pass through unchanged, and so does an
    :class:`~xai.errors.InputError` about ``output`` (reading the model's scores), told by its
    ``.argument``. Another one (an inner ``call_model``'s, on a chunk) is said again about
    these inputs: they show the fix (a missing batch dimension) better than the chunk."""
    try:
        return (run or model)(inputs)
    except (TypeError, ValueError, RuntimeError) as error:
        if (
            (isinstance(error, InputError) and error.argument == "output")
            or not isinstance(inputs, torch.Tensor)
            or _runs_on(model, inputs[:1])
        ):
            raise
        raise _model_failure(model, inputs, error, name) from error


def _model_failure(
    model: nn.Module, inputs: torch.Tensor, error: Exception, name: str
) -> InputError:
    reason = str(error).splitlines()[0] if str(error) else ""
    message = (
        f"the model failed on inputs of shape {tuple(inputs.shape)} and dtype "
        f"{inputs.dtype} ({type(error).__name__}: {reason}). "
    )
    if _runs_on(model, inputs.unsqueeze(0)):
        message += (
            "The model accepts it with a leading batch dimension: if this is a single sample, "
            "add one with inputs.unsqueeze(0)."
        )
    else:
        message += "Check that the inputs have the shape and dtype the model expects."
    return InputError(name, message)


def _runs_on(model: nn.Module, inputs: torch.Tensor) -> bool:
    """Whether the model accepts ``inputs`` (used only to suggest a fix in an error message)."""
    try:
        with torch.no_grad():
            model(inputs)
    except Exception:
        return False
    return True
