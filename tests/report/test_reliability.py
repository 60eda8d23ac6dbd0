"""The report does not lose, hide or overwrite: summary.md escapes what the run put in it, a
pytest-xdist worker that dies loses only its running test, a folder that cannot be written is a
non-zero exit naming it, and files xai did not write are never replaced."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import xai.report
from tests.report.conftest import PLUGIN_ARGS
from xai.cli import main
from xai.errors import InputError
from xai.report import Metric, Report, render_markdown, write_report
from xai.report.writers import MARKER, prepare_folder

HOSTILE = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(1)>"


def _outside_our_tags(markdown: str) -> str:
    """The summary without the ``<code>``/``</code>`` tags the writer itself puts there."""
    return markdown.replace("<code>", "").replace("</code>", "")


def _cells(row: str) -> list[str]:
    """A Markdown table row split on its unescaped pipes."""
    return re.split(r"(?<!\\)\|", row)[1:-1]


# ------------------------------------------------------------------------------ summary.md


def test_summary_escapes_html_and_markdown() -> None:
    """Test names, metric and model names, messages and the title reached summary.md raw
    (CI job summaries render it as HTML)."""
    report = Report(title=f"title {HOSTILE}")
    report.models[f"model `{IMAGE}`"] = {}
    record = report.record(f"t.py::test_x[{HOSTILE}|`x`]")
    record.metrics.append(Metric(f"{IMAGE} | *bold* [link](javascript:alert(1))", 0.5, 0.8))
    record.outcome = "failed"
    record.message = f"AssertionError: {IMAGE}\n  <b>last</b> line | ~~struck~~ $x$"
    report.provenance = {"date": "2024-01-01", "git_commit": "<b>abc</b>"}
    summary = render_markdown(report)
    assert "<" not in _outside_our_tags(summary), summary
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in summary
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in summary
    assert "\\*bold\\*" in summary and "\\[link\\]\\(javascript:alert\\(1\\)\\)" in summary
    assert "\\~\\~struck\\~\\~ \\$x\\$" in summary
    rows = [line for line in summary.splitlines() if line.startswith("| <code>")]
    assert len(rows) == 1 and len(_cells(rows[0])) == 5  # the pipes in names stay text
    assert "`" not in summary.replace("\\`", "")  # no code span to break out of


def test_summary_of_a_run_with_hostile_names(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.parametrize("name", [{HOSTILE!r}])
        def test_named(xai_report, name):
            assert xai_report.metric({IMAGE!r}, 0.1, threshold=0.5), {IMAGE!r}
        """
    )
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--xai-report", "out")
    result.assert_outcomes(failed=1)
    summary = (pytester.path / "out" / "summary.md").read_text()
    assert "<" not in _outside_our_tags(summary), summary
    assert "test\\_named\\[&lt;script&gt;" in summary and "&lt;img src=x" in summary
    page = (pytester.path / "out" / "index.html").read_text()
    assert HOSTILE not in page and IMAGE not in page  # the page escaped them already


# ------------------------------------------------------------------------------ xdist

DYING = """
import os

import pytest


@pytest.mark.parametrize("i", range(5))
def test_step(xai_report, i):
    xai_report.metric(f"m{i}", float(i))
    xai_report.table("where", {"worker": os.environ["PYTEST_XDIST_WORKER"]})
    if i == 2:
        os._exit(1)  # the worker dies, mid-test, without any shutdown
"""


def test_a_dying_worker_loses_only_its_running_test(pytester: pytest.Pytester) -> None:
    """The records of test_step[0] and [1], passed on the worker before it died, were lost
    (sent only at the worker's end); they are now journalled as each test finishes."""
    pytester.makepyfile(test_dying=DYING)
    result = pytester.runpytest_subprocess(
        *PLUGIN_ARGS, "-n", "1", "--xai-report", "out", "-p", "no:cacheprovider", timeout=180
    )
    result.assert_outcomes(passed=4, failed=1)
    out = pytester.path / "out"
    document = json.loads((out / "report.json").read_text())
    assert xai.report.validation_errors(document) == []
    tests = {t["nodeid"].split("::")[-1]: t for t in document["tests"]}
    assert sorted(tests) == [f"test_step[{i}]" for i in range(5)]
    for i in (0, 1, 3, 4):
        assert [m["name"] for m in tests[f"test_step[{i}]"]["metrics"]] == [f"m{i}"], i
        assert tests[f"test_step[{i}]"]["outcome"] == "passed"
    workers = {i: tests[f"test_step[{i}]"]["tables"][0]["rows"][0][1] for i in (0, 1, 3, 4)}
    assert workers[0] == workers[1] != workers[3] == workers[4]  # before and after the crash
    crashed = tests["test_step[2]"]
    assert crashed["outcome"] == "failed" and crashed["metrics"] == []  # only it is lost
    assert "crashed" in crashed["message"]
    assert sorted(p.name for p in out.iterdir()) == [
        MARKER,
        "index.html",
        "report.json",
        "summary.md",
    ]  # the spool folder is gone


# ------------------------------------------------------------------------------ folders


def test_unwritable_report_folder_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """Was exit code 0 with one terminal line at the end."""
    pytester.makepyfile("def test_x():\n    pass\n")
    (pytester.path / "blocker").write_text("a file where a folder should be")
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--xai-report", "blocker/report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--xai-report: cannot write the report into the folder*blocker/report*"]
    )
    assert "passed" not in result.stdout.str()  # no test ran


def test_report_that_cannot_be_written_at_the_end_is_a_non_zero_exit(
    pytester: pytest.Pytester,
) -> None:
    """The folder is taken away while the tests run: exit code 3, naming the folder (was 0)."""
    pytester.makepyfile(
        """
        import shutil
        from pathlib import Path

        def test_takes_the_folder(xai_report):
            xai_report.metric("m", 1.0)
            shutil.rmtree("out")
            Path("out").write_text("now a file")
        """
    )
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--xai-report", "out")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    folder = pytester.path / "out"
    result.stdout.fnmatch_lines(
        [f"xai report: could not write the report into the folder {folder}*"]
    )


def test_a_users_index_html_is_never_replaced(pytester: pytest.Pytester) -> None:
    """An existing index.html was replaced silently."""
    pytester.makepyfile("def test_x(xai_report):\n    xai_report.metric('m', 1.0)\n")
    site = pytester.path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>my page</h1>")
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--xai-report", "site")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--xai-report: 'site' holds index.html, which xai did not write*"]
    )
    assert (site / "index.html").read_text() == "<h1>my page</h1>"
    assert sorted(p.name for p in site.iterdir()) == ["index.html"]


def test_xai_replaces_only_what_it_wrote(pytester: pytest.Pytester) -> None:
    """A folder xai wrote is rewritten run after run; other files in it are left alone; a
    report file changed since xai wrote it is refused."""
    pytester.makepyfile("def test_x(xai_report):\n    xai_report.metric('m', 1.0)\n")
    out = pytester.path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # a folder with other files is fine
    for _ in range(2):
        result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--xai-report", "out")
        assert result.ret == pytest.ExitCode.OK
    assert sorted(p.name for p in out.iterdir()) == [
        MARKER,
        "index.html",
        "notes.txt",
        "report.json",
        "summary.md",
    ]
    marker = json.loads((out / MARKER).read_text())
    assert marker["format"] == "xai.report-folder"
    assert sorted(marker["files"]) == ["index.html", "report.json", "summary.md"]
    (out / "summary.md").write_text("edited by hand")
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--xai-report", "out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'out' holds summary.md, which xai did not write*"])
    assert (out / "summary.md").read_text() == "edited by hand"
    assert (out / "notes.txt").read_text() == "mine"


def test_write_report_refuses_files_it_did_not_write(tmp_path: Path) -> None:
    report = Report(provenance={"date": "2024-01-01"})
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(InputError, match=r"holds report\.json, which xai did not write") as caught:
        write_report(report, tmp_path)
    assert caught.value.argument == "directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    (tmp_path / "report.json").unlink()
    paths = write_report(report, tmp_path)
    assert paths["html"] == tmp_path / "index.html"
    write_report(report, tmp_path)  # its own files: replaced
    (tmp_path / MARKER).write_text("not json")
    with pytest.raises(InputError, match="is not the marker xai writes"):
        write_report(report, tmp_path)
    with pytest.raises(InputError, match="expected a folder for the report, got the existing file"):
        prepare_folder(tmp_path / "index.html")


def test_cli_report_refuses_a_folder_with_a_users_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "index.html").write_text("mine")
    assert main(["report", "--model", "breast_cancer_mlp", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "xai report: --out:" in err and "holds index.html, which xai did not write" in err
    assert (tmp_path / "index.html").read_text() == "mine"


def test_journal_lines_and_a_torn_last_line(tmp_path: Path) -> None:
    """What a worker appends per test (one line, one write) and how the controller merges the
    journals: a partial last line, from a worker killed while writing it, is skipped."""
    import types

    from xai._files import append_line
    from xai.pytest_plugin import ReportCollector

    journal = tmp_path / "spool" / "gw0-1.jsonl"
    journal.parent.mkdir()
    record = {"nodeid": "t.py::a", "metrics": [{"name": "m", "value": 1.0}]}
    line = json.dumps({"records": [record], "models": {"net": {"task": "x"}}, "seeds": [3]})
    assert append_line(journal, line) == journal
    append_line(journal, line.replace("t.py::a", "t.py::b"))
    with journal.open("a") as stream:
        stream.write(line[: len(line) // 2])  # torn
    with pytest.raises(ValueError, match="line: expected one line"):
        append_line(journal, "two\nlines")
    config = types.SimpleNamespace(getoption=lambda name: "title")
    collector = ReportCollector(config, tmp_path)  # type: ignore[arg-type]
    collector.spool = journal.parent
    collector.merge_spool()
    assert sorted(collector.report.tests) == ["t.py::a", "t.py::b"]
    assert collector.report.tests["t.py::a"].metrics[0].name == "m"
    assert collector.report.models == {"net": {"task": "x"}} and collector.seeds == {3}
    assert not journal.parent.exists()  # the spool is removed after the merge
