"""LIME on tables: the default ``"fast"`` sampler against lime_tabular.

The ``"lime"`` sampler equals lime_tabular exactly (``test_reference_libraries.py``). The fast
sampler draws the same distribution with other random numbers, so it is compared with
tolerances: the perturbed values feature by feature (two-sample Kolmogorov-Smirnov statistics,
bin frequencies), then the explanations on a trained model (top-5 overlap and rank correlation,
averaged over samples and seeds).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
from lime import lime_tabular

import reference_models
import xai
from tests.explainers import models
from xai.explainers.lime.tabular import _bin_sampler, _fast_discretised, _quartiles


def lime_weights(
    model: torch.nn.Module,
    row: torch.Tensor,
    background: torch.Tensor | None,
    seed: int,
    num_samples: int = 5000,
) -> np.ndarray:
    """lime_tabular's weights for ``row`` (target column 1), set up as xai sets it up."""
    n_features = row.shape[0]
    if background is None:
        explainer = lime_tabular.LimeTabularExplainer(
            np.zeros((1, n_features)),
            mode="regression",
            random_state=seed,
            discretize_continuous=False,
            sample_around_instance=True,
        )
    else:
        explainer = lime_tabular.LimeTabularExplainer(
            background.double().numpy(), mode="regression", random_state=seed
        )

    def predict(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(rows).float())[:, 1].double().numpy()

    result = explainer.explain_instance(
        row.double().numpy(), predict, num_features=n_features, num_samples=num_samples
    )
    weights = np.zeros(n_features)
    for feature, weight in result.local_exp[1]:
        weights[feature] = weight
    return weights


def top5(weights: np.ndarray) -> set[int]:
    return set(np.argsort(-np.abs(weights))[:5].tolist())


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 8, 20, 21, 200, 201])
def test_quartiles_equal_numpys_percentile(rows: int) -> None:
    """lime's discretiser takes np.percentile's quartiles; the fast sampler's own computation
    gives the same bits (ties, constant columns and integer-valued columns included)."""
    rng = np.random.default_rng(rows)
    values = rng.normal(size=(rows, 6)) * np.array([1, 10, 0.01, 1, 1, 1])
    values[:, 3] = np.round(values[:, 3])  # ties
    values[:, 4] = 0.0  # constant
    values[: rows // 2, 5] = 1.5  # half equal
    expected = np.percentile(values, [25, 50, 75], axis=0).T
    assert np.array_equal(_quartiles(values), expected)


def test_fast_sampler_draws_lime_tabulars_distribution() -> None:
    """Per feature, the perturbed values of the fast sampler and of lime's own sampler
    (``__data_inverse``) are indistinguishable (KS statistic), as are the bin frequencies."""
    background = models.rows(60, features=8) * torch.tensor([1, 2, 5, 0.1, 1, 1, 3, 1])
    background[:20, 4] = 0.0  # a feature with many equal values: coinciding quartiles
    row = models.rows(1, features=8)[0]
    num_samples = 20_000
    explainer = lime_tabular.LimeTabularExplainer(
        background.double().numpy(), mode="regression", random_state=0
    )
    theirs_binary, theirs = explainer._LimeTabularExplainer__data_inverse(
        row.double().numpy(), num_samples
    )
    sampler = _bin_sampler(background, torch.float32)
    ours = _fast_discretised(sampler, row[None], num_samples, np.random.default_rng(0))
    for feature in range(8):
        statistic = scipy.stats.ks_2samp(theirs[1:, feature], ours.rows[:, feature].numpy())
        # the critical value at the 0.1% level for two samples of 20,000 is 0.0195
        assert statistic.statistic < 0.0195, (feature, statistic)
    # the binary data ("same bin as the row"): the same frequencies per feature
    torch.testing.assert_close(
        ours.data[0, 1:].double().mean(dim=0),
        torch.from_numpy(theirs_binary[1:].mean(axis=0)),
        atol=0.015,
        rtol=0,
    )
    assert torch.all(ours.data[0, 0] == 1)


@pytest.mark.parametrize("with_background", [True, False])
def test_fast_sampler_explains_like_lime_tabular(with_background: bool) -> None:
    """On the breast-cancer reference model (30 features), 8 samples x 3 seeds, 5000 samples
    each: the mean top-5 feature overlap with lime_tabular is at least 0.8 and the weights
    have the same ranking (mean Spearman correlation at least 0.9). For scale: lime_tabular
    against itself with another seed gives 0.83-0.87 and 0.96 on these samples."""
    ref = reference_models.load("breast_cancer_mlp")
    x = ref.data["test"].tensors[0][:8]
    background = ref.data["train"].tensors[0][:200] if with_background else None
    overlaps, correlations = [], []
    for seed in range(3):
        ours = xai.explain(ref.model, x, method="lime", background=background, seed=seed, target=1)
        assert ours.params["sampler"] == "fast"
        for j, row in enumerate(x):
            theirs = lime_weights(ref.model, row, background, seed=seed + 100)
            mine = ours.attributions[j].double().numpy()
            overlaps.append(len(top5(theirs) & top5(mine)) / 5)
            correlations.append(scipy.stats.spearmanr(theirs, mine).statistic)
    assert np.mean(overlaps) >= 0.8
    assert np.mean(correlations) >= 0.9


def test_fast_sampler_fit_quality_matches_lime() -> None:
    """The surrogate's R^2 and intercept are lime's up to sampling noise."""
    model, x = models.small_mlp(features=10), models.rows(4, features=10)
    background = models.rows(50, features=10)
    ours = xai.explain(model, x, method="lime", background=background, seed=0, target=1)
    exact = xai.explain(
        model, x, method="lime", background=background, seed=0, target=1, sampler="lime"
    )
    assert exact.params["sampler"] == "lime"
    torch.testing.assert_close(ours.extras["score"], exact.extras["score"], atol=0.05, rtol=0)
    torch.testing.assert_close(
        ours.extras["intercept"], exact.extras["intercept"], atol=0.05, rtol=0.05
    )
    torch.testing.assert_close(ours.attributions, exact.attributions, atol=0.03, rtol=0.1)


def test_fast_sampler_runs_the_shared_samples_through_the_model_once() -> None:
    """With training data the perturbed rows do not depend on the explained row: a batch of
    four costs the samples once (plus the rows themselves), not four times."""
    model, x = models.small_mlp(), models.rows(4)
    expl = xai.explain(model, x, method="lime", background=models.rows(20), num_samples=300, seed=0)
    # the forward that resolves the target and gives the rows' own scores (4), the samples (299)
    assert expl.extras["model_evaluations"] == 4 + 299


def test_sampler_is_checked() -> None:
    model = models.small_mlp()
    with pytest.raises(ValueError, match=r"sampler: expected one of 'fast', 'lime', got 'numpy'"):
        xai.explain(model, models.rows(2), method="lime", sampler="numpy", seed=0)
    with pytest.raises(ValueError, match=r"sampler: images are always perturbed with lime's own"):
        xai.explain(models.small_cnn(), models.images(1), method="lime", sampler="fast", seed=0)
