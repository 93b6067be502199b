"""Digests computed while bytes stream: the checksums AWS's flexible-checksum headers name.

`new(name)` gives a hasher with `update(bytes)` and `digest() -> bytes` for each algorithm of
`ALGORITHMS` (lowercase, as in `x-amz-checksum-<name>`): md5, sha1, sha256 and sha512 from
hashlib; crc32 from zlib; crc32c and crc64nvme from anycrc (table-driven C, several GB/s; not
awscrt, whose mere presence makes botocore sign every request with its own signer). A CRC's digest is its big-endian bytes, as the headers carry
them base64-encoded. Blob writers compute the ones they are asked for on the way to disk
(store/blobs.py), so a large body is read once.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import zlib
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["ALGORITHMS", "COMBINABLE", "Hasher", "b64", "combine", "compute", "new"]


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    """A CRC of `bits` bits updated with `fn(data, previous)`."""

    __slots__ = ("_fn", "_bytes", "_value")

    def __init__(self, fn: Callable[[bytes, int], int], bits: int) -> None:
        self._fn = fn
        self._bytes = bits // 8
        self._value = 0

    def update(self, data: bytes, /) -> None:
        self._value = self._fn(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._bytes, "big")


def _crc32() -> Hasher:
    return _Crc(zlib.crc32, 32)


@functools.cache
def _model(name: str) -> Callable[[bytes, int], int]:
    calc: Callable[[bytes, int], int] = _crc_model(name).calc  # anycrc, loaded with the first upload that asks
    return calc


def _crc32c() -> Hasher:
    return _Crc(_model("CRC32C"), 32)


def _crc64nvme() -> Hasher:
    return _Crc(_model("CRC64-NVME"), 64)


ALGORITHMS: dict[str, Callable[[], Hasher]] = {
    "crc32": _crc32,
    "crc32c": _crc32c,
    "crc64nvme": _crc64nvme,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "md5": hashlib.md5,
}


# The CRCs whose value over A+B follows from their values over A and B and B's length (anycrc's
# `combine`, zlib's crc32_combine generalised): S3's full-object checksums of multipart uploads.
COMBINABLE = {"crc32": ("CRC32", 32), "crc32c": ("CRC32C", 32), "crc64nvme": ("CRC64-NVME", 64)}


def combine(name: str, first: bytes, second: bytes, second_length: int) -> bytes:
    """The CRC `name` (a key of COMBINABLE) of A+B, from CRC(A), CRC(B) (digests as `digest()`
    gives them) and len(B), without the bytes."""
    model, bits = COMBINABLE[name]
    crc = _crc_model(model).combine(int.from_bytes(first, "big"), int.from_bytes(second, "big"), second_length)
    return int(crc).to_bytes(bits // 8, "big")


@functools.cache
def _crc_model(name: str) -> Any:
    import anycrc

    return anycrc.Model(name)


def new(name: str) -> Hasher:
    """A fresh hasher for `name` (a key of ALGORITHMS; KeyError otherwise)."""
    return ALGORITHMS[name]()


def compute(names: tuple[str, ...] | list[str], data: bytes) -> dict[str, bytes]:
    """The digests `names` of `data`, held in memory."""
    out = {}
    for name in names:
        h = new(name)
        h.update(data)
        out[name] = h.digest()
    return out


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()
