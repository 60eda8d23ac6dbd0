"""The documentation's examples run: every ```python block of README.md and docs/*.md (new
pages included), docs/examples/, and the library's docstring examples.

A block runs on its own in a fresh interpreter, in a temporary folder. The comment line right
above its fence may say otherwise, visibly in the page's source:

- ``<!-- run with: shapes_cnn -->`` runs it after ``DOC_SETUPS["shapes_cnn"]``, which
  defines the names an overview snippet uses (``model``, ``images``, ``masks`` ...);
- ``<!-- continues -->`` runs it after the block above it on the same page (and that block's
  setup);
- ``<!-- not run: REASON -->`` skips it, with REASON as the skip's reason (a cluster, a GPU,
  a file of the reader's).
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import os
import re
import runpy
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the installed packages whose docstrings are the API reference
LIBRARY = ("xai", "reference_models")
#: every runnable example of the documentation (run_all.py is `make docs`'s runner)
EXAMPLES = sorted(p for p in (ROOT / "docs" / "examples").glob("*.py") if p.name != "run_all.py")


# ------------------------------------------------------------ every python block of the pages
#: The pages whose blocks run: README and every page of docs/ (a new page is picked up).
DOC_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: What ``<!-- run with: NAME -->`` runs before a block: the names overview snippets use.
DOC_SETUPS = {
    "shapes_cnn": """
import reference_models
import torch
import xai
ref = reference_models.load("shapes_cnn")
model = ref.model
images, labels, masks = (t[:2] for t in ref.data["test"].tensors)
inputs, x, y = images, images, labels
options = {}
data, train_data, val_data = ref.data["test"], ref.data["train"], ref.data["val"]
expl = xai.explain(model, images, method="integrated_gradients", n_steps=8)
""",
    "breast_cancer_mlp": """
import reference_models
import torch
import xai
ref = reference_models.load("breast_cancer_mlp")
model = ref.model
rows, labels = (t[:8] for t in ref.data["test"].tensors)
inputs, x, y = rows, rows, labels
options = {}
x_test, y_test = ref.data["test"].tensors
data, train_data, val_data = ref.data["test"], ref.data["train"], ref.data["val"]
train, val = train_data, val_data
""",
}

_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", flags=re.S | re.M)
_MARKER = re.compile(r"^<!--\s*(not run|run with|continues)\s*:?\s*(.*?)\s*-->$")


def _doc_blocks() -> list[Any]:
    """One pytest param per ```python block: ``(page, line, code, marker, argument)``, where
    ``code`` already holds the setup and the earlier blocks a ``continues`` marker asks for."""
    blocks = []
    for page in DOC_PAGES:
        text = page.read_text(encoding="utf-8")
        previous = ""
        for match in _FENCE.finditer(text):
            line = text[: match.start()].count("\n") + 1
            above = text[: match.start()].rstrip().splitlines()
            marker = _MARKER.match(above[-1].strip()) if above else None
            kind, argument = marker.groups() if marker else ("", "")
            code = match.group(1)
            if kind == "run with":
                code = DOC_SETUPS.get(argument, f"raise KeyError({argument!r})") + code
            elif kind == "continues":
                code = previous + "\n" + code
            previous = code
            name = f"{page.relative_to(ROOT)}:{line}"
            blocks.append(pytest.param(page, line, code, kind, argument, id=name))
    return blocks


def test_doc_block_markers_are_known() -> None:
    """A misspelt marker would run a block without its setup, or skip it for no reason."""
    problems = []
    for page in DOC_PAGES:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if re.match(r"\s*<!--\s*(not run|run with|continues)", line):
                marker = _MARKER.match(line.strip())
                if marker is None or (
                    marker.group(1) == "run with" and marker.group(2) not in DOC_SETUPS
                ):
                    problems.append(f"{page.name}:{number}: {line.strip()}")
                elif marker.group(1) == "not run" and not marker.group(2):
                    problems.append(f"{page.name}:{number}: 'not run' needs a reason")
    assert not problems, problems


def test_skipped_doc_blocks_are_few() -> None:
    blocks = _doc_blocks()
    skipped = [b for b in blocks if b.values[3] == "not run"]
    assert len(blocks) >= 10 and len(skipped) <= len(blocks) // 4, [b.id for b in skipped]


@pytest.mark.parametrize(("page", "line", "code", "kind", "argument"), _doc_blocks())
def test_doc_block_runs(
    page: Path, line: int, code: str, kind: str, argument: str, tmp_path: Path
) -> None:
    """Each ```python block of README.md and docs/*.md runs in a fresh interpreter."""
    if kind == "not run":
        pytest.skip(f"{page.name}:{line} is marked 'not run': {argument}")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CI": "1", "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, f"{page.name}:{line}\n{result.stderr[-3000:]}"


def test_readme_example_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "README has no python example"
    code = blocks[0]
    assert len(code.strip().splitlines()) <= 15
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "explanation.png").stat().st_size > 0
    assert (tmp_path / "explanation.safetensors").stat().st_size > 0
    for method in ("gradcam", "integrated_gradients", "lime", "shap"):
        assert method in result.stdout


def test_every_guide_page_has_a_runnable_example() -> None:
    prefixes = {path.name.split("_")[0] for path in EXAMPLES}
    assert {
        "getting",
        "explainers",
        "training",
        "reference",
        "evaluation",
        "quality",
        "dashboard",
    } <= prefixes


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_docs_example_runs(example: Path, tmp_path: Path) -> None:
    """Each example runs in a fresh interpreter, writing into a temporary folder."""
    result = subprocess.run(
        [sys.executable, str(example), str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CI": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_docs_pages_link_to_existing_files() -> None:
    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if target.startswith("http"):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_docs_links_and_images_exist() -> None:
    """Every relative link and image of the documentation points at a file of the repository
    (the dashboard's screenshots included)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)\)", page.read_text()):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing, missing


# ----------------------------------------------------------------- docstrings of the contract
def _contract() -> dict[str, Callable[..., Any]]:
    """The public functions of the contract (../shared/DESIGN.md, "Public API")."""
    import reference_models
    import xai
    import xai.viz
    from xai import Explainer, Explanation

    functions: dict[str, Callable[..., Any]] = {
        "xai.explain": xai.explain,
        "xai.get_explainer": xai.get_explainer,
        "xai.available_explainers": xai.available_explainers,
        "xai.register_explainer": xai.register_explainer,
        "xai.Explainer.explain": Explainer.explain,
        "xai.Explainer.attribute": Explainer.attribute,
        "xai.Explanation.heatmap": Explanation.heatmap,
        "xai.Explanation.numpy": Explanation.numpy,
        "xai.Explanation.plot": Explanation.plot,
        "xai.Explanation.save": Explanation.save,
        "xai.Explanation.load": Explanation.load,
        "xai.evaluate": xai.evaluate,
        "xai.evaluate_explanation": xai.evaluate_explanation,
        "xai.compare": xai.compare,
        "xai.fit": xai.fit,
        "reference_models.available": reference_models.available,
        "reference_models.load": reference_models.load,
    }
    for name in xai.viz.__all__:
        if inspect.isfunction(getattr(xai.viz, name)):
            functions[f"xai.viz.{name}"] = getattr(xai.viz, name)
    return functions


def _sections(doc: str) -> dict[str, str]:
    """Google-style sections of a docstring: ``{"Args": body, "Returns": body, ...}``."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in doc.splitlines():
        header = re.fullmatch(r"(\w+(?: \w+)?):{1,2}\s*", line)
        if header:
            current = sections.setdefault(header.group(1), [])
        elif line and not line.startswith(" "):
            current = None
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


def _raises(function: Callable[..., Any]) -> bool:
    """Whether the function's own body has a ``raise`` statement (nested functions aside; a
    bare re-raise does not count)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0]
    assert isinstance(tree, ast.FunctionDef | ast.AsyncFunctionDef)
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(node, ast.Raise) and node.exc is not None:
            return True
        todo.extend(ast.iter_child_nodes(node))
    return False


def _docstring_problems(function: Callable[..., Any]) -> list[str]:
    sections = _sections(inspect.getdoc(function) or "")
    signature = inspect.signature(function)
    problems = []
    parameters = [p for p in signature.parameters.values() if p.name not in ("self", "cls")]
    if parameters and "Args" not in sections:
        problems.append("no Args: section")
    for parameter in parameters if "Args" in sections else []:
        if not re.search(rf"^\s+\**{parameter.name}:", sections["Args"], flags=re.M):
            problems.append(f"argument {parameter.name!r} missing from Args:")
    if signature.return_annotation not in (None, "None") and not (
        {"Returns", "Yields"} & set(sections)
    ):
        problems.append("no Returns: section")
    if _raises(function) and "Raises" not in sections:
        problems.append("raises, but has no Raises: section")
    return problems


def test_contract_docstrings_have_their_sections() -> None:
    """Every public function of the contract documents its arguments (each by name), what it
    returns and, when its body raises, what it raises (Google style)."""
    problems = {
        name: found
        for name, function in _contract().items()
        if (found := _docstring_problems(function))
    }
    assert not problems, problems


def test_docstring_check_catches_missing_sections() -> None:
    def undocumented(x: int) -> int:
        """Twice ``x``."""
        if x < 0:
            raise ValueError("x: expected x >= 0.")
        return 2 * x

    assert _docstring_problems(undocumented) == [
        "no Args: section",
        "no Returns: section",
        "raises, but has no Raises: section",
    ]


# ------------------------------------------------------------------ >>> examples of the library
def _modules_with_prompts() -> list[str]:
    names = []
    for package in LIBRARY:
        for path in sorted((ROOT / package).rglob("*.py")):
            if re.search(r"^\s*>>>", path.read_text(), flags=re.M):
                parts = path.relative_to(ROOT).with_suffix("").parts
                names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("module_name", _modules_with_prompts())
def test_library_prompt_examples_run_under_doctest(module_name: str) -> None:
    """A ``>>>`` example in the library is a doctest that passes; an example that cannot run
    on its own (it uses a ``model`` or ``images`` it does not define) is written as plain code
    in an ``Example::`` block, without prompts."""
    module = importlib.import_module(module_name)
    source = Path(str(module.__file__)).read_text()
    tests = doctest.DocTestFinder().find(module)
    prompts = len(re.findall(r"^\s*>>>", source, flags=re.M))
    collected = sum(len(test.examples) for test in tests)
    assert collected == prompts, (
        f"{module_name}: {prompts - collected} '>>>' line(s) that doctest does not collect "
        "(outside a docstring of the module, a class or a function): write them as plain code"
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


# ---------------------------------------------------------------------- API reference pages
API = ROOT / "docs" / "api"


def _api_modules() -> tuple[str, ...]:
    return tuple(runpy.run_path(str(API / "generate.py"))["MODULES"])


def test_every_public_module_has_an_api_page() -> None:
    """Each public (non-underscore) module or package directly under ``xai/`` that declares
    ``__all__``, and ``reference_models``, is one of the pages ``docs/api/generate.py`` writes."""
    public = {"xai", "reference_models"}
    for path in sorted((ROOT / "xai").iterdir()):
        source = path / "__init__.py" if path.is_dir() else path
        if path.name.startswith("_") or source.suffix != ".py" or not source.is_file():
            continue
        if re.search(r"^__all__\b", source.read_text(), flags=re.M):
            public.add(f"xai.{path.stem}")
    assert public <= set(_api_modules()), (
        f"public modules without an API page: {sorted(public - set(_api_modules()))}; add them "
        "to MODULES in docs/api/generate.py and run it"
    )


@pytest.mark.parametrize("module_name", _api_modules())
def test_api_page_lists_every_public_name(module_name: str) -> None:
    page = API / f"{module_name}.md"
    assert page.is_file(), f"no {page.relative_to(ROOT)}: run .venv/bin/python docs/api/generate.py"
    text = page.read_text()
    missing = [
        name
        for name in importlib.import_module(module_name).__all__
        if f"\n## `{name}`\n" not in text
    ]
    assert not missing, (
        f"{page.relative_to(ROOT)} lacks {missing} of {module_name}.__all__: run "
        ".venv/bin/python docs/api/generate.py"
    )
    for target in re.findall(r"\]\(([^)#\s]+)", text):
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_api_pages_are_linked_from_the_index() -> None:
    index = (ROOT / "docs" / "index.md").read_text()
    linked = set(re.findall(r"\]\((api/[^)#\s]+\.md)\)", index))
    pages = {f"api/{page.name}" for page in API.glob("*.md")}
    assert pages == {f"api/{name}.md" for name in _api_modules()}, "stale pages in docs/api"
    assert pages <= linked, f"docs/index.md does not link {sorted(pages - linked)}"
