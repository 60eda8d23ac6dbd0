"""xai.explain_dataset in one process: the kinds of data, equality across batch sizes, seeded
methods, the run folder's rules (settings, foreign folders, overwrite, leftovers), reading a
run back and its summary, and every method on every reference model."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

import xai
from tests.evaluation._models import (
    TextModel,
    collect,
    image_data,
    image_model,
    tabular_data,
    tabular_model,
)
from xai.evaluation.dataset_run import DatasetExplanation, explain_dataset, sample_seed
from xai.explainers.registry import explainer_class

# float32 results of the same samples in batches of other sizes: matrix products of other
# shapes may round differently in the last bits
CLOSE = {"rtol": 1e-5, "atol": 1e-6}


class Pairs(Dataset):
    """A plain map-style Dataset of (x, y, extra) tuples."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):  # type: ignore[no-untyped-def]
        return self.x[i], int(self.y[i]), "ignored"


# ------------------------------------------------------------------------- data kinds
def test_every_kind_of_data_gives_the_same_run(tmp_path) -> None:
    model, (x, y) = tabular_model(), tabular_data(23)
    reference = xai.explain(model, x, method="integrated_gradients", target=y, n_steps=8)
    kinds = {
        "tensors": (x, y),
        "tensor_dataset": TensorDataset(x, y),
        "dataset": Pairs(x, y),
        "loader": DataLoader(Pairs(x, y), batch_size=5, collate_fn=lambda b: (
            torch.stack([s[0] for s in b]), torch.tensor([s[1] for s in b])
        )),
    }  # fmt: skip
    for name, data in kinds.items():
        run = explain_dataset(
            model, data, "integrated_gradients", out=tmp_path / name, target="label",
            batch_size=None if name == "loader" else 7, n_steps=8, progress=False,
        )  # fmt: skip
        got = collect(run)
        assert run.complete and run.n_samples == 23
        assert run.batch_size == (5 if name == "loader" else 7)
        assert torch.equal(got["indices"], torch.arange(23)), name
        assert torch.equal(got["target"], y), name
        assert torch.equal(got["inputs"], x), name
        torch.testing.assert_close(got["attributions"], reference.attributions, **CLOSE)


def test_inputs_alone_are_explained_for_the_predicted_class(tmp_path) -> None:
    model, (x, _) = tabular_model(), tabular_data(9)
    run = explain_dataset(model, x, "integrated_gradients", out=tmp_path, n_steps=4)
    assert torch.equal(collect(run)["target"], model(x).argmax(1))
    with pytest.raises(xai.InputError) as error:
        explain_dataset(model, x, "integrated_gradients", out=tmp_path / "b", target="label")
    assert error.value.argument == "target"


def test_bad_arguments_name_themselves(tmp_path) -> None:
    model, (x, y) = tabular_model(), tabular_data(9)
    cases = [
        ({"data": [1, 2]}, "data"),
        ({"data": DataLoader(TensorDataset(x, y), shuffle=True)}, "data"),
        ({"target": "labels"}, "target"),
        ({"target": -1}, "target"),
        ({"batch_size": 0}, "batch_size"),
        ({"method": "gradcam"}, "method"),  # images only
        ({"method": "integrated_gradients", "seed": 3}, "seed"),  # deterministic
        ({"progress": "yes"}, "progress"),
    ]
    for change, argument in cases:
        arguments = {"data": (x, y), "method": "integrated_gradients", **change}
        with pytest.raises(xai.InputError) as error:
            explain_dataset(model, out=tmp_path / "x", **arguments)
        assert error.value.argument == argument, change
    with pytest.raises(xai.InputError):
        explain_dataset(model, (x, y), "no_such_method", out=tmp_path / "y")


# ------------------------------------------------------------------------- equality
@pytest.mark.parametrize("method", ["integrated_gradients", "occlusion", "gradcam"])
def test_deterministic_methods_equal_across_batch_sizes(tmp_path, method) -> None:
    model, (x, y) = image_model(), image_data(13)
    runs = [
        collect(explain_dataset(model, (x, y), method, out=tmp_path / str(size),
                                batch_size=size, **explainer_class(method).quick_options))
        for size in (1, 4, 13)
    ]  # fmt: skip
    for other in runs[1:]:
        torch.testing.assert_close(other["attributions"], runs[0]["attributions"], **CLOSE)
        assert torch.equal(other["target"], runs[0]["target"])


@pytest.mark.parametrize("method", ["smoothgrad", "shap", "lime"])
def test_seeded_methods_equal_whatever_the_batch_size(tmp_path, method) -> None:
    model, (x, y) = tabular_model(), tabular_data(11)
    options = dict(explainer_class(method).quick_options)
    if method == "lime":
        options["num_samples"] = 40
    if method == "shap":
        options["nsamples"] = 30
    runs = [
        explain_dataset(model, (x, y), method, out=tmp_path / str(size), batch_size=size,
                        seed=7, **options)
        for size in (1, 3, 11)
    ]  # fmt: skip
    got = [collect(run)["attributions"] for run in runs]
    # each sample is explained with its own seed, alone: the same numbers, bit for bit
    assert all(torch.equal(g, got[0]) for g in got[1:])
    # ... and that seed is sample_seed(run seed, index): one sample explained by hand agrees
    by_hand = xai.explain(model, x[4:5], method=method, seed=sample_seed(7, 4), **options)
    assert torch.equal(got[0][4:5], by_hand.attributions)
    first = runs[0].batch(4)
    assert first.params["seed"] == 7 and int(first.extras["seeds"][0]) == sample_seed(7, 4)
    # another run seed gives other numbers
    other = explain_dataset(model, (x, y), method, out=tmp_path / "o", seed=8, **options)
    assert not torch.equal(collect(other)["attributions"], got[0])


def test_sample_seeds_differ_and_are_stable() -> None:
    seeds = [sample_seed(0, i) for i in range(1000)]
    assert len(set(seeds)) == 1000
    assert all(0 <= s < 2**32 for s in seeds)
    assert sample_seed(0, 5) == sample_seed(0, 5) != sample_seed(1, 5)


# ------------------------------------------------------------------------- the folder
def test_index_records_the_run(tmp_path) -> None:
    model, (x, y) = tabular_model(), tabular_data(10)
    explain_dataset(model, (x, y), "smoothgrad", out=tmp_path, batch_size=4, seed=3, nsamples=4)
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["format"] == "xai.dataset_explanation"
    assert index["run"]["method"] == "smoothgrad" and index["run"]["seed"] == 3
    assert index["run"]["options"] == {"nsamples": 4}
    assert index["params"]["nsamples"] == 4 and index["params"]["seed"] == 3
    assert "torch" in index["versions"]
    assert [s["file"] for s in index["shards"]] == [f"shard-{b:06d}.safetensors" for b in range(3)]
    assert [(s["start"], s["stop"]) for s in index["shards"]] == [(0, 4), (4, 8), (8, 10)]
    assert index["progress"] == {
        "done_batches": 3, "n_batches": 3, "done_samples": 10, "n_samples": 10, "complete": True,
    }  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.json"] + [
        s["file"] for s in index["shards"]
    ]


def test_other_settings_in_an_existing_run_are_an_error_naming_out(tmp_path) -> None:
    model, (x, y) = tabular_model(), tabular_data(10)
    explain_dataset(model, (x, y), "integrated_gradients", out=tmp_path, n_steps=4)
    changes = [
        {"n_steps": 5},
        {"n_steps": 4, "batch_size": 3},
        {"n_steps": 4, "target": "label"},
        {"n_steps": 4, "data": (x + 1, y)},
        {"n_steps": 4, "model": tabular_model(seed=1)},
    ]
    for change in changes:
        arguments = {"model": model, "data": (x, y), **change}
        with pytest.raises(xai.InputError) as error:
            explain_dataset(method="integrated_gradients", out=tmp_path, **arguments)
        assert error.value.argument == "out"
        assert str(tmp_path) in str(error.value) and "overwrite=True" in str(error.value)
    # the method changes too: overwrite=True replaces the run
    run = explain_dataset(model, (x, y), "smoothgrad", out=tmp_path, overwrite=True, nsamples=2)
    assert run.method == "smoothgrad" and run.complete
    # the same settings without resume: an error unless overwrite
    with pytest.raises(xai.InputError, match="resume=True"):
        explain_dataset(model, (x, y), "smoothgrad", out=tmp_path, resume=False, nsamples=2)
    again = explain_dataset(
        model, (x, y), "smoothgrad", out=tmp_path, resume=False, overwrite=True, nsamples=2
    )
    assert again.complete


def test_folders_xai_did_not_write_are_refused_even_with_overwrite(tmp_path) -> None:
    model, (x, y) = tabular_model(), tabular_data(6)
    (tmp_path / "thesis.tex").write_text("precious")
    for overwrite in (False, True):
        with pytest.raises(xai.InputError, match=r"thesis\.tex") as error:
            explain_dataset(
                model, (x, y), "integrated_gradients", out=tmp_path, overwrite=overwrite
            )
        assert error.value.argument == "out"
    assert (tmp_path / "thesis.tex").read_text() == "precious"
    (tmp_path / "thesis.tex").unlink()
    (tmp_path / "index.json").write_text('{"format": "something else"}')
    with pytest.raises(xai.InputError, match="not an xai dataset run"):
        explain_dataset(model, (x, y), "integrated_gradients", out=tmp_path, overwrite=True)
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(xai.InputError, match="is a file"):
        explain_dataset(model, (x, y), "integrated_gradients", out=a_file)


def test_resume_skips_stored_batches_and_removes_leftover_temporaries(tmp_path) -> None:
    model, (x, y) = tabular_model(), tabular_data(12)
    whole = collect(explain_dataset(model, (x, y), "integrated_gradients", out=tmp_path / "a",
                                    batch_size=4, n_steps=4))  # fmt: skip
    run_dir = tmp_path / "b"
    explain_dataset(model, (x, y), "integrated_gradients", out=run_dir, batch_size=4, n_steps=4)
    (run_dir / "shard-000001.safetensors").unlink()  # as if the run had stopped there
    leftover = run_dir / ".shard-000001.safetensors.0123456789ab.tmp"
    leftover.write_bytes(b"half a shard")
    kept = (run_dir / "shard-000002.safetensors").stat().st_mtime_ns
    assert not DatasetExplanation.load(run_dir).complete  # the temporary is not a shard
    calls = []
    handle = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        run = explain_dataset(
            model, (x, y), "integrated_gradients", out=run_dir, batch_size=4, n_steps=4
        )
    finally:
        handle.remove()
    assert run.complete and not leftover.exists()
    assert (run_dir / "shard-000002.safetensors").stat().st_mtime_ns == kept
    assert 0 < len(calls) <= 4  # one batch: our forward, the method's passes
    got = collect(run)
    assert torch.equal(got["attributions"], whole["attributions"])
    assert torch.equal(got["indices"], torch.arange(12))


# ------------------------------------------------------------------------- reading a run
def test_iteration_is_lazy_and_batches_and_samples_are_found(tmp_path, monkeypatch) -> None:
    model, (x, y) = tabular_model(), tabular_data(10)
    explain_dataset(model, (x, y), "integrated_gradients", out=tmp_path, batch_size=4, n_steps=4)
    run = xai.DatasetExplanation.load(tmp_path)
    assert (len(run), run.n_batches, run.n_samples, run.done_samples) == (3, 3, 10, 10)
    loaded = []
    original = xai.Explanation.load.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        xai.Explanation,
        "load",
        classmethod(lambda cls, path, **kw: loaded.append(path) or original(cls, path, **kw)),
    )
    iterator = iter(run)
    assert loaded == []
    first = next(iterator)
    assert len(loaded) == 1 and len(first) == 4
    assert torch.equal(run.sample(9).inputs, x[9:10])
    assert int(run.sample(9).extras["indices"][0]) == 9
    with pytest.raises(xai.InputError):
        run.sample(10)
    with pytest.raises(FileNotFoundError):
        xai.DatasetExplanation.load(tmp_path / "missing")


def test_summary_equals_the_statistics_of_all_attributions(tmp_path) -> None:
    model, (x, y) = tabular_model(), tabular_data(30)
    run = explain_dataset(model, (x, y), "integrated_gradients", out=tmp_path, target="label",
                          batch_size=7, n_steps=8, feature_names=[f"f{i}" for i in range(6)])  # fmt: skip
    got = collect(run)
    a = got["attributions"].double()
    summary = run.summary(top_k=3)
    assert summary.kind == "tabular" and summary.n_samples == 30 and summary.num_classes == 3
    torch.testing.assert_close(summary.importance.double(), a.abs().mean(0), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(summary.mean_attribution.double(), a.mean(0), rtol=1e-6, atol=1e-7)
    for k in range(3):
        rows = y == k
        torch.testing.assert_close(summary.class_maps[k].double(), a[rows].mean(0), rtol=1e-6,
                                   atol=1e-7)  # fmt: skip
    assert summary.class_counts["label"].tolist() == torch.bincount(y, minlength=3).tolist()
    predicted = model(x).argmax(1)
    assert (
        summary.class_counts["predicted"].tolist()
        == torch.bincount(predicted, minlength=3).tolist()
    )
    assert summary.accuracy == pytest.approx(float((predicted == y).double().mean()))
    confidence = torch.softmax(model(x).detach().double(), 1).max(1).values
    top = confidence.argsort(descending=True)[:3]
    assert summary.most_confident.extras["indices"].tolist() == top.tolist()
    assert torch.equal(summary.most_confident.attributions, got["attributions"][top])
    assert summary.least_confident.extras["indices"].tolist() == confidence.argsort()[:3].tolist()
    assert summary.feature_names == [f"f{i}" for i in range(6)]
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["n_samples"] == 30 and len(data["most_confident"]) == 3


def test_image_and_text_summaries(tmp_path) -> None:
    model, (x, y) = image_model(), image_data(10)
    summary = explain_dataset(model, (x, y), "gradcam", out=tmp_path / "i", batch_size=4).summary()
    assert summary.kind == "image" and summary.importance.shape == (8, 8)
    assert summary.class_maps.shape == (3, 8, 8)
    ids = torch.randint(0, 20, (12, 5), generator=torch.Generator().manual_seed(0))
    try:
        xai.explain(TextModel(), ids[:1], method="integrated_gradients", n_steps=2)
    except TypeError:
        pytest.skip("the explainers of this tree do not take token ids (N, L) yet")
    text = explain_dataset(TextModel(), ids, "integrated_gradients", out=tmp_path / "t",
                           batch_size=5, n_steps=4).summary()  # fmt: skip
    assert text.kind == "text" and text.importance.shape == (5,)
    assert text.vocabulary and sum(v["count"] for v in text.vocabulary) <= 60
    assert all(
        v["mean_abs"] >= w["mean_abs"]
        for v, w in zip(text.vocabulary, text.vocabulary[1:], strict=False)
    )


# ------------------------------------------------------------------------- every method
def _reference_cases() -> list[tuple[str, str]]:
    import reference_models

    cases = []
    for name in reference_models.available():
        ref = reference_models.load(name)
        sample = ref.data["test"].tensors[0][:1]
        for method in xai.available_explainers():
            if explainer_class(method).accepts(sample):
                cases.append((name, method))
    return cases


@pytest.mark.parametrize(("name", "method"), _reference_cases())
def test_every_method_on_every_reference_model(tmp_path, name, method) -> None:
    import reference_models

    ref = reference_models.load(name)
    tensors = tuple(t[:6] for t in ref.data["test"].tensors)
    x, y = tensors[:2]
    options = dict(explainer_class(method).quick_options)
    if method == "lime":
        options["num_samples"] = 40
    forward = {}
    if not x.is_floating_point():
        # the text model's samples are (input_ids, labels, keyword_mask, attention_mask): its
        # padding is read and explained only without the masks
        forward = {"model_kwargs": {"attention_mask": 3}}
    run = explain_dataset(ref.model, tensors, method, out=tmp_path, target="label", batch_size=4,
                          **forward, **options)  # fmt: skip
    assert run.complete and len(run) == 2
    got = collect(run)
    assert torch.equal(got["target"], y) and torch.equal(got["indices"], torch.arange(6))
    assert bool(torch.isfinite(got["attributions"]).all())
    if forward:
        padding = tensors[3] == 0
        assert bool(padding.any()) and bool((got["attributions"][padding] == 0).all())
        assert bool((got["attributions"][~padding] != 0).any())
    summary = run.summary(top_k=2)
    assert summary.n_samples == 6 and len(summary.most_confident) == 2
