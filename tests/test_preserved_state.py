"""``xai._state.preserved_state``: the model and numpy's random state are left as found."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.modules import module as module_globals

from xai._state import preserved_state


def small_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def hook_counts(model: nn.Module) -> list[int]:
    return [len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules()]


def test_modes_flags_grads_and_hooks_are_restored() -> None:
    model = small_model()
    model.train()
    model[1].eval()  # a mixed state, as fine-tuning code leaves it
    first, last = model[0].weight, model[3].bias
    first.grad = torch.full_like(first, 2.0)
    last.requires_grad_(False)
    user_hook = model[0].register_forward_hook(lambda *args: None)
    before = hook_counts(model)

    with preserved_state(model):
        assert not any(m.training for m in model.modules())
        model[2].register_forward_hook(lambda *args: None)
        model[3].register_full_backward_hook(lambda *args: None)
        global_hook = nn.modules.module.register_module_forward_hook(lambda *args: None)
        first.grad.zero_()  # changed in place: the saved copy is restored
        last.requires_grad_(True)
        model(torch.randn(3, 4)).sum().backward()

    assert [m.training for m in model.modules()] == [True, True, False, True, True]
    assert torch.equal(first.grad, torch.full_like(first, 2.0))
    assert model[3].weight.grad is None and not last.requires_grad
    assert hook_counts(model) == before
    assert model[3]._is_full_backward_hook is None
    assert global_hook.id not in module_globals._global_forward_hooks
    assert user_hook.id in model[0]._forward_hooks
    user_hook.remove()


def test_state_is_restored_when_the_body_raises() -> None:
    model = small_model().train()
    with pytest.raises(RuntimeError, match="boom"), preserved_state(model):
        model[0].register_forward_hook(lambda *args: None)
        raise RuntimeError("boom")
    assert all(m.training for m in model.modules())
    assert hook_counts(model) == [0] * len(list(model.modules()))


@pytest.mark.parametrize("library_code", [True, False])
def test_numpy_random_state(library_code: bool) -> None:
    np.random.seed(7)
    with preserved_state(small_model(), library_code=library_code):
        inside = np.random.random_sample()
    after = np.random.random_sample()
    if library_code:  # the draw inside is undone: the next draw repeats it
        assert after == inside
    else:  # left alone: the stream goes on
        assert after != inside
        np.random.seed(7)
        assert np.random.random_sample() == inside


def test_parameters_and_buffers_added_inside_are_removed() -> None:
    model = small_model()
    weight = model[0].weight
    names = list(model.state_dict())
    with preserved_state(model):
        model[2].x = nn.Parameter(torch.ones(3))  # what shap's DeepExplainer does
        model[1].register_buffer("extra", torch.zeros(2))
        model[0].weight = nn.Parameter(torch.zeros_like(weight))  # replaced: put back
    assert list(model.state_dict()) == names
    assert model[0].weight is weight


class WrappedMLP(nn.Module):
    """A custom module around a Sequential: shap's clean-up does not reach inside it."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_shap_deep_leaves_the_state_dict_loadable() -> None:
    import xai

    model = WrappedMLP()
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(5, 4)
    xai.explain(model, x, method="shap", algorithm="deep", background=x)
    assert list(model.state_dict()) == list(saved)
    model.load_state_dict(saved)  # strict: fails on keys shap left behind
