"""JSON bodies <-> Python values, driven by botocore shapes (json and rest-json protocols)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .document import ShapeCodec, mismatch
from .errors import SerializationException
from .values import b64decode, b64encode, float_out, format_timestamp

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


class JsonShapes(ShapeCodec):
    """JSON carries blobs as base64 text, timestamps per the member's timestampFormat (epoch
    seconds by default) and NaN/Infinity as strings."""

    def decode_blob(self, shape: Shape, value: Any, path: str) -> bytes:
        if not isinstance(value, str):
            raise mismatch(shape, value, path)
        return b64decode(value, path)

    def encode_blob(self, value: Any) -> str:
        return b64encode(value)

    def encode_timestamp(self, shape: Shape, value: Any) -> Any:
        return format_timestamp(value, shape.serialization.get("timestampFormat", "unixtimestamp"))

    def encode_float(self, value: float) -> float | str:
        return float_out(value)


JSON = JsonShapes()
decode = JSON.decode
encode = JSON.encode
