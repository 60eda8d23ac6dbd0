"""``xai demo`` / ``run_demo``: every reference model evaluated and explained, figures written;
the text model's sentences highlighted, with localization scores."""

from __future__ import annotations

import json

import reference_models
import xai
from reference_models.datasets import TEXT_CLASSES
from xai.cli.demo import report_findings, run_demo
from xai.suite.subject import method_applicability


def test_run_demo_writes_figures_and_prints_metrics(tmp_path, capsys) -> None:
    out = run_demo(tmp_path / "demo", seed=0)
    printed = capsys.readouterr().out
    assert "accuracy" in printed
    assert "keywords_text_cnn" in reference_models.available()
    for name in reference_models.available():
        assert name in printed
        assert (out / f"{name}_confusion_matrix.png").stat().st_size > 0
        for index in range(4):
            assert (out / f"{name}_compare_sample{index}.png").stat().st_size > 0
        reference = reference_models.load(name)
        inputs = reference.data["test"].tensors[0][:1]
        for method, reason in method_applicability(inputs, reference.model).items():
            if reason:  # Grad-CAM on tabular rows: said, not skipped silently
                assert f"{method:<22}not applicable: {reason}" in printed
                assert not (out / f"{name}_{method}.png").exists()
                continue
            assert (out / f"{name}_{method}.png").stat().st_size > 0
            assert f"{method}" in printed
            loaded = xai.Explanation.load(out / f"{name}_{method}.safetensors")
            assert len(loaded) == 4
    assert "gradcam               not applicable: explains image inputs only" in printed
    # Grad-CAM explains the text model's token ids at its 1-D convolution
    assert (out / "keywords_text_cnn_gradcam.png").stat().st_size > 0
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
    _check_text_model(out, printed, document)


def _check_text_model(out, printed: str, document: dict) -> None:
    """The text model's part of the demo: highlighted sentences, masked explanations with
    their tokens, localization scores, and its section of the report."""
    from reference_models.datasets import decode_tokens

    name = "keywords_text_cnn"
    reference = reference_models.load(name)
    ids, labels, keywords, attention = reference.data["test"].tensors
    methods = [m for m, why in method_applicability(ids[:1], reference.model).items() if not why]
    assert {"gradcam", "integrated_gradients", "occlusion", "lime", "shap"} <= set(methods)
    for method in methods:
        for index in range(4):  # every explained sentence, highlighted, per method
            assert (out / f"{name}_{method}_sentence{index}.png").stat().st_size > 0
        loaded = xai.Explanation.load(out / f"{name}_{method}.safetensors")
        assert loaded.tokens == decode_tokens(ids[:4])
        assert loaded.attributions.shape == (4, 24)
        assert bool((loaded.attributions[attention[:4] == 0] == 0).all()), method  # padding
    # the printed sentences, each with the tokens IG rates highest (keywords starred)
    assert f"{name}: 4 test sentences, each with the 3 tokens integrated_gradients" in printed
    words = decode_tokens(ids[:1])[0]
    first = " ".join(t for t, keep in zip(words, attention[0].tolist(), strict=True) if keep)
    assert f"  [{TEXT_CLASSES[int(labels[0])]}] {first!r} -> " in printed
    # localization against the keyword masks: IG points at a keyword in every sentence
    scores = json.loads((out / "localization.json").read_text())
    assert set(scores) >= {"samples_per_model", name, "shapes_cnn"}
    assert set(scores[name]) == set(methods)
    assert scores[name]["integrated_gradients"]["pointing_game_score"] >= 0.9
    assert scores[name]["integrated_gradients"]["relevance_mass_score"] > 0.5
    chance = float((keywords[:4].sum(1) / attention[:4].sum(1)).mean())
    assert scores[name]["occlusion"]["relevance_mass_score"] > 2 * chance
    assert "localization against the ground-truth masks" in printed
    # the report's section of the text model: its checks ran (and passed), with localization
    tests = {t["nodeid"].split("::")[-1]: t for t in document["tests"]}
    assert name in document["models"]
    for test in ("test_metrics_meet_thresholds", "test_explanation_quality",
                 "test_localization", "test_sanity_model_randomization"):  # fmt: skip
        assert tests[f"{test}[{name}]"]["outcome"] == "passed", test
    metrics = {m["name"]: m["value"] for m in tests[f"test_localization[{name}]"]["metrics"]}
    assert metrics["pointing_game_score (integrated_gradients)"] >= 0.9


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
