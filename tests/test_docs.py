"""The documentation's examples run: README's snippet and docs/examples/ (interface pages)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: every runnable example of the documentation (run_all.py is `make docs`'s runner)
EXAMPLES = sorted(p for p in (ROOT / "docs" / "examples").glob("*.py") if p.name != "run_all.py")


def test_readme_example_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "README has no python example"
    code = blocks[0]
    assert len(code.strip().splitlines()) <= 15
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "explanation.png").stat().st_size > 0
    assert (tmp_path / "explanation.safetensors").stat().st_size > 0
    for method in ("gradcam", "integrated_gradients", "lime", "shap"):
        assert method in result.stdout


def test_every_guide_page_has_a_runnable_example() -> None:
    prefixes = {path.name.split("_")[0] for path in EXAMPLES}
    assert {
        "getting",
        "explainers",
        "training",
        "reference",
        "evaluation",
        "quality",
        "dashboard",
    } <= prefixes


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_docs_example_runs(example: Path, tmp_path: Path) -> None:
    """Each example runs in a fresh interpreter, writing into a temporary folder."""
    result = subprocess.run(
        [sys.executable, str(example), str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CI": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_docs_pages_link_to_existing_files() -> None:
    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if target.startswith("http"):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_docs_links_and_images_exist() -> None:
    """Every relative link and image of the documentation points at a file of the repository
    (the dashboard's screenshots included)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)\)", page.read_text()):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing, missing
