"""Content-addressed blobs: the `BlobStore` contract, and `DiskBlobStore` on local disk.

Code packages (and, as they arrive, objects and image layers) live here, the store keeping only
their digests. Platform code depends on the `BlobStore` contract only, so a shared backend
(object storage for replicas on several machines) can implement it later; today replicas on one
machine share a `DiskBlobStore` directory (CLOUDLET_BLOB_DIR).

On disk, a blob is named by the lowercase hex SHA-256 of its bytes and lives at
``root/sha256/<first two hex chars>/<digest>``. Writes stream into a temp
file under ``root/tmp`` while hashing, are fsynced, then renamed into place
atomically (and the directory fsynced), so a digest that exists always names
complete, correct content. Storing the same bytes twice keeps one file.
A writer can also end in a :class:`TempBlob` (``BlobWriter.finish_temp``): bytes
that are complete and hashed but not (yet) a blob, readable like a file and
made a blob later by a rename rather than a copy. Request bodies that are too
large to hold in memory are spooled this way (gateway/body.py).
Blobs nothing references any more are reclaimed by :meth:`BlobStore.sweep`, given what every
service holds (blob_gc.py): a blob is only a candidate once it is older than the sweep's grace
period, and a writer that finds its bytes already stored, or a record that starts naming an
existing blob (a copy), refreshes that age (:meth:`BlobStore.hold`) under a lock the sweep takes
before each deletion, so a blob being taken up again is never the one deleted.
Any string that is not exactly 64 lowercase hex characters is rejected with
ValueError, so a digest can never name a path outside the root. Missing
blobs raise :class:`BlobNotFound` (a KeyError). Nothing here reads a whole
blob into memory except :meth:`BlobStore.put`, which is given it, and
:meth:`BlobStore.read`, meant for small blobs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import re
import secrets
import shutil
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from . import checksums

__all__ = ["BlobNotFound", "BlobStore", "BlobWriter", "DiskBlobStore", "TempBlob"]

_DIGEST_RE = re.compile(r"[0-9a-f]{64}")


class BlobNotFound(KeyError):
    """No blob with this digest."""


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is 64 lowercase hex characters, else ValueError."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise ValueError(f"malformed sha256 digest: {digest!r}")
    return digest


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobWriter:
    """Streams one blob: ``write`` chunks, then ``commit()`` or ``abort()``.

    As a context manager it aborts on exit unless committed, so an exception
    (or a forgotten commit) leaves no temp file behind.
    """

    def __init__(self, store: DiskBlobStore, digests: tuple[str, ...] = ()) -> None:
        self._store = store
        self._hash = hashlib.sha256()
        # More digests of the bytes (store/checksums.py names), computed on the way.
        self._extra = {name: checksums.new(name) for name in digests}
        self._size = 0
        self._tmp = store.root / "tmp" / f"{secrets.token_hex(12)}.part"
        self._file: BinaryIO | None = open(self._tmp, "xb")  # noqa: SIM115 - closed by commit/abort

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    def digests(self) -> dict[str, bytes]:
        """The extra digests asked for at creation, of the bytes written so far."""
        return {name: h.digest() for name, h in self._extra.items()}

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise ValueError("blob writer is already committed or aborted")
        self._file.write(chunk)
        self._hash.update(chunk)
        for h in self._extra.values():
            h.update(chunk)
        self._size += len(chunk)

    def commit(self) -> tuple[str, int]:
        """Make the blob durable and visible; return ``(digest, size)``."""
        f = self._file
        if f is None:
            raise ValueError("blob writer is already committed or aborted")
        try:
            f.flush()
            if self._store.durable:
                os.fsync(f.fileno())
            f.close()
            digest = self._hash.hexdigest()
            self._store._publish(self._tmp, digest, synced=True)
        except BaseException:
            self._file = None
            f.close()
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
            raise
        self._file = None
        return digest, self._size

    def finish_temp(self) -> TempBlob:
        """End the writer without making a blob: the bytes stay in the temp area as a
        :class:`TempBlob` (no fsync: a temp blob does not outlive a crash)."""
        f = self._file
        if f is None:
            raise ValueError("blob writer is already committed or aborted")
        self._file = None
        try:
            f.close()
            temp = TempBlob(self._store, self._tmp, self._hash.hexdigest(), self._size)
            temp.digests = self.digests()
            return temp
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
            raise

    def abort(self) -> None:
        """Discard what was written; a no-op after commit or a first abort."""
        f, self._file = self._file, None
        if f is None:
            return
        f.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class TempBlob:
    """Complete, hashed bytes in the blob store's temp area: a read-only binary file.

    ``keep()`` makes them a blob by renaming the file into place (no copy) and
    returns the digest; ``close()`` deletes the file unless it was kept. Temp
    files of a process that died are removed by ``BlobStore.clean_tmp``.
    """

    def __init__(self, store: DiskBlobStore, path: Path, digest: str, size: int) -> None:
        self._store = store
        self.path = path
        self.sha256 = digest
        self.size = size
        self.digests: dict[str, bytes] = {}  # the writer's extra digests (store/checksums.py names)
        self._kept = False
        self._file: io.BufferedReader = open(path, "rb")  # noqa: SIM115 - closed by close()

    # -- the file interface providers read payloads through
    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        return self._file.readinto(buffer)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._file.read(65536):
            yield chunk

    def __len__(self) -> int:
        return self.size

    @property
    def closed(self) -> bool:
        return self._file.closed

    def keep(self) -> str:
        """Make the bytes the blob ``sha256`` (idempotent); they stay readable until closed."""
        if not self._kept:
            if self._file.closed:
                raise ValueError("temp blob is closed")
            self._store._publish(self.path, self.sha256)
            self._kept = True
        return self.sha256

    def close(self) -> None:
        """Close; the temp file is removed unless ``keep()`` made it a blob."""
        if self._file.closed:
            return
        self._file.close()
        if not self._kept:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self) -> TempBlob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TempBlob(size={self.size}, sha256={self.sha256[:12]}...)"


class BlobStore(ABC):
    """The contract: blobs named by the hex SHA-256 of their bytes; a digest that exists names
    complete, correct content; reads of a missing digest raise BlobNotFound. Safe to use from
    many threads at once."""

    @abstractmethod
    def writer(self, digests: tuple[str, ...] = ()) -> BlobWriter:
        """A new streaming writer (commit -> (digest, size); abort; finish_temp -> TempBlob),
        computing the extra `digests` (store/checksums.py names) as it writes."""

    def put(self, data: bytes) -> str:
        """Store ``data``; return its digest."""
        with self.writer() as w:
            w.write(data)
            return w.commit()[0]

    @abstractmethod
    def exists(self, digest: str) -> bool: ...

    @abstractmethod
    def size(self, digest: str) -> int:
        """The blob's size in bytes (BlobNotFound if missing)."""

    @abstractmethod
    def open(self, digest: str) -> BinaryIO:
        """The blob opened for binary reading; the caller closes it."""

    def read(self, digest: str) -> bytes:
        """The whole blob in memory; for small blobs only."""
        with self.open(digest) as f:
            return f.read()

    @abstractmethod
    def iter_chunks(self, digest: str, chunk_size: int = 65536, start: int = 0,
                    end: int | None = None) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of the blob (``end`` None or past the size means to the end) in
        chunks of at most ``chunk_size``; BlobNotFound if it is missing when this is called."""

    @abstractmethod
    def delete(self, digest: str) -> bool:
        """Remove the blob; True if it existed."""

    @abstractmethod
    def hold(self, digest: str) -> None:
        """Keep the blob from this round of sweeps: call it before committing a record that starts
        naming a blob it read in an earlier transaction (a copy). BlobNotFound if it is gone."""

    @abstractmethod
    def sweep(self, referenced: Callable[[], set[str]], older_than: float) -> int:
        """Delete blobs older than ``older_than`` seconds that ``referenced()`` (called after the
        candidates are listed) does not name; return how many went."""

    @abstractmethod
    def clean_tmp(self, older_than: float = 3600.0) -> int:
        """Remove what writers that died more than ``older_than`` seconds ago left; the count."""

    @abstractmethod
    def clear(self) -> None:
        """Delete every blob (platform reset)."""


class DiskBlobStore(BlobStore):
    """Blobs under ``root``. ``durable=False`` skips fsyncs (tests, caches)."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = Path(root)
        self.durable = durable
        (self.root / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        self._gc_fd: int | None = None
        self._gc_lock = threading.Lock()  # (flock is per open file: threads of one process share it)

    @contextlib.contextmanager
    def _gc(self, exclusive: bool) -> Iterator[None]:
        """Between a sweep's deletions and writers taking up existing blobs: a lock file, so
        replicas sharing the directory hold it too."""
        with self._gc_lock:
            if self._gc_fd is None:
                self._gc_fd = os.open(self.root / ".gc.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._gc_fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(self._gc_fd, fcntl.LOCK_UN)

    def hold(self, digest: str) -> None:
        with self._gc(exclusive=False):
            try:
                os.utime(self.path(digest))
            except FileNotFoundError:
                raise BlobNotFound(digest) from None

    def sweep(self, referenced: Callable[[], set[str]], older_than: float) -> int:
        cutoff = time.time() - older_than
        candidates = []
        for bucket in os.scandir(self.root / "sha256"):
            if not bucket.is_dir():
                continue
            for entry in os.scandir(bucket.path):
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime < cutoff and _DIGEST_RE.fullmatch(entry.name):
                        candidates.append(entry.name)
        if not candidates:
            return 0
        keep = referenced()
        removed = 0
        for digest in candidates:
            if digest in keep:
                continue
            path = self.path(digest)
            with self._gc(exclusive=True):
                try:
                    if path.stat().st_mtime >= cutoff:
                        continue  # taken up again since it was listed (hold, or stored anew)
                    path.unlink()
                except FileNotFoundError:
                    continue
            removed += 1
        return removed

    def clear(self) -> None:
        """Delete every blob (platform reset); writers in flight keep their temp files."""
        shutil.rmtree(self.root / "sha256", ignore_errors=True)
        (self.root / "sha256").mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives (whether or not it exists)."""
        check_digest(digest)
        return self.root / "sha256" / digest[:2] / digest

    def writer(self, digests: tuple[str, ...] = ()) -> BlobWriter:
        """A new streaming writer."""
        return BlobWriter(self, digests)

    def _publish(self, tmp: Path, digest: str, *, synced: bool = False) -> None:
        """Rename the finished temp file ``tmp`` (content ``digest``) into place, fsyncing
        it first unless the caller already did."""
        final = self.path(digest)
        with self._gc(exclusive=False):
            try:
                os.utime(final)  # already stored: taken up again, so no running sweep deletes it
            except FileNotFoundError:
                pass
            else:
                tmp.unlink()
                return
        if self.durable and not synced:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        if self.durable:
            _fsync_dir(final.parent)

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def open(self, digest: str) -> BinaryIO:
        """The blob opened for binary reading; the caller closes it."""
        try:
            return open(self.path(digest), "rb")  # noqa: SIM115 - returned to the caller
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def iter_chunks(
        self, digest: str, chunk_size: int = 65536, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"invalid byte range start={start} end={end}")
        path = self.path(digest)
        if not path.is_file():
            raise BlobNotFound(digest)
        return self._chunks(digest, path, chunk_size, start, end)

    @staticmethod
    def _chunks(digest: str, path: Path, chunk_size: int, start: int, end: int | None) -> Iterator[bytes]:
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            raise BlobNotFound(digest) from None
        with f:
            if start:
                f.seek(start)
            remaining = -1 if end is None else end - start
            while remaining:
                chunk = f.read(chunk_size if remaining < 0 else min(chunk_size, remaining))
                if not chunk:
                    return
                if remaining > 0:
                    remaining -= len(chunk)
                yield chunk

    def delete(self, digest: str) -> bool:
        """Remove the blob; True if it existed."""
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def clean_tmp(self, older_than: float = 3600.0) -> int:
        """Remove temp files of writers that died more than ``older_than``
        seconds ago; return how many were removed."""
        cutoff = time.time() - older_than
        removed = 0
        for entry in os.scandir(self.root / "tmp"):
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
        return removed
