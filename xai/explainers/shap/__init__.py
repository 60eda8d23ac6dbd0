"""SHAP: the :class:`SHAP` explainer (gradient, deep and kernel algorithms), with its
vectorised Kernel SHAP re-implementation (:mod:`~xai.explainers.shap.kernel`)."""

from xai.explainers.shap.explainer import SHAP

__all__ = ["SHAP"]
