"""An environment's log stream: its stdout/stderr pipe cut into events. The platform's own lines
(START, END, REPORT, ...) are PlatformEvents (types.py), worded by the Lambda service."""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cloudlet.compute.types import Line

MAX_EVENT = 256 * 1024 - 26  # CloudWatch Logs' event size limit, less its per-event overhead


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def log_stream_name(version: str) -> str:
    """AWS: one stream per environment, 'YYYY/MM/DD/[version]<32 hex>'."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[{version}]{secrets.token_hex(16)}"


def billed_ms(duration_ms: float) -> int:
    return max(1, math.ceil(duration_ms - 1e-9))


class LogPipe:
    """Reads an environment's output pipe on the event loop and cuts it into log events.

    While an invocation (or the init phase) is being recorded, events are kept for its log
    text; otherwise they go straight to `on_idle` (output of background threads between
    invocations still belongs in the stream). A "\r" inside an event is a line break within one
    event (runtimes write multi-line messages that way).
    """

    def __init__(self, fd: int, on_idle: Callable[[list[Line]], None]) -> None:
        self.fd = fd
        self.on_idle = on_idle
        self.recording: list[Line] | None = None
        self.closed = False
        self._partial = b""
        os.set_blocking(fd, False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._on_readable)

    def _on_readable(self) -> None:
        self._read()

    def _read(self) -> None:
        while not self.closed:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._flush_partial()
                self.close()
                return
            self._feed(data)
            if len(data) < 65536:
                return

    def _feed(self, data: bytes) -> None:
        buf = self._partial + data if self._partial else data
        *complete, self._partial = buf.split(b"\n")
        if len(self._partial) > MAX_EVENT:
            complete.append(self._partial)
            self._partial = b""
        if complete:
            ts = now_ms()
            self._emit([(ts, c.decode("utf-8", "replace").replace("\r", "\n")[:MAX_EVENT]) for c in complete])

    def _flush_partial(self) -> None:
        if self._partial:
            part, self._partial = self._partial, b""
            self._emit([(now_ms(), part.decode("utf-8", "replace").replace("\r", "\n"))])

    def _emit(self, lines: list[Line]) -> None:
        if self.recording is not None:
            self.recording.extend(lines)
        else:
            self.on_idle(lines)

    def record(self) -> None:
        self.recording = []

    def take(self) -> list[Line]:
        """Everything written so far (the writer wrote before it answered us, so it is in the
        pipe), including an unterminated last line; stops recording."""
        self._read()
        self._flush_partial()
        lines, self.recording = self.recording or [], None
        return lines

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._loop.remove_reader(self.fd)
            try:
                os.close(self.fd)
            except OSError:
                pass
