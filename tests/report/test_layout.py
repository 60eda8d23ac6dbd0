"""The report's layout in a real browser (headless Chromium driven by Playwright, scripts
off, as a reader without JavaScript sees it): failures first and open, passed tests collapsed
and opened by the links to them, captured output per test, table headers that never break
inside a word."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.report.browser import chromium
from xai.report import Metric, Report, write_report
from xai.report.model import Table

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    chromium() is None, reason="needs /usr/bin/chromium (apt-get install chromium; see Makefile)"
)

#: The explanation-quality table's headers: long names joined by "_".
COLUMNS = ["method"] + [
    f"{name} {arrow}"
    for name, arrow in (
        ("deletion_auc", "↓"),
        ("infidelity_error", "↓"),
        ("completeness_error", "↓"),
        ("max_sensitivity_error", "↓"),
        ("pointing_game_score", "↑"),
        ("relevance_mass_score", "↑"),
        ("sparseness_score", "↑"),
        ("seed_stability_score", "↑"),
    )
]


def _report() -> Report:
    report = Report(title="layout")
    passed = report.record("test_model.py::test_quality")
    passed.tables.append(
        Table("explanation quality", COLUMNS, [["integrated_gradients", *[0.123456] * 8]])
    )
    passed.sections.append({"name": "Captured stdout call", "text": "printed by the test\n"})
    failed = report.record("test_model.py::test_accuracy")
    failed.outcome = "failed"
    failed.summary = "AssertionError: assert accuracy 0.406 < threshold 0.9"
    failed.message = "E   AssertionError: assert accuracy 0.406 < threshold 0.9"
    failed.metrics.append(Metric("accuracy", 0.406, 0.9))
    failed.sections.append({"name": "Captured log call", "text": "WARNING  model: slow\n"})
    report.provenance = {"date": "2026-01-01", "libraries": {}}
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def html(tmp_path: Path) -> Path:
    return write_report(_report(), tmp_path / "report")["html"]


@pytest.fixture
def page(browser: Any, html: Path) -> Iterator[Any]:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 720, "height": 900})
    page = context.new_page()
    page.goto(html.resolve().as_uri())
    try:
        yield page
    finally:
        context.close()


def test_failures_come_first_open_and_linked_from_the_summary(page: Any) -> None:
    sections = page.locator("main > section.test, main > details.test")
    classes = sections.evaluate_all("els => els.map(e => e.className)")
    assert classes == ["test test-failed", "test test-passed"]
    failure = page.locator("#failures + ul.failures li")
    assert "accuracy 0.406 < threshold 0.9" in failure.inner_text()
    target = failure.locator("a").get_attribute("href")
    assert page.locator(f"section.test-failed{target}").is_visible()
    assert page.locator("section.test-failed details.output").get_attribute("open") == ""


def test_passed_tests_are_collapsed_and_the_contents_open_them(page: Any) -> None:
    details = page.locator("details.test-passed")
    assert details.evaluate("e => e.open") is False
    assert not page.get_by_text("printed by the test").is_visible()
    links = page.locator("nav#contents a").evaluate_all("els => els.map(e => e.textContent)")
    assert links == [
        "Summary",
        "test_model.py::test_accuracy",
        "test_model.py::test_quality",
        "Provenance",
    ]
    page.locator("nav#contents a", has_text="test_quality").click()
    assert details.evaluate("e => e.open") is True  # no script: the link's target opened it
    page.locator("details.test-passed details.output summary").click()
    assert page.get_by_text("printed by the test").is_visible()


#: The words of each header (split at spaces and after "_") that span two lines.
_BROKEN_WORDS = """els => els.map(th => {
  const chars = [];
  const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      chars.push([node.data[i], Math.round(range.getBoundingClientRect().top)]);
    }
  }
  const words = [[]];
  for (const [c, top] of chars) {
    if (c === " ") { words.push([]); continue; }
    words[words.length - 1].push([c, top]);
    if (c === "_") words.push([]);
  }
  return words.filter(w => new Set(w.map(x => x[1])).size > 1)
              .map(w => w.map(x => x[0]).join(""));
}).flat()"""


def test_table_headers_never_break_inside_a_word(page: Any, html: Path) -> None:
    page.locator("details.test-passed > summary").click()
    headers = page.locator("details.test-passed th")
    assert headers.count() == len(COLUMNS)
    assert headers.evaluate_all(_BROKEN_WORDS) == []
    # the check finds such breaks: the old rule (break anywhere, no scrolling) broke them
    old = html.with_name("old.html")
    text = html.read_text().replace("overflow-wrap: normal;", "overflow-wrap: anywhere;")
    old.write_text(text.replace(".scroll { overflow-x: auto;", ".scroll { overflow-x: visible;"))
    page.goto(old.resolve().as_uri())
    page.locator("details.test-passed > summary").click()
    assert page.locator("details.test-passed th").evaluate_all(_BROKEN_WORDS) != []
