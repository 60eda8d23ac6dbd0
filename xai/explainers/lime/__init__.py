"""LIME: the :class:`LIME` explainer, with its vectorised tabular re-implementation
(:mod:`~xai.explainers.lime.tabular`) and image superpixels (:mod:`~xai.explainers.lime.segmentation`)."""

from xai.explainers.lime.explainer import LIME

__all__ = ["LIME"]
