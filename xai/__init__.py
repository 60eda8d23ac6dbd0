"""xai: explainability and evaluation toolkit for PyTorch.

One attribution interface over Grad-CAM, Integrated Gradients, SHAP and LIME for any
``torch.nn.Module``::

    import xai
    expl = xai.explain(model, inputs, method="integrated_gradients")
    expl.plot(0)
"""

from importlib import metadata as _metadata

from xai.errors import InputError, InputTypeError
from xai.evaluation.classification import evaluate
from xai.evaluation.comparison import compare
from xai.evaluation.dataset_run import DatasetExplanation, explain_dataset
from xai.evaluation.quality import evaluate_explanation
from xai.explainers import (
    Explainer,
    ModelFunction,
    Target,
    available_explainers,
    explain,
    get_explainer,
    register_explainer,
)
from xai.explanation import Explanation
from xai.training import fit

try:
    __version__ = _metadata.version("xai-toolkit")
except _metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = [
    "DatasetExplanation",
    "Explainer",
    "Explanation",
    "InputError",
    "InputTypeError",
    "ModelFunction",
    "Target",
    "__version__",
    "available_explainers",
    "compare",
    "evaluate",
    "evaluate_explanation",
    "explain",
    "explain_dataset",
    "fit",
    "get_explainer",
    "register_explainer",
]
