"""The package as users install it: the built wheel in a fresh virtual environment with only
what the docs say to install (``pip install -c constraints.txt xai_toolkit-*.whl``: no
extras, no system site-packages), then ``xai --version``, ``xai explain`` and ``xai report``
on a reference model; and the declared dependencies, extras and lock."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: Folders of a checkout that are not part of the source the wheel is built from.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "*.egg-info", "__pycache__", ".*_cache", "build", "dist", "*_output",
    "node_modules", "xai_report*", "xai_explanations", "trained_models",
)  # fmt: skip


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not NAME==VERSION"
            pins[_name(name)] = version
    return pins


def test_pytest_is_a_dependency_not_an_extra() -> None:
    """`xai report`, `xai demo` and the pytest plugin need pytest: it comes with the package."""
    assert "pytest" in {_name(r) for r in PYPROJECT["project"]["dependencies"]}


def test_extras_say_what_they_are_for() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(extras) == {"dashboard", "dev", "test"}
    assert {_name(r) for r in extras["dashboard"]} == {"streamlit"}
    assert {"ruff", "mypy", "pytest-xdist", "playwright", "hypothesis", "transformers"} <= {
        _name(r) for r in extras["dev"]
    }
    assert extras["test"] == ["xai-toolkit[dev]"]  # the former name, an alias
    makefile = (ROOT / "Makefile").read_text()
    assert '-e ".[dev,dashboard]"' in makefile  # make install: what make test needs


def test_streamlit_bound_is_one_the_dashboard_tests_pass_on() -> None:
    """The dashboard's tests pass on streamlit 1.66.0 and fail on 1.65 and before (AppTest
    lacks form_submit_button; st.bar_chart(sort=...) came in 1.50): the bound says so."""
    (requirement,) = PYPROJECT["project"]["optional-dependencies"]["dashboard"]
    assert requirement == "streamlit>=1.66"


def test_constraints_pin_every_declared_dependency() -> None:
    pins = _pins()
    declared = [*PYPROJECT["project"]["dependencies"]]
    for requirements in PYPROJECT["project"]["optional-dependencies"].values():
        declared += [r for r in requirements if not r.startswith("xai-toolkit")]
    missing = sorted({_name(r) for r in declared} - set(pins))
    assert not missing, f"constraints.txt lacks {missing}; run `make lock`"
    assert pins["torch"] == "2.13.0"


def test_constraints_lock_the_installed_environment() -> None:
    """Every package of this environment (`make install`) is pinned, at the version installed."""
    from importlib import metadata

    pins = _pins()
    installed = {
        _name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if d.metadata["Name"] and _name(d.metadata["Name"]) not in {"xai-toolkit", "pip"}
    }
    installed = {k: v for k, v in installed.items() if k not in {"setuptools", "wheel"}}
    unpinned = sorted(set(installed) - set(pins))
    assert not unpinned, f"installed but not in constraints.txt: {unpinned}; run `make lock`"
    differ = {
        name: (pins[name], version)
        for name, version in installed.items()
        if version.split("+")[0] != pins[name]
    }
    assert not differ, f"constraints.txt pins other versions than installed: {differ}"


@pytest.mark.slow
def test_built_wheel_in_a_fresh_environment(tmp_path: Path) -> None:
    """Build the wheel, install it with the documented command into a new venv, run it from a
    folder outside the checkout (so nothing of the source tree is importable)."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), "."],
        cwd=source, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("xai_toolkit-*.whl")

    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(environment)
    try:
        _install_and_run(environment, wheel, tmp_path)
    finally:  # 2 GB (torch): not kept among pytest's last three temporary folders
        shutil.rmtree(environment, ignore_errors=True)


def _install_and_run(environment: Path, wheel: Path, tmp_path: Path) -> None:
    python = environment / "bin" / "python"
    # The install the README gives, plus --no-compile: bytecode is written as it is imported
    # (compiling all of torch up front doubles the install time).
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--no-compile", "-c", str(ROOT / "constraints.txt"), str(wheel)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["CI"] = "1"
    xai = str(environment / "bin" / "xai")

    def run(*argv: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [xai, *argv], cwd=work, env=env, capture_output=True, text=True, timeout=timeout
        )

    version = run("--version")
    assert version.returncode == 0, version.stderr
    assert re.fullmatch(r"xai \d+\.\d+\.\d+\S*\n", version.stdout), version.stdout
    where = subprocess.run(
        [str(python), "-c", "import xai, reference_models; print(xai.__file__)"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert str(environment) in where.stdout, where.stdout + where.stderr  # not the checkout

    explained = run(
        "explain", "breast_cancer_mlp", "--method", "integrated_gradients", "--samples", "2",
        "--option", "n_steps=8", "--out", "explanations", "--json",
    )  # fmt: skip
    assert explained.returncode == 0, explained.stderr[-3000:]
    document = json.loads(explained.stdout)
    assert Path(work, document["explanations"][0]["file"]).is_file()
    assert len(document["figures"]) == 2

    reported = run(
        "report", "--model", "breast_cancer_mlp", "--samples", "1", "--out", "report", "--json",
        timeout=600,
    )  # fmt: skip
    # 0: every check passed; 1: a check failed (the report shows which); both wrote it
    assert reported.returncode in (0, 1), reported.stderr[-3000:]
    summary = json.loads(reported.stdout)
    assert summary["exit_code"] == reported.returncode
    assert summary["summary"]["total"] > 0
    assert (work / "report" / "index.html").is_file()
    assert json.loads((work / "report" / "report.json").read_text())["models"]

    # the dashboard is an extra: without it, one line saying how to get it
    dashboard = run("dashboard", "--port", "0", timeout=120)
    assert dashboard.returncode == 2, dashboard.stderr
    assert "[dashboard]" in dashboard.stderr and "Traceback" not in dashboard.stderr
