"""Prepare your own model for the dashboard: a factory module, safetensors weights and an .npz
test set, checked the way `xai dashboard --model ...` checks them before it starts.

    python docs/examples/dashboard_own_model.py [FOLDER]
"""

import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler

from xai.suite.subject import user_subject

folder = Path(sys.argv[1] if len(sys.argv) > 1 else "my_model").resolve()
folder.mkdir(parents=True, exist_ok=True)

# 1. A module with a factory: a function with no arguments that returns the nn.Module.
(folder / "wine_model.py").write_text(
    "from torch import nn\n\n\n"
    "def build():\n"
    "    return nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 3))\n"
)
sys.path.insert(0, str(folder))
from wine_model import build  # noqa: E402

# 2. Train it briefly (any training works; xai.fit is one way) and save the weights.
wine = load_wine()
x = torch.tensor(StandardScaler().fit_transform(wine.data), dtype=torch.float32)
y = torch.tensor(wine.target)
torch.manual_seed(0)
model = build()
optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(200):
    optimiser.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimiser.step()
save_file(model.state_dict(), folder / "wine.safetensors")

# 3. The test data: arrays x and y; class and feature names are optional (string arrays).
np.savez(
    folder / "wine.npz",
    x=x.numpy(),
    y=y.numpy(),
    class_names=np.array(wine.target_names),
    feature_names=np.array(wine.feature_names),
)

# What the dashboard does with them (no pickle anywhere): it fails here, clearly, if they
# do not fit together.
subject = user_subject("wine_model:build", folder / "wine.safetensors", folder / "wine.npz")
print(f"{subject.name}: {len(subject.labels)} samples, classes {subject.class_names}")
print(
    f"cd {folder} && xai dashboard --model wine_model:build "
    "--weights wine.safetensors --data wine.npz"
)
