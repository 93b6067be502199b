"""Large request bodies: planned from the headers, streamed to disk as they arrive.

A small body (under SPILL_THRESHOLD) is buffered in memory, as nearly every API call's is.
Before the HTTP server reads a larger one it asks the gateway for a `BodyPlan`:

- `limit`: the most payload bytes the operation takes (limits.py); a larger body is read and
  discarded and the request answered as too large;
- `spool`: for operations whose input is a streaming blob (S3 PutObject, UploadPart), write
  the body into the blob store's temp area instead of memory; the provider then gets a
  `TempBlob` (store/blobs.py), a file it can read or keep as a blob without a copy;
- `decoder`: unwrap aws-chunked framing on the way (awschunked.py), checking chunk
  signatures, so what lands on disk is the payload itself;
- `finish`: last checks once the whole body is in (the declared decoded length, trailers).

A spooled body is hashed on the way (`payload_digests`): besides the SHA-256 naming the blob,
its MD5 (for Content-MD5 and S3's ETag) and the flexible checksum the request names
(x-amz-checksum-*, see store/checksums.py), so nobody reads a large body twice.

`BodySpool` does the spooling. Decoding, hashing and disk writes run on a worker thread,
never on the event loop; the loop only queues the chunks it receives and stops reading the
socket while more than HIGH_WATER bytes wait, so an upload of any size holds a few MiB.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cloudlet.store import checksums
from cloudlet.store.blobs import BlobWriter, TempBlob

SPILL_THRESHOLD = 1024 * 1024   # bodies up to this size stay in memory without asking
HIGH_WATER = 8 * 1024 * 1024    # queued, unwritten bytes at which reading pauses


class Decoder(Protocol):
    """Turns the body as sent into the payload (awschunked.AwsChunkedDecoder)."""

    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> None: ...


@dataclass(slots=True)
class BodyPlan:
    """How to receive one large body (see the module docstring)."""

    limit: int
    spool: Callable[[], BlobWriter] | None = None
    decoder: Decoder | None = None
    finish: Callable[[TempBlob], None] | None = None


def payload_digests(headers: dict[str, str]) -> tuple[str, ...]:
    """The digests to compute of a spooled body: MD5, and the checksum algorithm the request
    names (x-amz-sdk-checksum-algorithm, a trailer it announces, or an x-amz-checksum-* header;
    CRC64NVME when it names none, the checksum S3 keeps of every object)."""
    named = headers.get("x-amz-sdk-checksum-algorithm", "").lower()
    if named not in checksums.ALGORITHMS:
        trailer = headers.get("x-amz-trailer", "").lower().strip()
        named = trailer.removeprefix("x-amz-checksum-") if trailer.startswith("x-amz-checksum-") else ""
    if named not in checksums.ALGORITHMS:
        named = next((h[15:] for h in headers if h.startswith("x-amz-checksum-") and h[15:] in checksums.ALGORITHMS),
                     "crc64nvme")
    return ("md5",) if named == "md5" else ("md5", named)


class BodyTooLarge(Exception):
    """The payload grew past the plan's limit while it streamed in."""


class BodySpool:
    """One body on its way to disk. The event loop calls `write` for each chunk received and
    `await complete()` once the message ended; `abort()` if the connection went away.

    `pressure(True)` asks the caller to stop reading from the socket, `pressure(False)` to
    resume. Exactly one worker job runs at a time, so chunks are written in order.
    """

    def __init__(self, plan: BodyPlan, pressure: Callable[[bool], None]) -> None:
        assert plan.spool is not None
        self.plan = plan
        self._pressure = pressure
        self._loop = asyncio.get_running_loop()
        self._writer = plan.spool()
        self._pending: deque[bytes] = deque()
        self._received = 0            # bytes queued by the loop
        self._drained = 0             # bytes the worker has taken (written only by the worker)
        self._job: asyncio.Future[None] | None = None
        self._idle = asyncio.Event()  # no job running (set only once a job's callback has run)
        self._idle.set()
        self._paused = False
        self._aborted = False
        self.error: Exception | None = None   # set by the worker; the rest is then discarded

    # ---- event loop side
    def write(self, chunk: bytes) -> None:
        if self.error is not None or self._aborted:
            return
        self._pending.append(chunk)
        self._received += len(chunk)
        if self._job is None:
            self._start_job()
        if not self._paused and self._received - self._drained > HIGH_WATER:
            self._paused = True
            self._pressure(True)

    def _start_job(self) -> None:
        self._idle.clear()
        self._job = self._loop.run_in_executor(None, self._drain)
        self._job.add_done_callback(self._job_done)

    def _job_done(self, _: asyncio.Future[None]) -> None:
        self._job = None
        if self._aborted:
            self._writer.abort()
        elif self._pending and self.error is None:
            self._start_job()
            return
        elif self._paused:
            self._paused = False
            self._pressure(False)
        self._idle.set()

    async def complete(self) -> TempBlob:
        """The payload, once every chunk is on disk; raises what went wrong instead
        (BodyTooLarge, a decoding or signature error, the plan's `finish` check)."""
        await self._idle.wait()
        return await self._loop.run_in_executor(None, self._finalize)

    def abort(self) -> None:
        """Drop the body (connection lost, or the request was refused)."""
        self._aborted = True
        self._pending.clear()
        if self._job is None:
            self._writer.abort()

    # ---- worker thread side
    def _drain(self) -> None:
        decoder, writer, limit = self.plan.decoder, self._writer, self.plan.limit
        pending = self._pending
        while not self._aborted and self.error is None:
            try:
                chunk = pending.popleft()
            except IndexError:
                return
            self._drained += len(chunk)
            try:
                data = decoder.feed(chunk) if decoder is not None else chunk
                if data:
                    if writer.size + len(data) > limit:
                        raise BodyTooLarge(f"body exceeds {limit} bytes")
                    writer.write(data)
            except Exception as exc:
                self.error = exc
                pending.clear()
                writer.abort()

    def _finalize(self) -> TempBlob:
        if self.error is not None:
            raise self.error
        try:
            if self.plan.decoder is not None:
                self.plan.decoder.finish()
            temp = self._writer.finish_temp()
        except BaseException:
            self._writer.abort()
            raise
        if self.plan.finish is not None:
            try:
                self.plan.finish(temp)
            except BaseException:
                temp.close()
                raise
        return temp
