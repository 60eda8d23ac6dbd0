"""LIME over token ids: lime's ``LimeTextExplainer`` (word positions, ``bow=False``), batched.

lime explains a sentence by removing random sets of its words (each replaced by
``mask_string`` in its position when ``bow=False``) and fitting a weighted ridge model on the
on/off vectors. Here the words are the real tokens of each row of ids (those the attention
mask switches on), a removed token becomes ``mask_token``, and the perturbed rows are built
in one tensor operation and scored in large batches instead of being joined into strings for
a classifier to re-tokenize. The random draws, distances, kernel and fit are lime's own, from
the explainer's random state, so the weights equal ``LimeTextExplainer(bow=False)``'s on the
same sentence and seed (the test suite checks it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from xai._batching import chunks
from xai._model import ModelFunction
from xai._threads import one_blas_thread
from xai.explainers.lime.tabular import check_kernel, lime_fit, weighted_ridge

#: lime_text's default kernel width (of 100 x the cosine distance between on/off vectors).
TEXT_KERNEL_WIDTH = 25.0


def _lime_draws(explainer: Any, words: int, num_samples: int) -> np.ndarray:
    """lime_text's neighbourhood from the explainer's random state: row 0 is the sentence,
    each other row removes a random number (1 to all) of distinct words."""
    state = explainer.random_state
    sizes = state.randint(1, words + 1, num_samples - 1)
    data = np.ones((num_samples, words))
    for i, size in enumerate(sizes, start=1):
        data[i, state.choice(range(words), size, replace=False)] = 0
    return data


def _fast_draws(seed: int, words: int, num_samples: int) -> np.ndarray:
    """The same neighbourhood as :func:`_lime_draws` (sizes uniform on 1..words, then a
    uniformly random set of that many words removed), drawn in a few array operations."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, words + 1, num_samples - 1)
    ranks = rng.random((num_samples - 1, words)).argsort(axis=1).argsort(axis=1)
    data = np.ones((num_samples, words))
    data[1:][ranks < sizes[:, None]] = 0
    return data


def explain_tokens(
    function: ModelFunction,
    ids: torch.Tensor,
    real: torch.Tensor,
    target: torch.Tensor,
    mask_token: int,
    num_samples: int,
    batch_size: int,
    kernel_width: float,
    seed: int,
    sampler: str = "fast",
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Token weights ``(N, L)`` (0 where ``real`` is False), with the surrogates' intercepts
    and R^2 scores; each row is explained with ``seed``, as lime would explain it alone.

    ``sampler="lime"`` draws the neighbourhood with lime's own random stream (the weights
    equal ``LimeTextExplainer``'s); ``"fast"`` draws the same distribution in array
    operations. With more than 6 words, lime's ``"auto"`` feature selection keeps every word
    and its fit is a weighted ridge regression (alpha 1), solved here directly; with fewer,
    lime's forward selection runs as lime runs it.
    """
    from lime.lime_text import LimeTextExplainer

    weights = torch.zeros(ids.shape, dtype=torch.float64)
    intercepts, fit_scores = [], []
    for j in range(ids.shape[0]):
        positions = torch.nonzero(real[j]).flatten()
        words = len(positions)
        if words == 0:  # nothing to switch off: lime's fit is undefined, every weight is 0
            intercepts.append(float("nan"))
            fit_scores.append(float("nan"))
            continue
        explainer = LimeTextExplainer(kernel_width=kernel_width, bow=False, random_state=seed)
        if sampler == "lime":
            data = _lime_draws(explainer, words, num_samples)
        else:
            data = _fast_draws(seed, words, num_samples)
        # lime's cosine distance to the sentence (all ones), times 100: 1 - sqrt(on / words)
        distances = (1.0 - np.sqrt(data.sum(axis=1) / words)) * 100
        check_kernel(torch.from_numpy(distances), kernel_width, TEXT_KERNEL_WIDTH)
        keep = torch.from_numpy(data).to(device=ids.device, dtype=torch.bool)
        sentence = ids[j]
        columns = positions.to(ids.device)
        scores = []
        with torch.no_grad():
            for part in chunks(num_samples, batch_size):
                rows = sentence.repeat(part.stop - part.start, 1)
                rows[:, columns] = torch.where(keep[part], sentence[columns], mask_token)
                owners = torch.full((rows.shape[0],), j, dtype=torch.long)
                picked = function(rows, rows=owners)[:, int(target[j])]
                scores.append(picked.double().cpu())
        labels = torch.cat(scores)
        if words > 6:  # "auto" selects every word: the fit is lime's weighted ridge
            kernel = torch.from_numpy(np.sqrt(np.exp(-(distances**2) / kernel_width**2)))
            (fit,) = weighted_ridge(torch.from_numpy(data), labels[None], kernel)
        else:
            with one_blas_thread():
                fit = lime_fit(explainer, data, labels.numpy(), distances)
        weights[j, positions.cpu()] = torch.from_numpy(np.asarray(fit.weights, dtype=np.float64))
        intercepts.append(fit.intercept)
        fit_scores.append(fit.score)
    return weights, {
        "intercept": torch.tensor(intercepts, dtype=torch.float64),
        "score": torch.tensor(fit_scores, dtype=torch.float64),
    }
