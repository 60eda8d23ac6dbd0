"""Known results of the bundled suite on the reference models: checks that fail for a reason
the literature predicts, not because the toolkit is broken.

``xai demo`` runs the suite on every reference model. On ``digits_cnn`` Integrated Gradients
fails the model-randomization sanity check: its attributions are the input times a path
integral of gradients, and the input's stroke structure survives any randomisation of the
weights (Adebayo et al., 2018, found the same for gradient times input); on ``breast_cancer_mlp``
it sits at the threshold and fails on the suite's few samples. The suite keeps the check
failing — it is a true verdict about that method on that model — and says so in the test's
message; the demo prints such failures as expected findings and exits 0 when nothing else
failed.

The text model, ``keywords_text_cnn``, has no such finding: explained with its attention masks
(the rank correlation then compares real tokens only), Integrated Gradients passes the
model-randomization check (rank correlation about -0.2 on the suite's 3 sentences, threshold
0.5). Without the masks the padding, zero in both maps, would tie the maps together (about 0.5
on the same sentences): the suite always passes them. A finding is matched by test and model
name, so one that held for text would be added here like the others.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Where the findings are explained.
DOCS = "docs/explanation_quality.md"


@dataclass(frozen=True)
class Finding:
    """A check that is expected to fail on a reference model, and why."""

    test: str
    model: str
    text: str

    def line(self) -> str:
        """The one line the demo prints: ``"expected: ... (Adebayo et al. 2018), see ..."``."""
        return f"expected: {self.text}, see {DOCS}"


KNOWN_FINDINGS: tuple[Finding, ...] = (
    Finding(
        "test_sanity_model_randomization",
        "digits_cnn",
        "integrated_gradients fails the model-randomization check on digits_cnn: IG times input "
        "keeps the input's structure when the weights are randomised (Adebayo et al. 2018)",
    ),
    Finding(
        "test_sanity_model_randomization",
        "breast_cancer_mlp",
        "integrated_gradients sits at the model-randomization threshold on breast_cancer_mlp "
        "and fails it on the suite's few samples: input times gradient keeps the input's magnitude "
        "when the weights are randomised (Adebayo et al. 2018)",
    ),
)


def _parts(nodeid: str) -> tuple[str, str]:
    """``"test_explanations.py::test_x[digits_cnn]"`` -> ``("test_x", "digits_cnn")``."""
    name = nodeid.rsplit("::", 1)[-1]
    test, _, parameter = name.partition("[")
    return test, parameter.rstrip("]")


def expected_finding(nodeid: str) -> Finding | None:
    """The known finding of the suite's test ``nodeid``, or None for any other test."""
    test, model = _parts(nodeid)
    for finding in KNOWN_FINDINGS:
        if (finding.test, finding.model) == (test, model):
            return finding
    return None


def finding_for(test: str, model: str) -> Finding | None:
    """The known finding of ``test`` on the reference model ``model``, or None."""
    return expected_finding(f"{test}[{model}]")
