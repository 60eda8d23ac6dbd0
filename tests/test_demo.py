"""``xai demo`` / ``run_demo``: every reference model evaluated and explained, figures written."""

from __future__ import annotations

import json

import reference_models
import xai
from xai.cli.demo import report_findings, run_demo


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
    # the suite's failures the literature predicts are findings, in plain words
    assert (
        "expected: integrated_gradients fails the model-randomization check on digits_cnn"
        in printed
    )
    assert "docs/explanation_quality.md" in printed
    assert "AssertionError" not in printed  # no traceback lines for a newcomer to misread
    document = json.loads((out / "report" / "report.json").read_text())
    failed = {t["nodeid"] for t in document["tests"] if t["outcome"] == "failed"}
    assert "test_explanations.py::test_sanity_model_randomization[digits_cnn]" in failed
    assert report_findings(out / "report")[1] == []  # nothing unexpected: exit code 0


def _report_with(folder, *tests) -> None:
    folder.mkdir()
    (folder / "report.json").write_text(json.dumps({"tests": list(tests)}))


def test_report_findings_tells_expected_from_unexpected(tmp_path) -> None:
    known = "test_explanations.py::test_sanity_model_randomization[digits_cnn]"
    other = "test_classification.py::test_metrics_meet_thresholds[shapes_cnn]"
    _report_with(
        tmp_path / "r",
        {"nodeid": known, "outcome": "failed", "summary": "AssertionError: ..."},
        {"nodeid": other, "outcome": "failed", "summary": "accuracy 0.41 < threshold 0.8"},
        {"nodeid": "t.py::test_ok", "outcome": "passed"},
    )
    expected, unexpected = report_findings(tmp_path / "r")
    assert len(expected) == 1 and expected[0].startswith("expected: integrated_gradients")
    assert "(Adebayo et al. 2018), see docs/explanation_quality.md" in expected[0]
    assert unexpected == [f"{other}: accuracy 0.41 < threshold 0.8"]
    _, missing = report_findings(tmp_path / "nothing")
    assert "wrote no readable report" in missing[0]
