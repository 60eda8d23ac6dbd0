"""The training history returned by :func:`xai.fit`: one record per epoch."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xai._files import to_json_value, write_json

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch records of a training run.

    Attributes:
        records: one dict per epoch with ``epoch``, ``train_loss``, ``val_loss`` and
            ``val_accuracy`` (with validation data), ``lr`` (at the end of the epoch),
            ``seconds``, ``samples_per_second`` (training samples per second over all
            processes) and ``best`` (whether the monitored metric improved).
        monitor: the record key used for early stopping and best-weights selection.
        best_epoch: the epoch (1-based) with the best ``monitor`` value, or None.
        stopped_early: True when training stopped before ``epochs`` (patience ran out).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    monitor: str | None = None
    best_epoch: int | None = None
    stopped_early: bool = False

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.records[index]

    @property
    def best(self) -> dict[str, Any] | None:
        """The record of the best epoch (the last one when nothing was monitored)."""
        if not self.records:
            return None
        if self.best_epoch is None:
            return self.records[-1]
        return self.records[self.best_epoch - 1]

    def column(self, key: str) -> list[Any]:
        """The values of ``key`` over the epochs (None where an epoch lacks it)."""
        return [record.get(key) for record in self.records]

    def to_dict(self) -> dict[str, Any]:
        """JSON data (a NaN or infinite number, e.g. a diverged loss, becomes None)."""
        return to_json_value(
            {
                "monitor": self.monitor,
                "best_epoch": self.best_epoch,
                "stopped_early": self.stopped_early,
                "records": [dict(r) for r in self.records],
            },
            strict=True,
            where="history",
        )

    def save(self, path: str | Path) -> Path:
        """Write the history as JSON, atomically (non-finite numbers as ``null``)."""
        return write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        """The history that :meth:`to_dict` gave ``data``; a ``null`` number in a record (NaN
        or infinite when it was written) reads back as NaN."""
        records = [
            {key: math.nan if value is None else value for key, value in dict(record).items()}
            for record in data.get("records", [])
        ]
        return cls(
            records=records,
            monitor=data.get("monitor"),
            best_epoch=data.get("best_epoch"),
            stopped_early=bool(data.get("stopped_early", False)),
        )

    @classmethod
    def load(cls, path: str | Path) -> History:
        """Read a history written by :meth:`save`; a ``null`` number in a record (NaN or
        infinite when it was saved) reads back as NaN."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
