"""xai.Explanation: views, figures, save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from safetensors import safe_open
from safetensors.torch import save_file

import xai
from tests.explainers import models
from xai.viz import plot_comparison


@pytest.fixture(scope="module")
def image_expl() -> xai.Explanation:
    return xai.explain(
        models.small_cnn(), models.images(3), method="integrated_gradients", n_steps=8
    )


@pytest.fixture(scope="module")
def tabular_expl() -> xai.Explanation:
    return xai.explain(models.small_mlp(), models.rows(), method="lime", num_samples=80, seed=0)


def test_heatmap_and_numpy(image_expl: xai.Explanation, tabular_expl: xai.Explanation) -> None:
    torch.testing.assert_close(image_expl.heatmap(), image_expl.attributions.sum(1))
    assert image_expl.heatmap().shape == (3, 12, 12)
    assert tabular_expl.heatmap().shape == (4, 6)
    array = image_expl.numpy()
    assert isinstance(array, np.ndarray) and array.shape == (3, 1, 12, 12)
    np.testing.assert_array_equal(array, image_expl.attributions.numpy())


def test_gradcam_heatmap_is_single_channel() -> None:
    expl = xai.explain(models.small_cnn(channels=3), models.images(2, channels=3), method="gradcam")
    assert expl.attributions.shape == (2, 1, 12, 12)
    assert expl.heatmap().shape == (2, 12, 12)


def test_indexing_keeps_per_sample_extras(image_expl: xai.Explanation) -> None:
    one = image_expl[1]
    assert len(one) == 1 and one.method == image_expl.method
    torch.testing.assert_close(one.attributions[0], image_expl.attributions[1])
    torch.testing.assert_close(
        one.extras["convergence_delta"], image_expl.extras["convergence_delta"][1:2]
    )
    assert len(image_expl[[0, 2]]) == 2
    with pytest.raises(
        IndexError, match=r"index: expected an int in \[0, 3\), got 5; 5 is out of range for 3"
    ):
        image_expl[5]


@pytest.mark.parametrize(
    ("index", "rows"),
    [
        (np.int64(2), [2]),
        (torch.tensor(1), [1]),
        (-1, [2]),
        (np.array([2, 0]), [2, 0]),
        (torch.tensor([1, -3]), [1, 0]),
        ([True, False, True], [0, 2]),
        (torch.tensor([False, True, False]), [1]),
    ],
    ids=["numpy-int", "0d-tensor", "negative", "numpy-array", "tensor", "bool-list", "bool-mask"],
)
def test_indexing_with_numpy_and_torch_indices(
    image_expl: xai.Explanation, index: object, rows: list[int]
) -> None:
    picked = image_expl[index]
    assert torch.equal(picked.attributions, image_expl.attributions[rows])
    assert torch.equal(picked.target, image_expl.target[rows])
    assert torch.equal(
        picked.extras["convergence_delta"], image_expl.extras["convergence_delta"][rows]
    )


@pytest.mark.parametrize(
    ("index", "error", "message"),
    [
        (
            1.0,
            TypeError,
            r"index: expected an int, a slice, a sequence of ints or a boolean mask "
            r"of 3 values, got float 1\.0",
        ),
        ("0", TypeError, r"index: expected an int, .* got str '0'"),
        ([True], TypeError, r"index: expected an int, .* got list"),
        ([0, 5], IndexError, r"index: expected an int in \[0, 3\), got 5; 5 is out of range"),
        (np.array([-4]), IndexError, r"index: expected an int in \[0, 3\), got -4; -4 is out"),
    ],
)
def test_bad_indices(
    image_expl: xai.Explanation, index: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        image_expl[index]


def test_constructor_checks_shapes() -> None:
    with pytest.raises(ValueError, match=r"attributions: expected the inputs' shape \(2, 3\)"):
        xai.Explanation(torch.zeros(2, 4), torch.zeros(2, 3), torch.zeros(2), "custom")
    with pytest.raises(ValueError, match=r"target: expected shape \(2,\), got \(3,\)"):
        xai.Explanation(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3), "custom")


def _image_colour_limits(figure: Figure) -> tuple[float, float]:
    attribution_axes = figure.axes[1]
    return attribution_axes.images[-1].get_clim()


def test_plot_image_uses_diverging_map_for_signed_values(image_expl: xai.Explanation) -> None:
    figure = image_expl.plot(0)
    assert isinstance(figure, Figure)
    shown = figure.axes[1].images[-1]
    assert shown.get_cmap().name == "RdBu_r"
    low, high = shown.get_clim()
    assert low == pytest.approx(-high) and high == pytest.approx(
        float(image_expl.heatmap()[0].abs().max())
    )


def test_plot_image_sequential_map_for_gradcam() -> None:
    expl = xai.explain(
        models.small_cnn(), models.images(2), method="gradcam", relu_attributions=True
    )
    shown = expl.plot(0).axes[1].images[-1]
    assert shown.get_cmap().name == "inferno" and shown.get_clim()[0] == 0.0


def test_plot_shared_scale(image_expl: xai.Explanation) -> None:
    per_map = [_image_colour_limits(image_expl.plot(i))[1] for i in range(3)]
    shared = [_image_colour_limits(image_expl.plot(i, shared_scale=True))[1] for i in range(3)]
    assert len(set(per_map)) == 3
    assert shared == [pytest.approx(float(image_expl.heatmap().abs().max()))] * 3


def test_plot_tabular_bars_with_feature_names(tabular_expl: xai.Explanation) -> None:
    names = [f"feature {i}" for i in range(6)]
    figure = tabular_expl.plot(2, feature_names=names, max_features=4)
    axis = figure.axes[0]
    assert len(axis.patches) == 4
    labels = [tick.get_text() for tick in axis.get_yticklabels()]
    top = int(tabular_expl.attributions[2].abs().argmax())
    assert labels[-1] == f"feature {top}"  # the largest bar is drawn on top
    with pytest.raises(ValueError, match="feature_names: expected 6 names, got 2"):
        tabular_expl.plot(0, feature_names=["a", "b"])
    with pytest.raises(IndexError, match=r"index: expected an int in \[0, 4\), got 9"):
        tabular_expl.plot(9)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"max_features": 0}, ValueError, r"max_features: expected an integer >= 1, got 0"),
        ({"max_features": "5"}, TypeError, r"max_features: expected an integer >= 1, got str"),
        ({"feature_names": "abcdef"}, TypeError, r"feature_names: expected a sequence of names"),
        ({"feature_names": [1, 2, 3, 4, 5, 6]}, TypeError, r"feature_names: expected a sequence"),
        ({"overlay": "no"}, TypeError, r"overlay: expected True or False, got str 'no'"),
        ({"shared_scale": 1}, TypeError, r"shared_scale: expected True or False, got int 1"),
        ({"ax": "left"}, TypeError, r"ax: expected a matplotlib Axes, got str"),
        ({"index": 0.0}, IndexError, r"index: expected an int in \[0, 4\), got 0\.0"),
    ],
)
def test_plot_rejects_bad_options(
    tabular_expl: xai.Explanation, options: dict, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        tabular_expl.plot(**options)


def test_plot_takes_numpy_and_negative_indices(tabular_expl: xai.Explanation) -> None:
    last = tabular_expl.plot(-1).axes[0].get_title()
    assert last == tabular_expl.plot(np.int64(3)).axes[0].get_title()
    assert "sample 3" in last


def test_plot_comparison_checks_its_arguments(
    tabular_expl: xai.Explanation, image_expl: xai.Explanation
) -> None:
    with pytest.raises(TypeError, match=r"explanations\[1\]: expected an xai\.Explanation"):
        plot_comparison([tabular_expl, tabular_expl.attributions])
    with pytest.raises(IndexError, match=r"index: expected an int in \[0, 3\), got 3"):
        plot_comparison([tabular_expl, image_expl], 3)  # image_expl has 3 samples


def test_save_load_round_trip(tmp_path: Path, image_expl: xai.Explanation) -> None:
    path = image_expl.save(tmp_path / "ig.safetensors")
    loaded = xai.Explanation.load(path)
    for name in ("attributions", "inputs", "target"):
        assert torch.equal(getattr(loaded, name), getattr(image_expl, name))
    assert loaded.method == "integrated_gradients"
    assert loaded.params["n_steps"] == 8 and loaded.params["baselines"] is None
    assert torch.equal(loaded.extras["convergence_delta"], image_expl.extras["convergence_delta"])
    assert loaded.extras["library_versions"] == image_expl.extras["library_versions"]
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on a machine without CUDA"
)
def test_load_onto_a_missing_gpu(tmp_path: Path, image_expl: xai.Explanation) -> None:
    path = image_expl.save(tmp_path / "ig.safetensors")
    with pytest.raises(
        ValueError, match=r"device: 'cuda' asked for a CUDA GPU, but none is available"
    ):
        xai.Explanation.load(path, device="cuda")


@pytest.mark.parametrize(
    ("method", "option"), [("integrated_gradients", "baselines"), ("shap", "background")]
)
def test_save_options_that_share_memory_with_the_inputs(
    tmp_path: Path, method: str, option: str
) -> None:
    x = models.rows()
    reference = x[0] if option == "baselines" else x  # a view of the inputs, or the inputs
    explanation = xai.explain(models.small_mlp(), x, method=method, **{option: reference})
    loaded = xai.Explanation.load(explanation.save(tmp_path / "shared.safetensors"))
    assert torch.equal(loaded.inputs, x)
    assert torch.equal(loaded.params[option], reference)
    assert torch.equal(loaded.attributions, explanation.attributions)


def test_saved_file_is_plain_safetensors_with_json_header(
    tmp_path: Path, tabular_expl: xai.Explanation
) -> None:
    path = tabular_expl.save(tmp_path / "lime.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        keys = set(handle.keys())
    assert metadata["format"] == "xai.explanation"
    header = json.loads(metadata["xai"])
    assert header["params"]["seed"] == 0 and header["method"] == "lime"
    assert {"attributions", "inputs", "target", "extras.intercept", "extras.score"} <= keys


def test_tensor_params_and_callables_are_stored_without_pickle(tmp_path: Path) -> None:
    baselines = torch.full((1, 6), 0.25)
    expl = xai.explain(
        models.small_mlp(), models.rows(), baselines=baselines, n_steps=4, output=lambda out: out
    )
    loaded = xai.Explanation.load(expl.save(tmp_path / "e.safetensors"))
    assert torch.equal(loaded.params["baselines"], baselines)
    assert loaded.params["output"].startswith("<callable")
    assert isinstance(loaded.params["output"], xai.explanation.UnsavedOption)
    assert callable(expl.params["output"])  # in memory: the option itself, re-runnable


def test_load_rejects_other_files(tmp_path: Path) -> None:
    other = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(ValueError, match="is a safetensors file but not an xai explanation"):
        xai.Explanation.load(other)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match=r"is not a safetensors file written by Explanation\.save"):
        xai.Explanation.load(garbage)
    with pytest.raises(FileNotFoundError, match="path: no explanation file"):
        xai.Explanation.load(tmp_path / "missing.safetensors")


def test_comparison_figure(image_expl: xai.Explanation) -> None:
    gradcam = xai.explain(models.small_cnn(), models.images(3), method="gradcam")
    figure = plot_comparison([image_expl, gradcam], index=1)
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert titles == ["input", "integrated_gradients", "gradcam"]  # the input panel first
