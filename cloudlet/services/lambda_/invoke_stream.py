"""Streamed invocations: InvokeWithResponseStream and RESPONSE_STREAM function URLs.

`start` runs the function with a ResponseStream and returns as soon as there is something to
answer with: the first chunk the function streamed, or its whole result (a function that does
not stream, or one that failed before writing anything). What keeps the function from running at
all (throttling, a function that cannot run here) is raised then, so callers answer it as Invoke
does. `events` turns the invocation into InvokeWithResponseStream's events: PayloadChunk per
chunk as it arrives (a function that does not stream: its whole response), then InvokeComplete.

A caller that goes away does not stop the function (AWS lets it run to its end); its output is
dropped.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cloudlet.compute.streaming import ResponseStream

from . import platform_log
from .invoke import LOG_TAIL_BYTES

if TYPE_CHECKING:
    from cloudlet.compute import InvokeResult

    from . import functions
    from .invoke import Invoker

PAYLOAD_CHUNK = 256 * 1024  # the largest PayloadChunk we send; a function's larger writes are split
_detached: set[asyncio.Task[InvokeResult]] = set()  # invocations whose caller left, kept till they end


@dataclass
class StreamedInvocation:
    stream: ResponseStream
    task: asyncio.Task[InvokeResult]

    def detach(self) -> None:
        """The caller is gone: let the function finish, and drop its output."""
        self.stream.abandon()
        if not self.task.done():
            _detached.add(self.task)
            self.task.add_done_callback(_forget)


def _forget(task: asyncio.Task[InvokeResult]) -> None:
    _detached.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: nobody is waiting for it any more


async def start(invoker: Invoker, resolved: functions.ResolvedFunction, payload: bytes, **kw: Any
                ) -> StreamedInvocation:
    stream = ResponseStream()
    task = asyncio.ensure_future(invoker.run(resolved, payload, stream=stream, **kw))
    task.add_done_callback(lambda _: stream.close())
    running = StreamedInvocation(stream, task)
    started = asyncio.ensure_future(stream.wait_started())
    try:
        await asyncio.wait((task, started), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        running.detach()
        raise
    finally:
        started.cancel()
    if task.done():
        task.result()  # raises what kept the function from running
    return running


def pieces(data: bytes) -> list[bytes]:
    return [data[i:i + PAYLOAD_CHUNK] for i in range(0, len(data), PAYLOAD_CHUNK)]


async def events(running: StreamedInvocation, log_type: str | None) -> AsyncIterator[dict[str, Any]]:
    """PayloadChunk events, then one InvokeComplete (ErrorCode and ErrorDetails when the function
    failed, LogResult with LogType Tail)."""
    finished = False
    try:
        async for chunk in running.stream:
            for piece in pieces(chunk):
                yield {"PayloadChunk": {"Payload": piece}}
        result = await running.task
        finished = True
    finally:
        if not finished:
            running.detach()
    if not running.stream.opened and result.function_error is None:
        for piece in pieces(result.payload):
            yield {"PayloadChunk": {"Payload": piece}}
    complete: dict[str, str] = {}
    if result.function_error is not None:
        # What the runtime reported (its error type, its error document), as the trailers of a
        # streamed response carry them.
        complete["ErrorCode"] = result.error_type or result.function_error
        complete["ErrorDetails"] = result.payload.decode("utf-8", "replace")
    if log_type == "Tail":
        complete["LogResult"] = base64.b64encode(platform_log.text(result.log).encode("utf-8")[-LOG_TAIL_BYTES:]).decode()
    yield {"InvokeComplete": complete}
