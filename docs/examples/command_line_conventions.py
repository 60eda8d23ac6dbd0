"""The command line's conventions (``--json``, ``-q``) and the ``progress=`` argument of the
API, as docs/command_line.md describes them.

Run: python docs/examples/command_line_conventions.py [OUT_DIR]
(the same as: xai evaluate breast_cancer_mlp --json; xai explain breast_cancer_mlp -q ...)
"""

import contextlib
import io
import json
import sys
from pathlib import Path

import torch

import xai
from xai.cli import main

out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs_output") / "conventions"

# --json: standard output holds one JSON document and nothing else
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    assert main(["evaluate", "breast_cancer_mlp", "--json"]) == 0
metrics = json.loads(printed.getvalue())["models"]["breast_cancer_mlp"]
print(f"accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['f1']:.4f}")

# -q: the results only (the table), no progress and no log lines on stderr
arguments = ["explain", "breast_cancer_mlp", "--method", "integrated_gradients", "--samples", "2"]
assert main([*arguments, "--option", "n_steps=16", "--out", str(out), "-q"]) == 0

# a usage error: one line on stderr naming the flag, exit code 2 (for every subcommand)
assert main(["explain", "breast_cancer_mlp", "--samples", "0"]) == 2

# progress= in the API: None (a bar on a terminal), True, False, or a callable
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
seen = []
xai.fit(model, (x, y), epochs=3, seed=0, progress=lambda done, message: seen.append(done))
print("fit progress:", [f"{done:.2f}" for done in seen])
comparison = xai.compare(
    model,
    x[:4],
    methods=["integrated_gradients", "shap"],
    options={"integrated_gradients": {"n_steps": 8}},
    metrics=["sparseness_score"],
    progress=lambda done, message: print(f"  {done:4.0%}  {message}"),
)
