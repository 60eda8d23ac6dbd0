"""Figures (matplotlib only, no pyplot state: every function returns a Figure or an array).

- :mod:`xai.viz.explanation`: an explanation's maps or bars, several methods side by side;
- :mod:`xai.viz.text`: token-id explanations as coloured text (figure panel and HTML);
- :mod:`xai.viz.overlay`: maps blended over their images as RGB arrays (interactive views);
- :mod:`xai.viz.classification`: confusion matrix, ROC curves, reliability, training curves;
- :mod:`xai.viz.quality`: deletion/insertion curves, randomisation checks, method comparisons;
- :mod:`xai.viz.dataset`: a whole-dataset run's summary (importance, class maps, examples).

Every figure is reachable as ``xai.viz.<name>``.
"""

from xai.viz._common import DIVERGING, SEQUENTIAL
from xai.viz.classification import (
    plot_confusion_matrix,
    plot_reliability_diagram,
    plot_roc_curves,
    plot_training_curves,
)
from xai.viz.dataset import plot_class_maps, plot_confidence_examples, plot_dataset_summary
from xai.viz.explanation import plot_comparison, plot_explanation
from xai.viz.overlay import attribution_scale, input_image, overlay_image
from xai.viz.quality import (
    plot_agreement_matrix,
    plot_method_comparison,
    plot_perturbation_curves,
    plot_randomization,
)
from xai.viz.text import text_html

__all__ = [
    "DIVERGING",
    "SEQUENTIAL",
    "attribution_scale",
    "input_image",
    "overlay_image",
    "plot_agreement_matrix",
    "plot_class_maps",
    "plot_comparison",
    "plot_confidence_examples",
    "plot_confusion_matrix",
    "plot_dataset_summary",
    "plot_explanation",
    "plot_method_comparison",
    "plot_perturbation_curves",
    "plot_randomization",
    "plot_reliability_diagram",
    "plot_roc_curves",
    "plot_training_curves",
    "text_html",
]
