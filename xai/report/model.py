"""The report's data model: what a test run recorded, independent of how it is rendered.

A :class:`Report` holds one :class:`TestRecord` per test (outcome, duration, message) with the
entries the test recorded through the ``xai_report`` fixture: metrics, tables, figures (PNG,
base64) and explanation galleries. Everything is plain JSON data, so records travel between
pytest-xdist workers and the controller and merge without loss.
"""

from __future__ import annotations

import base64
import io
from dataclasses import asdict, dataclass, field
from typing import Any

from xai._files import to_json_value

#: Version of the ``report.json`` layout; bumped when the schema changes.
SCHEMA_VERSION = "1.1"

OUTCOMES = ("passed", "failed", "skipped", "error", "xfailed", "xpassed")


def figure_to_png(figure: Any, dpi: int = 90) -> str:
    """A matplotlib figure as a base64-encoded PNG (the figure is closed afterwards)."""
    if not hasattr(figure, "savefig"):
        raise TypeError(
            f"figure: expected a matplotlib Figure, got {type(figure).__name__}. "
            "Pass the Figure itself, e.g. fig = plt.figure() or expl.plot(0)."
        )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    try:
        import matplotlib.pyplot as plt

        plt.close(figure)
    except Exception:  # a Figure not managed by pyplot: nothing to close
        pass
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass
class Metric:
    """One recorded metric and its verdict against an optional threshold."""

    name: str
    value: float | None
    threshold: float | None = None
    higher_is_better: bool = True

    @property
    def passed(self) -> bool | None:
        """True/False against the threshold; None without a threshold."""
        if self.threshold is None:
            return None
        if self.value is None:
            return False
        if self.higher_is_better:
            return self.value >= self.threshold
        return self.value <= self.threshold

    def describe(self) -> str:
        """The verdict in one line, as a failed test shows it: ``"accuracy 0.406 < threshold
        0.9"`` (``>=`` when met; ``>``/``<=`` for lower-is-better metrics)."""
        value = "nan" if self.value is None else f"{self.value:.4g}"
        if self.threshold is None:
            return f"{self.name} {value}"
        if self.value is None:
            return f"{self.name} is not a finite number (threshold {self.threshold:.4g})"
        if self.higher_is_better:
            sign = ">=" if self.passed else "<"
        else:
            sign = "<=" if self.passed else ">"
        return f"{self.name} {value} {sign} threshold {self.threshold:.4g}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


class MetricCheck:
    """What :meth:`xai.pytest_plugin.XaiReport.metric` returns: true when the metric meets
    its threshold (or has none), and shown as its verdict, so that a failing
    ``assert xai_report.metric("accuracy", v, threshold=0.9)`` reads
    ``assert accuracy 0.406 < threshold 0.9`` in pytest's output instead of ``assert False``.

    Attributes:
        metric: the recorded :class:`Metric`.
    """

    __slots__ = ("metric",)

    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    @property
    def passed(self) -> bool:
        """True unless the metric has a threshold it does not meet."""
        return self.metric.passed is not False

    def __bool__(self) -> bool:
        return self.passed

    def __eq__(self, other: object) -> bool:
        if isinstance(other, bool):  # `check == True` reads as the verdict
            return self.passed is other
        if isinstance(other, MetricCheck):
            return self.metric == other.metric
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.passed)

    def __repr__(self) -> str:
        return self.metric.describe()


@dataclass
class Table:
    """Rows of a table: a list of dicts sharing (mostly) the same keys."""

    name: str
    columns: list[str]
    rows: list[list[Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FigureEntry:
    """A figure as an embedded PNG (base64); ``kind`` is ``"figure"`` or ``"explanation"``."""

    name: str
    png: str
    kind: str = "figure"
    caption: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TestRecord:
    """One test's section of the report.

    ``summary`` is the failure in one line as pytest's short summary shows it (e.g.
    ``AssertionError: assert accuracy 0.406 < threshold 0.9``); ``message`` the whole
    traceback. ``sections`` are the captured outputs, ``{"name": "Captured stdout call",
    "text": ...}`` as pytest names them; ``seeds`` the random state read when the test
    started (``torch_initial_seed``).
    """

    nodeid: str
    outcome: str = "passed"
    duration: float = 0.0
    message: str = ""
    summary: str = ""
    metrics: list[Metric] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureEntry] = field(default_factory=list)
    sections: list[dict[str, str]] = field(default_factory=list)
    seeds: dict[str, Any] = field(default_factory=dict)

    def has_entries(self) -> bool:
        return bool(self.metrics or self.tables or self.figures or self.seeds)

    def merge_entries(self, other: TestRecord) -> None:
        """Add ``other``'s metrics, tables, figures and seeds (e.g. from an xdist worker)."""
        self.metrics.extend(other.metrics)
        self.tables.extend(other.tables)
        self.figures.extend(other.figures)
        self.seeds.update(other.seeds)

    def add_section(self, name: str, text: str) -> None:
        """Record captured output ``name`` (one per name: pytest repeats the earlier phases'
        sections in each later phase's report)."""
        for section in self.sections:
            if section["name"] == name:
                section["text"] = text
                return
        self.sections.append({"name": name, "text": text})

    def to_dict(self) -> dict[str, Any]:
        """JSON data (NaN and infinite numbers as None)."""
        return to_json_value(
            {
                "nodeid": self.nodeid,
                "outcome": self.outcome,
                "duration": self.duration,
                "message": self.message,
                "summary": self.summary,
                "metrics": [m.to_dict() for m in self.metrics],
                "tables": [t.to_dict() for t in self.tables],
                "figures": [f.to_dict() for f in self.figures],
                "sections": [dict(s) for s in self.sections],
                "seeds": dict(self.seeds),
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestRecord:
        return cls(
            nodeid=data["nodeid"],
            outcome=data.get("outcome", "passed"),
            duration=float(data.get("duration", 0.0)),
            message=data.get("message", ""),
            summary=data.get("summary", ""),
            metrics=[
                Metric(m["name"], m["value"], m.get("threshold"), m.get("higher_is_better", True))
                for m in data.get("metrics", [])
            ],
            tables=[Table(t["name"], t["columns"], t["rows"]) for t in data.get("tables", [])],
            figures=[
                FigureEntry(f["name"], f["png"], f.get("kind", "figure"), f.get("caption", ""))
                for f in data.get("figures", [])
            ],
            sections=[
                {"name": str(s["name"]), "text": str(s["text"])} for s in data.get("sections", [])
            ],
            seeds=dict(data.get("seeds", {})),
        )


@dataclass
class Report:
    """A whole test run: its tests in run order, the models used, and its provenance."""

    title: str = "xai evaluation report"
    tests: dict[str, TestRecord] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def record(self, nodeid: str) -> TestRecord:
        """The record of test ``nodeid`` (created on first use)."""
        if nodeid not in self.tests:
            self.tests[nodeid] = TestRecord(nodeid)
        return self.tests[nodeid]

    def merge(self, records: list[dict[str, Any]], models: dict[str, Any]) -> None:
        """Merge serialised records (``TestRecord.to_dict`` form) and models from a worker."""
        for data in records:
            incoming = TestRecord.from_dict(data)
            self.record(incoming.nodeid).merge_entries(incoming)
        self.models.update(models)

    def counts(self) -> dict[str, int]:
        """Number of tests per outcome (every outcome present, zeros included)."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for test in self.tests.values():
            counts[test.outcome] = counts.get(test.outcome, 0) + 1
        return counts

    def headline_metrics(self) -> list[tuple[str, Metric]]:
        """Every metric recorded with a threshold, with the test that recorded it."""
        return [
            (test.nodeid, metric)
            for test in self.tests.values()
            for metric in test.metrics
            if metric.threshold is not None
        ]

    def to_dict(self) -> dict[str, Any]:
        """The ``report.json`` document (see :data:`xai.report.schema.SCHEMA`): JSON data,
        NaN and infinite numbers as None (``null``)."""
        return to_json_value(
            {
                "schema_version": SCHEMA_VERSION,
                "title": self.title,
                "summary": {
                    "counts": self.counts(),
                    "total": len(self.tests),
                    "headline_metrics": [
                        {"test": nodeid, **metric.to_dict()}
                        for nodeid, metric in self.headline_metrics()
                    ],
                },
                "models": self.models,
                "provenance": self.provenance,
                "tests": [test.to_dict() for test in self.tests.values()],
            }
        )
