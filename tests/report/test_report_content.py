"""What the report tells a reader (issue 19): a failed threshold as its verdict, captured
output per test, the seeds each test started with, the provenance of the user's project, and a
page with failures first, linked from the summary."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.report.conftest import PLUGIN_ARGS
from xai.report import Metric, Report, render_html, validation_errors
from xai.report.model import MetricCheck


def test_metric_check_reads_as_its_verdict() -> None:
    failing = MetricCheck(Metric("accuracy", 0.40625, 0.9))
    assert not failing and failing == False  # noqa: E712 (the comparison is the point)
    assert repr(failing) == "accuracy 0.4062 < threshold 0.9"
    assert repr(MetricCheck(Metric("accuracy", 0.95, 0.9))) == "accuracy 0.95 >= threshold 0.9"
    lower = MetricCheck(Metric("latency_error", 0.7, 0.5, higher_is_better=False))
    assert not lower and repr(lower) == "latency_error 0.7 > threshold 0.5"
    assert MetricCheck(Metric("log_loss", 0.3)) and repr(MetricCheck(Metric("log_loss", 0.3))) == (
        "log_loss 0.3"
    )
    missing = MetricCheck(Metric("f1", None, 0.8))
    assert not missing and "not a finite number" in repr(missing)


RUN = """
import logging
import sys

import torch

torch.manual_seed(1234)  # at collection, before any test starts


def test_threshold(xai_report):
    print("evaluating on 4 samples")
    logging.getLogger("mymodel").warning("calibration is off")
    assert xai_report.metric("accuracy", 0.406, threshold=0.9)


def test_seeds_itself(xai_report):
    xai_report.table("seed", {"at_start": torch.initial_seed()})
    torch.manual_seed(0)
    print("to stderr", file=sys.stderr)


def test_after(xai_report):
    xai_report.table("seed", {"at_start": torch.initial_seed()})
"""


def _run(pytester: pytest.Pytester, *extra: str) -> dict:
    pytester.makepyfile(test_run=RUN)
    result = pytester.runpytest_inprocess(
        *PLUGIN_ARGS, "--xai-report", "out", "-p", "no:cacheprovider", *extra
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*assert accuracy 0.406 < threshold 0.9*"])
    assert "assert False" not in result.stdout.str()
    document = json.loads((pytester.path / "out" / "report.json").read_text())
    assert validation_errors(document) == []
    return document


def test_run_records_verdicts_output_and_seeds(pytester: pytest.Pytester) -> None:
    document = _run(pytester)
    tests = {t["nodeid"].split("::")[-1]: t for t in document["tests"]}
    failed = tests["test_threshold"]
    assert failed["summary"] == "AssertionError: assert accuracy 0.406 < threshold 0.9"
    sections = {s["name"]: s["text"] for s in failed["sections"]}
    assert "evaluating on 4 samples" in sections["Captured stdout call"]
    assert "calibration is off" in sections["Captured log call"]
    stderr = {s["name"]: s["text"] for s in tests["test_seeds_itself"]["sections"]}
    assert stderr["Captured stderr call"] == "to stderr\n"
    # the seeds as each test started: the seeding test's manual_seed(0) shows in the next
    # test's record, not as the run's seed
    at_start = tests["test_seeds_itself"]["tables"][0]["rows"][0][1]
    assert tests["test_seeds_itself"]["seeds"] == {"torch_initial_seed": at_start}
    assert tests["test_after"]["seeds"] == {"torch_initial_seed": 0}
    run_seed = document["provenance"]["seeds"]["torch_initial_seed"]
    assert run_seed == tests["test_threshold"]["seeds"]["torch_initial_seed"] == at_start == 1234

    page = (pytester.path / "out" / "index.html").read_text()
    summary_part, tests_part = page.split('<nav id="contents">', 1)
    assert "accuracy 0.406 &lt; threshold 0.9" in summary_part  # in the summary's failure list
    anchor = f'id="test-{list(tests).index("test_threshold")}"'
    assert f'href="#{anchor[4:-1]}"' in summary_part and anchor in tests_part
    assert tests_part.index(anchor) < tests_part.index("test_seeds_itself<span")  # first
    assert "<details" in tests_part and "Captured stdout call" in tests_part
    assert "<script" not in page


def test_provenance_is_the_users_project(pytester: pytest.Pytester) -> None:
    if shutil.which("git") is None:
        pytest.skip("needs git")

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=u", "-c", "user.email=u@x", *arguments],
            cwd=pytester.path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    git("init", "-q")
    (pytester.path / "model.py").write_text("WEIGHTS = 1\n")
    git("add", "model.py")
    git("commit", "-q", "-m", "first")
    commit = git("rev-parse", "HEAD")
    provenance = _run(pytester)["provenance"]
    assert provenance["git_commit"] == commit and provenance["git_dirty"] is False
    assert Path(provenance["root"]) == pytester.path  # pytest's rootdir, not xai's checkout

    (pytester.path / "model.py").write_text("WEIGHTS = 2\n")
    shutil.rmtree(pytester.path / "out")
    provenance = _run(pytester)["provenance"]
    assert provenance["git_commit"] == commit and provenance["git_dirty"] is True
    page = (pytester.path / "out" / "index.html").read_text()
    assert f"commit {commit[:12]} (with local changes)" in page


def test_report_root_option_names_the_project(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """``xai report`` runs the suite from xai's folder; the project is where it started."""
    provenance = _run(pytester, "--xai-report-root", str(tmp_path))["provenance"]
    assert provenance["root"] == str(tmp_path) and provenance["git_commit"] is None


def test_headers_may_break_after_underscores_only() -> None:
    report = Report()
    record = report.record("t.py::test_x")
    from xai.report.model import Table

    record.tables.append(Table("q", ["completeness_error ↓", "<b>x</b>"], [[0.1, 1]]))
    page = render_html(report)
    assert "<th>completeness_<wbr>error ↓</th>" in page
    assert "<th>&lt;b&gt;x&lt;/b&gt;</th>" in page


def test_seeds_and_output_survive_xdist(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_run=RUN)
    result = pytester.runpytest_subprocess(
        *PLUGIN_ARGS, "-n", "2", "--xai-report", "out", "-p", "no:cacheprovider", timeout=180
    )
    result.assert_outcomes(passed=2, failed=1)
    document = json.loads((pytester.path / "out" / "report.json").read_text())
    assert validation_errors(document) == []
    tests = {t["nodeid"].split("::")[-1]: t for t in document["tests"]}
    for name in ("test_threshold", "test_seeds_itself", "test_after"):
        assert set(tests[name]["seeds"]) == {"torch_initial_seed"}, name
    assert tests["test_threshold"]["summary"].endswith("accuracy 0.406 < threshold 0.9")
    sections = {s["name"] for s in tests["test_threshold"]["sections"]}
    assert {"Captured stdout call", "Captured log call"} <= sections
