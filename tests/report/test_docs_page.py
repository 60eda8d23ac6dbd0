"""The pytest docs page shows the example test file as it is (no drift)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_docs_page_shows_the_example_file() -> None:
    page = (ROOT / "docs" / "testing_with_pytest.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    example = (ROOT / "docs" / "examples" / "pytest_example_test.py").read_text()
    body = example.split("import pytest\n", 1)[1].split('\n\nif __name__ == "__main__":')[0]
    assert "import pytest\n" + body.rstrip() + "\n" in blocks
    assert (ROOT / "docs" / "images" / "pytest_report.png").stat().st_size > 10_000
