"""SHAP values (Lundberg & Lee, 2017, https://arxiv.org/abs/1705.07874), by the shap package.

Three algorithms:
- ``"gradient"``: expected gradients, the default for differentiable models. The values are
  shap.GradientExplainer's (same draws for a given seed), computed in batches on the model's
  device and for the target column only;
- ``"deep"``: DeepLIFT-style rescale rules (shap.DeepExplainer);
- ``"kernel"``: model-agnostic Kernel SHAP, tabular inputs only; the default for models whose
  outputs carry no gradient. shap.KernelExplainer's estimator (coalition scheme, kernel
  weights, constrained least squares), computed in batches: see ``_kernel_shap.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from xai._batching import (
    check_evaluations,
    check_memory,
    check_rows_per_pass,
    chunk_rows,
    chunks,
)
from xai._layers import trace_layers
from xai._model import (
    FIRST_SAMPLE,
    ModelFunction,
    TargetColumn,
    call_model,
    depends_on_input,
    input_gradient,
)
from xai._validation import broadcast_reference, check_choice, check_positive_int
from xai.errors import InputError
from xai.explainers.base import AUTO, Explainer, Parameter, Target
from xai.explainers.shap.kernel import kernel_bytes, kernel_shap

_ALGORITHMS = ("gradient", "deep", "kernel")
_DEFAULT_NSAMPLES = {"gradient": 200, "kernel": "auto", "deep": None}
_KERNEL_CPU_ROWS = 4096  # rows per model pass for Kernel SHAP on a CPU (see attribute)


def _per_sample_scores(function: ModelFunction, background: torch.Tensor, n: int) -> torch.Tensor:
    """Scores ``(n, M, K)`` of the ``M`` background rows under each sample's model_kwargs."""
    m = background.shape[0]
    rows = background.repeat(n, *([1] * (background.ndim - 1)))
    owners = torch.arange(n, device=background.device).repeat_interleave(m)
    return function(rows, rows=owners).view(n, m, -1)


@contextlib.contextmanager
def _quiet_shap() -> Iterator[None]:
    """shap logs and warns about things that are expected here (e.g. background size)."""
    import logging
    import warnings

    logger = logging.getLogger("shap")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="shap")
            yield
    finally:
        logger.setLevel(level)


class SHAP(Explainer):
    """SHAP values of the target output, through the shap package.

    Options:
        algorithm: ``"gradient"``, ``"deep"`` or ``"kernel"``; ``None`` picks ``"gradient"``
            when the model's output has a gradient with respect to its inputs and ``"kernel"``
            otherwise (also for a forward that cuts its inputs out of the graph, e.g. with
            ``.long()``: its output has a gradient from the weights only).
        background: the reference data the features are "removed" to, ``(M, ...)`` or one
            sample. Default: a single all-zeros sample (the same reference as Integrated
            Gradients' default baseline), recorded in ``params`` as ``None``. Pass real data
            (e.g. 50-200 training rows) for SHAP values relative to the data distribution.
        nsamples: samples per explained input: 200 for ``"gradient"``, ``"auto"``
            (2*F + 2048) for ``"kernel"``; unused by ``"deep"``.
        batch_size: rows per model call for ``"gradient"``/``"kernel"`` (default: automatic).
        seed: random seed; the same seed gives identical values. Each sample is explained with
            the same seed, so a sample's values do not depend on the rest of the batch.

    ``extras["expected_value"]`` is the mean target output over the background, per sample.
    """

    name = "shap"
    properties = frozenset({"completeness"})
    warns_on_zero = True
    token_options = {"embedding": None, "baseline_token": None, "mask_token": None}
    token_reference = "background"
    defaults = {"algorithm": None, "background": None, "nsamples": None, "batch_size": None}
    stochastic = True
    reference = "https://arxiv.org/abs/1705.07874"
    quick_options = {"nsamples": 150}

    @classmethod
    def tunable_parameters(
        cls, model: nn.Module | None = None, inputs: torch.Tensor | None = None
    ) -> list[Parameter]:
        """The algorithm (kernel SHAP only for tabular inputs) and the number of samples."""
        is_image = inputs is not None and inputs.ndim == 4
        algorithms = ("gradient",) if is_image else ("gradient", "kernel")
        return [
            Parameter(
                "algorithm",
                "algorithm",
                AUTO,
                choices=(AUTO, *algorithms),
                help="auto: gradient SHAP for differentiable models, kernel SHAP otherwise.",
            ),
            Parameter(
                "nsamples",
                "samples",
                _DEFAULT_NSAMPLES["gradient"],
                10,
                5000,
                10,
                help="Gradient SHAP: interpolation points; kernel SHAP: coalitions.",
            ),
        ]

    def _runs_library_code(self, inputs: torch.Tensor, params: dict[str, Any]) -> bool:
        return params["algorithm"] == "deep"  # shap's own DeepExplainer

    def _token_path(self, params: dict[str, Any]) -> str:
        # Kernel SHAP switches tokens off; the gradient algorithms work at the embedding
        return "ids" if params["algorithm"] == "kernel" else "embedding"

    def _needs_hooks(self, params: dict[str, Any]) -> bool:
        return params["algorithm"] == "deep"  # DeepExplainer hooks every module

    def attribute(
        self,
        function: ModelFunction,
        inputs: torch.Tensor,
        request: Target,
        params: dict[str, Any],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        algorithm = params["algorithm"]
        if algorithm is None:
            algorithm = "gradient" if self._differentiable(function, inputs) else "kernel"
        algorithm = check_choice("algorithm", algorithm, _ALGORITHMS)
        params["algorithm"] = algorithm
        if function.on_embeddings and algorithm != "gradient":
            raise InputError(
                "algorithm",
                f"token ids are explained at the embedding with algorithm='gradient', or by "
                f"switching tokens off with algorithm='kernel'; {algorithm!r} does not explain "
                "token ids.",
            )
        token_ids = not inputs.is_floating_point()
        if algorithm == "deep":
            self._check_deep_dtype(function.model, inputs)
            if function.pairs_rows:
                raise InputError(
                    "model_kwargs",
                    "algorithm='deep' runs shap's DeepExplainer, which calls the model on its "
                    "own batches and cannot pass per-sample model_kwargs "
                    f"({', '.join(function.per_sample)}). Use algorithm='gradient' (the "
                    "default) or method='integrated_gradients'.",
                )
        if algorithm == "kernel" and inputs.ndim != 2:
            raise ValueError(
                f"algorithm: 'kernel' explains tabular (N, F) inputs, got shape "
                f"{tuple(inputs.shape)}; Kernel SHAP over every pixel is intractable. Use "
                "algorithm='gradient' or method='lime' (superpixels) for images."
            )
        if token_ids:  # one row of mask_token ids per sample, made by the token view
            background = params["background"]
        elif params["background"] is None:  # the default: zeros (recorded as None)
            background = torch.zeros_like(inputs[:1])
        else:
            background = broadcast_reference(params["background"], inputs, "background")
        if params["nsamples"] is None:
            params["nsamples"] = _DEFAULT_NSAMPLES[algorithm]
        nsamples, per_sample = self._check_nsamples(
            algorithm, params["nsamples"], inputs, background[:1] if token_ids else background
        )
        if params["batch_size"] is None:
            rows = chunk_rows(inputs.shape[1:], inputs.device)
            if algorithm == "kernel" and inputs.device.type == "cpu":
                # Rows of few features give large passes (8738 rows of 30 features), whose
                # hidden activations (megabytes for a 64-wide layer) are fresh memory on every
                # pass on a CPU; 4096 rows are as fast per row and keep them small.
                rows = min(rows, _KERNEL_CPU_ROWS)
            params["batch_size"] = rows
        batch_size = check_positive_int("batch_size", params["batch_size"])
        if algorithm != "deep":
            check_rows_per_pass(
                "batch_size",
                batch_size,
                inputs.shape[0] * per_sample,
                inputs.shape[1:],
                inputs.dtype,
                inputs.device,
                copies=4 if algorithm == "gradient" else 2,
            )
        # every option is checked: the model's first evaluation on all inputs
        outputs, target = request.from_model(function, inputs)

        with torch.no_grad():
            if token_ids:  # each sample's own background row
                scores = function(background, rows=torch.arange(inputs.shape[0]))
                expected = scores.gather(1, target[:, None]).squeeze(1)
                f_null = expected.double()
                background = background[:, None]  # (N, 1, L): per-sample backgrounds
            elif function.pairs_rows:
                # every sample's background runs with that sample's model_kwargs: (N, M, K)
                background_scores = _per_sample_scores(function, background, inputs.shape[0])
                expected = background_scores.mean(dim=1).gather(1, target[:, None]).squeeze(1)
                f_null = background_scores.double().mean(dim=1).gather(1, target[:, None])
                f_null = f_null.squeeze(1)
            else:
                background_scores = function(background)
                expected = background_scores.mean(dim=0)[target]
                f_null = background_scores.double().mean(dim=0)[target]
        if algorithm == "gradient":
            values = self._gradient(
                function, inputs, target, background, nsamples, params, batch_size
            )
        elif algorithm == "deep":
            with _quiet_shap():  # the only algorithm that runs shap's own code
                values = self._deep(function, inputs, target, background)
            f_x = outputs.gather(1, target[:, None]).squeeze(1)
            check_deep_additivity(values, f_x, expected)
        else:
            values = kernel_shap(
                function,
                inputs,
                target,
                background,
                nsamples,
                params["seed"],
                batch_size,
                f_x=outputs.gather(1, target[:, None]).squeeze(1),
                f_null=f_null,
            )
        dtype = inputs.dtype if inputs.is_floating_point() else expected.dtype
        return values.to(dtype), {"expected_value": expected}

    @staticmethod
    def _check_nsamples(
        algorithm: str, nsamples: Any, inputs: torch.Tensor, background: torch.Tensor
    ) -> tuple[Any, int]:
        """``nsamples`` checked against its bounds before any work, and the model evaluations
        it makes per sample: gradient SHAP streams its samples in chunks (at most a million
        per sample); Kernel SHAP holds every coalition of every sample at once (their tables
        must fit in memory)."""
        if algorithm == "deep":
            return nsamples, 1  # unused
        if algorithm == "gradient":
            nsamples = check_positive_int("nsamples", nsamples)
            check_evaluations(
                "nsamples",
                f"{nsamples:,} samples",
                nsamples,
                "Use fewer samples (the default is 200).",
            )
            return nsamples, nsamples
        if nsamples != "auto":
            nsamples = check_positive_int("nsamples", nsamples, minimum=2)
        n, n_features = inputs.shape
        n_background = background.shape[0]
        needed, coalitions = kernel_bytes(n, n_features, n_background, nsamples)
        check_memory(
            "nsamples",
            f"{coalitions:,} coalitions of {n_features:,} features for {n:,} sample(s) and "
            f"{n_background:,} background row(s)",
            needed,
            inputs.device,
            "Use fewer samples (the default 'auto' is 2 * features + 2048), fewer background "
            "rows, or explain fewer inputs per call.",
        )
        return nsamples, coalitions * n_background

    @staticmethod
    def _check_deep_dtype(model: nn.Module, inputs: torch.Tensor) -> None:
        """shap's DeepExplainer converts tensors to numpy, which has no bfloat16."""
        dtypes = {inputs.dtype, *(p.dtype for p in model.parameters())}
        if torch.bfloat16 in dtypes:
            raise InputError(
                "algorithm",
                "shap's DeepExplainer ('deep') cannot explain a torch.bfloat16 model or inputs: "
                "it converts them to numpy, which has no bfloat16. Use algorithm='gradient' "
                "(which runs in bfloat16), or convert the model and inputs to float32 "
                "(model.float(), inputs.float()).",
            )

    @staticmethod
    def _differentiable(function: ModelFunction, inputs: torch.Tensor) -> bool:
        """Whether the model's output has a gradient with respect to its inputs (not only to
        its weights: a forward that casts its inputs to integers has none)."""
        probe = inputs[:1].clone().requires_grad_(True)
        # the first model call: a model that fails on these inputs says so in plain words
        scores = call_model(
            function.model,
            inputs,
            run=lambda _: function(probe, rows=FIRST_SAMPLE),
        )
        return depends_on_input(scores, probe)

    @staticmethod
    def _gradient(
        function: ModelFunction,
        inputs: torch.Tensor,
        target: torch.Tensor,
        background: torch.Tensor,
        nsamples: int,
        params: dict[str, Any],
        batch_size: int,
    ) -> torch.Tensor:
        """Expected gradients as ``shap.GradientExplainer(...).shap_values(x, rseed=seed)``.

        shap builds the ``nsamples`` interpolation points of each sample one row at a time in
        Python and differentiates every output column. Here the same random draws (background
        row and interpolation fraction, drawn with numpy exactly as shap draws them for one
        sample) are turned into points in one tensor operation per chunk of rows, for all
        samples at once, and only the target column is differentiated. The values equal shap's
        (the test suite checks it); memory is bounded by ``batch_size`` rows.
        """
        rng = np.random.RandomState(params["seed"])
        picks, fractions = [], []
        for _ in range(nsamples):  # same call order as shap, so the same numbers
            picks.append(rng.choice(background.shape[0]))
            fractions.append(rng.uniform())
        device, dtype = inputs.device, inputs.dtype
        # background rows are looked up per chunk: memory does not grow with nsamples
        picked = torch.as_tensor(picks, device=device)
        fraction = torch.as_tensor(fractions, dtype=torch.float64)
        t, one_minus_t = fraction.to(device, dtype), (1.0 - fraction).to(device, dtype)
        broadcast = (-1,) + (1,) * (inputs.ndim - 1)

        n = inputs.shape[0]
        sums = torch.zeros(n, inputs[0].numel(), dtype=torch.float64, device=device)
        for part in chunks(n * nsamples, batch_size):
            rows = torch.arange(part.start, part.stop, device=device)
            sample, draw = rows // nsamples, rows % nsamples
            x, reference = inputs[sample], background[picked[draw]]
            points = t[draw].view(broadcast) * x + one_minus_t[draw].view(broadcast) * reference
            points.requires_grad_(True)
            score = function(points, rows=sample).gather(1, target[sample][:, None]).sum()
            gradient = input_gradient(score, points, "shap")
            sums.index_add_(0, sample, (gradient.double() * (x - reference).double()).flatten(1))
        return (sums / nsamples).view(inputs.shape)

    def _deep(
        self,
        function: ModelFunction,
        inputs: torch.Tensor,
        target: torch.Tensor,
        background: torch.Tensor,
    ) -> torch.Tensor:
        import shap

        self._check_deep_support(function, inputs)
        column = TargetColumn(function)
        values = torch.zeros_like(inputs)
        try:
            # DeepExplainer is deterministic: samples sharing a target are explained together.
            # One explainer per target column: its expected value is computed at construction.
            for klass in torch.unique(target).tolist():
                rows = (target == klass).nonzero().flatten()
                column.column = int(klass)
                explainer = shap.DeepExplainer(column, background)
                # shap's own check is absolute (1e-2): small outputs always pass it; the
                # relative check_deep_additivity runs on the values instead
                phi = explainer.shap_values(inputs[rows], check_additivity=False)
                values[rows] = (
                    torch.from_numpy(np.asarray(phi)).reshape(inputs[rows].shape).to(values)
                )
        except RuntimeError as error:
            # torch's messages for what DeepExplainer's hooks break (no error type of its own)
            if not any(word in str(error) for word in ("inplace", "in-place", "hook", "view")):
                raise  # the model's own error, not DeepExplainer's
            raise ValueError(
                f"algorithm: shap's DeepExplainer failed on this model ({str(error).splitlines()[0]}). "
                "Use algorithm='gradient' (the default) or method='integrated_gradients'."
            ) from error
        return values

    def _check_deep_support(self, function: ModelFunction, inputs: torch.Tensor) -> None:
        """Name the constructs DeepExplainer is known to mishandle before running it."""
        model = function.model
        inplace = [n for n, m in model.named_modules() if getattr(m, "inplace", False)]
        if inplace:
            raise ValueError(
                f"algorithm: shap's DeepExplainer cannot handle in-place activations (modules "
                f"{', '.join(inplace[:5])} have inplace=True): its backward hooks break on "
                "in-place ops. Use algorithm='gradient' (the default) or "
                "method='integrated_gradients', or rebuild the model with inplace=False."
            )
        with torch.no_grad():
            calls = trace_layers(model, lambda: function(inputs[:1], rows=FIRST_SAMPLE))
        reused = [c.name for c in calls if c.calls > 1 and not list(c.module.children())]
        if reused:
            raise ValueError(
                f"algorithm: shap's DeepExplainer gives wrong values when a module is used more "
                f"than once in a forward pass ({', '.join(reused[:5])}), because it stores one "
                "input/output per module. Use algorithm='gradient' (the default) or "
                "method='integrated_gradients', or give each use its own module."
            )


#: Relative tolerance of DeepLIFT's additivity (``algorithm="deep"``): float32 sums of exact
#: rescale rules are off by ~1e-6 of the output's scale; a missing rule by far more.
DEEP_ADDITIVITY_RTOL = 1e-3


def check_deep_additivity(values: torch.Tensor, f_x: torch.Tensor, expected: torch.Tensor) -> None:
    """Raise unless each sample's values sum to ``f(x) - E[f(background)]`` within
    ``DEEP_ADDITIVITY_RTOL`` times the output's scale ``max(|f(x)|, |E f|)`` (at least 1e-6).

    shap's own check is absolute (1e-2), so a model whose outputs are small always passes it,
    however wrong the values: its DeepLIFT has no rule for functional activations
    (``torch.relu``, ``F.gelu``) or products of activations and treats them as linear.
    """
    sums = values.detach().flatten(1).double().sum(dim=1)
    delta = (f_x - expected).double()
    scale = torch.maximum(f_x.double().abs(), expected.double().abs()).clamp_min(1e-6)
    error = (sums - delta).abs()
    bad = (error > DEEP_ADDITIVITY_RTOL * scale).nonzero().flatten().tolist()
    if bad:
        worst = int(bad[int(torch.argmax(error[bad] / scale[bad]))])
        raise ValueError(
            "algorithm: shap's DeepExplainer could not explain this model exactly: its "
            f"attributions do not sum to the model's output for {len(bad)} sample(s) (row "
            f"{worst}: sum {float(sums[worst]):.6g}, f(x) - E[f] = {float(delta[worst]):.6g}; "
            f"tolerance {DEEP_ADDITIVITY_RTOL:g} of the output's scale "
            f"{float(scale[worst]):.3g}). This happens when the forward uses operations "
            "DeepLIFT has no rule for (functional activations such as torch.relu or F.gelu, "
            "multiplications between activations, custom ops). Use algorithm='gradient' (the "
            "default) or method='integrated_gradients'."
        )
