"""One error type for bad user input (:mod:`xai.errors`), read by its ``.argument`` and never by
its message text, and the checks written once in :mod:`xai._validation` (targets, sample
indices, unknown names) used by every part of the library."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import reference_models
import xai
import xai.viz
from xai._layers import resolve_layer
from xai._model import ModelFunction, call_model
from xai._state import eval_mode
from xai._validation import check_sample_index, normalize_target
from xai.cli.common import flag_message
from xai.errors import IndexTypeError, InputError, InputIndexError, InputTypeError
from xai.metrics import get_quality_metric
from xai.metrics._checks import check_target
from xai.metrics.faithfulness import deletion_auc
from xai.training.checkpoint import load_checkpoint


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).eval()


def rows(n: int = 4) -> torch.Tensor:
    return torch.randn(n, 6, generator=torch.Generator().manual_seed(1))


def raised(call: Callable[[], Any]) -> InputError:
    with pytest.raises(InputError) as info:
        call()
    return info.value


# ------------------------------------------------------------------ the error types


def test_the_error_types() -> None:
    error = InputError("weights", "expected a .safetensors file, got 'x.pt'.")
    assert isinstance(error, ValueError) and not isinstance(error, TypeError)
    assert error.argument == "weights"
    assert str(error) == "weights: expected a .safetensors file, got 'x.pt'."
    wrong_type = InputTypeError("seed", "expected an int, got str.")
    assert isinstance(wrong_type, TypeError) and isinstance(wrong_type, ValueError)
    out_of_range = InputIndexError("index", "expected an int in [0, 3), got 5.")
    assert isinstance(out_of_range, IndexError) and not isinstance(out_of_range, TypeError)
    index_type = IndexTypeError("index", "expected an int in [0, 3), got 1.0.")
    assert all(isinstance(index_type, t) for t in (TypeError, IndexError, ValueError, InputError))
    assert xai.InputError is InputError and xai.InputTypeError is InputTypeError
    assert {"InputError", "InputTypeError"} <= set(xai.__all__)


@pytest.mark.parametrize("cls", [InputError, InputTypeError, InputIndexError, IndexTypeError])
def test_errors_survive_pickling(cls: type[InputError]) -> None:
    """Errors cross process boundaries (pytest-xdist workers, multiprocessing pools)."""
    error = cls("target", "expected an int, got 'cat'.")
    error.add_note("while explaining batch 3")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert (copy.argument, copy.detail, str(copy)) == (error.argument, error.detail, str(error))
    assert copy.__notes__ == ["while explaining batch 3"]


def test_renamed_keeps_the_class_and_the_detail() -> None:
    error = InputTypeError("path", "expected a str or Path, got int.")
    renamed = error.renamed("weights")
    assert type(renamed) is InputTypeError and renamed.argument == "weights"
    assert str(renamed) == "weights: expected a str or Path, got int."


# ------------------------------------------------------------------ public calls


@pytest.mark.parametrize(
    ("target", "cls"),
    [
        (99, InputError),
        (-1, InputError),
        ([0, 1], InputError),
        (torch.zeros(2, 2, dtype=torch.long), InputError),
        (1.5, InputTypeError),
        (True, InputTypeError),
        ("cat", InputTypeError),
        (torch.tensor([0.0, 1.0, 2.0, 0.0]), InputTypeError),
    ],
)
def test_explain_with_a_bad_target(target: Any, cls: type[InputError]) -> None:
    error = raised(lambda: xai.explain(mlp(), rows(), "integrated_gradients", target=target))
    assert type(error) is cls and error.argument == "target"
    assert str(error).startswith("target: ")


def test_explain_with_bad_inputs_and_options() -> None:
    model = mlp()
    error = raised(lambda: xai.explain(model, rows().long()))
    assert isinstance(error, TypeError) and error.argument == "inputs"
    error = raised(lambda: xai.explain(model, rows()[0]))
    assert error.argument == "inputs" and "unsqueeze(0)" in str(error)
    error = raised(lambda: xai.explain(model, rows(), "integrated_gradients", n_step=4))
    assert isinstance(error, TypeError) and error.argument == "n_step"
    assert "Did you mean 'n_steps'?" in str(error)
    error = raised(lambda: xai.explain(model, rows(), "integrated_gradient"))
    assert error.argument == "method" and "Did you mean 'integrated_gradients'?" in str(error)
    error = raised(lambda: xai.explain(model, rows()[:, :5]))  # the model needs 6 features
    assert error.argument == "inputs" and "the model failed on inputs" in str(error)
    error = raised(lambda: xai.explain(model, rows(), output="logits"))
    assert error.argument == "output"


def test_evaluate_with_bad_data() -> None:
    model = mlp()
    error = raised(lambda: xai.evaluate(model, "data.csv"))
    assert isinstance(error, TypeError) and error.argument == "data"
    error = raised(lambda: xai.evaluate(model, (rows(4), torch.zeros(3, dtype=torch.long))))
    assert error.argument == "data" and "same number of rows" in str(error)
    error = raised(lambda: xai.evaluate(model, (rows(4)[:, :5], torch.zeros(4, dtype=torch.long))))
    assert error.argument == "data" and "the model failed on inputs" in str(error)
    error = raised(lambda: xai.evaluate(model, (rows(), torch.zeros(4)), batch_size=0))
    assert error.argument == "batch_size"


def test_a_metric_with_bad_attributions_or_target() -> None:
    model, x = mlp(), rows()
    target = torch.zeros(4, dtype=torch.long)
    error = raised(lambda: deletion_auc(model, x, torch.zeros(5, 3), target))
    assert error.argument == "attributions" and "expected the inputs' shape" in str(error)
    error = raised(lambda: deletion_auc(model, x, x.numpy(), target))
    assert isinstance(error, TypeError) and error.argument == "attributions"
    error = raised(lambda: deletion_auc(model, x, x, None))
    assert isinstance(error, TypeError) and error.argument == "target"
    assert "Pass explanation.target" in str(error)
    error = raised(lambda: deletion_auc(model, x, x, 3))
    assert error.argument == "target" and "valid targets are 0..2" in str(error)
    error = raised(lambda: get_quality_metric("deletion"))
    assert error.argument == "metrics" and "Did you mean 'deletion_auc'?" in str(error)


def test_evaluate_explanation_with_another_model() -> None:
    expl = xai.explain(mlp(), rows(), "integrated_gradients", n_steps=4)
    other = nn.Sequential(nn.Linear(5, 3))
    error = raised(lambda: xai.evaluate_explanation(other, expl, metrics=["deletion_auc"]))
    assert error.argument == "explanation"
    assert "Is `model` the model that was explained" in str(error)


def test_unknown_layer_names_the_closest() -> None:
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))
    model.add_module("head", nn.Linear(4, 2))
    error = raised(lambda: resolve_layer(model, "feature"))
    assert error.argument == "layer" and "Did you mean 'features'" in str(error)
    assert "Submodules: features, features.0, features.1, head." in str(error)
    error = raised(lambda: resolve_layer(model, 3))
    assert isinstance(error, TypeError) and error.argument == "layer"


def test_reference_model_weights_error_is_about_weights(tmp_path: Path) -> None:
    """load_checkpoint's error is about its `path`; reference_models.load passes the user's
    `weights` on as that path and re-raises the error under its own name."""
    broken = tmp_path / "digits.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(InputError) as info:
        load_checkpoint(broken)
    assert info.value.argument == "path"
    error = raised(lambda: reference_models.load("digits_cnn", weights=broken))
    assert error.argument == "weights" and "is not a readable safetensors file" in str(error)
    assert isinstance(error.__cause__, InputError) and error.__cause__.argument == "path"
    error = raised(lambda: reference_models.get_recipe("digits"))
    assert error.argument == "name" and "Did you mean 'digits_cnn'?" in str(error)


# ------------------------------------------------------------------ decisions by argument


class _NeedsSixFeatures(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def test_call_model_passes_input_errors_through_whatever_their_text() -> None:
    """An InputError from reading the model's scores already names its argument: call_model
    does not turn it into "the model failed on inputs", however it is worded."""
    model, inputs = _NeedsSixFeatures(), torch.randn(3, 5)  # the model fails on these inputs

    for detail in ("could not select 'logits' ...", "reworded: no 'output:' prefix at all"):
        error = InputError("output", detail)

        def run(_: torch.Tensor, error: InputError = error) -> Any:
            raise error

        with pytest.raises(InputError) as info:
            call_model(model, inputs, run=run)
        assert info.value is error

    # a plain ValueError whose text *looks* like an output error is the model's failure
    def looks_like_output(_: torch.Tensor) -> Any:
        raise ValueError("output: not from xai")

    with pytest.raises(InputError) as info:
        call_model(model, inputs, name="data", run=looks_like_output)
    assert info.value.argument == "data" and "the model failed on inputs" in str(info.value)


def test_call_model_reads_output_errors_from_model_function() -> None:
    function = ModelFunction(mlp(), output="logits")  # the model returns a plain tensor
    with pytest.raises(InputError) as info:
        call_model(function.model, rows(), run=function)
    assert info.value.argument == "output"


def test_flag_message_reads_the_argument_not_the_text() -> None:
    assert flag_message(InputError("weights", "bad file.")) == "--weights: bad file."
    # the detail may start with another parameter's name: .argument decides
    assert flag_message(InputError("weights", "data: in it is\nbroken.")) == (
        "--weights: data: in it is broken."
    )
    assert flag_message(InputError("path", "no file."), {"path": "--weights"}) == (
        "--weights: no file."
    )
    assert flag_message(InputError("layer", "no such layer.")) == "layer: no such layer."
    # exceptions of other types are read by the name their message starts with
    assert flag_message(FileNotFoundError("weights: no file at 'x'.")) == (
        "--weights: no file at 'x'."
    )
    assert flag_message(RuntimeError("CUDA out of memory: tried")) == "CUDA out of memory: tried"


# ------------------------------------------------------------------ one target normaliser


def test_one_target_normaliser_for_explainers_and_metrics() -> None:
    assert normalize_target(np.int64(2), 3) == 2 and normalize_target(2, 3) == 2
    assert normalize_target(torch.tensor(2), 3).tolist() == [2, 2, 2]
    for target in (np.int64(2), torch.tensor(2), 2):
        assert check_target(target, 3, torch.device("cpu")).tolist() == [2, 2, 2]
    for target in ([0, 1, 2], np.array([0, 1, 2]), (0, 1, 2), torch.tensor([0, 1, 2])):
        assert normalize_target(target, 3).tolist() == [0, 1, 2]
        assert check_target(target, 3, torch.device("cpu")).tolist() == [0, 1, 2]
    for bad in (True, np.bool_(True), 1.5, torch.tensor([True, False, True])):
        for check in (lambda t: normalize_target(t, 3), lambda t: check_target(t, 3, "cpu")):
            with pytest.raises(InputTypeError, match=r"^target: "):
                check(bad)
    assert normalize_target(None, 3) is None
    with pytest.raises(InputTypeError, match=r"Pass explanation\.target"):
        check_target(None, 3, torch.device("cpu"))


# ------------------------------------------------------------------ one sample-index check


GOOD_INDICES = [1, np.int64(1), np.int32(1), torch.tensor(1), np.array(1), -1]
BAD_TYPES = [True, np.bool_(False), 1.0, np.float64(1.0), torch.tensor(1.0), "1", None]


@pytest.fixture(scope="module")
def tabular() -> xai.Explanation:
    return xai.explain(mlp(), rows(2), "integrated_gradients", n_steps=4)


@pytest.fixture(scope="module")
def images() -> xai.Explanation:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    ).eval()
    return xai.explain(model, torch.rand(2, 3, 6, 6), "integrated_gradients", n_steps=4)


def _places(tabular: xai.Explanation, images: xai.Explanation) -> dict[str, Callable[[Any], Any]]:
    """Every public function that takes one sample's index, as ``index -> result``."""
    model = mlp()
    report = xai.evaluate_explanation(model, tabular, metrics=["deletion_auc", "insertion_auc"])
    comparison = xai.compare(
        model,
        tabular.inputs,
        methods=["integrated_gradients"],
        metrics=["deletion_auc"],
        options={"integrated_gradients": {"n_steps": 4}},
    )
    return {
        "Explanation[index]": lambda i: tabular[i],
        "Explanation.plot": lambda i: tabular.plot(i),
        "plot_explanation": lambda i: xai.viz.plot_explanation(images, i),
        "plot_comparison": lambda i: xai.viz.plot_comparison([tabular, tabular], i),
        "overlay_image": lambda i: xai.viz.overlay_image(images, i),
        "attribution_scale": lambda i: xai.viz.attribution_scale([images], i),
        "plot_perturbation_curves": lambda i: xai.viz.plot_perturbation_curves(report, i),
        "plot_method_comparison": lambda i: xai.viz.plot_method_comparison(comparison, i),
    }


def test_every_sample_index_is_checked_the_same_way(
    tabular: xai.Explanation, images: xai.Explanation
) -> None:
    for place, call in _places(tabular, images).items():
        for index in GOOD_INDICES:
            call(index)  # numpy and 0-d tensor ints are ints everywhere
        for index in BAD_TYPES:
            if index is None and place == "plot_perturbation_curves":
                continue  # None is its default: the mean over samples
            with pytest.raises(IndexTypeError, match=r"^index: expected an int") as info:
                call(index)
            assert isinstance(info.value, TypeError) and isinstance(info.value, IndexError), place
        for index in (2, -3, np.int64(5), torch.tensor(2)):
            with pytest.raises(
                InputIndexError, match=r"^index: expected an int in \[0, 2\), got -?\d; "
            ) as info:
                call(index)
            assert not isinstance(info.value, TypeError), place
    # a slice, a sequence or a mask select several samples, only in Explanation[...]
    assert len(tabular[[0, 1]]) == 2 and len(tabular[torch.tensor([True, False])]) == 1


def test_check_sample_index() -> None:
    assert [check_sample_index(i, 3) for i in (0, 2, -1, -3, np.int64(1), torch.tensor(2))] == [
        0,
        2,
        2,
        0,
        1,
        2,
    ]
    with pytest.raises(IndexTypeError, match=r"^position: expected an int in \[0, 3\), got True"):
        check_sample_index(True, 3, name="position")
    with pytest.raises(InputIndexError, match=r"got 3; 3 is out of range for 3 samples"):
        check_sample_index(3, 3)


# ------------------------------------------------------------------ one mode save/restore


def test_eval_mode_restores_every_submodule_mode() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Linear(2, 2)).train()
    model[2].eval()
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not any(m.training for m in model.modules())
        raise RuntimeError("the body fails")
    assert [m.training for m in model.modules()] == [True, True, True, False]


def test_evaluate_leaves_modes_and_gradients_as_found() -> None:
    model = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.5), nn.Linear(8, 3)).train()
    model(rows()).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    report = xai.evaluate(model, (rows(), torch.tensor([0, 1, 2, 0])))
    assert report.n_samples == 4
    assert all(m.training for m in model.modules())
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads, strict=True))
