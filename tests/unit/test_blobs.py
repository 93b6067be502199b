"""Content-addressed blob store."""

from __future__ import annotations

import hashlib
import os
import random
import tracemalloc
from pathlib import Path

import pytest

from cloudlet.store.blobs import BlobNotFound, DiskBlobStore

MISSING = "0" * 64


@pytest.fixture
def blobs(tmp_path: Path) -> DiskBlobStore:
    return DiskBlobStore(tmp_path / "blobs")


def tmp_files(blobs: DiskBlobStore) -> list[str]:
    return os.listdir(blobs.root / "tmp")


def test_put_open_and_layout(blobs: DiskBlobStore):
    data = b"hello world" * 100
    digest = blobs.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert blobs.path(digest) == blobs.root / "sha256" / digest[:2] / digest
    assert blobs.exists(digest) and blobs.size(digest) == len(data)
    with blobs.open(digest) as f:
        assert f.read() == data
    assert blobs.read(digest) == data
    assert blobs.put(data) == digest  # idempotent, one file
    assert os.listdir(blobs.path(digest).parent) == [digest]
    assert tmp_files(blobs) == []
    empty = blobs.put(b"")
    assert empty == hashlib.sha256(b"").hexdigest() and blobs.size(empty) == 0


def test_iter_chunks_ranges(blobs: DiskBlobStore):
    data = bytes(range(256)) * 40  # 10240 bytes
    digest = blobs.put(data)
    assert b"".join(blobs.iter_chunks(digest)) == data
    chunks = list(blobs.iter_chunks(digest, chunk_size=1000))
    assert [len(c) for c in chunks] == [1000] * 10 + [240]
    for start, end in [
        (0, 1),
        (5, 5),
        (100, 2100),
        (10000, None),
        (10239, 10240),
        (9000, 99999),
        (20000, None),
    ]:
        got = b"".join(blobs.iter_chunks(digest, chunk_size=333, start=start, end=end))
        assert got == data[start:end], (start, end)
    assert all(len(c) <= 7 for c in blobs.iter_chunks(digest, chunk_size=7, start=3, end=50))
    with pytest.raises(ValueError):
        blobs.iter_chunks(digest, start=-1)
    with pytest.raises(ValueError):
        blobs.iter_chunks(digest, start=10, end=5)
    with pytest.raises(ValueError):
        blobs.iter_chunks(digest, chunk_size=0)


def test_writer_streams_large_blob_with_bounded_memory(blobs: DiskBlobStore):
    rng = random.Random(7)
    chunk, total = 1 << 16, 20 * (1 << 20)
    expected = hashlib.sha256()
    tracemalloc.start()
    try:
        with blobs.writer() as w:
            for _ in range(total // chunk):
                piece = rng.randbytes(chunk)
                expected.update(piece)
                w.write(piece)
            assert w.size == total
            digest, size = w.commit()
        assert (digest, size) == (expected.hexdigest(), total)
        check = hashlib.sha256()
        seen = 0
        for piece in blobs.iter_chunks(digest, chunk_size=chunk):
            check.update(piece)
            seen += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == total and check.hexdigest() == digest
    assert peak < 2 * (1 << 20), f"peak traced memory {peak} bytes"
    assert blobs.size(digest) == total
    assert tmp_files(blobs) == []


def test_abort_leaves_no_temp_file(blobs: DiskBlobStore):
    w = blobs.writer()
    w.write(b"partial")
    assert len(tmp_files(blobs)) == 1
    w.abort()
    w.abort()
    assert tmp_files(blobs) == []
    with pytest.raises(ValueError):
        w.write(b"more")
    with pytest.raises(RuntimeError):
        with blobs.writer() as w2:
            w2.write(b"x" * 1000)
            raise RuntimeError("client went away")
    assert tmp_files(blobs) == []
    with blobs.writer() as w3:  # leaving the block without commit discards
        w3.write(b"never committed")
    assert tmp_files(blobs) == []
    assert not blobs.exists(hashlib.sha256(b"never committed").hexdigest())
    with blobs.writer() as w4:
        w4.write(b"kept")
        digest, _ = w4.commit()
    assert blobs.read(digest) == b"kept"
    with pytest.raises(ValueError):
        w4.commit()


def test_bad_digest_rejected(blobs: DiskBlobStore):
    bad = [
        "",
        "../" + "a" * 61,
        "A" * 64,
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "sha256:" + "a" * 64,
        "a" * 62 + "/x",
        "aa/../../etc/passwd",
        "a" * 64 + "\n",
        None,
        123,
    ]
    for digest in bad:
        for op in (blobs.path, blobs.exists, blobs.size, blobs.open, blobs.delete, blobs.iter_chunks):
            with pytest.raises(ValueError):
                op(digest)


def test_missing_and_delete(blobs: DiskBlobStore):
    assert not blobs.exists(MISSING)
    for op in (blobs.size, blobs.open, blobs.iter_chunks, blobs.read):
        with pytest.raises(KeyError):
            op(MISSING)
    with pytest.raises(BlobNotFound):
        blobs.open(MISSING)
    digest = blobs.put(b"bye")
    assert blobs.delete(digest) is True
    assert blobs.delete(digest) is False
    assert not blobs.exists(digest)


def test_clean_tmp(blobs: DiskBlobStore):
    stale = blobs.root / "tmp" / "dead.part"
    stale.write_bytes(b"x")
    os.utime(stale, (0, 0))
    live = blobs.writer()
    live.write(b"y")
    assert blobs.clean_tmp(older_than=60) == 1
    assert tmp_files(blobs) != [] and not stale.exists()
    digest, size = live.commit()
    assert size == 1 and blobs.read(digest) == b"y"


def test_temp_blob_reads_like_a_file_and_is_kept_without_a_copy(blobs: DiskBlobStore):
    data = bytes(range(256)) * 1000
    w = blobs.writer()
    w.write(data[:1000])
    w.write(data[1000:])
    temp = w.finish_temp()
    assert temp.size == len(data) and temp.sha256 == hashlib.sha256(data).hexdigest()
    assert temp.read(10) == data[:10] and temp.tell() == 10
    temp.seek(0)
    assert b"".join(temp) == data
    inode = os.stat(temp.path).st_ino
    digest = temp.keep()
    assert digest == temp.sha256 and blobs.read(digest) == data
    assert os.stat(blobs.path(digest)).st_ino == inode  # renamed, not copied
    temp.seek(5)
    assert temp.read(3) == data[5:8]  # still readable after keep()
    temp.close()
    assert blobs.exists(digest) and tmp_files(blobs) == []


def test_temp_blob_is_removed_on_close_unless_kept(blobs: DiskBlobStore):
    w = blobs.writer()
    w.write(b"spooled")
    with w.finish_temp() as temp:
        assert tmp_files(blobs) == [temp.path.name]
    assert tmp_files(blobs) == [] and temp.closed
    with pytest.raises(ValueError):
        w.write(b"more")  # the writer is finished
    with pytest.raises(ValueError):
        temp.keep()


def _age(blobs: DiskBlobStore, digest: str, seconds: float = 120.0) -> None:
    then = os.path.getmtime(blobs.path(digest)) - seconds
    os.utime(blobs.path(digest), (then, then))


def test_sweep_deletes_old_blobs_nothing_references(blobs: DiskBlobStore):
    kept, dropped, young = blobs.put(b"kept"), blobs.put(b"dropped"), blobs.put(b"young")
    _age(blobs, kept)
    _age(blobs, dropped)
    asked = []

    def referenced() -> set[str]:
        asked.append(True)
        return {kept}

    assert blobs.sweep(referenced, older_than=60) == 1
    assert asked == [True]
    assert blobs.exists(kept) and blobs.exists(young) and not blobs.exists(dropped)
    assert blobs.sweep(lambda: pytest.fail("no candidate: holders are not asked"), older_than=600) == 0


def test_a_blob_taken_up_again_is_not_swept(blobs: DiskBlobStore):
    """Storing the same bytes again, or holding a blob for a copy, makes it young again, also
    when that happens while a sweep asks the holders (after it listed the candidates)."""
    stored, held, raced = blobs.put(b"stored"), blobs.put(b"held"), blobs.put(b"raced")
    for digest in (stored, held, raced):
        _age(blobs, digest)
    assert blobs.put(b"stored") == stored
    blobs.hold(held)

    def referenced() -> set[str]:
        assert blobs.put(b"raced") == raced  # taken up between listing and deleting
        return set()

    assert blobs.sweep(referenced, older_than=60) == 0
    assert blobs.exists(stored) and blobs.exists(held) and blobs.exists(raced)
    with pytest.raises(BlobNotFound):
        blobs.hold(MISSING)
