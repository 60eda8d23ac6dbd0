"""Training: xai.fit on tensors, with early stopping, a checkpoint and the training curves.

Run: python docs/examples/training_fit.py [OUT_DIR]
"""

import sys
from pathlib import Path

import torch
from torch import nn

import xai
import xai.viz
from xai.training import History, load_checkpoint

out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs_output")
out.mkdir(parents=True, exist_ok=True)

# a small 3-class problem
g = torch.Generator().manual_seed(0)
y = torch.randint(0, 3, (600,), generator=g)
x = torch.randn(3, 10, generator=g)[y] * 2 + torch.randn(600, 10, generator=g)
train, val = (x[:400], y[:400]), (x[400:], y[400:])

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
history = xai.fit(
    model,
    train,
    val,
    epochs=20,
    lr=1e-2,
    patience=3,  # stop after 3 epochs without a better val_loss ...
    restore_best=True,  # ... and keep the best weights
    seed=0,  # same seed, same weights: bit for bit on CPU
    checkpoint=out / "mlp.safetensors",
    metadata={"architecture": {"name": "mlp", "config": {"hidden": [32]}}},
)
print(
    f"{len(history)} epochs, best epoch {history.best_epoch}, stopped early: {history.stopped_early}"
)
print({k: round(v, 4) for k, v in history.best.items() if isinstance(v, float)})

# weights (safetensors) + metadata (JSON) + history (JSON); loading never unpickles
fresh = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
_, metadata = load_checkpoint(out / "mlp.safetensors", fresh)
print("checkpoint metrics:", {k: round(v, 4) for k, v in metadata["metrics"].items()})
assert History.load(out / "mlp.history.json").column("train_loss") == history.column("train_loss")

xai.viz.plot_training_curves(history).savefig(out / "training_curves.png", dpi=100)
print("wrote", out / "training_curves.png")
