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
from scipy.special import ndtr, ndtri

from xai._batching import chunks
from xai._model import ModelFunction


class LocalFit(NamedTuple):
    weights: np.ndarray  # (F,)
    intercept: float
    score: float


def _neighbourhood(
    explainer: Any, row: np.ndarray, num_samples: int, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """lime's ``__data_inverse`` (dense rows): ``(data for the fit, rows for the model)``."""
    n_features = row.shape[0]
    discretizer = explainer.discretizer
    if discretizer is None:
        scale, mean = explainer.scaler.scale_, explainer.scaler.mean_
        data = rng.normal(0, 1, num_samples * n_features).reshape(num_samples, n_features)
        data = data * scale + (row if explainer.sample_around_instance else mean)
        data[0] = row
        return data, data.copy()

    first_row = discretizer.discretize(row)
    data = np.zeros((num_samples, n_features))
    bins = np.zeros((num_samples, n_features), dtype=np.int64)
    for column in range(n_features):  # lime's draw, column by column, from the same generator
        drawn = rng.choice(
            explainer.feature_values[column],
            size=num_samples,
            replace=True,
            p=explainer.feature_frequencies[column],
        )
        data[:, column] = drawn == first_row[column]
        bins[:, column] = drawn
    data[0] = 1
    inverse = _undiscretize(discretizer, bins[1:], rng)
    return data, np.concatenate([row[None], inverse])


def _undiscretize(discretizer: Any, bins: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """Values drawn from each bin's truncated normal (lime's ``undiscretize``), vectorised."""
    values = bins.astype(np.float64)
    for feature in discretizer.means:
        index = bins[:, feature]
        low = np.asarray(discretizer.mins[feature])[index]
        high = np.asarray(discretizer.maxs[feature])[index]
        mean = np.asarray(discretizer.means[feature])[index]
        std = np.asarray(discretizer.stds[feature])[index]
        low_z, high_z = (low - mean) / std, (high - mean) / std
        # inverse CDF of the standard normal truncated to [low_z, high_z]
        lower, upper = ndtr(low_z), ndtr(high_z)
        u = lower + rng.uniform(size=index.shape[0]) * (upper - lower)
        z = np.clip(ndtri(np.clip(u, 1e-300, 1 - 1e-16)), low_z, high_z)
        column = mean + std * z
        # lime keeps the lower z-score where a bin has no width
        values[:, feature] = np.where(low_z != high_z, column, low_z)
    return values


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
    neighbourhoods = [
        _neighbourhood(explainer, row, num_samples, np.random.RandomState(seed)) for row in rows
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

    fits = []
    for (data, _), labels in zip(neighbourhoods, scores, strict=True):
        scaled = (data - explainer.scaler.mean_) / explainer.scaler.scale_
        distances = sklearn.metrics.pairwise_distances(
            scaled, scaled[0].reshape(1, -1), metric="euclidean"
        ).ravel()
        intercept, local_exp, score, _ = explainer.base.explain_instance_with_data(
            scaled,
            labels[:, None],
            distances,
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
