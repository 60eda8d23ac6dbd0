"""The explainer benchmark's cell selection (``python -m benchmarks explainers --only ...``)."""

from __future__ import annotations

import pytest

from benchmarks.__main__ import main
from benchmarks.explainers import _cells


def test_only_selects_models_and_methods() -> None:
    assert _cells(quick=True, only=["breast_cancer_mlp"]) == [
        ("breast_cancer_mlp", method, n)
        for method in ("integrated_gradients", "shap", "lime")
        for n in (1, 4)
    ]
    selected = _cells(quick=False, only=["lime", "gradcam"])
    assert {method for _, method, _ in selected} == {"lime", "gradcam"}
    assert {name for name, _, _ in selected} == {"digits_cnn", "shapes_cnn", "breast_cancer_mlp"}


def test_only_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match=r"only: unknown model or method name\(s\) \['lim'\]"):
        _cells(quick=True, only=["lim"])


def test_only_is_refused_for_other_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["training", "--only", "shap"])
    assert "--only applies to the explainers benchmark" in capsys.readouterr().err
