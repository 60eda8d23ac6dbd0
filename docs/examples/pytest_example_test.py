"""A model test file for pytest with the xai plugin: metrics against thresholds, figures,
explanations and tables, recorded into an evaluation report.

Run it with pytest:
    pytest docs/examples/pytest_example_test.py --xai-report xai_report
or as a script (what the docs test does), writing the report into OUT_DIR:
    python docs/examples/pytest_example_test.py [OUT_DIR]
"""

import sys
from importlib import metadata
from pathlib import Path

import pytest

import xai
import xai.viz


@pytest.fixture(scope="module")
def digits(xai_reference_model):
    """The digits CNN with its test split, loaded once for the whole session."""
    return xai_reference_model("digits_cnn")


@pytest.fixture(scope="module")
def evaluation(digits):
    return xai.evaluate(digits.model, digits.data["test"], class_names=digits.info.class_names)


def test_accuracy_and_f1(evaluation, xai_report):
    # metric() records the value (also as a JUnit property) and returns whether it
    # meets its threshold, so the test fails when the model regresses.
    assert xai_report.metric("accuracy", evaluation.accuracy, threshold=0.95)
    assert xai_report.metric("f1", evaluation.f1, threshold=0.95)
    xai_report.metric("log_loss", evaluation.log_loss, higher_is_better=False)
    xai_report.table(
        "per class F1",
        [
            {"digit": name, "f1": f1}
            for name, f1 in zip(evaluation.class_names, evaluation.f1_per_class, strict=True)
        ],
    )


def test_confusion_matrix(evaluation, xai_report):
    xai_report.figure("confusion matrix", xai.viz.plot_confusion_matrix(evaluation))
    diagonal = evaluation.confusion_matrix.diag().sum()
    assert diagonal / evaluation.confusion_matrix.sum() == pytest.approx(evaluation.accuracy)


def test_attributions(digits, xai_report):
    images = digits.data["test"].tensors[0][:3]
    explanations = [
        xai.explain(digits.model, images, method="gradcam"),
        xai.explain(digits.model, images, method="integrated_gradients", n_steps=32),
    ]
    # a gallery: the methods side by side, one row per sample
    xai_report.explanation("Grad-CAM vs Integrated Gradients", explanations, samples=3)
    quality = xai.evaluate_explanation(
        digits.model, explanations[1], metrics=["deletion_auc", "completeness_error"]
    )
    assert xai_report.metric(
        "ig_completeness_error",
        quality.means["completeness_error"],
        threshold=0.15,
        higher_is_better=False,
    )


@pytest.mark.parametrize("split", ["val", "test"])
def test_accuracy_per_split(digits, split, xai_report):
    accuracy = xai.evaluate(digits.model, digits.data[split]).accuracy
    assert xai_report.metric(f"{split}_accuracy", accuracy, threshold=0.95)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs_output") / "xai_report"
    registered = any(ep.name == "xai" for ep in metadata.entry_points(group="pytest11"))
    plugin = [] if registered else ["-p", "xai.pytest_plugin"]
    code = pytest.main(
        [__file__, *plugin, "--xai-report", str(out), "-q", "-p", "no:cacheprovider"]
    )
    print("report:", out / "index.html")
    sys.exit(int(code))
