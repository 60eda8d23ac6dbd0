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
from xai.explainers.lime.tabular import check_kernel

#: lime_text's default kernel width (of 100 x the cosine distance between on/off vectors).
TEXT_KERNEL_WIDTH = 25.0


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
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Token weights ``(N, L)`` (0 where ``real`` is False), with the surrogates' intercepts
    and R^2 scores; each row is explained with ``seed``, as lime would explain it alone."""
    import sklearn.metrics
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
        state = explainer.random_state
        # lime_text's neighbourhood: row 0 is the sentence, each other row removes a random
        # number (1 to all) of distinct words
        sizes = state.randint(1, words + 1, num_samples - 1)
        data = np.ones((num_samples, words))
        for i, size in enumerate(sizes, start=1):
            data[i, state.choice(range(words), size, replace=False)] = 0
        with one_blas_thread():
            distances = (
                sklearn.metrics.pairwise_distances(data, data[:1], metric="cosine").ravel() * 100
            )
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
                scores.append(function(rows, rows=owners).double().cpu())
        labels = torch.cat(scores).numpy()
        with one_blas_thread():
            intercept, local_exp, score, _ = explainer.base.explain_instance_with_data(
                data,
                labels,
                distances,
                int(target[j]),
                words,
                model_regressor=None,
                feature_selection=explainer.feature_selection,
            )
        for feature, weight in local_exp:
            weights[j, int(positions[feature])] = weight
        intercepts.append(float(intercept))
        fit_scores.append(float(score))
    return weights, {
        "intercept": torch.tensor(intercepts, dtype=torch.float64),
        "score": torch.tensor(fit_scores, dtype=torch.float64),
    }
