"""Set-up of the report tests: pytester, and how to load the plugin in inner runs."""

from __future__ import annotations

from importlib import metadata

# In-process pytester runs restore sys.modules afterwards; modules with C extensions (numpy's
# fft, scikit-learn) cannot be imported twice in one process, so import them here once.
import matplotlib
import pytest

import reference_models
import reference_models.datasets
import xai
import xai.viz  # noqa: F401

matplotlib.use("Agg")
reference_models.load("breast_cancer_mlp")  # imports scikit-learn's loaders once


def pytest_configure(config: pytest.Config) -> None:
    # pytester is off by default, and ``pytest_plugins`` is refused in a conftest below the
    # rootdir: load it when this folder's tests are collected.
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


def _entry_point_registered() -> bool:
    return any(ep.name == "xai" for ep in metadata.entry_points(group="pytest11"))


#: Arguments that load the plugin in a pytester run: none once the ``pytest11`` entry point
#: is installed (it loads itself), ``-p xai.pytest_plugin`` until then.
PLUGIN_ARGS: list[str] = [] if _entry_point_registered() else ["-p", "xai.pytest_plugin"]
