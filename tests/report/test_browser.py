"""The report's HTML renders in a real browser: a headless Chromium screenshot shows the page
(header, summary cards, figures), not a blank or broken one."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from tests.report.browser import chromium, screenshot
from xai.report import Report, write_report
from xai.report.model import FigureEntry, Metric, figure_to_png

pytestmark = pytest.mark.skipif(
    chromium() is None, reason="needs /usr/bin/chromium (apt-get install chromium; see Makefile)"
)
matplotlib.use("Agg")


def _report() -> Report:
    report = Report(title="browser check")
    record = report.record("test_model.py::test_accuracy")
    record.metrics.append(Metric("accuracy", 0.95, 0.9))
    failing = report.record("test_model.py::test_f1")
    failing.outcome = "failed"
    failing.message = "AssertionError: f1 0.5 < 0.8"
    failing.metrics.append(Metric("f1", 0.5, 0.8))
    # on a failure's section, which is open (a passed test's is collapsed)
    figure = Figure(figsize=(4, 3))
    axis = figure.subplots()
    axis.imshow(np.linspace(0, 1, 64 * 64).reshape(64, 64), cmap="viridis")
    failing.figures.append(FigureEntry("gradient", figure_to_png(figure)))
    report.provenance = {"date": "2026-01-01T00:00:00+00:00", "libraries": {"torch": "x"}}
    return report


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    paths = write_report(_report(), tmp_path / "report")
    png = tmp_path / "shot.png"
    screenshot(paths["html"], png, size="1280,1000")
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape[:2] == (1000, 1280)
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 200, f"only {len(colours)} colours: the page looks blank"
    not_white = (image.min(axis=2) < 240).mean()
    assert not_white > 0.1, f"{not_white:.1%} of the page is not white"
    # the header bar (#1f3a5f) across the top, the green "passed" and red "failed" cards
    header = image[10, 640].astype(int)
    assert np.abs(header - [0x1F, 0x3A, 0x5F]).max() <= 8, header
    for colour in ([0x2E, 0x7D, 0x32], [0xC6, 0x28, 0x28]):
        assert (np.abs(image.astype(int) - colour).max(axis=2) <= 8).sum() > 500, colour
    # the embedded figure's viridis gradient is on screen: its yellow end and purple start
    yellow = np.abs(image.astype(int) - [0xFD, 0xE7, 0x25]).max(axis=2) <= 20
    purple = np.abs(image.astype(int) - [0x44, 0x01, 0x54]).max(axis=2) <= 20
    assert yellow.sum() > 50 and purple.sum() > 50, "the embedded figure did not render"


def test_blank_page_fails_the_check(tmp_path: Path) -> None:
    """The check above can fail: an empty page gives one colour."""
    page = tmp_path / "blank.html"
    page.write_text("<html><body></body></html>")
    png = tmp_path / "blank.png"
    screenshot(page, png, size="400,300")
    image = np.asarray(Image.open(png).convert("RGB"))
    assert len(np.unique(image.reshape(-1, 3), axis=0)) < 5


def test_figure_png_round_trip() -> None:
    figure = Figure(figsize=(2, 2))
    figure.subplots().plot([0, 1])
    png = base64.b64decode(figure_to_png(figure))
    assert Image.open(io.BytesIO(png)).size[0] > 50
