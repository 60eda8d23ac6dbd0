"""The pytest plugin, run through pytester: options, fixtures, the three files, failures,
JUnit properties and pytest-xdist."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.report.conftest import PLUGIN_ARGS
from xai.report import SCHEMA_VERSION, validation_errors

EXAMPLE = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

import xai


def test_good(xai_report):
    assert xai_report.metric("accuracy", torch.tensor(0.93), threshold=0.9)
    xai_report.metric("latency_error", 0.2, threshold=0.5, higher_is_better=False)
    xai_report.table("per class", [{"class": "a", "f1": 0.9}, {"class": "b", "f1": 0.8}])
    figure, axis = plt.subplots()
    axis.plot([0, 1], [1, 0])
    xai_report.figure("a line", figure)


def test_bad_metric(xai_report):
    assert xai_report.metric("f1", 0.5, threshold=0.8), "f1 below 0.8"


def test_explained(xai_report):
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    x = torch.randn(2, 3)
    expl = [xai.explain(model, x, method="integrated_gradients", n_steps=4),
            xai.explain(model, x, method="lime", num_samples=20, seed=7)]
    xai_report.explanation("two methods", expl, samples=1)


def test_crashes(xai_report):
    xai_report.metric("before_crash", 1.0)
    raise RuntimeError("the model exploded")


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass
"""


def _load(directory: Path) -> dict:
    document = json.loads((directory / "report.json").read_text())
    assert validation_errors(document) == []
    return document


def _tests(document: dict) -> dict[str, dict]:
    return {t["nodeid"].split("::")[-1]: t for t in document["tests"]}


def test_report_files_and_content(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=EXAMPLE)
    out = pytester.path / "report"
    result = pytester.runpytest_inprocess(
        *PLUGIN_ARGS, "--xai-report", str(out), "--junitxml", "junit.xml", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2, failed=2, skipped=1)
    result.stdout.fnmatch_lines([f"xai report: {out.resolve() / 'index.html'}"])

    document = _load(out)
    assert document["schema_version"] == SCHEMA_VERSION
    counts = document["summary"]["counts"]
    assert (counts["passed"], counts["failed"], counts["skipped"]) == (2, 2, 1)
    tests = _tests(document)
    good = tests["test_good"]
    assert good["outcome"] == "passed"
    assert [(m["name"], m["value"], m["passed"]) for m in good["metrics"]] == [
        ("accuracy", pytest.approx(0.93), True),
        ("latency_error", 0.2, True),
    ]
    assert good["tables"][0] == {
        "name": "per class",
        "columns": ["class", "f1"],
        "rows": [["a", 0.9], ["b", 0.8]],
    }
    png = base64.b64decode(good["figures"][0]["png"])
    assert png.startswith(b"\x89PNG")
    bad = tests["test_bad_metric"]
    assert bad["outcome"] == "failed" and "f1 below 0.8" in bad["message"]
    assert bad["metrics"][0]["passed"] is False
    crashed = tests["test_crashes"]
    assert crashed["outcome"] == "failed" and "the model exploded" in crashed["message"]
    assert crashed["metrics"][0]["name"] == "before_crash"
    assert tests["test_skipped"]["outcome"] == "skipped"
    assert "not today" in tests["test_skipped"]["message"]
    gallery = tests["test_explained"]["figures"]
    assert [f["kind"] for f in gallery] == ["explanation"]
    assert "integrated_gradients, lime" in gallery[0]["caption"]
    headline = document["summary"]["headline_metrics"]
    assert {(m["name"], m["passed"]) for m in headline} == {
        ("accuracy", True),
        ("latency_error", True),
        ("f1", False),
    }
    provenance = document["provenance"]
    assert provenance["libraries"]["torch"] == __import__("torch").__version__
    assert provenance["device"]["device"] in ("cpu", "cuda")
    assert 7 in provenance["seeds"]["explanations"]
    assert provenance["date"].startswith("20")

    page = (out / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "the model exploded" in page and "per class" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3", "")
    assert 'src="http' not in page and "<link" not in page

    summary = (out / "summary.md").read_text()
    assert "2 passed" in summary and "2 failed" in summary
    assert "| f1 | 0.5 | ≥ 0.8 | ❌ fail |" in summary
    assert r"<code>test\_example.py::test\_crashes</code> (failed)" in summary
    assert not list(out.glob(".*.tmp")), "temporary files left behind"

    junit = ET.parse(pytester.path / "junit.xml")
    properties = {
        (case.get("name"), p.get("name")): p.get("value")
        for case in junit.iter("testcase")
        for p in case.iter("property")
    }
    assert float(properties[("test_good", "xai.accuracy")]) == pytest.approx(0.93)
    assert properties[("test_bad_metric", "xai.f1")] == "0.5"


def test_without_option_writes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        def test_records(xai_report):
            assert not xai_report.enabled
            assert xai_report.metric("accuracy", 0.99, threshold=0.9)
            xai_report.figure("f", plt.figure())
            assert plt.get_fignums() == []  # closed, not rendered
        """
    )
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--junitxml", "junit.xml")
    result.assert_outcomes(passed=1)
    assert "xai report" not in result.stdout.str()
    assert sorted(p.name for p in pytester.path.iterdir() if not p.name.startswith(".")) == [
        "junit.xml",
        "test_without_option_writes_nothing.py",
    ]
    assert 'name="xai.accuracy" value="0.99"' in (pytester.path / "junit.xml").read_text()


def test_options_in_their_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--help")
    result.stdout.fnmatch_lines(["xai evaluation report:", "*--xai-report=DIR*"])


def test_report_path_that_is_a_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    (pytester.path / "taken").write_text("")
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--xai-report", "taken")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--xai-report: expected a folder*taken*"])


def test_fixture_rejects_bad_input(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_bad(xai_report):
            with pytest.raises(TypeError, match="value: expected a number"):
                xai_report.metric("accuracy", "high")
            with pytest.raises(TypeError, match="name: expected a non-empty string"):
                xai_report.metric("", 1.0)
            with pytest.raises(TypeError, match="figure: expected a matplotlib Figure"):
                xai_report.figure("f", [1, 2])
            with pytest.raises(TypeError, match="explanation: expected an xai.Explanation"):
                xai_report.explanation("e", "not one")
            with pytest.raises(TypeError, match="columns="):
                xai_report.table("t", [[1, 2]])
            with pytest.raises(ValueError, match="threshold: expected a finite number"):
                xai_report.metric("accuracy", 1.0, threshold=float("nan"))
        """
    )
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--xai-report", "out")
    result.assert_outcomes(passed=1)


def test_reference_model_fixture_loads_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("i", [0, 1])
        def test_model(xai_reference_model, i):
            ref = xai_reference_model("breast_cancer_mlp")
            assert ref is xai_reference_model("breast_cancer_mlp")
            ref.model.tag = getattr(ref.model, "tag", 0) + 1
            assert ref.model.tag == i + 1  # the same object in both tests
        """
    )
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--xai-report", "out")
    result.assert_outcomes(passed=2)
    models = _load(pytester.path / "out")["models"]
    assert models["breast_cancer_mlp"]["task"] == "tabular-classification"


def test_xdist_workers_records_are_merged(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.parametrize("i", range(4))
        def test_worker(xai_report, i):
            xai_report.metric(f"m{i}", float(i))
            xai_report.table("where", {"worker": os.environ["PYTEST_XDIST_WORKER"]})
            assert i != 3, "three fails"
        """
    )
    result = pytester.runpytest_subprocess(
        *PLUGIN_ARGS, "-n", "2", "--xai-report", "out", "-p", "no:cacheprovider", timeout=120
    )
    result.assert_outcomes(passed=3, failed=1)
    document = _load(pytester.path / "out")
    tests = _tests(document)
    assert sorted(tests) == [f"test_worker[{i}]" for i in range(4)]
    for i in range(4):
        assert [m["name"] for m in tests[f"test_worker[{i}]"]["metrics"]] == [f"m{i}"]
    workers = {t["tables"][0]["rows"][0][1] for t in tests.values()}
    assert workers == {"gw0", "gw1"}
    assert tests["test_worker[3]"]["outcome"] == "failed"
    assert "three fails" in tests["test_worker[3]"]["message"]
