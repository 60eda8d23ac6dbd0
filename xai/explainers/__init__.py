"""Attribution methods behind one interface.

Built-in methods are registered here; third-party packages add theirs through the entry-point
group ``xai.explainers`` (see ``docs/explainers.md``).
"""

from xai._model import ModelFunction
from xai.explainers.base import Explainer, Target
from xai.explainers.gradcam import GradCAM
from xai.explainers.integrated_gradients import IntegratedGradients
from xai.explainers.lime.explainer import LIME
from xai.explainers.occlusion import Occlusion
from xai.explainers.registry import (
    ENTRY_POINT_GROUP,
    available_explainers,
    explain,
    explainer_class,
    get_explainer,
    register_explainer,
    reload_entry_points,
)
from xai.explainers.shap.explainer import SHAP
from xai.explainers.smoothgrad import SmoothGrad

for _builtin in (GradCAM, IntegratedGradients, LIME, SHAP, SmoothGrad, Occlusion):
    register_explainer(_builtin)

__all__ = [
    "ENTRY_POINT_GROUP",
    "LIME",
    "SHAP",
    "Explainer",
    "ModelFunction",
    "Target",
    "GradCAM",
    "IntegratedGradients",
    "available_explainers",
    "explain",
    "explainer_class",
    "get_explainer",
    "register_explainer",
    "reload_entry_points",
]
