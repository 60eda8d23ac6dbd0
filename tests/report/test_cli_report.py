"""``xai report``: the bundled suite on a reference model and on a user's own model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from xai.cli import main
from xai.explainers.parameters import applicable_methods
from xai.explainers.registry import explainer_class
from xai.report import validation_errors
from xai.suite.subject import user_subject

ROOT = Path(__file__).resolve().parents[2]

USER_MODULE = """
import torch


def build():
    return torch.nn.Sequential(torch.nn.Linear(2, 2))
"""


def _user_model(folder: Path) -> tuple[Path, Path]:
    """A module ``usermodel:build``, its weights and a test set it classifies perfectly."""
    (folder / "usermodel.py").write_text(USER_MODULE)
    weights = folder / "weights.safetensors"
    save_file(
        {"0.weight": torch.tensor([[-2.0, 0.3], [2.0, -0.3]]), "0.bias": torch.zeros(2)}, weights
    )
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    data = folder / "data.npz"
    np.savez(
        data,
        x=x,
        y=(4 * x[:, 0] - 0.6 * x[:, 1] > 0).astype(np.int64),
        class_names=np.array(["neg", "pos"]),
    )
    return weights, data


def test_report_on_reference_and_user_model(tmp_path: Path) -> None:
    weights, data = _user_model(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "xai", "report", "--model", "breast_cancer_mlp"]
    command += ["--model", "usermodel:build", "--weights", str(weights), "--data", str(data)]
    command += ["--out", "out", "--samples", "2"]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env
    )
    document = json.loads((tmp_path / "out" / "report.json").read_text())
    assert validation_errors(document) == []
    assert set(document["models"]) == {"breast_cancer_mlp", "usermodel:build"}
    assert document["models"]["usermodel:build"]["num_classes"] == 2
    tests = {t["nodeid"].split("::")[-1]: t for t in document["tests"]}
    for model in ("breast_cancer_mlp", "usermodel:build"):
        for name in (
            "test_metrics_meet_thresholds",
            "test_confusion_matrix",
            "test_roc_curves",
            "test_calibration",
            "test_attributions_side_by_side",
            "test_explanation_quality",
            "test_sanity_model_randomization",
        ):
            assert f"{name}[{model}]" in tests
    user = tests["test_metrics_meet_thresholds[usermodel:build]"]
    assert user["outcome"] == "passed"
    assert {m["name"]: m["value"] for m in user["metrics"]}["accuracy"] == 1.0
    side_by_side = tests["test_attributions_side_by_side[usermodel:build]"]
    assert len([f for f in side_by_side["figures"] if f["kind"] == "explanation"]) == 2
    timing = side_by_side["tables"][0]
    assert timing["name"] == "time per method"
    # every registered method that explains the user model's tabular rows
    methods = applicable_methods(torch.zeros(1, 2))
    assert {"integrated_gradients", "lime", "shap", "smoothgrad", "occlusion"} <= set(methods)
    assert {row[0] for row in timing["rows"]} == set(methods)
    quality = tests["test_explanation_quality[usermodel:build]"]["tables"][0]
    column = {name.split()[0]: i for i, name in enumerate(quality["columns"])}
    rows = {row[0]: row for row in quality["rows"]}
    assert rows["lime"][column["completeness_error"]] is None  # IG and SHAP only
    assert rows["integrated_gradients"][column["completeness_error"]] is not None
    assert rows["integrated_gradients"][column["seed_stability_score"]] is None  # deterministic
    assert rows["shap"][column["seed_stability_score"]] is not None
    for method in methods:  # what each method's class declares
        cls = explainer_class(method)
        has_completeness = rows[method][column["completeness_error"]] is not None
        assert has_completeness == ("completeness" in cls.properties), method
        assert (rows[method][column["seed_stability_score"]] is not None) == cls.stochastic, method
    failed = [t for t in tests.values() if t["outcome"] in ("failed", "error")]
    assert result.returncode == (1 if failed else 0), result.stdout[-2000:] + result.stderr
    assert f"xai report: {(tmp_path / 'out' / 'index.html').resolve()}" in result.stdout
    # the packages imported before pytest starts are not test modules: no rewrite warning
    assert "PytestAssertRewriteWarning" not in result.stdout + result.stderr


def test_user_model_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights, data = _user_model(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    subject = user_subject("usermodel:build", weights, data)
    assert subject.class_names == ["neg", "pos"] and subject.inputs.shape == (64, 2)
    with pytest.raises(ValueError, match="expected a reference model name or 'module:factory'"):
        user_subject("usermodel", weights, data)
    with pytest.raises(ValueError, match="has no attribute 'nope'"):
        user_subject("usermodel:nope", weights, data)
    with pytest.raises(ValueError, match=r"data: expected an existing \.npz file"):
        user_subject("usermodel:build", weights, tmp_path / "missing.npz")
    np.savez(tmp_path / "no_y.npz", x=np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="missing \\['y'\\]"):
        user_subject("usermodel:build", weights, tmp_path / "no_y.npz")
    np.savez(tmp_path / "pickled.npz", x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(ValueError, match=r"allow_pickle|need pickle"):  # subject.py's wording
        user_subject("usermodel:build", weights, tmp_path / "pickled.npz")
    save_file(
        {"0.weight": torch.zeros(3, 2), "0.bias": torch.zeros(3)}, tmp_path / "bad.safetensors"
    )
    with pytest.raises(ValueError, match="does not fit the model"):
        user_subject("usermodel:build", tmp_path / "bad.safetensors", data)


def test_cli_rejects_unknown_model(capsys: pytest.CaptureFixture[str]) -> None:
    # 2: the usage error of every xai command, not 1 (a check failed)
    assert main(["report", "--model", "no_such_model", "--out", "x"]) == 2
    assert "expected a reference model" in capsys.readouterr().err
    assert main(["report", "--model", "pkg:factory", "--out", "x"]) == 2
    assert "needs --weights" in capsys.readouterr().err


def test_report_on_the_text_model(tmp_path: Path) -> None:
    """keywords_text_cnn's section: classification, explanation quality over its tokens with
    localization against the keyword masks, highlighted sentences, the sanity check."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "xai", "report", "--model", "keywords_text_cnn"]
    command += ["--out", "out", "--samples", "2"]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    document = json.loads((tmp_path / "out" / "report.json").read_text())
    assert validation_errors(document) == []
    assert document["models"]["keywords_text_cnn"]["task"] == "text-classification"
    tests = {t["nodeid"].split("::")[-1].removesuffix("[keywords_text_cnn]"): t
             for t in document["tests"]}  # fmt: skip
    assert all(t["outcome"] == "passed" for t in tests.values()), tests
    accuracy = {m["name"]: m["value"] for m in tests["test_metrics_meet_thresholds"]["metrics"]}
    assert accuracy["accuracy"] >= 0.95
    # localization: Integrated Gradients points at a keyword in each sentence
    located = tests["test_localization"]
    metrics = {m["name"]: m["value"] for m in located["metrics"]}
    assert metrics["pointing_game_score (integrated_gradients)"] >= 0.9
    assert metrics["relevance_mass_score (integrated_gradients)"] > 0.5
    (table,) = located["tables"]
    rows = {row[0]: row for row in table["rows"]}
    chance = rows["uniform (chance)"][table["columns"].index("relevance_mass_score ↑")]
    assert 0 < chance < 0.3 < metrics["relevance_mass_score (occlusion)"]
    # every method explains the token ids, Grad-CAM at the model's 1-D convolution
    side_by_side = tests["test_attributions_side_by_side"]
    (timing,) = side_by_side["tables"]  # no "methods not applicable" table
    assert {row[0] for row in timing["rows"]} >= {
        "gradcam",
        "integrated_gradients",
        "lime",
        "occlusion",
        "shap",
        "smoothgrad",
    }
    explanations = [f for f in side_by_side["figures"] if f["kind"] == "explanation"]
    assert len(explanations) == 2  # a highlighted sentence per sample, one line per method
    # the quality table over tokens; metrics that add noise to ids: not applicable, with why
    quality = tests["test_explanation_quality"]
    names = [table["name"] for table in quality["tables"]]
    assert names[:2] == ["explanation quality (mean over samples)", "metrics not applicable"]
    skipped = {(row[0], row[1]): row[2] for row in quality["tables"][1]["rows"]}
    assert skipped[("integrated_gradients", "infidelity_error")].startswith("not for token ids")
    header = {name.split()[0]: i for i, name in enumerate(quality["tables"][0]["columns"])}
    ig = next(row for row in quality["tables"][0]["rows"] if row[0] == "integrated_gradients")
    assert ig[header["deletion_auc"]] is not None and ig[header["completeness_error"]] < 0.05
    sanity = {m["name"]: m for m in tests["test_sanity_model_randomization"]["metrics"]}
    assert sanity["randomized_rank_correlation"]["value"] < 0.5
