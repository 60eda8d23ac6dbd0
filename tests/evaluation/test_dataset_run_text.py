"""xai.explain_dataset on token ids with per-sample forward arguments (``model_kwargs``): the
reference text model explained with its attention masks equals xai.explain per batch, its
padding gets exactly 0, seeded methods stay bit-identical across batch sizes, the spec is part
of the run's settings, bad specs are named, and ``tokens=`` goes into the shards."""

from __future__ import annotations

import json
import warnings
from functools import cache

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

import xai
from tests.evaluation._models import collect, tabular_data, tabular_model
from xai.evaluation.dataset_run import explain_dataset, sample_seed
from xai.metrics import pointing_game_score

MASK = {"attention_mask": 3}  # (input_ids, labels, keyword_mask, attention_mask)


@cache
def _text() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], list[str]]:
    import reference_models

    ref = reference_models.load("keywords_text_cnn")
    return ref.model, tuple(t[:14] for t in ref.data["test"].tensors), list(ref.info.vocabulary)


class Rows(Dataset):
    """A plain map-style Dataset of (ids, label, attention_mask) tuples."""

    def __init__(self, ids: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> None:
        self.ids, self.labels, self.mask = ids, labels, mask

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):  # type: ignore[no-untyped-def]
        return self.ids[i], int(self.labels[i]), self.mask[i]


def _padded(mask: torch.Tensor) -> torch.Tensor:
    return mask == 0


# ------------------------------------------------------------------------- equality
def test_integrated_gradients_equals_explain_per_batch_with_the_masks(tmp_path) -> None:
    model, (ids, y, keywords, mask), _ = _text()
    ids, y, keywords, mask = ids[:10], y[:10], keywords[:10], mask[:10]
    assert bool(_padded(mask).any())  # the data hold padding, or this test shows nothing
    by_hand = {
        start: xai.explain(model, ids[start : start + 5], method="integrated_gradients",
                           target=y[start : start + 5], n_steps=4,
                           model_kwargs={"attention_mask": mask[start : start + 5]})
        for start in (0, 5)
    }  # fmt: skip
    spellings = {
        "field": (TensorDataset(ids, y, keywords, mask), MASK),
        "tensor": ((ids, y), {"attention_mask": mask}),
        "tuple_field": ((ids, y, keywords, mask), MASK),
        "dataset": (Rows(ids, y, mask), {"attention_mask": 2}),
        "loader": (DataLoader(TensorDataset(ids, y, keywords, mask), batch_size=5), MASK),
    }
    for name, (data, spec) in spellings.items():
        run = explain_dataset(model, data, "integrated_gradients", out=tmp_path / name,
                              target="label", batch_size=None if name == "loader" else 5,
                              n_steps=4, model_kwargs=spec, progress=False)  # fmt: skip
        assert run.complete and run.batch_size == 5 and len(run) == 2, name
        for expl in run:
            rows = expl.extras["indices"]
            reference = by_hand[int(rows[0])].attributions
            torch.testing.assert_close(expl.attributions, reference, rtol=0, atol=1e-5)
            # the padding is not explained: exactly 0, as xai.explain gives it
            assert bool((expl.attributions[_padded(mask[rows])] == 0).all()), name
            # predictions and confidence come from the masked forward
            with torch.no_grad():
                outputs = model(ids[rows], attention_mask=mask[rows])
            torch.testing.assert_close(expl.extras["outputs"], outputs, rtol=0, atol=1e-6)
            assert torch.equal(expl.extras["predictions"], outputs.argmax(1))
            assert torch.equal(expl.extras["labels"], y[rows]), name
            # the shard keeps the argument's name and the batch's shape, not the tensor
            assert (
                expl.params["model_kwargs"] == f"{{attention_mask: tensor ({len(rows)}, 24) int64}}"
            )
        # IG of the keyword model points at the keywords
        got = collect(run)
        score = pointing_game_score(got["attributions"], keywords, attention_mask=mask)
        assert float(score.mean()) >= 0.9, name
    recorded = xai.DatasetExplanation.load(tmp_path / "field").model_kwargs
    assert list(recorded) == ["attention_mask"] and recorded["attention_mask"]["field"] == 3
    recorded = xai.DatasetExplanation.load(tmp_path / "tensor").model_kwargs
    assert recorded["attention_mask"]["tensor"] == [10, 24]


def test_without_the_masks_the_padding_is_explained_and_a_warning_says_so(tmp_path) -> None:
    """What the masks prevent: occlusion without them attributes [PAD] positions."""
    model, (ids, y, _, mask), _ = _text()
    with pytest.warns(UserWarning, match="attention_mask"):
        bare = explain_dataset(model, (ids, y), "occlusion", out=tmp_path / "bare")
    assert bool((collect(bare)["attributions"][_padded(mask)] != 0).any())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning with the masks
        masked = explain_dataset(model, (ids, y, mask), "occlusion", out=tmp_path / "masked",
                                 model_kwargs={"attention_mask": 2})  # fmt: skip
    assert bool((collect(masked)["attributions"][_padded(mask)] == 0).all())


@pytest.mark.parametrize(
    ("method", "options"),
    [("lime", {"num_samples": 40}), ("shap", {"algorithm": "kernel", "nsamples": 40})],
)
def test_seeded_methods_are_bit_identical_across_batch_sizes(tmp_path, method, options) -> None:
    model, (ids, y, keywords, mask), _ = _text()
    data = TensorDataset(ids[:9], y[:9], keywords[:9], mask[:9])
    runs = [
        explain_dataset(model, data, method, out=tmp_path / str(size), batch_size=size, seed=5,
                        model_kwargs=MASK, progress=False, **options)
        for size in (4, 7)
    ]  # fmt: skip
    a, b = (collect(run)["attributions"] for run in runs)
    assert torch.equal(a, b)
    assert bool((a[_padded(mask[:9])] == 0).all())
    # sample i is xai.explain of it alone with its seed and its own mask row
    i = 6
    by_hand = xai.explain(model, ids[i : i + 1], method=method, seed=sample_seed(5, i),
                          model_kwargs={"attention_mask": mask[i : i + 1]}, **options)  # fmt: skip
    assert torch.equal(a[i : i + 1], by_hand.attributions)
    # the per-sample rows are joined again in the batch's params (a run's summary reads them)
    shard = runs[1].batch(0)
    assert shard.params["model_kwargs"] == "{attention_mask: tensor (7, 24) int64}"
    assert shard.params["seed"] == 5 and shard.extras["seeds"].tolist()[i] == sample_seed(5, i)
    summary = runs[0].summary(top_k=2)
    assert summary.kind == "text" and summary.n_samples == 9


# ------------------------------------------------------------------------- settings
def test_another_model_kwargs_spec_is_refused_on_resume(tmp_path) -> None:
    model, (ids, y, keywords, mask), _ = _text()
    data = TensorDataset(ids, y, keywords, mask)
    run = explain_dataset(model, data, "occlusion", out=tmp_path, model_kwargs=MASK)
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["run"]["model_kwargs"]["attention_mask"]["field"] == 3
    # the same spec resumes (nothing to do)
    again = explain_dataset(model, data, "occlusion", out=tmp_path, model_kwargs=MASK)
    assert again.complete and len(again) == len(run)
    other_mask = mask.clone()
    other_mask[-1] = 1
    changes = [
        (data, None),  # no masks now
        (data, {"attention_mask": mask}),  # the same masks, spelled as a tensor
        (data, {"mask": 3}),  # another name
        (TensorDataset(ids, y, keywords, other_mask), MASK),  # other mask values
    ]
    for changed_data, spec in changes:
        refused = pytest.raises(xai.InputError, match="model_kwargs")
        with refused as error, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the no-mask warning
            explain_dataset(model, changed_data, "occlusion", out=tmp_path, model_kwargs=spec)
        assert error.value.argument == "out", spec
    # a run without model_kwargs records none (runs written before the option resume)
    tabular, (x, labels) = tabular_model(), tabular_data(6)
    explain_dataset(tabular, (x, labels), "occlusion", out=tmp_path / "t")
    assert "model_kwargs" not in json.loads((tmp_path / "t" / "index.json").read_text())["run"]


def test_bad_model_kwargs_are_named(tmp_path) -> None:
    model, (ids, y, keywords, mask), _ = _text()
    four = TensorDataset(ids, y, keywords, mask)
    cases = [
        (four, {"attention_mask": 4}, "4 field"),  # out of range
        ((ids, y), {"attention_mask": 2}, "2 field"),
        (four, {"attention_mask": 0}, "the input itself"),
        (four, {"attention_mask": -1}, ">= 1"),
        (four, {"attention_mask": True}, "bool"),
        (four, {"attention_mask": 3.0}, "float"),
        (four, {"attention_mask": "3"}, "str"),
        (four, {3: 3}, "names"),  # a name that is not a str
        (four, [("attention_mask", 3)], "dict"),
        (four, {"attention_mask": mask[:5]}, "one row per sample"),
        (four, {"attention_mask": torch.tensor(1)}, "0-d"),
        (ids, {"attention_mask": 1}, "1 field"),  # plain tensors
        (Rows(ids, y, mask), {"attention_mask": 1}, "int, not a tensor"),
    ]
    for data, spec, words in cases:
        with pytest.raises((ValueError, TypeError)) as error:
            explain_dataset(model, data, "occlusion", out=tmp_path / "x", model_kwargs=spec)
        assert isinstance(error.value, xai.InputError), spec
        assert error.value.argument == "model_kwargs", spec
        assert words in str(error.value), (spec, str(error.value))
    assert not (tmp_path / "x").exists()  # refused before any file is written
    # field 1 as a forward argument: the samples have no labels then
    with pytest.raises(xai.InputError, match="Field 1") as error:
        explain_dataset(model, TensorDataset(ids, mask), "occlusion", out=tmp_path / "y",
                        target="label", model_kwargs={"attention_mask": 1})  # fmt: skip
    assert error.value.argument == "target"
    run = explain_dataset(model, TensorDataset(ids, mask), "occlusion", out=tmp_path / "z",
                          model_kwargs={"attention_mask": 1})  # fmt: skip
    assert "labels" not in run.batch(0).extras
    assert bool((collect(run)["attributions"][_padded(mask)] == 0).all())


# ------------------------------------------------------------------------- tokens
def test_tokens_go_into_the_shards(tmp_path) -> None:
    model, (ids, y, _, mask), vocabulary = _text()

    def strings(batch: torch.Tensor) -> list[list[str]]:
        return [[vocabulary[i] for i in row] for row in batch.tolist()]

    for method, options in (("occlusion", {}), ("lime", {"num_samples": 20})):
        run = explain_dataset(model, (ids[:6], y[:6], mask[:6]), method, out=tmp_path / method,
                              batch_size=4, model_kwargs={"attention_mask": 2}, tokens=strings,
                              **options)  # fmt: skip
        stored = [row for expl in run for row in expl.tokens]
        assert stored == strings(ids[:6]), method
        assert run.sample(5).tokens == strings(ids[5:6])
    bad = [
        (vocabulary, (ids, y), "callable"),
        (lambda batch: [["a"]] * len(batch), (ids, y), "tokens"),  # one string per row, not L
        (strings, tabular_data(6), "token ids"),
    ]
    for tokens, data, words in bad:
        with pytest.raises(xai.InputError, match=words) as error, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            explain_dataset(tabular_model() if data[0].is_floating_point() else model, data,
                            "occlusion", out=tmp_path / "bad", tokens=tokens,
                            overwrite=True)  # fmt: skip
        assert error.value.argument == "tokens"
