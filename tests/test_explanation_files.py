"""Explanation files from the outside: hostile or damaged files are a ValueError naming the path
and the field, never a KeyError/RecursionError/AttributeError or a silently wrong result; save
never replaces a file that is not an explanation; params' numbers round-trip as numbers. The
property-based tests mutate saved files (bytes, the JSON header, the tensors) and check that
every outcome is a valid Explanation or that ValueError."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file

import xai
from xai.errors import InputError
from xai.explanation import MAX_HEADER_CHARS, MAX_HEADER_DEPTH

FORMAT = {"format": "xai.explanation", "format_version": "1"}


def _tensors(**changes: torch.Tensor) -> dict[str, torch.Tensor]:
    tensors = {
        "attributions": torch.ones(2, 3),
        "inputs": torch.zeros(2, 3),
        "target": torch.tensor([0, 1]),
    }
    tensors.update(changes)
    return tensors


def _write(
    path: Path, metadata: dict[str, str], tensors: dict[str, torch.Tensor] | None = None
) -> Path:
    save_file(tensors or _tensors(), str(path), metadata=metadata)
    return path


def _header(**fields: Any) -> dict[str, str]:
    return {**FORMAT, "xai": json.dumps({"method": "demo", **fields})}


def _refused(path: Path, field: str) -> InputError:
    """Load ``path`` and return the error, checking that it is the one error: a ValueError
    (InputError about ``path``) whose message names the file and ``field``."""
    with pytest.raises(ValueError) as caught:
        xai.Explanation.load(path)
    error = caught.value
    assert isinstance(error, InputError) and error.argument == "path", repr(error)
    message = str(error)
    assert str(path) in message, message
    assert f" {field}: " in message, message
    return error


# ------------------------------------------------------------------ hostile metadata


def test_missing_header_is_a_value_error_naming_the_field(tmp_path: Path) -> None:
    """Was ``KeyError: 'xai'``."""
    error = _refused(_write(tmp_path / "e.safetensors", dict(FORMAT)), "xai")
    assert "missing" in str(error)


def test_deeply_nested_header_is_refused_before_parsing(tmp_path: Path) -> None:
    """Was ``RecursionError``; the nesting is counted without parsing."""
    deep = "[" * 100_000 + "]" * 100_000
    path = _write(tmp_path / "e.safetensors", {**FORMAT, "xai": deep})
    assert "deeper than 32 levels" in str(_refused(path, "xai"))
    nested: Any = 1
    for _ in range(MAX_HEADER_DEPTH):
        nested = [nested]
    path = _write(tmp_path / "e.safetensors", _header(extras={"x": nested}))
    _refused(path, "xai")
    # brackets inside strings are text, not nesting
    path = _write(tmp_path / "e.safetensors", _header(extras={"x": "[" * 10_000}))
    assert xai.Explanation.load(path).extras["x"] == "[" * 10_000


def test_oversized_header_is_refused(tmp_path: Path) -> None:
    big = "x" * (MAX_HEADER_CHARS + 1)
    path = _write(tmp_path / "e.safetensors", _header(extras={"big": big}))
    assert "more than the 16,777,216" in str(_refused(path, "xai"))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[1, 2]", "xai"),  # was AttributeError: 'list' object has no attribute 'get'
        ('"method"', "xai"),
        (json.dumps({"method": "demo", "params": [1]}), "params"),  # was TypeError from dict()
        (json.dumps({"method": "demo", "extras": "abc"}), "extras"),  # was a bare ValueError
        (json.dumps({"method": "demo", "nonfinite_attributions": "yes"}), "nonfinite_attributions"),
        (json.dumps({"method": "demo", "params": {"o": {"xai.unsaved": 3}}}), "params['o']"),
        (json.dumps({"method": "demo", "params": {"a": {"xai.float": "big"}}}), "params['a']"),
    ],
    ids=["list", "string", "params-list", "extras-string", "flag", "unsaved", "float-marker"],
)
def test_header_of_the_wrong_types(tmp_path: Path, text: str, field: str) -> None:
    _refused(_write(tmp_path / "e.safetensors", {**FORMAT, "xai": text}), field)


def test_invalid_json_names_the_path_and_the_position(tmp_path: Path) -> None:
    """Was a JSONDecodeError without the path."""
    path = _write(tmp_path / "e.safetensors", {**FORMAT, "xai": '{"method": "demo",'})
    error = _refused(path, "xai")
    assert re.search(r"not valid JSON \(.* at character 18\)", str(error)), str(error)
    huge_int = '{"method": "demo", "params": {"n": ' + "9" * 5000 + "}}"
    _refused(_write(tmp_path / "e.safetensors", {**FORMAT, "xai": huge_int}), "xai")


@pytest.mark.parametrize("method", [5, None, "", ["gradcam"]])
def test_method_must_be_a_name(tmp_path: Path, method: Any) -> None:
    """``method=5`` was accepted."""
    error = _refused(_write(tmp_path / "e.safetensors", _header(method=method)), "method")
    assert "expected the method's name (a non-empty string)" in str(error)


def test_float_targets_are_refused_not_truncated(tmp_path: Path) -> None:
    """``[0.7, 1.9]`` loaded as ``[0, 1]``."""
    path = _write(tmp_path / "e.safetensors", _header(), _tensors(target=torch.tensor([0.7, 1.9])))
    error = _refused(path, "target")
    assert "expected integer class indices, got torch.float32 values [0.7, 1.9]" in str(error)
    # and in memory: a float target that is not a class index is an error too
    with pytest.raises(InputError, match=r"target: expected integer class indices") as caught:
        xai.Explanation(torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([0.7, 1.9]), "demo")
    assert caught.value.argument == "target"
    whole = xai.Explanation(torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([0.0, 1.0]), "demo")
    assert whole.target.dtype == torch.long and whole.target.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target": torch.tensor([0, -1])}, "target"),
        ({"target": torch.tensor([[0, 1]])}, "target"),
        ({"target": torch.tensor([True, False])}, "target"),
        ({"attributions": torch.ones(2, 3, dtype=torch.int64)}, "attributions"),
        ({"attributions": torch.tensor(1.0)}, "attributions"),
        ({"attributions": torch.ones(3, 3)}, "attributions"),
        ({"zzz": torch.ones(1)}, "tensor 'zzz'"),
    ],
    ids=["negative", "2d", "bool", "int-attributions", "0d", "rows", "unknown-tensor"],
)
def test_tensors_of_the_wrong_kind(tmp_path: Path, changes: dict, field: str) -> None:
    _refused(_write(tmp_path / "e.safetensors", _header(), _tensors(**changes)), field)


def test_missing_tensor_and_a_param_stored_twice(tmp_path: Path) -> None:
    tensors = _tensors()
    del tensors["target"]
    _refused(_write(tmp_path / "e.safetensors", _header(), tensors), "target")  # was KeyError
    twice = _write(
        tmp_path / "e.safetensors",
        _header(params={"baselines": 0}),
        _tensors(**{"params.baselines": torch.zeros(3)}),
    )
    _refused(twice, "params['baselines']")


def test_nan_attributions_only_when_the_file_says_so(tmp_path: Path) -> None:
    """NaN attributions were accepted from any file; now only from one whose header records
    them (``save`` does), so a damaged tensor is an error, not a silent NaN map."""
    nan = torch.tensor([[math.nan, 1.0, 1.0], [1.0, 1.0, math.inf]])
    path = _write(tmp_path / "e.safetensors", _header(), _tensors(attributions=nan))
    assert "2 NaN/inf value(s)" in str(_refused(path, "attributions"))
    flagged = _write(
        tmp_path / "f.safetensors", _header(nonfinite_attributions=True), _tensors(attributions=nan)
    )
    assert torch.equal(xai.Explanation.load(flagged).attributions.isnan(), nan.isnan())
    saved = xai.Explanation(nan, torch.zeros(2, 3), torch.tensor([0, 1]), "demo")
    loaded = xai.Explanation.load(saved.save(tmp_path / "s.safetensors"))
    assert torch.equal(loaded.attributions.isinf(), nan.isinf())


def test_a_newer_format_version_says_so(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.safetensors", {**_header(), "format_version": "2"})
    assert "written by a newer xai" in str(_refused(path, "format_version"))
    _refused(
        _write(tmp_path / "e.safetensors", {**_header(), "format_version": "x"}), "format_version"
    )


def test_damaged_safetensors_files_name_the_path(tmp_path: Path) -> None:
    """Already so before (pinned): a file safetensors cannot read is a ValueError naming it."""
    path = xai.Explanation(torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([0, 1]), "demo").save(
        tmp_path / "e.safetensors"
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ValueError, match=re.escape(str(path))):
        xai.Explanation.load(path)


# ----------------------------------------------------------------------------- save


def _demo(**params: Any) -> xai.Explanation:
    return xai.Explanation(
        torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([0, 1]), "demo", params=params
    )


def test_save_refuses_to_replace_a_file_that_is_not_an_explanation(tmp_path: Path) -> None:
    """Was replaced silently."""
    notes = tmp_path / "notes.safetensors"
    notes.write_text("my notes")
    with pytest.raises(
        InputError, match=r"exists and is not an xai explanation; pass overwrite=True"
    ) as caught:
        _demo().save(notes)
    assert caught.value.argument == "path" and str(notes) in str(caught.value)
    assert notes.read_text() == "my notes"
    weights = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(weights))
    with pytest.raises(InputError, match="is not an xai explanation"):
        _demo().save(weights)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "notes.safetensors",
        "weights.safetensors",
    ]
    # overwrite=True replaces them; an existing explanation is replaced without it
    assert xai.Explanation.load(_demo().save(notes, overwrite=True)).method == "demo"
    _demo(n_steps=3).save(notes)
    assert xai.Explanation.load(notes).params == {"n_steps": 3}
    with pytest.raises(TypeError, match="overwrite: expected True or False"):
        _demo().save(tmp_path / "x.safetensors", overwrite="yes")  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(Path, "symlink_to"), reason="needs symbolic links")
def test_save_through_a_link_follows_the_same_rule(tmp_path: Path) -> None:
    mine = tmp_path / "mine.txt"
    mine.write_text("keep")
    link = tmp_path / "link.safetensors"
    link.symlink_to(mine)
    with pytest.raises(InputError, match="is not an xai explanation"):
        _demo().save(link)
    assert mine.read_text() == "keep"
    dangling = tmp_path / "dangling.safetensors"
    dangling.symlink_to(tmp_path / "nowhere")
    _demo().save(dangling)  # a link to nothing replaces nothing
    assert xai.Explanation.load(dangling).method == "demo"


def test_save_onto_a_folder_names_the_path(tmp_path: Path) -> None:
    """Already fixed by ``xai._files`` (was ``IsADirectoryError`` about a temp name): pinned."""
    folder = tmp_path / "out.safetensors"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as caught:
        _demo().save(folder)
    message = str(caught.value)
    assert message.startswith(f"path: {str(folder)!r} is a folder") and ".tmp" not in message
    assert [p.name for p in tmp_path.iterdir()] == ["out.safetensors"] and not any(folder.iterdir())


@pytest.mark.parametrize("error", [OSError("disk full"), RuntimeError("safetensors broke")])
def test_save_errors_leave_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    """Already fixed by ``xai._files`` (a crash mid-write left ``*.tmp``): pinned for plain
    errors of the writer (test_files covers KeyboardInterrupt)."""
    import safetensors.torch

    path = _demo(n_steps=1).save(tmp_path / "e.safetensors")
    before = path.read_bytes()
    real = safetensors.torch.save_file

    def half_written(tensors: dict, filename: str, metadata: dict | None = None) -> None:
        real(tensors, filename, metadata=metadata)
        Path(filename).write_bytes(Path(filename).read_bytes()[:10])
        raise error

    monkeypatch.setattr(safetensors.torch, "save_file", half_written)
    with pytest.raises(type(error)):
        _demo(n_steps=2).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["e.safetensors"]


def test_save_refuses_headers_load_would_refuse_and_writes_nothing(tmp_path: Path) -> None:
    path = _demo(n_steps=1).save(tmp_path / "e.safetensors")
    before = path.read_bytes()
    with pytest.raises(InputError, match="params: nested deeper than the 31 levels"):
        deep: Any = 0
        for _ in range(40):
            deep = [deep]
        _demo(deep=deep).save(path)
    with pytest.raises(InputError, match=r"extras: the JSON header would be .* characters"):
        xai.Explanation(
            torch.ones(1, 1),
            torch.ones(1, 1),
            torch.tensor([0]),
            "demo",
            extras={"big": "x" * MAX_HEADER_CHARS},
        ).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["e.safetensors"]


def test_numeric_params_round_trip_as_numbers(tmp_path: Path) -> None:
    """Params nan/inf came back as strings (then, with the null rule, as None): params re-run
    the explanation, so they are stored as ``{"xai.float": "nan"}`` and load back as floats.
    Extras keep the files' null rule."""
    params = {
        "alpha": math.nan,
        "limit": math.inf,
        "floor": -math.inf,
        "scale": np.float32("nan"),
        "nested": {"steps": [1, math.inf, 2.5], "pair": (math.nan, 0)},
        "plain": 0.25,
        "name": "nan",
    }
    expl = xai.Explanation(
        torch.ones(1, 2),
        torch.zeros(1, 2),
        torch.tensor([0]),
        "demo",
        params=params,
        extras={"seconds": math.nan},
    )
    path = expl.save(tmp_path / "e.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata()["xai"]
    assert "NaN" not in header and "Infinity" not in header  # still standard JSON
    loaded = xai.Explanation.load(path).params
    assert math.isnan(loaded["alpha"]) and isinstance(loaded["alpha"], float)
    assert loaded["limit"] == math.inf and loaded["floor"] == -math.inf
    assert math.isnan(loaded["scale"])
    assert loaded["nested"]["steps"] == [1, math.inf, 2.5]
    assert math.isnan(loaded["nested"]["pair"][0]) and loaded["nested"]["pair"][1] == 0
    assert loaded["plain"] == 0.25 and loaded["name"] == "nan"
    assert xai.Explanation.load(path).extras == {"seconds": None}


# ------------------------------------------------------------------ property-based

#: Hypothesis budgets: examples per property (each is a file write and a load, ~1-3 ms).
BYTE_FLIP_EXAMPLES = 300
HEADER_EXAMPLES = 200
TEXT_EXAMPLES = 200

BOUNDED = settings(
    deadline=None,
    database=None,  # no .hypothesis folder in the checkout
    # ``outcomes`` is function-scoped on purpose: it counts the examples of one test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, dict[str, str]]:
    """A realistic saved explanation: tensor and JSON params, an unsaved callable, extras."""
    folder = tmp_path_factory.mktemp("saved")
    expl = xai.Explanation(
        torch.randn(3, 1, 4, 4),
        torch.rand(3, 1, 4, 4),
        torch.tensor([0, 2, 1]),
        "integrated_gradients",
        params={"n_steps": 8, "baselines": torch.zeros(1, 4, 4), "output": print, "eps": math.nan},
        extras={"convergence_delta": torch.zeros(3), "library_versions": {"torch": "2"}, "s": 0.5},
    )
    path = expl.save(folder / "e.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata())
    return path, path.read_bytes(), metadata


def _valid_or_refused(path: Path) -> str:
    """Load ``path``: a valid Explanation (``"loaded"``) or a ValueError naming the path
    (``"refused"``); anything else fails the property."""
    try:
        loaded = xai.Explanation.load(path)
    except ValueError as error:
        assert str(path) in str(error), f"the error does not name the file: {error!r}"
        return "refused"
    assert isinstance(loaded.method, str) and loaded.method
    assert loaded.target.dtype == torch.long and loaded.target.shape == (len(loaded),)
    assert bool((loaded.target >= 0).all())
    assert loaded.attributions.is_floating_point()
    assert isinstance(loaded.params, dict) and isinstance(loaded.extras, dict)
    with safe_open(str(path), framework="pt") as handle:
        flagged = json.loads(handle.metadata()["xai"]).get("nonfinite_attributions") is True
    assert flagged or bool(torch.isfinite(loaded.attributions).all())
    return "loaded"


def _counting(outcomes: dict[str, int], outcome: str) -> None:
    outcomes[outcome] = outcomes.get(outcome, 0) + 1


@pytest.fixture
def outcomes(request: pytest.FixtureRequest) -> Any:
    counts: dict[str, int] = {}
    yield counts
    # shown with -rP / in the report of the run; the totals are the example counts
    print(f"{request.node.name}: {sum(counts.values())} examples {counts}")


@settings(BOUNDED, max_examples=BYTE_FLIP_EXAMPLES)
@given(data=st.data())
def test_flipped_bytes_load_or_name_the_path(
    data: st.DataObject, saved: tuple[Path, bytes, dict[str, str]], outcomes: dict[str, int]
) -> None:
    path, original, _ = saved
    header_end = 8 + int.from_bytes(original[:8], "little")
    # most flips land in the header (its length, the JSON, the metadata), some in the tensors
    region = data.draw(st.sampled_from(["length", "header", "header", "tensors", "anywhere"]))
    low, high = {
        "length": (0, 8),
        "header": (8, header_end),
        "tensors": (header_end, len(original)),
        "anywhere": (0, len(original)),
    }[region]
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(low, high - 1))
        mutated[position] ^= data.draw(st.integers(1, 255))
    if data.draw(st.booleans()) and data.draw(st.integers(0, 9)) == 0:
        mutated = mutated[: data.draw(st.integers(0, len(mutated)))]  # truncated too
    target = path.with_name("flipped.safetensors")
    target.write_bytes(bytes(mutated))
    _counting(outcomes, _valid_or_refused(target))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["method", "params", "extras", "nonfinite_attributions", "other"]


@settings(BOUNDED, max_examples=HEADER_EXAMPLES)
@given(data=st.data())
def test_mutated_headers_and_tensors_load_or_name_the_path(
    data: st.DataObject, saved: tuple[Path, bytes, dict[str, str]], outcomes: dict[str, int]
) -> None:
    path, _, metadata = saved
    with safe_open(str(path), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    header = json.loads(metadata["xai"])
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["set", "delete", "param", "tensor", "meta"]))
        if action == "set":
            header[data.draw(st.sampled_from(FIELDS))] = data.draw(JSON_VALUES)
        elif action == "delete" and header:
            header.pop(data.draw(st.sampled_from(sorted(header))))
        elif action == "param" and isinstance(header.get("params"), dict):
            key = data.draw(st.sampled_from(["n_steps", "eps", "output", "new"]))
            header["params"][key] = data.draw(
                JSON_VALUES
                | st.fixed_dictionaries({"xai.float": JSON_VALUES})
                | st.fixed_dictionaries({"xai.unsaved": JSON_VALUES})
            )
        elif action == "tensor":
            name = data.draw(st.sampled_from([*sorted(tensors), "params.eps", "stray"]))
            dtype = data.draw(
                st.sampled_from(
                    [
                        torch.float32,
                        torch.float64,
                        torch.int64,
                        torch.int32,
                        torch.uint8,
                        torch.bool,
                        torch.float16,
                    ]
                )
            )
            shape = data.draw(st.lists(st.integers(0, 4), max_size=4))
            values = data.draw(st.sampled_from([0.0, 1.0, -1.0, 0.5, math.nan, math.inf, 3.0]))
            tensors[name] = torch.full(shape, values).to(dtype)
        elif action == "meta":
            key = data.draw(st.sampled_from(["format", "format_version", "xai"]))
            metadata = {**metadata, key: data.draw(st.text(max_size=6))}
    target = path.with_name("mutated.safetensors")
    text = data.draw(st.sampled_from(["header", "header", "original"]))
    final = {**metadata, "xai": json.dumps(header)} if text == "header" else dict(metadata)
    save_file(tensors, str(target), metadata=final)
    _counting(outcomes, _valid_or_refused(target))


@settings(BOUNDED, max_examples=TEXT_EXAMPLES)
@given(data=st.data())
def test_edited_header_text_loads_or_names_the_path(
    data: st.DataObject, saved: tuple[Path, bytes, dict[str, str]], outcomes: dict[str, int]
) -> None:
    path, _, metadata = saved
    text = metadata["xai"]
    for _ in range(data.draw(st.integers(1, 5))):
        position = data.draw(st.integers(0, len(text)))
        insert = data.draw(st.text(alphabet='{}[]":,\\0123456789.-eE ntrufalsNaI', max_size=6))
        cut = data.draw(st.integers(0, 4))
        text = text[:position] + insert + text[position + cut :]
    if data.draw(st.integers(0, 19)) == 0:
        text = data.draw(st.sampled_from(["[", "{"])) * data.draw(st.integers(30, 5000)) + text
    target = path.with_name("edited.safetensors")
    save_file(
        {
            "attributions": torch.ones(2, 1),
            "inputs": torch.ones(2, 1),
            "target": torch.tensor([0, 1]),
        },
        str(target),
        metadata={**metadata, "xai": text},
    )
    _counting(outcomes, _valid_or_refused(target))
