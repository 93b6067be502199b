"""Content-addressed blob store on local disk.

A blob is named by the lowercase hex SHA-256 of its bytes and lives at
``root/sha256/<first two hex chars>/<digest>``. Writes stream into a temp
file under ``root/tmp`` while hashing, are fsynced, then renamed into place
atomically (and the directory fsynced), so a digest that exists always names
complete, correct content. Storing the same bytes twice keeps one file.
Any string that is not exactly 64 lowercase hex characters is rejected with
ValueError, so a digest can never name a path outside the root. Missing
blobs raise :class:`BlobNotFound` (a KeyError). Nothing here reads a whole
blob into memory except :meth:`BlobStore.put`, which is given it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["BlobNotFound", "BlobStore", "BlobWriter"]

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

    def __init__(self, store: BlobStore) -> None:
        self._store = store
        self._hash = hashlib.sha256()
        self._size = 0
        self._tmp = store.root / "tmp" / f"{secrets.token_hex(12)}.part"
        self._file: BinaryIO | None = open(self._tmp, "xb")  # noqa: SIM115 - closed by commit/abort

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise ValueError("blob writer is already committed or aborted")
        self._file.write(chunk)
        self._hash.update(chunk)
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
            final = self._store.path(digest)
            if final.exists():
                self._tmp.unlink()
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self._tmp, final)
                if self._store.durable:
                    _fsync_dir(final.parent)
        except BaseException:
            self._file = None
            f.close()
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
            raise
        self._file = None
        return digest, self._size

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


class BlobStore:
    """Blobs under ``root``. ``durable=False`` skips fsyncs (tests, caches)."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = Path(root)
        self.durable = durable
        (self.root / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def clear(self) -> None:
        """Delete every blob (platform reset); writers in flight keep their temp files."""
        shutil.rmtree(self.root / "sha256", ignore_errors=True)
        (self.root / "sha256").mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives (whether or not it exists)."""
        check_digest(digest)
        return self.root / "sha256" / digest[:2] / digest

    def writer(self) -> BlobWriter:
        """A new streaming writer."""
        return BlobWriter(self)

    def put(self, data: bytes) -> str:
        """Store ``data``; return its digest."""
        with self.writer() as w:
            w.write(data)
            return w.commit()[0]

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

    def read(self, digest: str) -> bytes:
        """The whole blob in memory; for small blobs only."""
        with self.open(digest) as f:
            return f.read()

    def iter_chunks(
        self, digest: str, chunk_size: int = 65536, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of the blob (``end`` None or past the size
        means to the end) in chunks of at most ``chunk_size``. The blob must
        exist when this is called (BlobNotFound otherwise)."""
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
