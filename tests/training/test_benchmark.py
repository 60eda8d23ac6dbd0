"""The training benchmark runs and writes its JSON (a quick smoke run; timings not asserted)."""

from __future__ import annotations

import json

from benchmarks import BENCHMARKS
from benchmarks.__main__ import main


def test_training_benchmark_quick(tmp_path, capsys) -> None:
    assert "training" in BENCHMARKS
    assert main(["training", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "training.json").read_text())
    assert result["hand_written_samples_per_second"] > 0
    assert result["fit_samples_per_second"] > 0
    ratio = result["fit_samples_per_second"] / result["hand_written_samples_per_second"]
    assert result["ratio_fit_to_hand_written"] == ratio
    assert "ratio fit / hand-written" in capsys.readouterr().out
