"""The result channel between a grading child and its parent: length-prefixed JSON frames on a pipe.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON
(an object). The parent reads with :class:`FrameReader`, which refuses frames
larger than ``MAX_FRAME`` so a child cannot make the parent buffer without end.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

MAX_FRAME = 256 * 1024
_HEADER = struct.Struct(">I")


class ChannelError(ValueError):
    """Bytes on the channel that are not a well-formed frame."""


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def send(fd: int, message: dict[str, Any]) -> None:
    """Write one frame to ``fd`` completely (blocking)."""
    data = memoryview(encode(message))
    while data:
        written = os.write(fd, data)
        data = data[written:]


class FrameReader:
    """Accumulates bytes from the channel and yields the complete frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """The frames completed by ``data``; raises ChannelError for a malformed one."""
        self._buffer += data
        frames: list[dict[str, Any]] = []
        while len(self._buffer) >= _HEADER.size:
            (length,) = _HEADER.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise ChannelError(f"a frame of {length} bytes; the most allowed is {MAX_FRAME}")
            if len(self._buffer) < _HEADER.size + length:
                break
            body = bytes(self._buffer[_HEADER.size : _HEADER.size + length])
            del self._buffer[: _HEADER.size + length]
            try:
                message = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise ChannelError(f"a frame that is not JSON: {error}") from error
            if not isinstance(message, dict):
                raise ChannelError(f"a frame holding {type(message).__name__}; expected an object")
            frames.append(message)
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered."""
        return len(self._buffer)
