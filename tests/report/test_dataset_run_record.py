"""``xai_report.dataset_run``: a dataset explanation run recorded in a test's section (its
settings, counts, confident samples and summary figures)."""

from __future__ import annotations

import json

import pytest

from tests.report.conftest import PLUGIN_ARGS
from xai.report import validation_errors

RUN_TEST = """
import reference_models
import xai


def test_run(xai_report, tmp_path):
    ref = reference_models.load("breast_cancer_mlp")
    x, y = ref.data["test"].tensors
    run = xai.explain_dataset(ref.model, (x[:24], y[:24]), method="integrated_gradients",
                              out=tmp_path / "ig", batch_size=8, n_steps=8, progress=False)
    xai_report.dataset_run("breast cancer IG", run, top_k=3)
    xai_report.dataset_run("again, from its folder", tmp_path / "ig", top_k=2)


def test_not_a_run(xai_report):
    import pytest
    with pytest.raises(TypeError, match="run: expected an xai.DatasetExplanation"):
        xai_report.dataset_run("bad", 3)
"""


def test_a_dataset_run_is_recorded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_runs=RUN_TEST)
    out = pytester.path / "report"
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, f"--xai-report={out}")
    result.assert_outcomes(passed=2)
    document = json.loads((out / "report.json").read_text())
    assert validation_errors(document) == []
    (test,) = [t for t in document["tests"] if t["nodeid"].endswith("test_run")]
    tables = {table["name"]: table for table in test["tables"]}
    settings = dict(tables["breast cancer IG: run"]["rows"])
    assert settings["method"] == "integrated_gradients"
    assert settings["samples"] == "24 of 24" and settings["complete"] is True
    counts = tables["breast cancer IG: samples per class"]["rows"]
    assert len(counts) == 2  # two classes; the columns hold predicted/target counts
    assert (
        sum(
            row[tables["breast cancer IG: samples per class"]["columns"].index("target")]
            for row in counts
        )
        == 24
    )
    assert len(tables["breast cancer IG: most confident"]["rows"]) == 3
    assert len(tables["again, from its folder: least confident"]["rows"]) == 2
    names = [figure["name"] for figure in test["figures"]]
    assert "breast cancer IG: summary" in names and "breast cancer IG: least confident" in names
    assert "breast cancer IG" in (out / "index.html").read_text()
