"""Set-up of the dashboard tests: a fresh app per test, user models importable from tmp_path."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from xai.suite import subject as _subject

streamlit = pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

#: Everything ``xai dashboard`` hands the app through the environment.
DASHBOARD_ENV = (
    _subject.MODEL_ENV,
    _subject.WEIGHTS_ENV,
    _subject.DATA_ENV,
    _subject.FACTORIES_ENV,
    _subject.ALLOW_CODE_ENV,
    _subject.MAX_UPLOAD_ENV,
    _subject.MAX_DATA_ENV,
)

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"

#: A small user model: a module with a factory, as `xai dashboard --model dashmodel:build` takes.
USER_MODULE = """
import torch
from torch import nn


def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
"""


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """st.cache_resource outlives an AppTest run: start every test from empty caches, and
    as if started without a model, --allow-code or limits unless the test sets them."""
    for name in DASHBOARD_ENV:
        monkeypatch.delenv(name, raising=False)
    streamlit.cache_resource.clear()
    streamlit.cache_data.clear()
    yield
    streamlit.cache_resource.clear()


def new_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=180)


def open_page(page: str, model: str | None = None) -> AppTest:
    """An app on ``page`` (e.g. "explain") with ``model`` chosen in the sidebar."""
    app = new_app().run()
    if model is not None:
        app.selectbox(key="model").set_value(model).run()
    if page != "models":
        app.switch_page(f"app_pages/{page}.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


@pytest.fixture
def user_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """``dashmodel:build`` importable, its weights and a 3-class test set of 30 rows."""
    (tmp_path / "dashmodel.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("dashmodel", None)  # each test imports its own copy
    import dashmodel  # type: ignore[import-not-found]

    model = dashmodel.build()
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(30, 4, generator=generator)
    labels = model(inputs).argmax(dim=1)
    labels[:3] = (labels[:3] + 1) % 3  # three mistakes to find
    save_file(model.state_dict(), tmp_path / "dashmodel.safetensors")
    np.savez(
        tmp_path / "dashmodel.npz",
        x=inputs.numpy(),
        y=labels.numpy(),
        class_names=np.array(["red", "green", "blue"]),
        feature_names=np.array(["a", "b", "c", "d"]),
    )
    yield {
        "weights": tmp_path / "dashmodel.safetensors",
        "data": tmp_path / "dashmodel.npz",
        "folder": tmp_path,
    }
    sys.modules.pop("dashmodel", None)


@dataclass(frozen=True)
class Download:
    """What a download button hands the browser."""

    data: bytes
    mime: str
    file_name: str


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], Download]:
    """Records what every ``st.download_button`` registers with the media file manager, and
    returns a function giving a button's file (running deferred data, as a click does)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    files: dict[str, tuple[Any, str, str]] = {}
    add = MediaFileManager.add

    def recording_add(self, data, mimetype, coordinates, file_name=None, **options):  # type: ignore[no-untyped-def]
        url = add(self, data, mimetype, coordinates, file_name=file_name, **options)
        files[url] = (data, mimetype, file_name)
        return url

    monkeypatch.setattr(MediaFileManager, "add", recording_add)
    add_deferred = getattr(MediaFileManager, "add_deferred", None)
    if add_deferred is not None:  # Streamlit >= 1.52: data made on click

        def recording_add_deferred(self, make, mimetype, coordinates, file_name=None, **options):  # type: ignore[no-untyped-def]
            file_id = add_deferred(self, make, mimetype, coordinates, file_name, **options)
            files[file_id] = (make, mimetype, file_name)
            return file_id

        monkeypatch.setattr(MediaFileManager, "add_deferred", recording_add_deferred)

    def read(button: Any) -> Download:
        proto = button.proto
        deferred = proto.HasField("deferred_file_id") if add_deferred else False
        data, mime, name = files[proto.deferred_file_id if deferred else proto.url]
        if callable(data):
            data = data()
        return Download(data if isinstance(data, bytes) else str(data).encode(), mime, name)

    return read


#: A user's Hugging Face text model, built from a config (nothing downloaded).
HF_MODULE = """
import torch
from transformers import BertConfig, BertForSequenceClassification


def build():
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32, num_labels=2,
    )
    return BertForSequenceClassification(config)
"""

#: Its vocabulary (index = token id): BERT's special tokens, a token of markup (shown escaped)
#: and 44 words.
HF_VOCABULARY = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<b>bold</b>",
    "alpha", "beta", "gamma", "delta", "river", "stone", "cloud", "green", "quiet", "loud",
    "north", "south", "east", "west", "apple", "lemon", "bread", "salt", "paper", "glass",
    "metal", "wood", "light", "dark", "early", "late", "small", "large", "fast", "slow",
    "open", "close", "high", "low", "warm", "cold", "new", "old", "up", "down", "in", "out",
    "yes", "no",
]  # fmt: skip
HF_LENGTH = 12


@pytest.fixture
def hf_text_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """``hfmodel:build`` importable (a tiny BertForSequenceClassification), its weights and a
    test set of 16 sentences ``[CLS] words [SEP] [PAD]...`` of 12 tokens with their attention
    mask, vocabulary and class names; ``data_without_vocabulary`` lacks the vocabulary."""
    pytest.importorskip("transformers")
    (tmp_path / "hfmodel.py").write_text(HF_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("hfmodel", None)
    import hfmodel  # type: ignore[import-not-found]

    model = hfmodel.build().eval()
    generator = torch.Generator().manual_seed(2)
    n = 16
    ids = torch.zeros(n, HF_LENGTH, dtype=torch.long)
    mask = torch.zeros(n, HF_LENGTH, dtype=torch.long)
    for row in range(n):
        words = int(torch.randint(3, HF_LENGTH - 2, (1,), generator=generator))
        sentence = torch.randint(6, len(HF_VOCABULARY), (words,), generator=generator)
        ids[row, : words + 2] = torch.cat([torch.tensor([2]), sentence, torch.tensor([3])])
        mask[row, : words + 2] = 1
    with torch.no_grad():
        labels = model(ids, attention_mask=mask).logits.argmax(1)
    labels[:2] = 1 - labels[:2]  # two mistakes
    save_file(model.state_dict(), tmp_path / "hfmodel.safetensors")
    arrays = {"x": ids.numpy(), "y": labels.numpy(), "attention_mask": mask.numpy()}
    names = np.array(["negative", "positive"])
    np.savez(
        tmp_path / "hfmodel.npz", **arrays, vocabulary=np.array(HF_VOCABULARY), class_names=names
    )
    np.savez(tmp_path / "hfmodel_ids.npz", **arrays, class_names=names)
    yield {
        "model": model,
        "ids": ids,
        "attention_mask": mask,
        "labels": labels,
        "weights": tmp_path / "hfmodel.safetensors",
        "data": tmp_path / "hfmodel.npz",
        "data_without_vocabulary": tmp_path / "hfmodel_ids.npz",
    }
    sys.modules.pop("hfmodel", None)
