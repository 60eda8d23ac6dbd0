"""Explanation-quality metrics on token ids ``(N, L)``: known answers on keywords_text_cnn (its
test sentences carry keyword masks), hand-computed deletion curves on a lookup-table model,
padding that no metric counts and no perturbation touches, and the model_kwargs that go with
every model call."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

import reference_models
import xai
from xai.errors import InputError
from xai.metrics import (
    chance_level,
    completeness_error,
    deletion_auc,
    infidelity_error,
    insertion_auc,
    max_sensitivity_error,
    model_randomization_check,
    perturbation_curves,
    pointing_game_score,
    quality_metrics,
    rank_correlation,
    relevance_mass_score,
    relevance_rank_score,
    seed_stability_score,
    sparseness_score,
    top_k_overlap,
)

METHODS = ("integrated_gradients", "occlusion", "shap", "smoothgrad")
N_SENTENCES = 50


@pytest.fixture(scope="module")
def text() -> SimpleNamespace:
    """The first 50 test sentences of keywords_text_cnn, with their attention masks."""
    ref = reference_models.load("keywords_text_cnn")
    ids, labels, keywords, attention = (t[:N_SENTENCES] for t in ref.data["test"].tensors)
    return SimpleNamespace(
        model=ref.model,
        ids=ids,
        labels=labels,
        keywords=keywords.bool(),
        attention=attention,
        kwargs={"attention_mask": attention},
    )


@pytest.fixture(scope="module")
def comparison(text: SimpleNamespace) -> xai.evaluation.Comparison:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a sentence of keywords only
        return xai.compare(
            text.model,
            text.ids,
            methods=list(METHODS),
            masks=text.keywords,
            model_kwargs=text.kwargs,
            metrics=[
                "deletion_auc",
                "insertion_auc",
                "pointing_game_score",
                "relevance_mass_score",
                "relevance_rank_score",
            ],
            progress=False,
        )


# ------------------------------------------------------------------ known answers on the model
def test_localization_finds_the_keywords(
    text: SimpleNamespace, comparison: xai.evaluation.Comparison
) -> None:
    chance = float(chance_level(text.keywords, attention_mask=text.attention).mean())
    # keywords are about one real token in six (measured 0.174)
    assert 0.1 < chance < 0.3
    ig = comparison.reports["integrated_gradients"].means
    assert ig["pointing_game_score"] >= 0.9  # the target (measured 1.0)
    assert ig["relevance_mass_score"] > 3 * chance  # measured 0.90
    assert ig["relevance_rank_score"] > 3 * chance  # measured 1.0
    for method in ("occlusion", "shap"):
        means = comparison.reports[method].means
        assert means["pointing_game_score"] >= 0.9, method
        assert means["relevance_mass_score"] > 3 * chance, method
    # SmoothGrad (gradient magnitude) localizes less well but above chance (measured 0.76, 0.20)
    smooth = comparison.reports["smoothgrad"].means
    assert smooth["pointing_game_score"] > 2 * chance
    assert smooth["relevance_mass_score"] > chance


def test_deletion_and_insertion_beat_a_random_ranking(
    text: SimpleNamespace, comparison: xai.evaluation.Comparison
) -> None:
    ig = comparison.explanations["integrated_gradients"]
    random = torch.rand(text.ids.shape, generator=torch.Generator().manual_seed(0))
    options = {"model_kwargs": text.kwargs}
    random_deletion = float(deletion_auc(text.model, text.ids, random, ig.target, **options).mean())
    random_insertion = float(
        insertion_auc(text.model, text.ids, random, ig.target, **options).mean()
    )
    means = comparison.reports["integrated_gradients"].means
    # measured: IG 0.330 / 0.965, random 0.744 / 0.772
    assert means["deletion_auc"] < random_deletion - 0.2
    assert means["insertion_auc"] > random_insertion + 0.1
    # the reversed ranking (least relevant first) is worse than random on both
    reverse = -ig.attributions
    assert float(deletion_auc(text.model, text.ids, reverse, ig.target, **options).mean()) > (
        random_deletion
    )
    # the curves of the report run from the sentence (or all [MASK]) to all [MASK] (or it)
    fractions, scores = comparison.reports["integrated_gradients"].curves["deletion"]
    assert fractions[0] == 0 and fractions[-1] == 1 and scores.shape == (N_SENTENCES, 21)


def test_methods_agree_on_the_real_tokens(
    text: SimpleNamespace, comparison: xai.evaluation.Comparison
) -> None:
    matrix = comparison.agreement["rank_correlation"]
    index = {m: i for i, m in enumerate(comparison.methods)}
    # IG, Occlusion and gradient SHAP agree (measured 0.84 .. 1.00)
    for a, b in [("integrated_gradients", "occlusion"), ("integrated_gradients", "shap")]:
        assert float(matrix[index[a], index[b]]) > 0.5, (a, b)
    assert float(matrix[index["occlusion"], index["shap"]]) > 0.5
    # SmoothGrad's gradient magnitudes agree less (measured 0.37 .. 0.41 on the real tokens)
    for other in ("integrated_gradients", "occlusion", "shap"):
        assert 0.2 < float(matrix[index["smoothgrad"], index[other]]) < 0.9
    # counting the padding (0 in every map) would inflate the agreement
    ig = comparison.explanations["integrated_gradients"].attributions
    smooth = comparison.explanations["smoothgrad"].attributions
    with_padding = float(rank_correlation(ig, smooth).mean())
    assert with_padding > float(matrix[index["smoothgrad"], index["integrated_gradients"]]) + 0.2


def test_model_randomization_changes_the_token_attributions(text: SimpleNamespace) -> None:
    result = model_randomization_check(
        text.model,
        text.ids[:20],
        "integrated_gradients",
        model_kwargs={"attention_mask": text.attention[:20]},
        n_steps=8,
        progress=False,
    )
    assert result.steps == ["classifier", "conv", "embedding"]
    means = result.means()["rank_correlation"]
    # measured 0.45, 0.11, 0.01: each randomised layer takes more of the map away
    assert means[0] < 0.9 and means[-1] < 0.3 and result.passed
    assert "structural_similarity" not in result.similarity  # images only


def test_completeness_on_token_ids_matches_integrated_gradients_delta(
    text: SimpleNamespace,
) -> None:
    expl = xai.explain(text.model, text.ids, "integrated_gradients", model_kwargs=text.kwargs)
    delta = expl.extras["convergence_delta"].abs()
    # f(x) - f(baseline): real tokens replaced by the pad token, padding kept
    error = completeness_error(
        text.model, text.ids, expl.attributions, expl.target, model_kwargs=text.kwargs
    )
    torch.testing.assert_close(error, delta, rtol=0, atol=5e-5)
    report = xai.evaluate_explanation(
        text.model, expl, metrics=["completeness_error"], progress=False
    )
    torch.testing.assert_close(report["completeness_error"], delta.float())
    assert report.means["completeness_error"] < 0.01  # measured 0.0016 with 50 steps
    # without the attention mask the model sees other sentences: the error is then large
    unmasked = completeness_error(text.model, text.ids, expl.attributions, expl.target)
    assert float(unmasked.mean()) > 10 * float(delta.mean())


# --------------------------------------------------------------- a model whose answers are known
class LookupModel(nn.Module):
    """``score = sum over real tokens of weight[id]``; logits ``[score, -score]``. Records the
    ids and attention masks of every call; the weights are binary fractions, so the sums are
    exact in float32."""

    def __init__(self) -> None:
        super().__init__()
        self.config = SimpleNamespace(pad_token_id=0, mask_token_id=1)
        self.embedding = nn.Embedding(12, 1)
        with torch.no_grad():
            weights = [0.0, 0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 0.25, 0.125, 16.0, 32.0, 64.0]
            self.embedding.weight.copy_(torch.tensor(weights)[:, None])
        self.calls: list[tuple[torch.Tensor, torch.Tensor | None]] = []

    def forward(self, input_ids: torch.Tensor, attention_mask: Any = None) -> torch.Tensor:
        self.calls.append(
            (input_ids.detach().clone(), None if attention_mask is None else attention_mask.clone())
        )
        values = self.embedding(input_ids)[..., 0]
        if attention_mask is not None:
            values = values * attention_mask
        score = values.sum(dim=1, keepdim=True)
        return torch.cat([score, -score], dim=1)


def _score(model: LookupModel, ids: list[int], mask: list[int]) -> float:
    with torch.no_grad():
        out = model(torch.tensor([ids]), attention_mask=torch.tensor([mask]))
    return float(out[0, 0])


def test_deletion_curve_by_hand_on_one_sentence() -> None:
    model = LookupModel().eval()
    ids = [3, 4, 5, 6, 9, 10]  # the last two are padding (ids that would weigh a lot)
    mask = [1, 1, 1, 1, 0, 0]
    attributions = torch.tensor(
        [[0.1, 0.9, -0.3, 0.5, 7.0, 7.0]]
    )  # padding ranked first if counted
    order = [1, 3, 0, 2]  # the real tokens, most relevant first
    kwargs = {"attention_mask": torch.tensor([mask])}
    target = torch.tensor([0])
    fractions, scores = perturbation_curves(
        model, torch.tensor([ids]), attributions, target, steps=4, score="logit",
        model_kwargs=kwargs,
    )  # fmt: skip
    deleted, inserted = [], []
    for removed in range(5):
        gone = set(order[:removed])
        deleted.append(_score(model, [1 if i in gone else t for i, t in enumerate(ids)], mask))
        inserted.append(
            _score(model, [t if i in gone or not mask[i] else 1 for i, t in enumerate(ids)], mask)
        )
    torch.testing.assert_close(fractions, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    torch.testing.assert_close(scores, torch.tensor([deleted]), rtol=0, atol=0)
    assert deleted == [15.0, 13.0, 5.0, 4.0, 0.0]  # w: 1, 2, 4, 8 (ids 3..6); [MASK] weighs 0
    _, mirrored = perturbation_curves(
        model, torch.tensor([ids]), attributions, target, mode="insertion", steps=4,
        score="logit", model_kwargs=kwargs,
    )  # fmt: skip
    torch.testing.assert_close(mirrored, torch.tensor([inserted]), rtol=0, atol=0)
    # the AUC is the trapezoid of that curve
    auc = deletion_auc(
        model, torch.tensor([ids]), attributions, target, steps=4, score="logit",
        model_kwargs=kwargs,
    )  # fmt: skip
    expected = sum((deleted[i] + deleted[i + 1]) / 2 * 0.25 for i in range(4))
    assert float(auc) == pytest.approx(expected, abs=1e-6)
    # another mask token: the removed tokens take its weight (id 7: 0.25 each)
    _, other = perturbation_curves(
        model, torch.tensor([ids]), attributions, target, steps=4, score="logit",
        model_kwargs=kwargs, mask_token=7,
    )  # fmt: skip
    torch.testing.assert_close(other, torch.tensor([[15.0, 13.25, 5.5, 4.75, 1.0]]), rtol=0, atol=0)


def _sentences() -> tuple[torch.Tensor, torch.Tensor]:
    """Four sentences of different lengths (5, 4, 3, 6 real tokens of 6); the padding holds
    distinct ids, so a perturbation of it would show."""
    ids = torch.tensor(
        [
            [2, 3, 4, 5, 6, 11],
            [6, 5, 4, 3, 10, 11],
            [3, 3, 6, 9, 10, 11],
            [2, 4, 6, 8, 5, 3],
        ]
    )
    lengths = torch.tensor([5, 4, 3, 6])
    mask = (torch.arange(6)[None, :] < lengths[:, None]).long()
    return ids, mask


def _check_calls(
    model: LookupModel, ids: torch.Tensor, mask: torch.Tensor, replacement: int = 1
) -> int:
    """Every row the model saw: its attention mask is one sample's (its length tells which),
    its padding holds that sample's own ids, its real tokens are the sample's or
    ``replacement`` ([MASK] for deletion, the pad token for completeness)."""
    rows = 0
    lengths = mask.sum(dim=1).tolist()
    for seen, seen_mask in model.calls:
        assert seen_mask is not None, "a call without the attention mask"
        for row, row_mask in zip(seen, seen_mask, strict=True):
            sample = lengths.index(int(row_mask.sum()))
            assert torch.equal(row_mask, mask[sample])
            pad = ~mask[sample].bool()
            assert torch.equal(row[pad], ids[sample][pad]), "padding was perturbed"
            real = row[~pad]
            assert bool(((real == ids[sample][~pad]) | (real == replacement)).all())
            rows += 1
    return rows


def test_perturbations_never_change_the_padding_and_carry_the_attention_mask() -> None:
    model = LookupModel().eval()
    ids, mask = _sentences()
    kwargs = {"attention_mask": mask}
    expl = xai.explain(model, ids, "occlusion", model_kwargs=kwargs)
    assert expl.params["mask_token"] == 1
    model.calls.clear()
    report = xai.evaluate_explanation(
        model, expl, metrics=["deletion_auc", "insertion_auc"], progress=False
    )
    assert _check_calls(model, ids, mask) >= 2 * 4 * 21  # both curves, every step
    model.calls.clear()
    completeness_error(model, ids, expl.attributions, expl.target, model_kwargs=kwargs)
    assert _check_calls(model, ids, mask, replacement=0) == 2 * 4  # f(x) and f(baseline)
    # the padding neither ranks nor counts: big attributions there change nothing
    noisy = expl.attributions.masked_fill(~mask.bool(), 100.0)
    again = deletion_auc(model, ids, noisy, expl.target, model_kwargs=kwargs)
    torch.testing.assert_close(again, report["deletion_auc"])


def test_localization_counts_the_real_tokens_only() -> None:
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]])
    keywords = torch.tensor([[0, 1, 0, 0, 0], [0, 0, 1, 1, 0]], dtype=torch.bool)
    # row 0: every real token negative, the padding's 0 would be the maximum
    a = torch.tensor([[-2.0, -0.5, -1.0, 0.0, 0.0], [0.1, 0.4, 0.9, 0.3, 5.0]])
    pointing = pointing_game_score(a, keywords, attention_mask=mask)
    torch.testing.assert_close(pointing, torch.tensor([1.0, 1.0]))
    # without the mask, row 0's maximum is a tie of the two pads (off the keywords) and row 1's
    # the pad holding 5.0
    torch.testing.assert_close(pointing_game_score(a, keywords), torch.tensor([0.0, 0.0]))
    mass = relevance_mass_score(a, keywords, attention_mask=mask)
    torch.testing.assert_close(mass, torch.tensor([0.0, 1.2 / 1.7]))  # the pad's 5.0 left out
    rank = relevance_rank_score(a, keywords, attention_mask=mask)
    # row 0: the top-1 real token is the keyword; row 1: the top-2 are positions 2 and 1
    torch.testing.assert_close(rank, torch.tensor([1.0, 0.5]))
    torch.testing.assert_close(
        chance_level(keywords, attention_mask=mask), torch.tensor([1 / 3, 2 / 4])
    )
    # a row whose real tokens are all keywords has no defined score
    full = torch.tensor([[1, 1, 1, 0, 0]], dtype=torch.bool)
    with pytest.warns(RuntimeWarning, match="empty or full"):
        value = pointing_game_score(a[:1], full, attention_mask=mask[:1])
    assert math.isnan(float(value))
    with pytest.raises(InputError, match=r"attention_mask: expected one mask per sequence"):
        pointing_game_score(a, keywords, attention_mask=mask[:, :4])


def test_sparseness_and_agreement_on_the_real_tokens_match_the_truncated_rows() -> None:
    generator = torch.Generator().manual_seed(3)
    a = torch.randn(4, 9, generator=generator)
    b = torch.randn(4, 9, generator=generator)
    lengths = [9, 6, 4, 7]
    mask = (torch.arange(9)[None, :] < torch.tensor(lengths)[:, None]).long()
    a, b = a * mask, b * mask  # zero padding, as the explainers give
    rho = rank_correlation(a, b, attention_mask=mask)
    overlap = top_k_overlap(a, b, k=0.5, attention_mask=mask)
    gini = sparseness_score(a, attention_mask=mask)
    for i, length in enumerate(lengths):
        x, y = a[i, :length].abs(), b[i, :length].abs()
        assert float(rho[i]) == pytest.approx(spearmanr(x, y).statistic, abs=1e-6)  # scipy
        count = round(0.5 * length)
        top_x = set(torch.argsort(x, descending=True, stable=True)[:count].tolist())
        top_y = set(torch.argsort(y, descending=True, stable=True)[:count].tolist())
        assert float(overlap[i]) == pytest.approx(len(top_x & top_y) / count)
        torch.testing.assert_close(gini[i : i + 1], sparseness_score(a[i : i + 1, :length]))
    # without a mask, the full rows (row 0 has no padding: the same number)
    assert float(rank_correlation(a, b)[0]) == pytest.approx(float(rho[0]), abs=1e-6)


# ---------------------------------------------------------------- what does not apply, and errors
def test_noise_metrics_do_not_apply_to_token_ids(text: SimpleNamespace) -> None:
    ids, kwargs = text.ids[:4], {"attention_mask": text.attention[:4]}
    expl = xai.explain(text.model, ids, "integrated_gradients", model_kwargs=kwargs, n_steps=8)
    report = xai.evaluate_explanation(
        text.model,
        expl,
        metrics=["infidelity_error", "max_sensitivity_error", "deletion_auc"],
        progress=False,
    )
    assert set(report.values) == {"deletion_auc"}
    for name in ("infidelity_error", "max_sensitivity_error"):
        assert "not for token ids" in report.skipped[name] and "discrete" in report.skipped[name]
    with pytest.raises(TypeError, match=r"inputs: infidelity_error does not apply to token ids"):
        infidelity_error(text.model, ids, expl.attributions, expl.target)
    with pytest.raises(TypeError, match=r"inputs: max_sensitivity_error does not apply"):
        max_sensitivity_error(lambda x, t: x.float(), ids, expl.target)
    with pytest.raises(
        InputError, match=r"baseline: for token ids the reference is a token id: pass mask_token="
    ):
        deletion_auc(text.model, ids, expl.attributions, expl.target, baseline=0.0)
    with pytest.raises(InputError, match=r"mask_token: .* use baseline= instead"):
        deletion_auc(text.model, ids.float(), expl.attributions, expl.target, mask_token=1)


def test_loaded_explanations_need_the_model_kwargs_again(
    text: SimpleNamespace, tmp_path: Path
) -> None:
    ids, keywords = text.ids[:6], text.keywords[:6]
    kwargs = {"attention_mask": text.attention[:6]}
    expl = xai.explain(text.model, ids, "integrated_gradients", model_kwargs=kwargs, n_steps=8)
    fresh = xai.evaluate_explanation(text.model, expl, masks=keywords, progress=False)
    loaded = xai.Explanation.load(expl.save(tmp_path / "ig.safetensors"))
    with pytest.raises(InputError, match=r"model_kwargs: 'deletion_auc' needs .* model_kwargs="):
        xai.evaluate_explanation(text.model, loaded, metrics=["deletion_auc"], masks=keywords)
    # the default set says why, rather than scoring with the padding counted
    skipped = xai.evaluate_explanation(text.model, loaded, masks=keywords, progress=False)
    assert not skipped.values
    assert "model_kwargs=" in skipped.skipped["pointing_game_score"]
    again = xai.evaluate_explanation(
        text.model, loaded, masks=keywords, model_kwargs=kwargs, progress=False
    )
    assert set(again.values) == set(fresh.values)
    for name, values in fresh.values.items():
        torch.testing.assert_close(again[name], values, msg=name)


def test_compare_on_token_ids_errors(text: SimpleNamespace) -> None:
    ids, kwargs = text.ids[:3], {"attention_mask": text.attention[:3]}
    with pytest.raises(InputError, match=r"options: model_kwargs given for \['occlusion'\]"):
        xai.compare(
            text.model,
            ids,
            methods=["occlusion"],
            model_kwargs=kwargs,
            options={"occlusion": {"model_kwargs": kwargs}},
        )
    with pytest.raises(TypeError, match=r"model_kwargs: expected None or a dict"):
        xai.compare(text.model, ids, methods=["occlusion"], model_kwargs=[1, 2])


# --------------------------------------------------- every metric that applies, one by one = batch
def _text_cases() -> list[str]:
    return [
        name
        for name, metric in quality_metrics().items()
        if metric.token_ids and not metric.image_only
    ]


@pytest.mark.parametrize("name", _text_cases())
def test_text_metric_invariants(name: str, text: SimpleNamespace) -> None:
    """Each metric that applies to token ids gives finite ``(N,)`` values, and a batch scores
    like its sentences one by one (the attention mask is sliced with them)."""
    n = 4
    ids, keywords, attention = text.ids[:n], text.keywords[:n], text.attention[:n]
    generator = torch.Generator().manual_seed(1)
    attributions = torch.randn(ids.shape, generator=generator) * attention
    other = torch.randn(ids.shape, generator=generator) * attention
    target = torch.tensor([0, 1, 2, 1])

    def context(rows: slice) -> dict[str, Any]:
        kwargs = {"attention_mask": attention[rows]}

        def explain(x: torch.Tensor, t: torch.Tensor, seed: int | None = None) -> torch.Tensor:
            return xai.explain(
                text.model, x, "smoothgrad", target=t, model_kwargs=kwargs, seed=seed or 0,
                nsamples=4,
            ).attributions  # fmt: skip

        return {
            "model": text.model,
            "inputs": ids[rows],
            "attributions": attributions[rows],
            "other": other[rows],
            "target": target[rows],
            "masks": keywords[rows],
            "explain": explain,
            "model_kwargs": kwargs,
            "attention_mask": attention[rows],
        }

    metric = quality_metrics()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        values = metric(**context(slice(0, n)))
        one_by_one = torch.cat([metric(**context(slice(i, i + 1))) for i in range(n)])
    assert values.shape == (n,) and torch.is_floating_point(values)
    assert bool(values.isfinite().all()), f"{name}: {values}"
    torch.testing.assert_close(values, one_by_one, rtol=1e-4, atol=1e-5, msg=name)


def test_seed_stability_on_token_ids(text: SimpleNamespace) -> None:
    ids, kwargs = text.ids[:5], {"attention_mask": text.attention[:5]}
    expl = xai.explain(text.model, ids, "smoothgrad", model_kwargs=kwargs, seed=0, nsamples=8)
    report = xai.evaluate_explanation(
        text.model, expl, metrics=["seed_stability_score"], progress=False
    )
    direct = seed_stability_score(
        lambda x, t, seed: (
            xai.explain(
                text.model, x, "smoothgrad", target=t, model_kwargs=kwargs, seed=seed, nsamples=8
            ).attributions
        ),
        ids,
        expl.target,
        attention_mask=text.attention[:5],
    )
    torch.testing.assert_close(report["seed_stability_score"], direct)
    assert 0.5 < float(direct.mean()) <= 1.0


def test_attribution_methods_on_tokens_agree_with_each_other() -> None:
    """The issue's target: the Grad-CAM-free attribution methods (IG, Occlusion, LIME, Kernel
    SHAP) rank the real tokens alike, Spearman above 0.5 for every pair (measured 0.84-0.97 on
    50 sentences; SmoothGrad, a gradient-magnitude map, is not among them: 0.32-0.41)."""
    ref = reference_models.load("keywords_text_cnn")
    ids, _, keywords, attention = (t[:16] for t in ref.data["test"].tensors)
    methods = ["integrated_gradients", "occlusion", "lime", "shap"]
    comparison = xai.compare(
        ref.model,
        ids,
        methods=methods,
        masks=keywords,
        model_kwargs={"attention_mask": attention},
        metrics=["pointing_game_score"],
        options={"lime": {"num_samples": 400}, "shap": {"algorithm": "kernel"}},
        seed=0,
    )
    agreement = comparison.agreement["rank_correlation"]
    off_diagonal = agreement[~torch.eye(len(methods), dtype=torch.bool)]
    assert bool((off_diagonal > 0.5).all()), comparison.agreement_table()
    for method in methods:
        assert comparison.reports[method].means["pointing_game_score"] >= 0.9
