"""``xai train`` and ``xai evaluate`` on the command line."""

from __future__ import annotations

import json
import shutil

import pytest

import reference_models
from xai.cli import main


def test_evaluate_all_prints_a_table(capsys) -> None:
    assert main(["evaluate"]) == 0
    out = capsys.readouterr().out
    for name in reference_models.available():
        assert name in out
    assert "accuracy" in out and "roc_auc" in out


def test_evaluate_json(capsys) -> None:
    assert main(["evaluate", "breast_cancer_mlp", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    metrics = data["models"]["breast_cancer_mlp"]
    shipped = reference_models.load("breast_cancer_mlp").info.metrics["test"]
    assert metrics["accuracy"] == pytest.approx(shipped["accuracy"])
    assert metrics["roc_auc"] >= 0.98
    assert len(metrics["confusion_matrix"]) == 2


def test_train_with_the_recipe_reproduces_the_shipped_metrics(tmp_path, capsys) -> None:
    code = main(["train", "breast_cancer_mlp", "--device", "cpu", "--out", str(tmp_path), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    shipped = reference_models.load("breast_cancer_mlp").info.metrics["test"]
    assert result["metrics"]["test"]["accuracy"] == pytest.approx(shipped["accuracy"], abs=0.02)
    assert result["metrics"]["test"]["roc_auc"] == pytest.approx(shipped["roc_auc"], abs=0.01)
    weights = tmp_path / "breast_cancer_mlp.safetensors"
    assert weights.is_file() and (tmp_path / "breast_cancer_mlp.json").is_file()
    # the checkpoint names its model, so --weights alone is enough
    assert main(["evaluate", "--weights", str(weights), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["models"]["breast_cancer_mlp"]["accuracy"] == pytest.approx(
        result["metrics"]["test"]["accuracy"]
    )


def test_train_table_output(tmp_path, capsys) -> None:
    assert main(["train", "breast_cancer_mlp", "--epochs", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "breast_cancer_mlp [test]" in out and "trained for 2 epoch(s)" in out


def test_errors(tmp_path, capsys) -> None:
    assert main(["train", "nope"]) == 2
    assert "name: expected one of" in capsys.readouterr().err
    assert main(["evaluate", "nope"]) == 2
    assert "name: expected one of" in capsys.readouterr().err
    assert main(["evaluate", "--weights", str(tmp_path / "x.safetensors")]) == 2
    assert "x.safetensors', which does not exist" in capsys.readouterr().err
    shutil.copy(reference_models.weights_path("digits_cnn"), tmp_path / "x.safetensors")
    assert main(["evaluate", "--weights", str(tmp_path / "x.safetensors")]) == 2  # no JSON
    assert "cannot tell which reference model" in capsys.readouterr().err
    assert main(["train", "digits_cnn", "--epochs", "0"]) == 2


def test_python_dash_m_xai_evaluate(tmp_path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "xai", "evaluate", "breast_cancer_mlp", "--split", "val"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "split: val" in result.stdout and "breast_cancer_mlp" in result.stdout
