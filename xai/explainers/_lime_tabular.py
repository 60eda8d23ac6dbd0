"""LIME on tables in batches: lime_tabular's sampling, kernel and fit, with vectorised sampling.

``lime_tabular.LimeTabularExplainer`` spends most of its time undoing its discretisation: for
every feature it draws the perturbed values from truncated normals with one scipy call whose
parameters change per element. Here those values are drawn by the inverse-CDF method in one
vectorised step (same distribution, other random numbers), the perturbed rows of all samples go
through the model in large batches, and lime's own objects do the rest: the quartile
discretiser, the feature frequencies, the proximity kernel and the weighted ridge fit.

Without training data (``background=None``) lime samples a unit-scale Gaussian around the row;
that path draws exactly lime's random numbers, so it equals lime's result.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from xai._batching import chunks
from xai._model import ModelFunction


class LocalFit(NamedTuple):
    weights: np.ndarray  # (F,)
    intercept: float
    score: float


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


def _neighbourhood(
    explainer: Any,
    tables: _BinTables | None,
    row: np.ndarray,
    num_samples: int,
    rng: np.random.RandomState,
) -> tuple[np.ndarray, np.ndarray]:
    """lime's ``__data_inverse`` (dense rows): ``(data for the fit, rows for the model)``.

    The random numbers are lime's, in lime's order: one ``choice`` per column (numpy draws
    ``random_sample(num_samples)`` and searches the cumulative frequencies), then one uniform
    draw per feature and row for the truncated normals — drawn here in two calls.
    """
    n_features = row.shape[0]
    if tables is None:
        scale, mean = explainer.scaler.scale_, explainer.scaler.mean_
        data = rng.normal(0, 1, num_samples * n_features).reshape(num_samples, n_features)
        data = data * scale + (row if explainer.sample_around_instance else mean)
        data[0] = row
        return data, data.copy()

    first_row = explainer.discretizer.discretize(row)
    uniforms = rng.random_sample((n_features, num_samples))
    bins = np.empty((num_samples, n_features), dtype=np.int64)
    for column in range(n_features):
        bins[:, column] = tables.values[column][
            np.searchsorted(tables.cdfs[column], uniforms[column], side="right")
        ]
    data = (bins == first_row[None, :]).astype(np.float64)
    data[0] = 1
    inverse = bins[1:].astype(np.float64)
    draws = rng.uniform(size=(len(tables.features), num_samples - 1))
    inverse[:, tables.features] = _undiscretize(tables, bins[1:, tables.features], draws.T)
    return data, np.concatenate([row[None], inverse])


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
    target: torch.Tensor,
    explainer: Any,
    num_samples: int,
    seed: int,
    rows_per_pass: int,
) -> list[LocalFit]:
    """Fit lime's local surrogate for every row; ``explainer`` is a LimeTabularExplainer."""
    import sklearn.metrics

    rows = inputs.double().cpu().numpy()
    n, n_features = rows.shape
    tables = None if explainer.discretizer is None else _bin_tables(explainer)
    neighbourhoods = [
        _neighbourhood(explainer, tables, row, num_samples, np.random.RandomState(seed))
        for row in rows
    ]
    perturbed = torch.as_tensor(
        np.concatenate([inverse for _, inverse in neighbourhoods]),
        dtype=inputs.dtype,
        device=inputs.device,
    )
    owner = torch.arange(n, device=inputs.device).repeat_interleave(num_samples)
    scores = torch.empty(n * num_samples, dtype=torch.float64)
    with torch.no_grad():
        for part in chunks(n * num_samples, rows_per_pass):
            out = function(perturbed[part]).gather(1, target[owner[part]][:, None]).squeeze(1)
            scores[part] = out.double().cpu()
    scores = scores.view(n, num_samples).numpy()

    datas = [
        (data - explainer.scaler.mean_) / explainer.scaler.scale_ for data, _ in neighbourhoods
    ]
    distances = [
        sklearn.metrics.pairwise_distances(data, data[0].reshape(1, -1), metric="euclidean").ravel()
        for data in datas
    ]
    if n_features > 6 and explainer.feature_selection == "auto":
        # lime's "auto" selection with num_features = F keeps every feature ("highest_weights"
        # only orders them), so its fit is one weighted ridge per sample: solved here together.
        kernel = np.stack([explainer.base.kernel_fn(d) for d in distances])
        return _weighted_ridge(np.stack(datas), scores, kernel)
    fits = []
    for scaled, labels, distance in zip(datas, scores, distances, strict=True):
        intercept, local_exp, score, _ = explainer.base.explain_instance_with_data(
            scaled,
            labels[:, None],
            distance,
            0,
            n_features,
            model_regressor=None,
            feature_selection=explainer.feature_selection,
        )
        weights = np.zeros(n_features)
        for feature, weight in local_exp:
            weights[feature] = weight
        fits.append(LocalFit(weights, float(intercept), float(score)))
    return fits


def _weighted_ridge(
    data: np.ndarray, labels: np.ndarray, weights: np.ndarray, alpha: float = 1.0
) -> list[LocalFit]:
    """``sklearn.linear_model.Ridge(alpha=1, fit_intercept=True)`` with sample weights, and its
    weighted R^2 score, for many problems at once: data ``(n, S, F)``, labels/weights ``(n, S)``."""
    x = torch.from_numpy(data)
    y = torch.from_numpy(labels)
    w = torch.from_numpy(weights)
    total = w.sum(dim=1, keepdim=True)
    x_offset = (w[:, :, None] * x).sum(dim=1, keepdim=True) / total[:, :, None]
    y_offset = (w * y).sum(dim=1, keepdim=True) / total
    root = w.sqrt()
    xc = (x - x_offset) * root[:, :, None]
    yc = (y - y_offset) * root
    gram = xc.transpose(1, 2) @ xc + alpha * torch.eye(x.shape[2], dtype=x.dtype)
    coef = torch.linalg.solve(gram, (xc.transpose(1, 2) @ yc[:, :, None])).squeeze(2)
    intercept = y_offset.squeeze(1) - (x_offset.squeeze(1) * coef).sum(dim=1)
    predicted = (x * coef[:, None, :]).sum(dim=2) + intercept[:, None]
    residual = (w * (y - predicted) ** 2).sum(dim=1)
    spread = (w * (y - y_offset) ** 2).sum(dim=1)
    score = 1 - residual / spread
    return [
        LocalFit(coef[i].numpy(), float(intercept[i]), float(score[i])) for i in range(x.shape[0])
    ]
