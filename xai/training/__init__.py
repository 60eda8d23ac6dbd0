"""Training: the :func:`fit` loop, its :class:`History`, and safetensors checkpoints."""

from xai._device import pick_device
from xai.training.checkpoint import load_checkpoint, save_checkpoint
from xai.training.history import History
from xai.training.loop import NonFiniteLossError, fit

__all__ = [
    "History",
    "NonFiniteLossError",
    "fit",
    "load_checkpoint",
    "pick_device",
    "save_checkpoint",
]
