"""JSON bodies <-> Python values, driven by botocore shapes (json and rest-json protocols)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .errors import SerializationException
from .values import b64decode, b64encode, float_out, format_timestamp, parse_float, parse_timestamp

if TYPE_CHECKING:
    from botocore.model import Shape


def loads(body: bytes) -> Any:
    if not body:
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SerializationException("Could not parse request body into json: malformed JSON") from None


def dumps(obj: Any) -> bytes:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON request: keep it as a \u escape
        return json.dumps(obj, separators=(",", ":")).encode("ascii")


# ---- decoding (wire -> params) ----------------------------------------------------------

def _mismatch(shape: Shape, value: Any, path: str) -> SerializationException:
    kind = type(value).__name__
    return SerializationException(
        f"Unexpected value type in payload: expected {shape.type_name} at '{path or '$'}', got {kind}"
    )


def decode(shape: Shape, value: Any, path: str = "") -> Any:
    """Convert a decoded JSON value to the Python value botocore users pass for `shape`."""
    if value is None:
        return None
    t = shape.type_name
    if t == "structure":
        if shape.is_document_type:
            return value
        if not isinstance(value, dict):
            raise _mismatch(shape, value, path)
        out = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if wire in value and value[wire] is not None:
                out[name] = decode(member, value[wire], f"{path}.{name}" if path else name)
        return out
    if t == "list":
        if not isinstance(value, list):
            raise _mismatch(shape, value, path)
        member = shape.member
        return [decode(member, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if t == "map":
        if not isinstance(value, dict):
            raise _mismatch(shape, value, path)
        vshape = shape.value
        return {k: decode(vshape, v, f"{path}.{k}") for k, v in value.items()}
    if t == "string":
        if not isinstance(value, str):
            raise _mismatch(shape, value, path)
        return value
    if t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not value.is_integer()):
            raise _mismatch(shape, value, path)
        return int(value)
    if t in ("float", "double"):
        try:
            return parse_float(value)
        except (TypeError, ValueError):
            raise _mismatch(shape, value, path) from None
    if t == "boolean":
        if not isinstance(value, bool):
            raise _mismatch(shape, value, path)
        return value
    if t == "blob":
        if not isinstance(value, str):
            raise _mismatch(shape, value, path)
        return b64decode(value, path)
    if t == "timestamp":
        try:
            return parse_timestamp(value)
        except (TypeError, ValueError, OverflowError):
            raise SerializationException(f"Invalid timestamp at '{path}'") from None
    return value


# ---- encoding (result -> wire) -----------------------------------------------------------

def encode(shape: Shape, value: Any, default_ts: str = "unixtimestamp") -> Any:
    """Convert a provider's Python value for `shape` to a JSON-ready value."""
    t = shape.type_name
    if t == "structure":
        if shape.is_document_type:
            return value
        out = {}
        members = shape.members
        for name, v in value.items():
            if v is None:
                continue
            member = members.get(name)
            if member is None:
                continue  # providers may keep private keys; never leak them
            out[member.serialization.get("name", name)] = encode(member, v, default_ts)
        return out
    if t == "list":
        member = shape.member
        return [encode(member, v, default_ts) for v in value]
    if t == "map":
        vshape = shape.value
        return {k: encode(vshape, v, default_ts) for k, v in value.items()}
    if t == "blob":
        return b64encode(value)
    if t == "timestamp":
        return format_timestamp(value, shape.serialization.get("timestampFormat", default_ts))
    if t in ("float", "double"):
        return float_out(float(value))
    return value
