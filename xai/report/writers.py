"""Writers of the report's three files: ``index.html``, ``report.json`` and ``summary.md``.

Each file is written atomically (:func:`xai._files.atomic_write`): into a temporary file in
the same folder, then renamed over the target, so a reader never sees half a report; the files
get the mode the umask gives. ``report.json`` holds NaN and infinite numbers as ``null``.

**The folder is xai's, or nothing is replaced.** The writer records what it wrote in the
folder's marker file ``.xai-report`` (JSON: the SHA-256 of each file it wrote). A file named
``index.html``, ``report.json`` or ``summary.md`` that the marker does not record, as written
(a page of the user's, a report file edited since), is never replaced: :func:`write_report`
and :func:`prepare_folder` refuse with an :class:`~xai.errors.InputError` naming the folder
and the file.

``summary.md`` is rendered as HTML by CI job summaries: every text in it that comes from the
run (test names, metric and model names, failure messages, the title) is escaped, HTML and
Markdown alike, so it shows as the text it is.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
from pathlib import Path
from typing import Any

from xai._files import atomic_write, dumps_json
from xai.errors import InputError
from xai.report._template import PAGE
from xai.report.model import Metric, Report, Table, TestRecord

_log = logging.getLogger(__name__)

#: The marker file that makes a folder an xai report folder and records the files xai wrote.
MARKER = ".xai-report"
_MARKER_FORMAT = "xai.report-folder"
#: The files of a report, in the order they are written (the page last: it is what people open).
REPORT_FILES = {"json": "report.json", "markdown": "summary.md", "html": "index.html"}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_marker(directory: Path) -> dict[str, list[str]]:
    """The recorded hashes per file name; ``{}`` for a folder without a marker."""
    marker = directory / MARKER
    if not marker.exists():
        return {}
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        files = data["files"] if data.get("format") == _MARKER_FORMAT else None
        if not isinstance(files, dict) or not all(
            isinstance(v, list) and all(isinstance(h, str) for h in v) for v in files.values()
        ):
            raise ValueError("not an xai report marker")
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as error:
        raise InputError(
            "directory",
            f"{str(marker)!r} is not the marker xai writes into its report folders ({error}); "
            "choose another folder for the report, or remove the file.",
        ) from error
    return files


def _foreign_files(directory: Path, recorded: dict[str, list[str]]) -> list[str]:
    """The report file names in ``directory`` that xai did not write as they are now."""
    foreign = []
    for name in REPORT_FILES.values():
        path = directory / name
        if not path.exists() and not path.is_symlink():
            continue
        if path.is_symlink() or not path.is_file():
            foreign.append(name)
            continue
        if _digest(path.read_bytes()) not in recorded.get(name, []):
            foreign.append(name)
    return foreign


def _check_owned(directory: Path) -> dict[str, list[str]]:
    if directory.exists() and not directory.is_dir():
        raise InputError(
            "directory",
            f"expected a folder for the report, got the existing file {str(directory)!r}.",
        )
    recorded = _read_marker(directory) if directory.is_dir() else {}
    foreign = _foreign_files(directory, recorded) if directory.is_dir() else []
    if foreign:
        names = ", ".join(foreign)
        raise InputError(
            "directory",
            f"{str(directory)!r} holds {names}, which xai did not write (or which changed since "
            f"it did; its record is {MARKER}): xai never replaces them. Move them away, or "
            "choose another folder for the report.",
        )
    return recorded


def _write_marker(directory: Path, files: dict[str, list[str]]) -> None:
    text = json.dumps({"format": _MARKER_FORMAT, "files": files}, indent=1, sort_keys=True)
    atomic_write(directory / MARKER, text + "\n")


def prepare_folder(directory: str | os.PathLike[str]) -> Path:
    """Make ``directory`` a report folder before a run: create it when missing, check that it
    holds no report file xai did not write, and write its marker (which also proves it can be
    written to).

    Args:
        directory: the report folder.

    Returns:
        The folder as a :class:`~pathlib.Path`.

    Raises:
        InputError: ``directory`` is a file, or holds report files xai did not write.
        OSError: the folder cannot be created or written to.
    """
    directory = Path(directory)
    recorded = _check_owned(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _write_marker(directory, recorded)
    return directory


def write_report(report: Report, directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``index.html``, ``report.json`` and ``summary.md`` of ``report`` into
    ``directory`` (created when missing), and record them in the folder's marker.

    Args:
        report: the report.
        directory: the report folder.

    Returns:
        ``{"html": ..., "json": ..., "markdown": ...}`` -> the paths written.

    Raises:
        InputError: ``directory`` is a file, or holds one of the three files that xai did not
            write (see the module's notes); nothing is written then.
        OSError: the folder cannot be written to.
    """
    directory = Path(directory)
    recorded = _check_owned(directory)
    contents = {
        "json": dumps_json(report.to_dict(), indent=1).encode("utf-8"),
        "markdown": render_markdown(report).encode("utf-8"),
        "html": render_html(report).encode("utf-8"),
    }
    new = {REPORT_FILES[key]: [_digest(data)] for key, data in contents.items()}
    directory.mkdir(parents=True, exist_ok=True)
    # first the old and the new hashes (a crash halfway leaves every file recorded), then the new
    _write_marker(directory, {name: new[name] + recorded.get(name, []) for name in new})
    paths = {
        key: atomic_write(directory / REPORT_FILES[key], data) for key, data in contents.items()
    }
    _write_marker(directory, new)
    _log.info("xai report written to %s", directory)
    return paths


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    return str(value)


def _verdict(metric: Metric) -> str:
    if metric.passed is None:
        return ""
    sign = "≥" if metric.higher_is_better else "≤"
    mark = "pass" if metric.passed else "FAIL"
    return f"{mark} ({sign} {_format(metric.threshold)})"


def _short(nodeid: str) -> str:
    return nodeid.split("::", 1)[-1] if "::" in nodeid else nodeid


# --- Markdown ------------------------------------------------------------------------------

#: Characters with a meaning inside a Markdown line (GitHub's included: tables,
#: strikethrough, math), backslash-escaped in every text that comes from the run. (``-``,
#: ``+``, ``.`` only mean something at the start of a line, where no such text is put.)
_MARKDOWN_SPECIAL = frozenset("\\`*_[]()#!|~$")


def _md(text: Any) -> str:
    """``text`` as literal Markdown inline text: HTML's ``& < > " '`` as entities, Markdown's
    punctuation backslash-escaped, line breaks as spaces. Safe in a table cell and inside
    ``<code>``; what a renderer shows is the text itself, never markup."""
    out = []
    for char in " ".join(str(text).split()):
        if char in "&<>\"'":
            out.append(html.escape(char, quote=True))
        elif char in _MARKDOWN_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _code(text: Any) -> str:
    """``text`` in a monospace span, escaped (a Markdown code span would show the entities)."""
    return f"<code>{_md(text)}</code>"


def render_markdown(report: Report) -> str:
    """A short Markdown summary for a CI job summary page: counts, headline metrics,
    failures. Test, metric and model names, messages and the title are escaped (HTML and
    Markdown), so a name such as ``<script>`` shows as text."""
    counts = report.counts()
    parts = [f"## {_md(report.title)}", ""]
    parts.append(
        f"**{len(report.tests)} tests**: "
        + ", ".join(f"{counts[k]} {k}" for k in counts if counts[k])
    )
    if report.models:
        parts += ["", "Models: " + ", ".join(_code(name) for name in report.models)]
    headline = report.headline_metrics()
    if headline:
        parts += ["", "| test | metric | value | threshold | verdict |", "|---|---|---|---|---|"]
        for nodeid, metric in headline:
            sign = "≥" if metric.higher_is_better else "≤"
            verdict = "✅ pass" if metric.passed else "❌ fail"
            parts.append(
                f"| {_code(_short(nodeid))} | {_md(metric.name)} | {_md(_format(metric.value))} "
                f"| {sign} {_md(_format(metric.threshold))} | {verdict} |"
            )
    failures = [t for t in report.tests.values() if t.outcome in ("failed", "error")]
    if failures:
        parts += ["", "### Failures", ""]
        for test in failures:
            first = _crash_line(test)
            parts.append(f"- {_code(test.nodeid)} ({test.outcome}): {_md(first[:200])}")
    commit = report.provenance.get("git_commit")
    parts += ["", f"_Generated {_md(report.provenance.get('date', ''))}"]
    dirty = " (with local changes)" if report.provenance.get("git_dirty") else ""
    parts[-1] += f" at commit {_code(str(commit)[:12])}{dirty}_" if commit else "_"
    return "\n".join(parts) + "\n"


# --- HTML ---------------------------------------------------------------------------------

_e = html.escape

#: The order of the page's test sections: failures first, then what needs a look, then the rest.
_SECTION_ORDER = ("failed", "error", "xpassed", "passed", "xfailed", "skipped")
_OPEN = frozenset({"failed", "error"})


def _header(text: Any) -> str:
    """A table header, escaped, that may break after ``_`` (``completeness_<wbr>error``) and
    between words but never inside one."""
    return _e(str(text)).replace("_", "_<wbr>")


def _anchor(index: int) -> str:
    return f"test-{index}"


def _test_link(index: int, nodeid: str, short: bool = True) -> str:
    return f'<a href="#{_anchor(index)}">{_e(_short(nodeid) if short else nodeid)}</a>'


def _metrics_table(rows: list[tuple[str, Metric]], links: dict[str, int] | None) -> str:
    head = ("<th>test</th>" if links is not None else "") + (
        "<th>metric</th><th>value</th><th>threshold</th><th>verdict</th>"
    )
    body = []
    for nodeid, metric in rows:
        css = "" if metric.passed is None else (' class="ok"' if metric.passed else ' class="bad"')
        threshold = (
            ""
            if metric.threshold is None
            else f"{'≥' if metric.higher_is_better else '≤'} {_format(metric.threshold)}"
        )
        cells = ""
        if links is not None:
            index = links.get(nodeid)
            cells = (
                f"<td>{_e(_short(nodeid))}</td>"
                if index is None
                else f"<td>{_test_link(index, nodeid)}</td>"
            )
        cells += (
            f"<td>{_e(metric.name)}</td><td>{_e(_format(metric.value))}</td>"
            f"<td>{_e(threshold)}</td><td{css}>{_e(_verdict(metric))}</td>"
        )
        body.append(f"<tr>{cells}</tr>")
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div>'


def _table(table: Table) -> str:
    head = "".join(f"<th>{_header(c)}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_e(_format(v))}</td>" for v in row) + "</tr>" for row in table.rows
    )
    return (
        f'<h3>{_e(table.name)}</h3><div class="scroll"><table><tr>{head}</tr>{rows}</table></div>'
    )


def _crash_line(test: TestRecord) -> str:
    """The failure in one line: pytest's short summary, else the message's last line."""
    if test.summary.strip():
        return test.summary.strip().splitlines()[0]
    lines = [line for line in test.message.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _badges(test: TestRecord) -> str:
    return (
        f'<span class="badge {_e(test.outcome)}">{_e(test.outcome)}</span>'
        f'<span class="badge total">{test.duration:.2f} s</span>'
    )


def _test_body(test: TestRecord) -> list[str]:
    parts = []
    failed = test.outcome in _OPEN
    if failed and _crash_line(test):
        parts.append(f'<p class="crash">{_e(_crash_line(test))}</p>')
    if test.seeds:
        seeds = ", ".join(f"{k} {v}" for k, v in test.seeds.items())
        parts.append(f'<p class="meta">seeds when the test started: {_e(seeds)}</p>')
    if test.message:
        if failed:
            parts.append(f'<pre class="message">{_e(test.message)}</pre>')
        else:
            parts.append(f'<p class="meta">{_e(test.message)}</p>')
    if test.metrics:
        parts.append(_metrics_table([(test.nodeid, m) for m in test.metrics], links=None))
    parts.extend(_table(table) for table in test.tables)
    for figure in test.figures:
        caption = figure.name + (f" — {figure.caption}" if figure.caption else "")
        parts.append(
            f'<figure class="{_e(figure.kind)}"><img alt="{_e(figure.name)}" '
            f'src="data:image/png;base64,{_e(figure.png)}"><figcaption>{_e(caption)}'
            "</figcaption></figure>"
        )
    for section in test.sections:  # as pytest-html shows them: one block per stream and phase
        is_open = " open" if failed else ""
        parts.append(
            f'<details class="output"{is_open}><summary>{_e(section["name"])}</summary>'
            f'<pre class="output">{_e(section["text"])}</pre></details>'
        )
    return parts


def _test_section(index: int, test: TestRecord) -> str:
    """A failure as an open section; any other test as a ``<details>`` that opens on a click
    (or when a link to its anchor is followed)."""
    title = f"{_e(test.nodeid)}{_badges(test)}"
    body = "\n".join(_test_body(test))
    if test.outcome in _OPEN:
        return (
            f'<section class="test test-{_e(test.outcome)}" id="{_anchor(index)}"><h2>{title}</h2>\n'
            f"{body}\n</section>"
        )
    # the anchor is on the body, not on <details>: following a link to an element inside a
    # closed <details> opens it (browsers reveal a fragment's target), no script needed
    return (
        f'<details class="test test-{_e(test.outcome)}"><summary><h2>{title}</h2></summary>\n'
        f'<div class="body" id="{_anchor(index)}">{body}</div>\n</details>'
    )


def _ordered(report: Report) -> list[tuple[int, TestRecord]]:
    """The tests with their anchor numbers (run order), failures first."""
    numbered = list(enumerate(report.tests.values()))
    rank = {outcome: position for position, outcome in enumerate(_SECTION_ORDER)}
    return sorted(numbered, key=lambda pair: (rank.get(pair[1].outcome, len(rank)), pair[0]))


def _mapping_table(mapping: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{_header(k)}</th><td>"
        f"{_e(dumps_json(v) if isinstance(v, (dict, list)) else _format(v))}</td></tr>"
        for k, v in mapping.items()
    )
    return f'<div class="scroll"><table>{rows}</table></div>'


def _failures(ordered: list[tuple[int, TestRecord]]) -> str:
    failing = [(i, t) for i, t in ordered if t.outcome in _OPEN]
    if not failing:
        return ""
    items = "".join(
        f"<li>{_test_link(i, t.nodeid, short=False)} ({_e(t.outcome)})"
        + (f': <span class="bad">{_e(_crash_line(t))}</span>' if _crash_line(t) else "")
        + "</li>"
        for i, t in failing
    )
    return f'<h3 id="failures">Failures ({len(failing)})</h3><ul class="failures">{items}</ul>'


def _contents(ordered: list[tuple[int, TestRecord]]) -> str:
    items = ['<li><a href="#summary">Summary</a></li>']
    items += [f"<li>{_test_link(i, t.nodeid, short=False)}{_badges(t)}</li>" for i, t in ordered]
    items.append('<li><a href="#provenance">Provenance</a></li>')
    return f"<ol>{''.join(items)}</ol>"


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (inline CSS, figures as data URIs, no
    scripts): the summary with links to each failure, a table of contents, the failures
    (open, first), then the other tests (collapsed), then the provenance."""
    counts = report.counts()
    ordered = _ordered(report)
    cards = f'<div class="card total"><b>{len(report.tests)}</b>tests</div>' + "".join(
        f'<div class="card {k}"><b>{v}</b>{k}</div>' for k, v in counts.items() if v
    )
    models = ""
    if report.models:
        rows = "".join(
            f"<tr><td>{_e(name)}</td><td>{_e(str(info.get('task', '')))}</td>"
            f"<td>{_e(str(info.get('num_classes', '')))}</td>"
            f"<td>{_e(str(info.get('source', '')))}</td></tr>"
            for name, info in report.models.items()
        )
        models = (
            '<h3>Models</h3><div class="scroll"><table><tr><th>model</th><th>task</th>'
            f"<th>classes</th><th>source</th></tr>{rows}</table></div>"
        )
    headline = report.headline_metrics()
    links = {t.nodeid: i for i, t in ordered}
    headline_html = (
        "<h3>Metrics against thresholds</h3>" + _metrics_table(headline, links=links)
        if headline
        else ""
    )
    tests = "\n".join(_test_section(i, t) for i, t in ordered)
    provenance = dict(report.provenance)
    libraries = provenance.pop("libraries", {})
    subtitle = f"generated {provenance.get('date', '')}"
    if provenance.get("git_commit"):
        subtitle += f" · commit {str(provenance['git_commit'])[:12]}"
        if provenance.get("git_dirty"):
            subtitle += " (with local changes)"
    return PAGE.substitute(
        title=_e(report.title),
        subtitle=_e(subtitle),
        cards=cards,
        failures=_failures(ordered),
        models=models,
        headline=headline_html,
        contents=_contents(ordered),
        tests=tests,
        provenance=_mapping_table(provenance) + "<h3>Libraries</h3>" + _mapping_table(libraries),
    )
