"""xai.suite.subject: a user's model from ``module:factory`` + safetensors weights + an ``.npz`` test
set (paths or uploaded bytes), and the reference models as subjects.

Every error must be a ValueError/TypeError whose message names the argument (model, weights or
data), what was expected and what was given.
"""

from __future__ import annotations

import io
import itertools
import json
import sys
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from sklearn.datasets import load_breast_cancer
from torch import nn

import reference_models
from xai.suite.subject import Subject, load_factory, reference_subject, user_subject
from xai.training import History

_COUNTER = itertools.count()

# A module per test (unique name: imported modules are cached in sys.modules).
USER_MODULE = """
import torch
from torch import nn

CONSTANT = 3


def tabular():
    return nn.Sequential(nn.Linear(2, 2))


def three_classes():
    return nn.Sequential(nn.Linear(2, 3))


def single_logit():
    return nn.Sequential(nn.Linear(2, 1))


def image():
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)
    )


def vector_output():
    return nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))


def broken():
    raise RuntimeError("factory exploded")


def needs_argument(width):
    return nn.Linear(width, 2)


def not_a_module():
    return 42
"""

TABULAR_WEIGHTS = {"0.weight": torch.tensor([[-2.0, 0.3], [2.0, -0.3]]), "0.bias": torch.zeros(2)}


class User:
    """A user's project in ``tmp_path``: a model module, weights and data files."""

    def __init__(self, folder: Path, module: str) -> None:
        self.folder = folder
        self.module = module
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(40, 2)).astype(np.float32)
        self.y = (4 * self.x[:, 0] - 0.6 * self.x[:, 1] > 0).astype(np.int64)
        self.weights = self.save_weights("weights.safetensors", TABULAR_WEIGHTS)
        self.data = self.save_data("data.npz", x=self.x, y=self.y)

    def spec(self, factory: str) -> str:
        return f"{self.module}:{factory}"

    def save_weights(self, name: str, tensors: dict[str, torch.Tensor]) -> Path:
        path = self.folder / name
        save_file(tensors, path)
        return path

    def save_data(self, name: str, **arrays: object) -> Path:
        path = self.folder / name
        np.savez(path, **arrays)  # type: ignore[arg-type]
        return path


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[User]:
    module = f"xai_test_user_model_{next(_COUNTER)}"
    (tmp_path / f"{module}.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield User(tmp_path, module)
    sys.modules.pop(module, None)


def _check_message(error: BaseException, argument: str, *parts: str) -> None:
    """The message starts with ``argument:`` and contains every part (expected and given)."""
    message = str(error)
    assert message.startswith(f"{argument}:"), message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# ----------------------------------------------------------------------------- happy paths


def test_user_subject_from_paths(user: User) -> None:
    subject = user_subject(user.spec("tabular"), user.weights, user.data)
    assert isinstance(subject, Subject)
    assert subject.name == user.spec("tabular")
    assert subject.inputs.dtype == torch.float32 and subject.labels.dtype == torch.int64
    np.testing.assert_array_equal(subject.inputs.numpy(), user.x)
    np.testing.assert_array_equal(subject.labels.numpy(), user.y)
    assert not subject.model.training
    # The weights were loaded: the model computes x @ W.T + b with the saved W, b.
    expected = user.x @ TABULAR_WEIGHTS["0.weight"].numpy().T
    with torch.no_grad():
        np.testing.assert_allclose(
            subject.model(subject.inputs).numpy(), expected, rtol=1e-5, atol=1e-6
        )
    assert subject.masks is None and subject.class_names is None and subject.feature_names is None
    assert subject.history is None
    assert subject.num_classes == 2 and subject.info["num_classes"] == 2
    assert not subject.is_image
    assert subject.class_name(1) == "1"
    assert "weights.safetensors" in subject.info["source"]
    assert "data.npz" in subject.info["source"]


def test_user_subject_from_uploaded_bytes(user: User) -> None:
    names = np.array(["negative", "positive"])
    features = np.array(["first", "second"])
    data = user.save_data(
        "named.npz", x=user.x, y=user.y, class_names=names, feature_names=features
    )
    from_paths = user_subject(user.spec("tabular"), user.weights, data)
    from_bytes = user_subject(user.spec("tabular"), user.weights.read_bytes(), data.read_bytes())
    for subject in (from_paths, from_bytes):
        np.testing.assert_array_equal(subject.inputs.numpy(), user.x)
        np.testing.assert_array_equal(subject.labels.numpy(), user.y)
        assert subject.class_names == ["negative", "positive"]
        assert subject.feature_names == ["first", "second"]
        assert subject.class_name(0) == "negative" and subject.class_name(5) == "5"
        for name, value in subject.model.state_dict().items():
            torch.testing.assert_close(value, TABULAR_WEIGHTS[name], rtol=0, atol=0)
    assert from_bytes.history is None
    assert from_bytes.info["source"] == f"{user.spec('tabular')} (upload, upload)"


def test_user_image_subject_with_masks(user: User) -> None:
    torch.manual_seed(3)
    reference = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)
    )
    weights = user.save_weights("image.safetensors", dict(reference.state_dict()))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 1, 4, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    masks = rng.random((6, 4, 4)) > 0.5
    data = user.save_data("image.npz", x=x, y=y, masks=masks, class_names=np.array(["a", "b", "c"]))
    subject = user_subject(user.spec("image"), weights, data.read_bytes())
    assert subject.is_image and subject.info["task"] == "image-classification"
    assert subject.num_classes == 3
    assert subject.masks is not None and subject.masks.dtype == torch.bool
    np.testing.assert_array_equal(subject.masks.numpy(), masks)
    with torch.no_grad():
        torch.testing.assert_close(
            subject.model(subject.inputs), reference(torch.from_numpy(x)), rtol=1e-6, atol=1e-6
        )


def test_single_logit_model_counts_as_binary(user: User) -> None:
    weights = user.save_weights(
        "one.safetensors", {"0.weight": torch.tensor([[1.0, 0.0]]), "0.bias": torch.zeros(1)}
    )
    subject = user_subject(user.spec("single_logit"), weights, user.data)
    assert subject.num_classes == 2


def test_history_beside_the_weights(user: User) -> None:
    records = [
        {"epoch": 1, "train_loss": 0.9, "val_accuracy": 0.5},
        {"epoch": 2, "train_loss": 0.4, "val_accuracy": 0.8},
    ]
    History(records=records, monitor="val_accuracy", best_epoch=2).save(
        user.folder / "weights.history.json"
    )
    subject = user_subject(user.spec("tabular"), user.weights, user.data)
    assert isinstance(subject.history, History)
    assert subject.history.records == records
    assert subject.history.monitor == "val_accuracy" and subject.history.best_epoch == 2
    # Another checkpoint in the same folder has no history of its own.
    other = user.save_weights("other.safetensors", TABULAR_WEIGHTS)
    assert user_subject(user.spec("tabular"), other, user.data).history is None
    # Uploaded bytes have no "beside".
    assert user_subject(user.spec("tabular"), user.weights.read_bytes(), user.data).history is None


def test_load_factory_returns_the_callable(user: User) -> None:
    factory = load_factory(user.spec("three_classes"))
    model = factory()
    assert isinstance(model, nn.Sequential) and model[0].out_features == 3
    assert load_factory(f"  {user.spec('tabular')}  ")().__class__ is nn.Sequential
    assert load_factory("torch.nn:Identity") is nn.Identity  # installed packages work too


def test_load_factory_imports_from_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"xai_test_cwd_model_{next(_COUNTER)}"
    (tmp_path / f"{module}.py").write_text("def build():\n    return 'built'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    try:
        assert load_factory(f"{module}:build")() == "built"
    finally:
        sys.modules.pop(module, None)


# ----------------------------------------------------------------------------- model errors


@pytest.mark.parametrize("spec", ["no_colon", "", "   ", None, 3])
def test_malformed_spec(spec: object) -> None:
    with pytest.raises(ValueError) as caught:
        load_factory(spec)  # type: ignore[arg-type]
    _check_message(caught.value, "model", "expected", "'module:factory'", repr(spec))


@pytest.mark.parametrize("spec", [":build", "module:", ":"])
def test_spec_with_an_empty_part(spec: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_factory(spec)
    _check_message(caught.value, "model", "expected 'module:factory' with both parts", repr(spec))


def test_malformed_spec_through_user_subject(user: User) -> None:
    with pytest.raises(ValueError) as caught:
        user_subject(user.module, user.weights, user.data)
    _check_message(caught.value, "model", "expected", repr(user.module))


def test_module_that_cannot_be_imported(user: User) -> None:
    with pytest.raises(ValueError) as caught:
        user_subject("xai_no_such_module_anywhere:build", user.weights, user.data)
    _check_message(
        caught.value, "model", "'xai_no_such_module_anywhere'", "ModuleNotFoundError", "install"
    )


def test_module_that_fails_while_importing(user: User) -> None:
    module = f"xai_test_bad_import_{next(_COUNTER)}"
    (user.folder / f"{module}.py").write_text("raise RuntimeError('broken at import')\n")
    try:
        with pytest.raises(ValueError) as caught:
            load_factory(f"{module}:build")
    finally:
        sys.modules.pop(module, None)
    _check_message(caught.value, "model", repr(module), "RuntimeError: broken at import")


def test_missing_attribute(user: User) -> None:
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("nope"), user.weights, user.data)
    _check_message(caught.value, "model", "no attribute 'nope'", "expected", "callable")


def test_attribute_that_is_not_callable(user: User) -> None:
    with pytest.raises(TypeError) as caught:
        user_subject(user.spec("CONSTANT"), user.weights, user.data)
    _check_message(caught.value, "model", user.spec("CONSTANT"), "is a int", "expected a callable")


@pytest.mark.parametrize(
    ("factory", "given"),
    [("broken", "RuntimeError: factory exploded"), ("needs_argument", "TypeError")],
)
def test_factory_that_raises(user: User, factory: str, given: str) -> None:
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec(factory), user.weights, user.data)
    _check_message(
        caught.value, "model", f"calling {user.spec(factory)}() failed", given, "no arguments"
    )
    assert isinstance(caught.value.__cause__, Exception)


def test_factory_returning_a_non_module(user: User) -> None:
    with pytest.raises(TypeError) as caught:
        user_subject(user.spec("not_a_module"), user.weights, user.data)
    _check_message(caught.value, "model", "returned int", "expected a torch.nn.Module")


def test_model_that_does_not_return_logits(user: User) -> None:
    weights = user.save_weights(
        "vector.safetensors", {"0.weight": torch.ones(1, 2), "0.bias": torch.zeros(1)}
    )
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("vector_output"), weights, user.data)
    _check_message(caught.value, "model", "logits of shape (N, classes)", "got (2,)")


# ----------------------------------------------------------------------------- weights errors


def test_missing_weights_file(user: User) -> None:
    missing = user.folder / "missing.safetensors"
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), missing, user.data)
    _check_message(caught.value, "weights", "expected an existing .safetensors file", "missing")


def _npz_bytes(**arrays: object) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(np.random.default_rng(0).bytes(300), id="random-bytes"),
        pytest.param(b"", id="empty"),
        pytest.param(bytes(64), id="zeros"),
        pytest.param(_npz_bytes(x=np.zeros((2, 2))), id="npz"),
    ],
)
@pytest.mark.parametrize("as_path", [True, False], ids=["path", "upload"])
def test_weights_that_are_not_safetensors(user: User, content: bytes, as_path: bool) -> None:
    path = user.folder / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), path if as_path else content, user.data)
    given = str(path) if as_path else f"the uploaded file ({len(content)} bytes)"
    _check_message(caught.value, "weights", "expected a .safetensors file", given)


def test_truncated_weights(user: User) -> None:
    content = user.weights.read_bytes()[:-5]
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), content, user.data)
    _check_message(caught.value, "weights", "expected a .safetensors file", "uploaded file")


@pytest.mark.parametrize(
    ("tensors", "detail"),
    [
        ({"0.weight": torch.zeros(3, 2), "0.bias": torch.zeros(3)}, "size mismatch"),
        ({"0.weight": torch.zeros(2, 2)}, "Missing key"),
        ({**TABULAR_WEIGHTS, "1.weight": torch.zeros(2)}, "Unexpected key"),
    ],
    ids=["wrong-shape", "missing-key", "extra-key"],
)
def test_weights_that_do_not_fit(user: User, tensors: dict, detail: str) -> None:
    path = user.save_weights("misfit.safetensors", tensors)
    for weights, given in ((path, str(path)), (path.read_bytes(), "the uploaded file")):
        with pytest.raises(ValueError) as caught:
            user_subject(user.spec("tabular"), weights, user.data)
        _check_message(caught.value, "weights", given, "does not fit the model", detail)


# ----------------------------------------------------------------------------- data errors


def test_missing_data_file(user: User) -> None:
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), user.weights, user.folder / "missing.npz")
    _check_message(caught.value, "data", "expected an existing .npz file", "missing.npz")


def _npy_bytes() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((4, 2), np.float32))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(np.random.default_rng(1).bytes(300), id="random-bytes"),
        pytest.param(np.random.default_rng(2).bytes(5), id="few-random-bytes"),
        pytest.param(b"", id="empty"),
        pytest.param(b"x,y\n0.5,1\n", id="csv"),
        pytest.param(_npy_bytes(), id="npy-not-npz"),
        pytest.param(_npz_bytes(x=np.zeros((4, 2)), y=np.zeros(4))[:90], id="truncated-npz"),
    ],
)
@pytest.mark.parametrize("as_path", [True, False], ids=["path", "upload"])
def test_data_that_is_not_npz(user: User, content: bytes, as_path: bool) -> None:
    path = user.folder / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), user.weights, path if as_path else content)
    given = str(path) if as_path else f"the uploaded file ({len(content)} bytes)"
    _check_message(caught.value, "data", "expected an .npz file", given)
    assert "pickle" not in str(caught.value)  # not an npz at all: no talk of pickled arrays


def test_safetensors_given_as_data(user: User) -> None:
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), user.weights, user.weights.read_bytes())
    _check_message(caught.value, "data", "expected an .npz file", "the uploaded file")


@pytest.mark.parametrize(
    ("arrays", "missing"),
    [
        ({"x": np.zeros((2, 2))}, "['y']"),
        ({"y": np.zeros(2)}, "['x']"),
        ({"inputs": np.zeros((2, 2)), "labels": np.zeros(2)}, "['x', 'y']"),
    ],
)
def test_data_missing_x_or_y(user: User, arrays: dict, missing: str) -> None:
    data = user.save_data("partial.npz", **arrays)
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), user.weights, data)
    found = repr(sorted(arrays))
    _check_message(caught.value, "data", "needs arrays 'x' (inputs) and 'y'", missing, found)


@pytest.mark.parametrize("array", ["x", "y", "class_names"])
def test_object_arrays_are_refused(user: User, array: str) -> None:
    arrays = {"x": user.x, "y": user.y, "class_names": np.array(["a", "b"])}
    arrays[array] = np.array([{"pickled": 1}, None], dtype=object)
    data = user.save_data("pickled.npz", **arrays)
    for source, given in ((data, str(data)), (data.read_bytes(), "the uploaded file")):
        with pytest.raises(ValueError) as caught:
            user_subject(user.spec("tabular"), user.weights, source)
        _check_message(caught.value, "data", given, "need pickle", "save plain numeric arrays")


def test_x_and_y_of_different_lengths(user: User) -> None:
    data = user.save_data("mismatch.npz", x=user.x, y=user.y[:-3])
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), user.weights, data)
    _check_message(caught.value, "data", "expected 'x' of shape (N, ...)", "x (40, 2)", "y (37,)")


@pytest.mark.parametrize(
    ("x", "y", "given"),
    [
        (np.zeros(4, np.float32), np.zeros(4, np.int64), "x (4,)"),
        (np.zeros((4, 2), np.float32), np.zeros((4, 1), np.int64), "y (4, 1)"),
        (np.zeros((0, 2), np.float32), np.zeros(0, np.int64), "x (0, 2)"),
    ],
    ids=["x-1d", "y-2d", "empty"],
)
def test_badly_shaped_x_or_y(user: User, x: np.ndarray, y: np.ndarray, given: str) -> None:
    data = user.save_data("shapes.npz", x=x, y=y)
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), user.weights, data)
    _check_message(caught.value, "data", "expected 'x' of shape (N, ...)", given)


def test_non_numeric_x(user: User) -> None:
    data = user.save_data("strings.npz", x=np.array([["a", "b"], ["c", "d"]]), y=np.zeros(2))
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), user.weights, data)
    _check_message(caught.value, "data", "'x' and 'y' must be numeric arrays")


@pytest.mark.parametrize(
    ("factory", "x", "shape"),
    [
        ("tabular", np.zeros((5, 3), np.float32), "(5, 3)"),
        ("tabular", np.zeros((5, 1, 4, 4), np.float32), "(5, 1, 4, 4)"),
        ("image", np.zeros((5, 3, 4, 4), np.float32), "(5, 3, 4, 4)"),
        ("image", np.zeros((5, 1, 6, 6), np.float32), "(5, 1, 6, 6)"),
        ("image", np.zeros((5, 16), np.float32), "(5, 16)"),
    ],
)
def test_inputs_the_model_cannot_take(user: User, factory: str, x: np.ndarray, shape: str) -> None:
    torch.manual_seed(0)
    model = load_factory(user.spec(factory))()
    weights = user.save_weights(f"{factory}.safetensors", dict(model.state_dict()))
    data = user.save_data("wrong_shape.npz", x=x, y=np.zeros(len(x), np.int64))
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec(factory), weights, data.read_bytes())
    _check_message(caught.value, "data", "cannot run on 'x' of shape", shape, "layout")


@pytest.mark.parametrize(
    ("factory", "labels", "given", "expected"),
    [
        ("tabular", [0, 1, 2, 1], "0..2", "0..1"),
        ("tabular", [0, -1, 1, 1], "-1..1", "0..1"),
        ("three_classes", [0, 1, 3, 2], "0..3", "0..2"),
        ("single_logit", [0, 1, 2, 0], "0..2", "0..1"),
    ],
)
def test_labels_out_of_range(
    user: User, factory: str, labels: list[int], given: str, expected: str
) -> None:
    model = load_factory(user.spec(factory))()
    weights = user.save_weights(f"{factory}.safetensors", dict(model.state_dict()))
    data = user.save_data("labels.npz", x=user.x[:4], y=np.array(labels))
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec(factory), weights, data)
    _check_message(caught.value, "data", f"range over {given}", f"expected labels in {expected}")


@pytest.mark.parametrize("names", [["only"], ["a", "b", "c"]])
def test_class_names_count_mismatch(user: User, names: list[str]) -> None:
    data = user.save_data("names.npz", x=user.x, y=user.y, class_names=np.array(names))
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), user.weights, data)
    _check_message(
        caught.value, "data", f"'class_names' has {len(names)} names", "2 classes", "one name"
    )


def test_feature_names_mismatch(user: User) -> None:
    data = user.save_data("features.npz", x=user.x, y=user.y, feature_names=np.array(["a"] * 3))
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), user.weights, data)
    _check_message(caught.value, "data", "'feature_names' has 3 names", "shape (40, 2)")


def test_feature_names_on_images(user: User) -> None:
    model = load_factory(user.spec("image"))()
    weights = user.save_weights("image.safetensors", dict(model.state_dict()))
    x = np.zeros((3, 1, 4, 4), np.float32)
    names = np.array([f"f{i}" for i in range(16)])
    data = user.save_data("image.npz", x=x, y=np.zeros(3, np.int64), feature_names=names)
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("image"), weights, data)
    _check_message(caught.value, "data", "'feature_names' has 16 names", "(3, 1, 4, 4)")


# ----------------------------------------------------------------------------- reference models


def test_reference_subject_breast_cancer() -> None:
    subject = reference_subject("breast_cancer_mlp")
    ref = reference_models.load("breast_cancer_mlp")
    x, y = ref.data["test"].tensors[:2]
    torch.testing.assert_close(subject.inputs, x, rtol=0, atol=0)
    torch.testing.assert_close(subject.labels, y, rtol=0, atol=0)
    assert subject.inputs.shape[1] == 30 and not subject.is_image
    sklearn_set = load_breast_cancer()
    assert subject.feature_names == [str(n) for n in sklearn_set.feature_names]
    assert subject.class_names is not None and len(subject.class_names) == 2
    assert sorted(subject.class_names) == sorted(str(n) for n in sklearn_set.target_names)
    assert subject.num_classes == 2 and subject.masks is None
    assert not subject.model.training
    # The history is the JSON file shipped beside the weights.
    history_file = Path(ref.info.weights).with_suffix(".history.json")
    shipped = json.loads(history_file.read_text())
    assert isinstance(subject.history, History)
    assert subject.history.records == shipped["records"] and len(subject.history) > 0
    assert subject.history.best_epoch == shipped.get("best_epoch")
    assert "breast_cancer_mlp.safetensors" in subject.info["source"]


def test_reference_subject_uses_the_given_loader() -> None:
    calls: list[str] = []

    def loader(name: str) -> reference_models.ReferenceModel:
        calls.append(name)
        return reference_models.load(name)

    subject = reference_subject("digits_cnn", loader=loader)
    assert calls == ["digits_cnn"]
    assert subject.is_image and subject.num_classes == 10 and subject.feature_names is None
    assert subject.class_name(3) == subject.class_names[3]  # type: ignore[index]


@pytest.mark.parametrize(
    "y", [[0.0, 0.7, 1.0, 1.9], [0.0, 1.0, np.nan, 1.0]], ids=["fractions", "nan"]
)
def test_labels_with_fractions_are_refused(user: User, y: list[float]) -> None:
    data = user.save_data("float_labels.npz", x=user.x[:4], y=np.array(y))
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), user.weights, data)
    _check_message(caught.value, "data", "expected whole-number class labels", "float64")


def test_whole_float_labels_are_accepted(user: User) -> None:
    data = user.save_data("float_labels.npz", x=user.x, y=user.y.astype(np.float64))
    subject = user_subject(user.spec("tabular"), user.weights, data)
    assert subject.labels.dtype == torch.int64
    np.testing.assert_array_equal(subject.labels.numpy(), user.y)


# ----------------------------------------------------------------------------- size limits


def _streamed_zeros_npz(path: Path, megabytes: int) -> Path:
    """An .npz whose 'x' holds ``megabytes`` MB of zeros, written a chunk at a time (the test
    never holds the array): a zip bomb of a few kB."""
    rows = megabytes * 2**20 // 8
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            header = {"descr": "<f4", "fortran_order": False, "shape": (rows, 2)}
            np.lib.format.write_array_header_1_0(member, header)  # type: ignore[arg-type]
            zeros = bytes(2**20)
            for _ in range(megabytes):
                member.write(zeros)
        y = io.BytesIO()
        np.save(y, np.zeros(rows, np.int64)[:4])
        archive.writestr("y.npy", y.getvalue())
    return path


@pytest.mark.parametrize("as_path", [True, False], ids=["path", "upload"])
def test_decompressed_size_is_checked_before_decompressing(user: User, as_path: bool) -> None:
    bomb = _streamed_zeros_npz(user.folder / "bomb.npz", megabytes=64)
    assert bomb.stat().st_size < 2**20  # 64 MB of zeros compress a thousandfold
    source = bomb if as_path else bomb.read_bytes()
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as caught:
            user_subject(user.spec("tabular"), user.weights, source, max_data_bytes=8 * 2**20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    given = str(bomb) if as_path else "the uploaded file"
    _check_message(caught.value, "data", given, "holds 64.0 MB once decompressed")
    assert "more than the limit of 8 MB" in str(caught.value)
    assert caught.value.argument == "data"  # type: ignore[attr-defined]
    assert peak < 4 * 2**20, f"{peak / 2**20:.1f} MB allocated: it was decompressed"
    assert user.module not in sys.modules  # the files are checked before the factory's import


def test_data_within_the_limit_loads(user: User) -> None:
    subject = user_subject(user.spec("tabular"), user.weights, user.data, max_data_bytes=2**20)
    assert len(subject.labels) == 40


def _lying_npz(shape: tuple[int, ...]) -> bytes:
    """An .npz whose 'x.npy' header declares ``shape`` but holds 16 bytes of data."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        member,
        {"descr": "<f4", "fortran_order": False, "shape": shape},  # type: ignore[arg-type]
    )
    member.write(bytes(16))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", member.getvalue())
        y = io.BytesIO()
        np.save(y, np.zeros(4, np.int64))
        archive.writestr("y.npy", y.getvalue())
    return buffer.getvalue()


@pytest.mark.parametrize("limit", [None, 2**20], ids=["no-limit", "limit"])
def test_array_header_larger_than_its_data_is_refused(user: User, limit: int | None) -> None:
    """numpy allocates the array its header declares before reading it: a 200-byte member
    declaring 16 TB is refused from the header."""
    data = _lying_npz((10**12, 4))
    with pytest.raises(ValueError) as caught:
        user_subject(user.spec("tabular"), user.weights, data, max_data_bytes=limit)
    _check_message(
        caught.value, "data", "expected an .npz file", "declares shape (1000000000000, 4)"
    )


def test_files_are_checked_before_the_module_is_imported(user: User) -> None:
    """A bad file is reported without importing the user's module or calling its factory."""
    for weights, data in ((b"not safetensors", user.data), (user.weights, b"not an npz")):
        with pytest.raises(ValueError) as caught:
            user_subject(user.spec("tabular"), weights, data)
        assert caught.value.argument in ("weights", "data")  # type: ignore[attr-defined]
        assert user.module not in sys.modules
    user_subject(user.spec("tabular"), user.weights, user.data)
    assert user.module in sys.modules
