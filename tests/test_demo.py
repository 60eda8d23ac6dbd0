"""``xai demo`` / ``run_demo``: every reference model evaluated and explained, figures written."""

from __future__ import annotations

import reference_models
import xai
from xai.cli.demo import run_demo


def test_run_demo_writes_figures_and_prints_metrics(tmp_path, capsys) -> None:
    out = run_demo(tmp_path / "demo", seed=0)
    printed = capsys.readouterr().out
    assert "accuracy" in printed
    for name in reference_models.available():
        assert name in printed
        assert (out / f"{name}_confusion_matrix.png").stat().st_size > 0
        for index in range(4):
            assert (out / f"{name}_compare_sample{index}.png").stat().st_size > 0
        for method in xai.available_explainers():
            if method == "gradcam" and name == "breast_cancer_mlp":
                continue
            assert (out / f"{name}_{method}.png").stat().st_size > 0
            assert f"{method}" in printed
            loaded = xai.Explanation.load(out / f"{name}_{method}.safetensors")
            assert len(loaded) == 4
