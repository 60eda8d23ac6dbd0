"""Concurrent explanations of one shared model (the dashboard's case: Streamlit sessions run in
threads that share a cached model).

Every method from several threads at once gives exactly the serial results, and the model is
left as found: train/eval mode, BatchNorm statistics, hooks, ``requires_grad`` and gradients.
Calls on one model are serialised by its lock (``xai._state.model_lock``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import xai
from xai.explainers.registry import get_explainer

from .explainers import models

THREADS = 4
ROUNDS = 2
METHODS = ("gradcam", "integrated_gradients", "smoothgrad", "occlusion", "lime", "shap")


def options(method: str, model: nn.Module) -> dict[str, Any]:
    chosen = dict(type(get_explainer(method, model)).quick_options)
    if method in ("lime", "smoothgrad", "shap"):
        chosen["seed"] = 0
    return chosen


def calls(model: nn.Module, x: torch.Tensor) -> list[tuple[str, Callable[[], torch.Tensor]]]:
    """Every method once (and SHAP's DeepExplainer, which runs shap's own hooks)."""
    made = [
        (m, lambda m=m: xai.explain(model, x, method=m, **options(m, model)).attributions)
        for m in METHODS
    ]
    made.append(
        (
            "shap-deep",
            lambda: (
                xai.explain(
                    model, x, method="shap", algorithm="deep", background=x[:2] * 0.5
                ).attributions
            ),
        )
    )
    return made


def hook_count(model: nn.Module) -> int:
    return sum(
        len(getattr(m, name))
        for m in model.modules()
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")
    )


def snapshot(model: nn.Module) -> dict[str, Any]:
    return {
        "training": [m.training for m in model.modules()],
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "hooks": hook_count(model),
    }


def run_concurrently(
    jobs: list[tuple[str, Callable[[], torch.Tensor]]],
) -> tuple[dict[str, list[torch.Tensor]], list[BaseException]]:
    """Each of THREADS threads runs every job ROUNDS times, in its own rotated order, all
    starting together."""
    results: dict[str, list[torch.Tensor]] = {name: [] for name, _ in jobs}
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def work(offset: int) -> None:
        start.wait()
        order = jobs[offset:] + jobs[:offset]
        for _ in range(ROUNDS):
            for name, job in order:
                try:
                    value = job()
                except BaseException as error:  # reported below, with the others
                    with lock:
                        errors.append(error)
                else:
                    with lock:
                        results[name].append(value)

    threads = [threading.Thread(target=work, args=(i % len(jobs),)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results, errors


def check_against_serial(model: nn.Module, x: torch.Tensor) -> None:
    before = snapshot(model)
    jobs = calls(model, x)
    serial = {name: job() for name, job in jobs}
    results, errors = run_concurrently(jobs)
    assert errors == []
    for name, values in results.items():
        assert len(values) == THREADS * ROUNDS, name
        for value in values:
            torch.testing.assert_close(value, serial[name], rtol=0, atol=0, msg=name)
    after = snapshot(model)
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["hooks"] == before["hooks"]
    for key, value in before["state"].items():  # BatchNorm running statistics included
        assert torch.equal(after["state"][key], value), key
    for old, new in zip(before["grads"], after["grads"], strict=True):
        assert (old is None and new is None) or torch.equal(old, new)


def test_every_method_on_a_shared_eval_mode_model() -> None:
    check_against_serial(models.small_cnn(), models.images(3))


def test_every_method_on_a_shared_train_mode_model_with_batch_norm() -> None:
    torch.manual_seed(0)
    model = models.DropoutBatchNorm().train()
    model(models.images(8))  # running statistics that are not the defaults
    for p in model.parameters():
        p.grad = torch.ones_like(p)  # the user's gradients, mid-training
    model.features[0].weight.requires_grad_(False)
    handle = model.head.register_forward_hook(lambda *_: None)  # the user's own hook
    try:
        check_against_serial(model, models.images(3))
        assert model.training and hook_count(model) == 1
    finally:
        handle.remove()


def test_evaluate_beside_explanations_sees_and_leaves_the_mode() -> None:
    torch.manual_seed(0)
    model = models.DropoutBatchNorm().train()
    x, y = models.images(16), torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(0))
    expected = xai.evaluate(model, (x, y)).accuracy
    jobs = [
        ("evaluate", lambda: torch.tensor(xai.evaluate(model, (x, y)).accuracy)),
        ("gradcam", lambda: xai.explain(model, x[:2], method="gradcam").attributions),
    ]
    results, errors = run_concurrently(jobs)
    assert errors == []
    assert all(float(value) == expected for value in results["evaluate"])
    assert model.training and all(m.training for m in model.modules())
