"""Kernel SHAP (Lundberg & Lee, 2017) in batches: shap's KernelExplainer estimator, vectorised.

shap's KernelExplainer spends most of its time in Python: it builds every coalition's
synthetic rows one coalition at a time, for every sample, then runs a LARS feature selection.
Here the coalitions are drawn once per call with shap's own scheme (whole subset sizes
enumerated while the budget allows, the rest sampled with paired complements, repeats adding
weight), shared by all samples with the same number of varying features; the synthetic rows of
many samples go through the model in large batches on its device; and the constrained weighted
least-squares problem (shap's ``solve``) is solved once per group with one right-hand side per
sample. Without feature selection every feature gets a value (shap's default
``l1_reg="num_features(10)"`` keeps 10).
"""

from __future__ import annotations

import itertools
import math
import threading

import numpy as np
import torch

from xai._batching import chunks
from xai._model import ModelFunction


def coalitions(
    n_features: int, nsamples: int, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """Coalition masks ``(S, M)`` (True = the feature takes the sample's value) and kernel weights.

    The scheme of shap's ``KernelExplainer.explain``: subset sizes are enumerated completely
    (with their complements) while the remaining budget covers them, the rest are sampled by
    size in proportion to the Shapley kernel, each with its complement; a coalition drawn again
    adds weight instead of a row. Sampled weights share what the enumerated ones leave.
    """
    m = n_features
    nsamples = min(nsamples, 2**m - 2) if m <= 30 else nsamples
    num_sizes = math.ceil((m - 1) / 2)
    num_paired = math.floor((m - 1) / 2)
    weight_vector = np.array([(m - 1.0) / (i * (m - i)) for i in range(1, num_sizes + 1)])
    weight_vector[:num_paired] *= 2
    weight_vector /= weight_vector.sum()

    masks: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    num_full, left = 0, nsamples
    remaining = weight_vector.copy()
    for size in range(1, num_sizes + 1):
        paired = size <= num_paired
        count = math.comb(m, size) * (2 if paired else 1)
        if left * remaining[size - 1] / count < 1.0 - 1e-8:
            break
        num_full += 1
        left -= count
        if remaining[size - 1] < 1.0:
            remaining /= 1 - remaining[size - 1]
        combos = np.array(list(itertools.combinations(range(m), size)))
        block = np.zeros((len(combos), m), dtype=bool)
        block[np.arange(len(combos))[:, None], combos] = True
        if paired:
            block = np.concatenate([block, ~block])
        weight = weight_vector[size - 1] / math.comb(m, size) / (2.0 if paired else 1.0)
        masks.append(block)
        weights.append(np.full(len(block), weight))

    if num_full < num_sizes and left > 0:
        sampled_weights = weight_vector.copy()
        sampled_weights[:num_paired] /= 2  # each draw adds a coalition and its complement
        sampled_weights = sampled_weights[num_full:]
        sampled_weights /= sampled_weights.sum()
        draws = 4 * left
        # The sizes: rng.choice(len(sampled_weights), draws, p=sampled_weights), computed as
        # numpy computes it (the same numbers), but searched only for the draws used.
        cumulative = sampled_weights.cumsum()
        cumulative /= cumulative[-1]
        size_draws = rng.random_sample(draws)
        # A random subset of each size from a row of random keys. The rows are drawn lazily:
        # first about as many as the budget needs (a paired draw adds a coalition and its
        # complement), more only if repeats leave it unspent. numpy fills arrays row by row,
        # so the keys equal those of one call for all rows.
        rows_per_draw = 1.0 + sampled_weights[: max(num_paired - num_full, 0)].sum()
        wanted = min(draws, int(1.05 * left / rows_per_draw) + 64)
        sizes = np.empty(0, dtype=np.int64)
        drawn = np.empty((0, m), dtype=bool)
        while True:
            keys = rng.random_sample((wanted, m))
            start = len(drawn)
            new_sizes = cumulative.searchsorted(size_draws[start : start + wanted], side="right")
            sizes = np.concatenate([sizes, new_sizes + (num_full + 1)])
            drawn = np.concatenate([drawn, keys.argsort(axis=1) < sizes[start:, None]])
            rows, counts = _deduplicate(drawn, sizes <= num_paired, left)
            if len(rows) == left or len(drawn) == draws:
                break
            wanted = min(draws - len(drawn), max(64, left - len(rows)))
        sampled = counts
        sampled *= weight_vector[num_full:].sum() / sampled.sum()
        masks.append(rows)
        weights.append(sampled)
    return np.concatenate(masks), np.concatenate(weights)


def kernel_bytes(
    n: int, n_features: int, n_background: int, nsamples: int | str
) -> tuple[float, int]:
    """A lower estimate of the memory :func:`kernel_shap` holds at once for ``n`` samples of
    ``n_features`` features, and the number of coalitions it draws.

    Per coalition: its mask in several forms (bool, the float table of switches, the float64
    design and weighted design of the solve: ~25 bytes a feature), and per sample its expected
    score and two float64 right-hand sides (24 bytes), and one float32 score per background
    row. ``nsamples`` beyond ``2**F - 2`` adds nothing (every coalition is enumerated)."""
    budget = 2 * n_features + 2**11 if nsamples == "auto" else int(nsamples)
    count = min(budget, 2**n_features - 2) if n_features <= 30 else budget
    count = max(count, 0)
    return float(count) * (25 * n_features + 24 * n + 4 * n_background), count


_THREAD = threading.local()


def _seeded(seed: int) -> np.random.RandomState:
    """``np.random.RandomState(seed)``: the same stream, from one generator per thread that is
    reseeded (~2 us) instead of built anew (~90 us, a visible part of one sample's cost). Use
    it up before asking for another."""
    rng = getattr(_THREAD, "rng", None)
    if rng is None:
        rng = _THREAD.rng = np.random.RandomState()
    rng.seed(seed)
    return rng


def _deduplicate(
    drawn: np.ndarray, paired: np.ndarray, budget: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and repeat counts of drawn coalitions, taken in order until ``budget`` rows.

    The vectorised form of shap's loop: a coalition seen for the first time adds its row and,
    when ``paired``, its complement's (only the coalition itself if one row is left); a repeat
    adds 1 to the count of each of its first occurrence's rows; the draws stop as soon as the
    budget is spent.
    """
    if drawn.shape[1] <= 62:  # one integer per coalition: its bits
        codes = drawn @ (1 << np.arange(drawn.shape[1], dtype=np.int64))
    else:  # one byte string per coalition (slower)
        codes = np.packbits(drawn, axis=1)
    _, first, inverse = np.unique(
        codes, axis=0 if codes.ndim > 1 else None, return_index=True, return_inverse=True
    )
    inverse = inverse.ravel()
    is_first = first[inverse] == np.arange(len(drawn))
    cost = np.where(is_first, np.where(paired, 2, 1), 0)
    before = np.cumsum(cost) - cost  # rows added before each draw
    taken = before < budget  # shap stops once no row is left
    new = taken & is_first
    # rows of each new coalition: itself, then its complement while the budget allows
    complement = new & paired & (before + 1 < budget)
    repeats = np.bincount(inverse[taken], minlength=len(first)) - 1  # per unique coalition
    own = np.flatnonzero(new)
    row_of = np.cumsum(np.where(new, 1 + complement, 0)) - (1 + complement)  # first row index
    total = int((1 + complement[own]).sum())
    rows = np.empty((total, drawn.shape[1]), dtype=bool)
    counts = np.empty(total)
    rows[row_of[own]] = drawn[own]
    counts[row_of[own]] = 1.0 + repeats[inverse[own]]
    pairs = np.flatnonzero(complement)
    rows[row_of[pairs] + 1] = ~drawn[pairs]
    counts[row_of[pairs] + 1] = 1.0 + repeats[inverse[pairs]]
    return rows, counts


@torch.no_grad()
def kernel_shap(
    function: ModelFunction,
    inputs: torch.Tensor,
    target: torch.Tensor,
    background: torch.Tensor,
    nsamples: int | str,
    seed: int,
    rows_per_pass: int,
    f_x: torch.Tensor,
    f_null: torch.Tensor,
) -> torch.Tensor:
    """Kernel SHAP values ``(N, F)`` of the target output, background-averaged value function.

    ``f_x`` ``(N,)`` is the target output at the inputs and ``f_null`` ``(N,)`` its mean over
    the background (the caller has both from its own forward passes). ``background`` is
    ``(B, F)``, shared, or ``(N, B, F)``, one per sample (token ids: each sentence's
    ``mask_token`` row, which keeps its padding); integer inputs (token ids) are switched
    between their own and the background's ids.
    ``nsamples="auto"`` means ``2 * M + 2048`` coalitions (M varying features), as in shap.
    Each group of samples with the same number of varying features shares one draw of
    coalitions made with ``seed``, so a sample's values do not depend on the batch.
    """
    device = inputs.device
    n, n_features = inputs.shape
    own_background = background.ndim == 3  # one per sample
    n_background = background.shape[-2]
    f_x, f_null = f_x.double(), f_null.double()
    total = f_x - f_null
    against = background if own_background else background[None]
    varying = (inputs[:, None, :] != against).any(dim=1).cpu().numpy()  # (N, F)
    values = torch.zeros(n, n_features, dtype=torch.float64, device=device)

    for count in sorted({int(c) for c in varying.sum(1)}):
        members = np.nonzero(varying.sum(1) == count)[0]
        if count == 0:
            continue
        if count == 1:
            for i in members:
                values[i, int(np.nonzero(varying[i])[0][0])] = total[i]
            continue
        budget = 2 * count + 2**11 if nsamples == "auto" else int(nsamples)
        masks, weights = coalitions(count, budget, _seeded(seed))
        masks_t = torch.from_numpy(masks).to(device)
        weights_t = torch.from_numpy(weights).to(device)
        n_coalitions = masks.shape[0]
        # expected target output of every (sample, coalition), background rows averaged
        expected = torch.empty(len(members), n_coalitions, dtype=torch.float64, device=device)
        columns_np = np.stack([np.nonzero(varying[i])[0] for i in members])
        columns = torch.from_numpy(columns_np).to(device)
        member_t = torch.from_numpy(members).to(device)
        same_columns = bool((columns_np == columns_np[0]).all())
        # Each model pass covers whole coalition sets of several samples, or part of one
        # sample's: at most rows_per_pass rows either way.
        per_pass = max(1, rows_per_pass // n_background)  # coalitions per pass
        block = max(1, per_pass // n_coalitions)  # samples per pass
        # which value each feature takes in each coalition: 1 the sample's, 0 the
        # background's; one table for all when the samples vary in the same features
        shared = _switches(columns[:1], masks_t, n_features, inputs.dtype) if same_columns else None
        for first in range(0, len(members), block):
            group = slice(first, min(first + block, len(members)))
            if shared is not None:
                switches = shared
            else:
                switches = _switches(columns[group], masks_t, n_features, inputs.dtype)
            x = inputs[member_t[group]][:, None, None, :]  # (m, 1, 1, F)
            picked = target[member_t[group]]
            # the target score of every (sample, coalition, background row), averaged over
            # the background rows (in float64) once all passes are done
            chosen = torch.empty(x.shape[0], n_coalitions, n_background, device=device)
            column = int(picked[0]) if len(picked) == 1 else None  # one sample: a plain slice
            for part in chunks(n_coalitions, per_pass):
                keep = switches[:, part, None, :]  # (m or 1, c, 1, F)
                start = background[member_t[group]][:, None] if own_background else background
                if inputs.is_floating_point():
                    # torch.where(keep, x, background), twice as fast; exact for weights 0
                    # and 1 (torch computes lerp as start + w * (end - start) for w < 0.5 and
                    # as end - (1 - w) * (end - start) otherwise)
                    rows = torch.lerp(start, x, keep)  # (m, c, B, F)
                else:
                    rows = torch.where(keep != 0, x, start)
                owners = member_t[group][:, None].expand(-1, rows.shape[1] * rows.shape[2])
                scores = function(rows.reshape(-1, n_features), rows=owners.reshape(-1))
                if column is not None:
                    chosen[0, part] = scores[:, column].view(rows.shape[1:3])
                else:
                    scores = scores.view(rows.shape[0], -1, scores.shape[1])  # (m, c * B, K)
                    index = picked[:, None, None].expand(-1, scores.shape[1], 1)
                    chosen[:, part] = scores.gather(2, index).view(rows.shape[:3])
            expected[group] = chosen.mean(dim=2, dtype=torch.float64)
        values[member_t[:, None], columns] = _solve(
            masks_t.double(), weights_t, expected, f_null[member_t], total[member_t]
        )
    return values


def _switches(
    columns: torch.Tensor, masks: torch.Tensor, n_features: int, dtype: torch.dtype
) -> torch.Tensor:
    """Coalitions over all features for samples varying in ``columns`` ``(m, M)``: ``(m, S, F)``,
    1 where the feature takes the sample's value, 0 where it takes the background's; features
    that do not vary keep 1."""
    m, n_coalitions = columns.shape[0], masks.shape[0]
    if m == 1 and columns.shape[1] == n_features:  # every feature varies: the masks themselves
        return masks.to(dtype)[None]
    table = torch.ones(m, n_coalitions, n_features, dtype=dtype, device=masks.device)
    index = columns[:, None, :].expand(-1, n_coalitions, -1)
    return table.scatter_(2, index, masks.to(dtype)[None].expand(m, -1, -1))


def _solve(
    masks: torch.Tensor,
    weights: torch.Tensor,
    expected: torch.Tensor,
    f_null: torch.Tensor,
    total: torch.Tensor,
) -> torch.Tensor:
    """shap's ``KernelExplainer.solve`` without feature selection, for many samples at once.

    The last feature is eliminated with the efficiency constraint (values sum to
    ``f(x) - E[f(background)]``); the rest is weighted least squares, whose normal matrix is
    shared by all samples.
    """
    adjusted = expected - f_null[:, None]  # (n, S)
    last = masks[:, -1]
    target = adjusted - last[None, :] * total[:, None]  # (n, S)
    design = masks[:, :-1] - last[:, None]  # (S, M - 1)
    weighted = weights[:, None] * design
    normal = design.T @ weighted
    right = weighted.T @ target.T  # (M - 1, n)
    try:
        solution = torch.linalg.solve(normal, right)
    except RuntimeError:  # singular: too few coalitions for this many features
        root = weights.sqrt()[:, None]
        solution = torch.linalg.lstsq(root * design, root * target.T).solution
    head = solution.T  # (n, M - 1)
    return torch.cat([head, (total - head.sum(dim=1))[:, None]], dim=1)
