"""Order-preserving encoding of tuple keys into bytes.

``pack(t)`` turns a flat tuple into bytes such that comparing the bytes with
plain bytewise (memcmp) order gives the same result as comparing the tuples
element by element, which is what SQLite BLOB and PostgreSQL BYTEA ordering do.
The layout follows the FoundationDB tuple layer.

Element types and their fixed cross-type order (a smaller type code sorts
first, whatever the values)::

    None  <  bytes  <  str  <  int  <  float  <  bool

* ``None``  -> ``0x00``
* ``bytes`` -> ``0x01`` + escaped bytes + ``0x00``
* ``str``   -> ``0x02`` + escaped UTF-8 + ``0x00`` (code-point order)
* ``int``   -> ``0x0b``..``0x1d``: ``0x14`` is zero, ``0x14 +/- n`` an n-byte
  magnitude (n <= 8), ``0x1d``/``0x0b`` a length-prefixed magnitude of up to
  255 bytes; negative magnitudes are stored one's-complemented.
* ``float`` -> ``0x21`` + IEEE-754 double, sign-adjusted (``-0.0 < 0.0``;
  NaN sorts past the infinities on its sign's side).
* ``bool``  -> ``0x26`` (False) / ``0x27`` (True).

Inside bytes and str a ``0x00`` byte is escaped as ``0x00 0xFF``, and each
ends with an unescaped ``0x00``; so a tuple sorts before every tuple it is a
prefix of, and ints and floats never compare numerically with each other.
Subclasses (``IntEnum``, ``StrEnum``) encode as their base type; ``unpack``
returns plain types. Nested tuples are not supported.
"""

from __future__ import annotations

import struct

__all__ = ["pack", "unpack", "prefix_range", "split_first"]

_NONE = 0x00
_BYTES = 0x01
_STR = 0x02
_INT_ZERO = 0x14
_INT_NEG_BIG = 0x0B
_INT_POS_BIG = 0x1D
_FLOAT = 0x21
_FALSE = 0x26
_TRUE = 0x27

_DOUBLE = struct.Struct(">d")
_SIGN_FLIP = 1 << 63
_ALL_ONES = (1 << 64) - 1


def _escape(raw: bytes) -> bytes:
    if b"\x00" in raw:
        raw = raw.replace(b"\x00", b"\x00\xff")
    return raw + b"\x00"


_POS_SMALL = 1 << 64  # positive ints below this take the fast path: a one-byte head and <= 8 bytes
_POS_HEADS = tuple(bytes((_INT_ZERO + n,)) for n in range(9))


def _pack_int(value: int, out: list[bytes]) -> None:
    if value == 0:
        out.append(b"\x14")
        return
    magnitude = value if value > 0 else -value
    n = (magnitude.bit_length() + 7) // 8
    if n > 255:
        raise ValueError("int key element too large (more than 255 bytes)")
    if value > 0:
        body = magnitude.to_bytes(n, "big")
        out.append(bytes((_INT_ZERO + n,)) + body if n <= 8 else bytes((_INT_POS_BIG, n)) + body)
    else:
        body = ((1 << (8 * n)) - 1 - magnitude).to_bytes(n, "big")
        out.append(bytes((_INT_ZERO - n,)) + body if n <= 8 else bytes((_INT_NEG_BIG, n ^ 0xFF)) + body)


def _pack_float(value: float) -> bytes:
    bits = int.from_bytes(_DOUBLE.pack(value), "big")
    bits = bits ^ _ALL_ONES if bits & _SIGN_FLIP else bits | _SIGN_FLIP
    return b"\x21" + bits.to_bytes(8, "big")


def pack(key: tuple) -> bytes:
    """Encode a flat tuple; bytewise order of results equals tuple order."""
    out: list[bytes] = []
    for el in key:
        t = type(el)
        if t is str:  # hot path, inlined
            raw = el.encode("utf-8", "surrogatepass")
            if b"\x00" in raw:
                raw = raw.replace(b"\x00", b"\x00\xff")
            out += (b"\x02", raw, b"\x00")
        elif t is int:
            if 0 < el < _POS_SMALL:  # hot path (timestamps, sequence numbers), inlined
                n = (el.bit_length() + 7) >> 3
                out += (_POS_HEADS[n], el.to_bytes(n, "big"))
            else:
                _pack_int(el, out)
        elif el is None:
            out.append(b"\x00")
        elif t is bool:
            out.append(b"\x27" if el else b"\x26")
        elif t is bytes:
            out.append(b"\x01" + _escape(el))
        elif t is float:
            out.append(_pack_float(el))
        elif isinstance(el, bool):
            out.append(b"\x27" if el else b"\x26")
        elif isinstance(el, int):
            _pack_int(int(el), out)
        elif isinstance(el, str):
            out.append(b"\x02" + _escape(str.encode(el, "utf-8", "surrogatepass")))
        elif isinstance(el, (bytes, bytearray, memoryview)):
            out.append(b"\x01" + _escape(bytes(el)))
        elif isinstance(el, float):
            out.append(_pack_float(float(el)))
        else:
            raise TypeError(f"unsupported key element type: {t.__name__}")
    return b"".join(out)


def _read_escaped(data: bytes, pos: int) -> tuple[bytes, int]:
    """Return (unescaped bytes, position after the terminator) from ``pos``."""
    end = data.find(b"\x00", pos)
    while end != -1 and data[end + 1 : end + 2] == b"\xff":
        end = data.find(b"\x00", end + 2)
    if end == -1:
        raise ValueError("unterminated bytes/str element in packed key")
    raw = data[pos:end]
    if b"\x00\xff" in raw:
        raw = raw.replace(b"\x00\xff", b"\x00")
    return raw, end + 1


def split_first(data: bytes) -> tuple[bytes, bytes]:
    """The packed first element of a packed key, and the rest: each sorts as its elements do,
    so a scan can order keys by their parts without decoding them."""
    code = data[0]
    if _INT_NEG_BIG < code < _INT_POS_BIG:
        end = 1 + abs(code - _INT_ZERO)
    elif code in (_INT_POS_BIG, _INT_NEG_BIG):
        end = 2 + (data[1] if code == _INT_POS_BIG else data[1] ^ 0xFF)
    elif code in (_BYTES, _STR):
        end = _read_escaped(data, 1)[1]
    elif code == _FLOAT:
        end = 9
    else:  # None, False, True
        end = 1
    return data[:end], data[end:]


def unpack(data: bytes) -> tuple:
    """Decode bytes produced by :func:`pack`; ValueError on malformed input."""
    data = bytes(data)
    out: list = []
    pos = 0
    size = len(data)
    while pos < size:
        code = data[pos]
        pos += 1
        if code == _STR:
            raw, pos = _read_escaped(data, pos)
            out.append(raw.decode("utf-8", "surrogatepass"))
        elif _INT_NEG_BIG <= code <= _INT_POS_BIG:
            if code == _INT_POS_BIG or code == _INT_NEG_BIG:
                if pos >= size:
                    raise ValueError("truncated int element in packed key")
                n = data[pos] if code == _INT_POS_BIG else data[pos] ^ 0xFF
                pos += 1
            else:
                n = abs(code - _INT_ZERO)
            body = data[pos : pos + n]
            if len(body) != n:
                raise ValueError("truncated int element in packed key")
            pos += n
            value = int.from_bytes(body, "big")
            out.append(value if code >= _INT_ZERO else value - (1 << (8 * n)) + 1)
        elif code == _NONE:
            out.append(None)
        elif code == _BYTES:
            raw, pos = _read_escaped(data, pos)
            out.append(raw)
        elif code == _FLOAT:
            body = data[pos : pos + 8]
            if len(body) != 8:
                raise ValueError("truncated float element in packed key")
            pos += 8
            bits = int.from_bytes(body, "big")
            bits = bits ^ _SIGN_FLIP if bits & _SIGN_FLIP else bits ^ _ALL_ONES
            out.append(_DOUBLE.unpack(bits.to_bytes(8, "big"))[0])
        elif code == _FALSE:
            out.append(False)
        elif code == _TRUE:
            out.append(True)
        else:
            raise ValueError(f"unknown type code 0x{code:02x} in packed key")
    return tuple(out)


def prefix_range(prefix: tuple) -> tuple[bytes, bytes]:
    """Byte range ``[start, end)`` of every key that strictly extends ``prefix``.

    The key equal to ``prefix`` itself is NOT in the range; every longer key
    starting with the elements of ``prefix`` is. ``prefix_range(())`` covers
    all non-empty keys.
    """
    packed = pack(prefix)
    return packed + b"\x00", packed + b"\xff"
