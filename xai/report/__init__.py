"""Evaluation reports: the data model and its writers (HTML, JSON, Markdown).

The pytest plugin (:mod:`xai.pytest_plugin`) fills a :class:`Report` while tests run and
writes it with :func:`write_report`; ``report.json`` follows :data:`SCHEMA`.
"""

from xai._files import atomic_write
from xai.report.model import SCHEMA_VERSION, Metric, MetricCheck, Report, TestRecord
from xai.report.schema import SCHEMA, validate, validation_errors
from xai.report.writers import render_html, render_markdown, write_report

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "Metric",
    "MetricCheck",
    "Report",
    "TestRecord",
    "atomic_write",
    "render_html",
    "render_markdown",
    "validate",
    "validation_errors",
    "write_report",
]
