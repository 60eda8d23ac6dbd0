"""Library versions recorded with every explanation (and later, every report)."""

from __future__ import annotations

import platform
from functools import lru_cache
from importlib import metadata

_LIBRARIES = {
    "xai": "xai-toolkit",
    "torch": "torch",
    "captum": "captum",
    "shap": "shap",
    "lime": "lime",
    "numpy": "numpy",
    "scikit-learn": "scikit-learn",
    "scikit-image": "scikit-image",
}


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries the results depend on (``"missing"`` if absent)."""
    return dict(_library_versions())


@lru_cache(maxsize=1)
def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for label, distribution in _LIBRARIES.items():
        try:
            versions[label] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[label] = "missing"
    return versions
