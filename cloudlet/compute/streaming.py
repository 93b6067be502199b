"""ResponseStream: a function's response body while the function is still writing it.

The Runtime API writes what a runtime sends in streaming mode (`Lambda-Runtime-Function-
Response-Mode: streaming`); one reader (InvokeWithResponseStream, a function URL) iterates the
chunks as they arrive. Whoever started the invocation closes the stream when it ends, however it
ends (a runtime that does not stream leaves it unopened: its response is the result's payload).

Memory is bounded: above `high_water` unread bytes the writer is asked to pause (the Runtime API
stops reading the runtime's socket, so the function's writes block), and to resume once the
reader has drained it below a quarter of that. A reader that goes away abandons the stream: the
function runs on (AWS does not stop a stream whose client disconnected) and its output is dropped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable

HIGH_WATER = 1024 * 1024


class ResponseStream:
    def __init__(self, high_water: int = HIGH_WATER) -> None:
        self.high_water = high_water
        self.content_type: str | None = None  # set when the runtime starts streaming
        self.size = 0  # bytes written so far
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._closed = False
        self._abandoned = False
        self._paused = False
        self._pause: Callable[[], None] | None = None
        self._resume: Callable[[], None] | None = None
        self._changed = asyncio.Event()

    # ---- the writer (the Runtime API, via the environment) ----------------------------------

    @property
    def opened(self) -> bool:
        """True once the runtime answered in streaming mode."""
        return self.content_type is not None

    def open(self, content_type: str, pause: Callable[[], None] | None = None,
             resume: Callable[[], None] | None = None) -> None:
        self.content_type = content_type
        self._pause, self._resume = pause, resume
        self._changed.set()

    def write(self, data: bytes) -> None:
        if not data or self._closed:
            return
        self.size += len(data)
        if self._abandoned:
            return
        self._chunks.append(data)
        self._buffered += len(data)
        self._changed.set()
        if self._buffered > self.high_water and not self._paused and self._pause is not None:
            self._paused = True
            self._pause()

    def close(self) -> None:
        self._closed = True
        self._changed.set()
        self._unpause()

    # ---- the reader --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    async def wait_started(self) -> None:
        """Until there is a first chunk to read, or the stream ended without one."""
        while not self._chunks and not self._closed:
            self._changed.clear()
            await self._changed.wait()

    def abandon(self) -> None:
        """The reader is gone: drop what is buffered and whatever comes later."""
        self._abandoned = True
        self._chunks.clear()
        self._buffered = 0
        self._unpause()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            if self._chunks:
                data = self._chunks.popleft()
                self._buffered -= len(data)
                if self._paused and self._buffered <= self.high_water // 4:
                    self._unpause()
                yield data
            elif self._closed:
                return
            else:
                self._changed.clear()
                await self._changed.wait()

    def _unpause(self) -> None:
        if self._paused:
            self._paused = False
            if self._resume is not None:
                self._resume()
