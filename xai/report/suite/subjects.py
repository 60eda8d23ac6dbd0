"""What the bundled suite evaluates: a reference model by name, or a user's model built from
``module:factory`` with safetensors weights and an ``.npz`` test set (see :mod:`xai.subject`)."""

from xai.subject import Subject, reference_subject, user_subject

__all__ = ["Subject", "reference_subject", "user_subject"]
