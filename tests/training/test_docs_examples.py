"""The examples of the training, reference-models and evaluation pages run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "docs" / "examples"
EXAMPLES = sorted(
    path
    for prefix in ("training_", "reference_models_", "evaluation_")
    for path in EXAMPLES_DIR.glob(f"{prefix}*.py")
)


def test_examples_exist() -> None:
    names = {path.name.split("_")[0] for path in EXAMPLES}
    assert names == {"training", "reference", "evaluation"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_runs(example: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(example), str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"CI": "1", **os.environ},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert any(tmp_path.glob("*.png")), "the example writes at least one figure"
