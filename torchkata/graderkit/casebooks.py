"""Casebooks: the reference's recorded outcomes, ``cases_<slug>.pt`` beside a hidden grader, read once per process.

``torchkata build`` writes them (:mod:`torchkata.grading.casebook`); the differential checks read them.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from torchkata.checks import GradingError

CASEBOOK_FORMAT = 1


def casebook_path(grader_dir: Path, slug: str) -> Path:
    return grader_dir / f"cases_{slug}.pt"


@dataclass(frozen=True)
class Recorded:
    """A scenario's cases and the reference's outcomes, kept serialized until each is compared."""

    cases: list[dict[str, Any]]
    outcomes: list[bytes]

    def expected(self, index: int) -> Any:
        return decode(self.outcomes[index])


def encode(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


def decode(data: bytes) -> Any:
    return torch.load(io.BytesIO(data), weights_only=True)


def read_casebook(path: Path) -> dict[str, Any]:
    """The whole file: ``format``, ``digest`` and ``scenarios`` (name -> cases and outcomes)."""
    return torch.load(path, weights_only=True)


@functools.cache
def _load(path: str, mtime_ns: int) -> dict[str, Recorded]:
    data = read_casebook(Path(path))
    if data.get("format") != CASEBOOK_FORMAT:
        raise GradingError(f"{Path(path).name} has format {data.get('format')}; expected {CASEBOOK_FORMAT}.")
    return {name: Recorded(entry["cases"], entry["outcomes"]) for name, entry in data["scenarios"].items()}


def load_casebook(path: Path) -> dict[str, Recorded]:
    """The recorded cases of a chapter, read once per process (again if the file changes)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as error:
        raise GradingError(f"the recorded cases {path.name} cannot be read ({error.strerror}): "
                           "instructors, run `torchkata build`.") from None
    return _load(str(path), mtime)
