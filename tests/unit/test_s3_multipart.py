"""Multipart uploads without a server: the ETag and checksum compositions, byte ranges mapped onto
parts, and the pure checks of multipart.py."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest

from cloudlet.services.s3 import complete, multipart, objects
from cloudlet.services.s3.errors import InvalidArgument, InvalidRequest
from cloudlet.store import checksums
from cloudlet.store.blobs import DiskBlobStore


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_multipart_etag_is_md5_of_binary_part_md5s_and_count():
    parts = [os.urandom(100), os.urandom(7), b""]
    md5s = [hashlib.md5(p).hexdigest() for p in parts]
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-3"
    assert complete.multipart_etag(md5s) == expected
    # AWS's documented example shape: 32 hex characters, a dash, the part count
    assert len(complete.multipart_etag(md5s[:1]).split("-")[0]) == 32


def test_composite_checksum_is_the_checksum_of_the_part_checksums():
    parts = [os.urandom(300), os.urandom(200)]
    crcs = [zlib.crc32(p).to_bytes(4, "big") for p in parts]
    assert complete.composite_checksum("CRC32", [b64(c) for c in crcs]) == f"{b64(zlib.crc32(b''.join(crcs)).to_bytes(4, 'big'))}-2"
    shas = [hashlib.sha256(p).digest() for p in parts]
    assert complete.composite_checksum("SHA256", [b64(s) for s in shas]) == f"{b64(hashlib.sha256(b''.join(shas)).digest())}-2"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_full_object_checksum_combines_part_crcs_into_the_crc_of_the_whole(algorithm):
    name = algorithm.lower()
    parts = [os.urandom(5000), b"", os.urandom(1), os.urandom(123457)]
    given = [(b64(checksums.compute((name,), p)[name]), len(p)) for p in parts]
    whole = checksums.compute((name,), b"".join(parts))[name]
    assert complete.full_object_checksum(algorithm, given) == b64(whole)
    assert complete.full_object_checksum(algorithm, given[:1]) == given[0][0]


def test_segments_map_a_byte_range_onto_parts():
    sizes = [10, 5, 0, 20]
    assert objects.segments(sizes, 0, 35) == [(0, 0, 10), (1, 0, 5), (3, 0, 20)]
    assert objects.segments(sizes, 8, 12) == [(0, 8, 10), (1, 0, 2)]         # across a boundary
    assert objects.segments(sizes, 10, 15) == [(1, 0, 5)]                     # exactly one part
    assert objects.segments(sizes, 14, 16) == [(1, 4, 5), (3, 0, 1)]          # over an empty part
    assert objects.segments(sizes, 34, 35) == [(3, 19, 20)]
    assert objects.segments(sizes, 3, 3) == []


def test_part_bounds_of_a_multipart_record():
    record = {"parts": [["a", 10], ["b", 5], ["c", 7]], "size": 22, "mp": 3}
    assert [objects.part_bounds(record, n) for n in (1, 2, 3)] == [(0, 10), (10, 15), (15, 22)]


def test_blob_chunks_stream_ranges_across_part_blobs(tmp_path):
    blobs = DiskBlobStore(tmp_path, durable=False)
    datas = [os.urandom(300_000), os.urandom(17), os.urandom(400_000)]
    record = {"blob": None, "parts": [[blobs.put(d), len(d)] for d in datas], "size": sum(map(len, datas))}
    whole = b"".join(datas)
    assert objects.read_all(None, blobs, "b", "k", record) == whole  # type: ignore[arg-type]  # parts need no tx
    for start, end in [(0, len(whole)), (299_990, 300_020), (300_000, 300_017), (5, 6), (299_999, 700_017)]:
        assert b"".join(objects.blob_chunks(blobs, record, start, end)) == whole[start:end]
    assert not objects.is_inline(record)


def test_copy_source_range_parsing():
    assert multipart.copy_range(None, 10) == (0, 10)
    assert multipart.copy_range("bytes=0-9", 10) == (0, 10)
    assert multipart.copy_range("bytes=3-3", 10) == (3, 4)
    for bad in ("bytes=5-", "bytes=-5", "0-5", "bytes=a-b", "bytes=6-5"):
        with pytest.raises(InvalidArgument) as err:
            multipart.copy_range(bad, 10)
        assert err.value.message.startswith("The x-amz-copy-source-range value must be of the form bytes=first-last")
    with pytest.raises(InvalidArgument) as err:
        multipart.copy_range("bytes=0-10", 10)
    assert err.value.message == "Range specified is not valid for source object of size: 10"


def test_checksum_settings_defaults_and_refusals():
    assert multipart.checksum_settings({}) == (None, None)
    assert multipart.checksum_settings({"ChecksumAlgorithm": "crc32"}) == ("CRC32", "COMPOSITE")
    assert multipart.checksum_settings({"ChecksumAlgorithm": "CRC64NVME"}) == ("CRC64NVME", "FULL_OBJECT")
    assert multipart.checksum_settings({"ChecksumAlgorithm": "CRC32C", "ChecksumType": "FULL_OBJECT"}) == (
        "CRC32C", "FULL_OBJECT")
    refused = {
        (("ChecksumAlgorithm", "CRC64NVME"), ("ChecksumType", "COMPOSITE")):
            "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.",
        (("ChecksumAlgorithm", "SHA256"), ("ChecksumType", "FULL_OBJECT")):
            "The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm.",
        (("ChecksumType", "COMPOSITE"),):
            "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
        (("ChecksumAlgorithm", "MD5"),):
            "Checksum algorithm provided is unsupported. Please try again with any of the valid types: "
            "[CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
    }
    for params, message in refused.items():
        with pytest.raises(InvalidRequest) as err:
            multipart.checksum_settings(dict(params))
        assert err.value.message == message


def test_upload_ids_sort_by_initiation():
    ids = [multipart.new_upload_id() for _ in range(50)]
    assert ids == sorted(ids)
    assert all(c.isalnum() or c in "-_" for c in "".join(ids))
