"""A method of your own: one class with its knowledge, registered once, then used wherever the
built-in methods are (``xai.explain``, ``xai.compare``, the dashboard's controls, the report).

Run: python docs/examples/explainers_custom_method.py
"""

from typing import Any, ClassVar

import torch
from torch import nn

import xai
from xai import Explainer
from xai.explainers.parameters import Parameter, applicable_methods, tunable_parameters


class GradientTimesInput(Explainer):
    """The input gradient of the target score times the input (Shrikumar et al., 2016)."""

    name = "gradient_x_input"
    defaults: ClassVar[dict[str, Any]] = {"scale": 1.0, "power": 1}  # options, defaults
    input_ndims = (2, 4)  # tabular rows and images: input_kinds() == ("image", "tabular")
    quick_options: ClassVar[dict[str, Any]] = {}  # cheap options (smoke tests, report)

    @classmethod
    def tunable_parameters(cls, model=None, inputs=None):
        # what the dashboard offers as controls (an integer range, or choices)
        return [Parameter("power", "power of the gradient", 1, 1, 3, 1, help="gradient ** power")]

    def attribute(self, function, inputs, target, params):
        # function: the model as inputs -> scores (N, K); target: the user's target
        classes = target.classes(function, inputs)  # (N,) class per sample, checked
        points = inputs.clone().requires_grad_(True)
        score = function(points).gather(1, classes[:, None]).sum()
        (gradient,) = torch.autograd.grad(score, points)
        attributions = gradient ** params["power"] * inputs * params["scale"]
        return attributions, {"note": "gradient x input"}  # (attributions, extras)


xai.register_explainer(GradientTimesInput)
assert "gradient_x_input" in xai.available_explainers()

# A linear model without bias: gradient x input is each feature's exact contribution.
torch.manual_seed(0)
model = nn.Linear(5, 3, bias=False).eval()
rows = torch.randn(4, 5)
expl = xai.explain(model, rows, method="gradient_x_input", target=1)
print("params:", {k: v for k, v in expl.params.items() if k != "output"}, expl.extras["note"])
torch.testing.assert_close(expl.attributions.sum(1), model(rows)[:, 1])  # sums to f(x)
torch.testing.assert_close(expl.attributions, rows * model.weight[1])
assert expl.target.tolist() == [1, 1, 1, 1]

# The rest of the library asks the class: which inputs it explains, its controls ...
assert "gradient_x_input" in applicable_methods(rows)
print("controls:", [p.name for p in tunable_parameters("gradient_x_input", model, rows)])
# ... and compares it with the built-in methods on the same inputs and targets
comparison = xai.compare(
    model,
    rows,
    methods=["gradient_x_input", "integrated_gradients", "occlusion"],
    target=1,
    metrics=["deletion_auc"],
)
print(comparison.table())
# on a linear model, IG from a zero baseline and occlusion with zeros agree with it exactly
torch.testing.assert_close(
    comparison.explanations["integrated_gradients"].attributions, expl.attributions
)
torch.testing.assert_close(comparison.explanations["occlusion"].attributions, expl.attributions)
print("gradient_x_input: registered, explained, compared")
