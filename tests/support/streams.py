"""Byte sources for upload tests."""

from __future__ import annotations

import io


class NonSeekableStream(io.RawIOBase):
    """A non-seekable stream (a pipe, a socket, a generator's output) over `data`."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._data.readinto(buffer)
