"""Writers of the report's three files: ``index.html``, ``report.json`` and ``summary.md``.

Each file is written atomically (:func:`xai._files.atomic_write`): into a temporary file in
the same folder, then renamed over the target, so a reader never sees half a report; the files
get the mode the umask gives. ``report.json`` holds NaN and infinite numbers as ``null``.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path
from typing import Any

from xai._files import atomic_write, dumps_json
from xai.report._template import PAGE
from xai.report.model import Metric, Report, Table, TestRecord

_log = logging.getLogger(__name__)


def write_report(report: Report, directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``index.html``, ``report.json`` and ``summary.md`` of ``report`` into
    ``directory`` (created when missing).

    Returns:
        ``{"html": ..., "json": ..., "markdown": ...}`` -> the paths written.
    """
    directory = Path(directory)
    document = report.to_dict()
    paths = {
        "json": atomic_write(directory / "report.json", dumps_json(document, indent=1)),
        "markdown": atomic_write(directory / "summary.md", render_markdown(report)),
        "html": atomic_write(directory / "index.html", render_html(report)),
    }
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


def render_markdown(report: Report) -> str:
    """A short Markdown summary for a CI job summary page: counts, headline metrics,
    failures."""
    counts = report.counts()
    parts = [f"## {report.title}", ""]
    parts.append(
        f"**{len(report.tests)} tests**: "
        + ", ".join(f"{counts[k]} {k}" for k in counts if counts[k])
    )
    if report.models:
        parts += ["", "Models: " + ", ".join(f"`{name}`" for name in report.models)]
    headline = report.headline_metrics()
    if headline:
        parts += ["", "| test | metric | value | threshold | verdict |", "|---|---|---|---|---|"]
        for nodeid, metric in headline:
            sign = "≥" if metric.higher_is_better else "≤"
            verdict = "✅ pass" if metric.passed else "❌ fail"
            parts.append(
                f"| `{_short(nodeid)}` | {metric.name} | {_format(metric.value)} "
                f"| {sign} {_format(metric.threshold)} | {verdict} |"
            )
    failures = [t for t in report.tests.values() if t.outcome in ("failed", "error")]
    if failures:
        parts += ["", "### Failures", ""]
        for test in failures:
            first = test.message.strip().splitlines()[-1] if test.message.strip() else ""
            parts.append(f"- `{test.nodeid}` ({test.outcome}): {first[:200]}")
    commit = report.provenance.get("git_commit")
    parts += ["", f"_Generated {report.provenance.get('date', '')}"]
    parts[-1] += f" at commit `{commit[:12]}`_" if commit else "_"
    return "\n".join(parts) + "\n"


# --- HTML ----------------------------------------------------------------------------------

_e = html.escape


def _metrics_table(rows: list[tuple[str, Metric]], with_test: bool) -> str:
    head = ("<th>test</th>" if with_test else "") + (
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
        cells = f"<td>{_e(_short(nodeid))}</td>" if with_test else ""
        cells += (
            f"<td>{_e(metric.name)}</td><td>{_e(_format(metric.value))}</td>"
            f"<td>{_e(threshold)}</td><td{css}>{_e(_verdict(metric))}</td>"
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _table(table: Table) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_e(_format(v))}</td>" for v in row) + "</tr>" for row in table.rows
    )
    return f"<h3>{_e(table.name)}</h3><table><tr>{head}</tr>{rows}</table>"


def _test_section(index: int, test: TestRecord) -> str:
    parts = [
        f'<section class="test" id="test-{index}"><h2>{_e(test.nodeid)}'
        f'<span class="badge {test.outcome}">{test.outcome}</span>'
        f'<span class="badge total">{test.duration:.2f} s</span></h2>'
    ]
    if test.message:
        parts.append(f'<pre class="message">{_e(test.message)}</pre>')
    if test.metrics:
        parts.append(_metrics_table([(test.nodeid, m) for m in test.metrics], with_test=False))
    parts.extend(_table(table) for table in test.tables)
    for figure in test.figures:
        caption = figure.name + (f" — {figure.caption}" if figure.caption else "")
        parts.append(
            f'<figure class="{figure.kind}"><img alt="{_e(figure.name)}" '
            f'src="data:image/png;base64,{figure.png}"><figcaption>{_e(caption)}</figcaption>'
            "</figure>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def _mapping_table(mapping: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{_e(str(k))}</th><td>{_e(dumps_json(v) if isinstance(v, (dict, list)) else _format(v))}</td></tr>"
        for k, v in mapping.items()
    )
    return f"<table>{rows}</table>"


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (inline CSS, figures as data URIs)."""
    counts = report.counts()
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
            "<h3>Models</h3><table><tr><th>model</th><th>task</th><th>classes</th>"
            f"<th>source</th></tr>{rows}</table>"
        )
    headline = report.headline_metrics()
    headline_html = (
        "<h3>Metrics against thresholds</h3>" + _metrics_table(headline, with_test=True)
        if headline
        else ""
    )
    tests = "\n".join(_test_section(i, t) for i, t in enumerate(report.tests.values()))
    provenance = dict(report.provenance)
    libraries = provenance.pop("libraries", {})
    subtitle = f"generated {provenance.get('date', '')}"
    if provenance.get("git_commit"):
        subtitle += f" · commit {str(provenance['git_commit'])[:12]}"
    return PAGE.substitute(
        title=_e(report.title),
        subtitle=_e(subtitle),
        cards=cards,
        models=models,
        headline=headline_html,
        tests=tests,
        provenance=_mapping_table(provenance) + "<h3>Libraries</h3>" + _mapping_table(libraries),
    )
