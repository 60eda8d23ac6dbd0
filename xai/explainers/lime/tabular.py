"""LIME on tables in batches: lime_tabular's sampling scheme, kernel and fit, vectorised.

lime_tabular with training data (``background``) discretises every feature into its training
quartiles. A perturbed sample draws, per feature, a quartile bin with the training frequencies
and then a value inside that bin from a truncated normal (mean and std of the training values
in the bin); the surrogate is fitted on the binary "same bin as the explained row" data,
weighted by an exponential kernel of the distance to the row. lime spends most of its time in
that sampling (one scipy call per feature with per-element parameters) and in Python.

Two samplers draw the perturbations:

- ``"fast"`` (the default): the same distribution, drawn with other random numbers (numpy's
  PCG64) in a few tensor operations (one uniform per sample and feature picks the bin by the
  cumulative bin
  frequencies and, rescaled within the bin, the value by the inverse CDF of the bin's
  truncated normal), from quartile statistics computed here the way lime's
  ``QuartileDiscretizer`` computes them; no lime object is built. With training data the
  perturbed rows do not depend on the explained row (only the binary data does) and every row
  is explained with the same seed, so a batch draws them once and the model sees them once.
  Statistically equivalent to lime_tabular, not equal to it (the test suite bounds the
  difference).
- ``"lime"``: lime's own ``LimeTabularExplainer`` objects (discretiser, frequencies, kernel)
  and numpy random stream, in lime's order: the result equals lime_tabular's for the same
  seed. The draws are still made once per batch, but each row's samples go through the model
  as lime passes them.

The surrogates of all rows are fitted at once: with ``num_features = F`` lime's fit is one
weighted ridge regression per row whatever its feature selection ("auto" picks forward
selection or "highest_weights", both of which keep every feature). The ``"lime"`` sampler
keeps lime's own fit where it selects forward (up to 6 features).

Without training data (``background=None``) lime samples a unit-scale Gaussian around the row,
without discretisation; both samplers do the same (``"lime"`` with lime's random numbers).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch

from xai._batching import chunks
from xai._model import ModelFunction
from xai.errors import InputError

SAMPLERS = ("fast", "lime")
_NUMPY: dict[torch.dtype, type[np.float32] | type[np.float64]] = {
    torch.float32: np.float32,
    torch.float64: np.float64,
}


class LocalFit(NamedTuple):
    weights: np.ndarray  # (F,)
    intercept: float
    score: float


class _Neighbourhood(NamedTuple):
    """Perturbed samples of ``n`` rows: what the surrogate is fitted on, what the model sees."""

    data: torch.Tensor  # (n, S, F) or shared (S, F): lime's scaled data, row 0 the explained row
    distances: torch.Tensor  # (n, S) or shared (S,) float64: euclidean distance to row 0
    # the perturbed rows for the model (all samples but row 0): (S - 1, F) when shared by all
    # rows, (n, S - 1, F) when each row has its own
    rows: torch.Tensor
    # (n, F) or None: lime's data is ``data + shift`` (the fit is done on ``data``)
    shift: torch.Tensor | None = None


# ------------------------------------------------------------------------------ fast sampler
class _BinSampler(NamedTuple):
    """lime's QuartileDiscretizer statistics as lookup tables for sampling.

    Four bins per feature: bin ``k`` holds ``edges[k - 1] < x <= edges[k]`` (numpy's
    ``searchsorted``, as lime). Where quartiles coincide lime drops the duplicate edge; here
    the bin between them stays, empty (zero frequency, never drawn), which leaves the partition
    of the values unchanged. The per-bin statistics are one table, ``(F * 4, 5)``, whose row
    ``4 * feature + bin`` holds, in the sampling dtype (one lookup fetches all five):

    - ``START``: the cumulative frequency before the bin;
    - ``LOW_Q``: ``2 * Phi(low_z) - 1``, the lower bound in erfinv's coordinates;
    - ``SLOPE``: ``2 * (Phi(high_z) - Phi(low_z)) / frequency``;
    - ``MEAN``: the bin's mean, or lime's value for bins without width (see below);
    - ``SCALE``: the bin's standard deviation times sqrt(2).
    """

    edges: torch.Tensor  # (F, 3) float64: the quartiles
    thresholds: torch.Tensor  # (3, F): cumulative frequencies of bins 0, 1, 2 in the training rows
    table: torch.Tensor  # (F * 4, 5): the columns START, LOW_Q, SLOPE, MEAN, SCALE


START, LOW_Q, SLOPE, MEAN, SCALE = range(5)


def _quartiles(values: np.ndarray) -> np.ndarray:
    """``np.percentile(values, [25, 50, 75], axis=0).T``, equal to the last bit, in a fifth of
    its time: one sort, and numpy's linear interpolation between neighbours written out (for
    ``t >= 0.5`` numpy interpolates from the upper neighbour)."""
    ordered = np.sort(values, axis=0)
    last = ordered.shape[0] - 1
    quartiles = []
    for q in (0.25, 0.5, 0.75):
        position = q * last
        below = math.floor(position)
        t = position - below
        low, high = ordered[below], ordered[min(below + 1, last)]
        step = high - low
        quartiles.append(high - step * (1 - t) if t >= 0.5 else low + step * t)
    return np.stack(quartiles, axis=1)


def _bin_sampler(training: torch.Tensor, dtype: torch.dtype) -> _BinSampler:
    """The statistics of lime's QuartileDiscretizer for ``training`` rows ``(B, F)``.

    Computed with numpy (as lime does; the arrays are small, where numpy's per-call cost is
    lower than torch's).
    """
    from scipy.special import ndtr

    values = training.double().cpu().numpy()  # (B, F)
    edges = _quartiles(values)  # (F, 3), lime's quartiles
    bins = (values[:, :, None] > edges[None]).sum(axis=2)  # numpy's searchsorted (left)
    member = bins[:, :, None] == np.arange(4)  # (B, F, 4)
    count = member.sum(axis=0)  # (F, 4)
    inside = np.maximum(count, 1)
    mean = (member * values[:, :, None]).sum(axis=0) / inside
    spread = (member * (values[:, :, None] - mean) ** 2).sum(axis=0)
    std = np.sqrt(spread / inside) + 1e-11  # np.std, and lime's guard against 0
    low = np.concatenate([values.min(axis=0)[:, None], edges], axis=1)
    high = np.concatenate([edges, values.max(axis=0)[:, None]], axis=1)
    low_z, high_z = (low - mean) / std, (high - mean) / std
    frequency = count / values.shape[0]
    cumulative = frequency.cumsum(axis=1)
    # A bin's value is drawn from the uniform u that picked the bin: (u - start) / frequency
    # is uniform on [0, 1) given the bin, and mapped into the truncated normal's CDF range.
    low_q = 2 * ndtr(low_z) - 1
    slope = 2 * (ndtr(high_z) - ndtr(low_z)) / np.maximum(frequency, 1e-300)
    # lime's undiscretize returns the lower z-score itself, not a value, where a bin has no
    # width (all its training values equal the bound): kept, so the distribution is lime's.
    flat = low_z == high_z
    unused = flat | (count == 0)
    table = np.empty((count.size, 5))
    table[:, START] = (cumulative - frequency).ravel()
    table[:, LOW_Q] = np.where(unused, 0.0, low_q).ravel()
    table[:, SLOPE] = np.where(unused, 0.0, slope).ravel()
    table[:, MEAN] = np.where(flat, low_z, mean).ravel()
    table[:, SCALE] = np.where(flat, 0.0, std * math.sqrt(2)).ravel()
    return _BinSampler(
        torch.from_numpy(edges),
        torch.from_numpy(cumulative[:, :3].T.copy()).to(dtype),
        torch.from_numpy(table).to(dtype),
    )


def _fast_discretised(
    sampler: _BinSampler, rows: torch.Tensor, num_samples: int, rng: np.random.Generator
) -> _Neighbourhood:
    """lime's discretised sampling with other random numbers, drawn once for all ``rows``.

    One uniform per (sample, feature) picks the bin and, rescaled within the bin, the value
    in the bin's truncated normal (inverse CDF). Each (sample, feature) looks its bin's
    statistics up once; few fresh buffers: for one row this is most of the cost.
    """
    n, n_features = rows.shape
    dtype = sampler.table.dtype
    offsets = 4 * torch.arange(n_features, dtype=torch.int32)  # cell = 4 * feature + bin
    u = torch.from_numpy(rng.random((num_samples - 1, n_features), dtype=_NUMPY[dtype]))
    # the bin of each (sample, feature): how many cumulative frequencies u has passed
    cell = (u >= sampler.thresholds[0]).to(torch.int32)
    cell += u >= sampler.thresholds[1]
    cell += u >= sampler.thresholds[2]
    cell += offsets
    stats = sampler.table.index_select(0, cell.view(-1))  # (S * F, 5)

    def column(k: int) -> torch.Tensor:
        return stats[:, k].view(u.shape)

    # the inverse CDF of the bin's truncated normal: mean + std * sqrt(2) * erfinv(2p - 1),
    # with 2p - 1 = low_q + (u - start) * slope
    q = torch.addcmul(column(LOW_Q), u.sub_(column(START)), column(SLOPE))
    eps = torch.finfo(dtype).eps  # erfinv(+-1) is infinite: the tails are cut at ~5 sigma
    q.clamp_(eps - 1, 1 - eps).erfinv_()
    shared = torch.addcmul(column(MEAN), q, column(SCALE), out=u)

    row_cells = (rows.double().cpu()[:, :, None] > sampler.edges).sum(dim=2) + offsets  # (n, F)
    data = torch.empty(n, num_samples, n_features, dtype=dtype)
    data[:, 0] = 1.0
    torch.eq(cell[None], row_cells[:, None, :], out=data[:, 1:])  # 1.0: in the row's bin
    # lime scales binary data by mean 0 and scale 1: the distance to the all-ones row 0 is the
    # square root of the number of features whose bin differs from the row's
    distances = (n_features - data.sum(dim=2, dtype=torch.float64)).clamp(min=0).sqrt()
    return _Neighbourhood(data, distances, shared)


def _fast_gaussian(
    rows: torch.Tensor, num_samples: int, rng: np.random.Generator, dtype: torch.dtype
) -> _Neighbourhood:
    """lime without training data: a unit-scale Gaussian around each row, one noise for all.

    lime's data is ``row + noise``; the surrogate is fitted on the shared noise and its
    intercept moved by the row (``shift``), which is the same fit (ridge regression with an
    intercept does not change its weights when the data is translated).
    """
    n_features = rows.shape[1]
    noise = torch.zeros(num_samples, n_features, dtype=dtype)
    noise[1:] = torch.from_numpy(
        rng.standard_normal((num_samples - 1, n_features), dtype=_NUMPY[dtype])
    )
    perturbed = noise[None, 1:] + rows.to("cpu", dtype)[:, None, :]
    distances = noise.double().norm(dim=1)
    return _Neighbourhood(noise, distances, perturbed, shift=rows.double().cpu())


def fast_lime_tabular(
    function: ModelFunction,
    inputs: torch.Tensor,
    outputs: torch.Tensor,
    target: torch.Tensor,
    background: torch.Tensor | None,
    num_samples: int,
    kernel_width: float,
    seed: int,
    rows_per_pass: int,
) -> list[LocalFit]:
    """lime_tabular's surrogate for every row, sampled by the ``"fast"`` sampler.

    The sampling and the large products of the fit run in float32 (float64 for float64
    inputs): their rounding is far below the Monte-Carlo error of the estimate.
    """
    dtype = torch.float64 if inputs.dtype == torch.float64 else torch.float32
    rng = np.random.default_rng(seed)  # PCG64: faster than torch's CPU generator
    if background is None:
        neighbourhood = _fast_gaussian(inputs, num_samples, rng, dtype)
    else:
        sampler = _bin_sampler(background, dtype)
        neighbourhood = _fast_discretised(sampler, inputs, num_samples, rng)
    check_kernel(neighbourhood.distances, kernel_width, default_kernel_width(inputs.shape[1]))
    labels = _scores(function, inputs, outputs, target, neighbourhood, rows_per_pass)
    # lime's kernel: sqrt(exp(-d^2 / width^2))
    weights = torch.exp(-(neighbourhood.distances**2) / (2 * kernel_width**2))
    return weighted_ridge(neighbourhood.data, labels, weights, neighbourhood.shift)


# ------------------------------------------------------------------------------ lime sampler
class _BinTables(NamedTuple):
    """Per (feature, bin) statistics of lime's quartile discretiser, as padded arrays."""

    features: np.ndarray  # discretised feature indices, in lime's order
    mean: np.ndarray  # (D, B)
    std: np.ndarray
    low_z: np.ndarray
    high_z: np.ndarray
    low_cdf: np.ndarray  # standard normal CDF at low_z
    high_cdf: np.ndarray
    cdfs: list[np.ndarray]  # per feature: cumulative frequencies of its bins (numpy's choice)
    values: list[np.ndarray]  # per feature: its bin values


def _bin_tables(explainer: Any) -> _BinTables:
    from scipy.special import ndtr

    discretizer = explainer.discretizer
    features = np.asarray(list(discretizer.means), dtype=np.int64)
    width = max(len(discretizer.means[f]) for f in features)

    def table(stats: dict[int, list[float]]) -> np.ndarray:
        return np.array([list(stats[f]) + [1.0] * (width - len(stats[f])) for f in features])

    mean, std = table(discretizer.means), table(discretizer.stds)
    low_z, high_z = (table(discretizer.mins) - mean) / std, (table(discretizer.maxs) - mean) / std
    cdfs = []
    for column in range(len(explainer.feature_values)):
        cdf = np.asarray(explainer.feature_frequencies[column], dtype=np.float64).cumsum()
        cdfs.append(cdf / cdf[-1])
    values = [np.asarray(v) for v in explainer.feature_values.values()]
    return _BinTables(features, mean, std, low_z, high_z, ndtr(low_z), ndtr(high_z), cdfs, values)


def _lime_neighbourhood(
    explainer: Any, rows: np.ndarray, num_samples: int, seed: int
) -> _Neighbourhood:
    """lime's ``__data_inverse`` (dense rows) with lime's random numbers, for every row.

    Each row is explained with ``np.random.RandomState(seed)``, as lime does with
    ``random_state=seed``. With a discretiser the draws do not depend on the row, so they are
    made once: one ``choice`` per column (numpy draws ``random_sample(num_samples)`` and
    searches the cumulative frequencies), then one uniform per feature and row for the
    truncated normals — drawn here in two calls, in lime's order.
    """
    rng = np.random.RandomState(seed)
    n, n_features = rows.shape
    if explainer.discretizer is None:
        scale, mean = explainer.scaler.scale_, explainer.scaler.mean_
        noise = rng.normal(0, 1, num_samples * n_features).reshape(num_samples, n_features)
        datas = []
        for row in rows:
            data = noise * scale + (row if explainer.sample_around_instance else mean)
            data[0] = row
            datas.append(data)
        inverse = torch.from_numpy(np.stack(datas))
        scaled = (inverse - torch.from_numpy(mean)) / torch.from_numpy(scale)
        # fitted relative to the row (see _fast_gaussian), which keeps the products small
        shift = scaled[:, 0]
        relative = scaled - shift[:, None]
        return _Neighbourhood(relative, _distances(relative), inverse[:, 1:], shift)

    tables = _bin_tables(explainer)
    uniforms = rng.random_sample((n_features, num_samples))
    bins = np.empty((num_samples, n_features), dtype=np.int64)
    for column in range(n_features):
        bins[:, column] = tables.values[column][
            np.searchsorted(tables.cdfs[column], uniforms[column], side="right")
        ]
    undiscretized = bins[1:].astype(np.float64)
    draws = rng.uniform(size=(len(tables.features), num_samples - 1))
    undiscretized[:, tables.features] = _undiscretize(tables, bins[1:, tables.features], draws.T)
    first_rows = np.stack([explainer.discretizer.discretize(row) for row in rows])
    binary = (bins[None] == first_rows[:, None, :]).astype(np.float64)
    binary[:, 0] = 1
    # every feature is categorical once discretised: lime's scaler has mean 0 and scale 1
    scaled = torch.from_numpy((binary - explainer.scaler.mean_) / explainer.scaler.scale_)
    # The model sees each row's samples as lime passes them, [row, samples], rather than the
    # samples once for all rows: a float32 model's scores can change in the last bits with
    # the composition of its batch, and this path promises lime's numbers.
    perturbed = torch.from_numpy(undiscretized).expand(n, *undiscretized.shape)
    return _Neighbourhood(scaled, _distances(scaled), perturbed)


def _distances(data: torch.Tensor) -> torch.Tensor:
    """Euclidean distance of every sample to sample 0, ``(n, S, F) -> (n, S)``."""
    return (data - data[:, :1]).norm(dim=2)


def _undiscretize(tables: _BinTables, bins: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Values drawn from each bin's truncated normal (lime's ``undiscretize``) by inverse CDF."""
    cell = bins + np.arange(bins.shape[1])[None, :] * tables.mean.shape[1]  # flat (feature, bin)
    low_z, high_z = tables.low_z.ravel().take(cell), tables.high_z.ravel().take(cell)
    lower, upper = tables.low_cdf.ravel().take(cell), tables.high_cdf.ravel().take(cell)
    u = np.clip(lower + draws * (upper - lower), 1e-300, 1 - 1e-16)
    z = np.clip(torch.special.ndtri(torch.from_numpy(u)).numpy(), low_z, high_z)
    values = tables.mean.ravel().take(cell) + tables.std.ravel().take(cell) * z
    # lime keeps the lower z-score where a bin has no width
    return np.where(low_z != high_z, values, low_z)


def lime_tabular(
    function: ModelFunction,
    inputs: torch.Tensor,
    outputs: torch.Tensor,
    target: torch.Tensor,
    explainer: Any,
    num_samples: int,
    seed: int,
    rows_per_pass: int,
    kernel_width: float,
) -> list[LocalFit]:
    """lime's surrogate for every row with lime's random numbers (the ``"lime"`` sampler);
    ``explainer`` is a ``LimeTabularExplainer`` made with ``random_state=seed`` and
    ``kernel_width``."""
    rows = inputs.double().cpu().numpy()
    n_features = rows.shape[1]
    neighbourhood = _lime_neighbourhood(explainer, rows, num_samples, seed)
    check_kernel(neighbourhood.distances, kernel_width, default_kernel_width(n_features))
    labels = _scores(function, inputs, outputs, target, neighbourhood, rows_per_pass)
    distances = neighbourhood.distances.numpy()
    if n_features > 6 and explainer.feature_selection == "auto":
        kernel = torch.from_numpy(np.stack([explainer.base.kernel_fn(d) for d in distances]))
        return weighted_ridge(neighbourhood.data, labels, kernel, neighbourhood.shift)
    # lime's own fit (forward selection up to 6 features), one row at a time
    datas = neighbourhood.data
    if neighbourhood.shift is not None:
        datas = datas + neighbourhood.shift[:, None, :]
    return [
        lime_fit(explainer, data.numpy(), scores.numpy(), distance)
        for data, scores, distance in zip(datas, labels, distances, strict=True)
    ]


def lime_fit(
    explainer: Any, data: np.ndarray, scores: np.ndarray, distances: np.ndarray
) -> LocalFit:
    """lime's own surrogate (``explain_instance_with_data`` with the explainer's feature
    selection) of one neighbourhood: ``data`` ``(S, F)``, target ``scores`` ``(S,)``; every
    feature gets its weight (0 where the selection left it out)."""
    n_features = data.shape[1]
    intercept, local_exp, score, _ = explainer.base.explain_instance_with_data(
        data,
        scores[:, None],
        distances,
        0,
        n_features,
        model_regressor=None,
        feature_selection=explainer.feature_selection,
    )
    weights = np.zeros(n_features)
    for feature, weight in local_exp:
        weights[feature] = weight
    return LocalFit(weights, float(intercept), float(score))


# ---------------------------------------------------------------------------------- shared
@torch.no_grad()
def _scores(
    function: ModelFunction,
    inputs: torch.Tensor,
    outputs: torch.Tensor,
    target: torch.Tensor,
    neighbourhood: _Neighbourhood,
    rows_per_pass: int,
) -> torch.Tensor:
    """Target scores ``(n, S)`` of every row's samples; sample 0 is the row itself, whose
    model ``outputs`` ``(n, K)`` the caller has."""
    perturbed = neighbourhood.rows
    n = inputs.shape[0]
    if perturbed.ndim == 2 and function.pairs_rows:
        # per-sample model_kwargs: every sample's copy of the shared rows runs with its own
        perturbed = perturbed[None].expand(n, *perturbed.shape)
    if perturbed.ndim == 2:
        # the shared samples go through the model once; each row reads its target column
        perturbed = perturbed.to(inputs)
        shared = torch.cat(
            [function(perturbed[part]) for part in chunks(len(perturbed), rows_per_pass)]
        )
        head = outputs.gather(1, target[:, None])
        return torch.cat([head, shared[:, target].T], dim=1).double().cpu()
    rows = torch.cat([inputs[:, None], perturbed.to(inputs)], dim=1).flatten(0, 1)
    owner = torch.arange(n, device=inputs.device).repeat_interleave(rows.shape[0] // n)
    scores = torch.empty(rows.shape[0], dtype=torch.float64)
    for part in chunks(rows.shape[0], rows_per_pass):
        picked = function(rows[part], rows=owner[part])
        picked = picked.gather(1, target[owner[part]][:, None]).squeeze(1)
        scores[part] = picked.double().cpu()
    return scores.view(n, -1)


def weighted_ridge(
    data: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    shift: torch.Tensor | None = None,
    alpha: float = 1.0,
) -> list[LocalFit]:
    """``sklearn.linear_model.Ridge(alpha=1, fit_intercept=True)`` with sample weights, and its
    weighted R^2 score, for many problems at once.

    ``data`` ``(n, S, F)``, or ``(S, F)`` shared by the ``n`` problems; ``labels`` ``(n, S)``;
    ``weights`` ``(n, S)`` or shared ``(S,)``; ``shift`` ``(n, F)``: the data of problem ``i`` is
    ``data[i] + shift[i]`` (only the intercept changes). The products over the ``S`` samples run
    in ``data``'s dtype; the centring (done on the small products, so that the data is not
    copied) and the solve run in float64.
    """
    x = data if data.ndim == 3 else data[None]  # (n or 1, S, F)
    w = (weights if weights.ndim == 2 else weights[None]).double()  # (n or 1, S)
    y = labels.double()
    total = w.sum(dim=1)  # (n or 1,)
    x_mean = (w.to(x.dtype)[:, None, :] @ x).squeeze(1).double() / total[:, None]  # (., F)
    y_mean = (w * y).sum(dim=1) / total  # (n,)
    y_centred = y - y_mean[:, None]
    # centred normal equations: X'WX - W x_mean x_mean'; X'W(y - y_mean) needs no correction
    gram = ((x * w.to(x.dtype)[:, :, None]).transpose(1, 2) @ x).double()
    gram -= total[:, None, None] * x_mean[:, :, None] * x_mean[:, None, :]
    gram += alpha * torch.eye(x.shape[2], dtype=torch.float64)
    moment = ((w * y_centred).to(x.dtype)[:, None, :] @ x).transpose(1, 2).double()  # (n, F, 1)
    coef = torch.linalg.solve(gram, moment)  # (n, F, 1)
    offset = (x_mean[:, None, :] @ coef).flatten()  # (n,): x_mean . coef
    predicted = (x @ coef.to(x.dtype)).squeeze(2).double() - offset[:, None]
    residual = (w * (y_centred - predicted) ** 2).sum(dim=1)
    spread = (w * y_centred**2).sum(dim=1)
    score = 1 - residual / spread
    coef = coef.squeeze(2)
    intercept = y_mean - offset
    if shift is not None:
        intercept = intercept - (shift.double() * coef).sum(dim=1)
    return [
        LocalFit(coef[i].numpy(), float(intercept[i]), float(score[i]))
        for i in range(labels.shape[0])
    ]


def default_kernel_width(n_features: int) -> float:
    """lime_tabular's default kernel width."""
    return float(math.sqrt(n_features) * 0.75)


def neighbourhood_bytes(n: int, n_features: int, num_samples: int, dtype: torch.dtype) -> float:
    """A lower estimate of the memory the tabular samplers hold at once for ``n`` rows: the
    perturbed rows of every explained row for the model, ``(n, S, F)``, and their copy as one
    batch (or the surrogate's data and its weighted copy), the shared samples, and float64
    scores and weights per (row, sample)."""
    itemsize = 8 if dtype == torch.float64 else 4
    return float(num_samples) * (n_features * itemsize * (2 * n + 1) + 16 * n)


#: exp(-x) < 1e-300 beyond this: lime's kernel gives such a sample no weight at all
_UNDERFLOW = 690.0


def check_kernel(distances: torch.Tensor, kernel_width: float, default: float) -> None:
    """Raise when lime's kernel ``sqrt(exp(-d**2 / width**2))`` leaves no perturbed sample of
    some row a weight: each row's surrogate would then be fitted on the row itself (and its
    copies at distance 0) only, which gives NaN scores or silently zero weights.

    ``distances`` ``(n, S)`` or ``(S,)``: of every sample to its row (sample 0 is the row)."""
    d = distances.double().reshape(-1, distances.shape[-1])
    # the nearest perturbed sample; copies of the row (at distance 0, or 1e-16 by rounding:
    # sklearn's cosine distance of equal vectors) always weigh 1 and are left out
    closest = torch.where(d > 1e-10, d, math.inf).amin(dim=1)
    finite = torch.isfinite(closest)
    if not bool(finite.any()):
        return  # every sample equals its row: nothing a width could change
    exponent = closest[finite] ** 2 / (2 * kernel_width**2)
    if not bool((exponent > _UNDERFLOW).any()):
        return
    nearest = float(closest[finite].min())
    raise InputError(
        "kernel_width",
        f"{kernel_width:.4g} is too small for these samples: the nearest perturbed sample is at "
        f"distance {nearest:.4g}, where lime's kernel sqrt(exp(-d**2 / width**2)) underflows "
        "to 0, so no perturbed sample would carry weight and the surrogate would have nothing "
        f"to fit. Use a width comparable with the distances, e.g. {default:.4g} (lime's "
        "default here), or leave it unset.",
    )
