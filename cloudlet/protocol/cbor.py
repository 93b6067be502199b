"""The Smithy RPC v2 CBOR protocol (smithy-rpc-v2-cbor): cloudwatch and the other services
whose models list it (all of them list json too, which botocore 1.44.8 prefers; other SDKs
may speak CBOR).

Requests are `POST [prefix]/service/{ServiceName}/operation/{OperationName}` with header
`smithy-protocol: rpc-v2-cbor` and a CBOR body (the input structure; none when the operation
has no input). Responses carry the same header and a CBOR body; errors are a CBOR map with
`__type`, the message and the modeled members, under the error shape's HTTP status.

On the wire, unlike JSON: blobs are byte strings, timestamps are epoch seconds under CBOR tag 1
whatever the member's timestampFormat, and NaN/Infinity are plain floats.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .awsjson import error_document
from .base import Protocol, query_error_header, resolve_error
from .document import ShapeCodec, mismatch
from .errors import SerializationException, ServiceError, UnknownOperationException
from .http import HttpRequest, HttpResponse
from .service import ServiceSpec
from .values import format_timestamp

if TYPE_CHECKING:
    import cbor2
    from botocore.model import OperationModel, Shape

SMITHY_PROTOCOL = "rpc-v2-cbor"
CONTENT_TYPE = "application/cbor"
EPOCH_TAG = 1
# A client whose endpoint has a base path puts it before /service/.
_PATH = re.compile(r"/service/([^/]+)/operation/([^/]+)$")


def route(path: str) -> tuple[str, str] | None:
    """The (service name, operation name) an RPC v2 request path names, or None."""
    m = _PATH.search(path)
    return (unquote(m.group(1)), unquote(m.group(2))) if m is not None else None


class CborShapes(ShapeCodec):
    """CBOR carries blobs as byte strings, timestamps as tag 1 epoch seconds, floats as floats."""

    def decode_blob(self, shape: Shape, value: Any, path: str) -> bytes:
        if not isinstance(value, bytes):
            raise mismatch(shape, value, path)
        return value

    def encode_blob(self, value: Any) -> bytes:
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)

    def encode_timestamp(self, shape: Shape, value: Any) -> cbor2.CBORTag:
        # Whole seconds as an integer, else a float with millisecond precision (as botocore).
        from cbor2 import CBORTag

        return CBORTag(EPOCH_TAG, format_timestamp(value, "unixtimestamp"))

    def encode_float(self, value: float) -> float:
        return value


CBOR = CborShapes()


def loads(body: bytes) -> Any:
    """One CBOR data item, the whole body (an empty body is an empty structure)."""
    if not body:
        return {}
    import cbor2  # (CBOR requests are rare: cbor2 loads with the first one, not at start-up)

    stream = io.BytesIO(body)
    try:
        # Map keys must be strings: integer keys can be chosen to collide in a dict.
        value = cbor2.CBORDecoder(stream, strict_hashable_types=True).decode()
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise SerializationException(f"Could not parse request body as CBOR: {exc}") from None
    if stream.tell() != len(body):
        raise SerializationException("Could not parse request body as CBOR: data after the first item")
    return value


def dumps(value: Any) -> bytes:
    from cbor2 import dumps as cbor_dumps

    return cbor_dumps(value)


class RpcV2CborProtocol(Protocol):
    name = "smithy-rpc-v2-cbor"

    def find_operation(self, spec: ServiceSpec, req: HttpRequest) -> tuple[OperationModel, Any]:
        names = route(req.path)
        op = None
        if names is not None and req.method == "POST" and names[0] == spec.target_prefix:
            op = spec.operations.get(names[1])
        if op is None:
            # The operation is addressed by the path, so an unknown one is not found (404), as
            # smithy.framework#UnknownOperationException says.
            raise UnknownOperationException(f"Operation is not supported: {req.method} {req.path}", status=404)
        return op, None

    def parse(self, spec: ServiceSpec, op: OperationModel, req: HttpRequest, state: Any) -> dict[str, Any]:
        data = loads(req.data)
        shape = op.input_shape
        if shape is None:
            return {}
        if not isinstance(data, dict):
            raise SerializationException("Start of structure or map found where not expected")
        params: dict[str, Any] = CBOR.decode(shape, data)
        return params

    def _headers(self, request_id: str) -> dict[str, str]:
        return {"smithy-protocol": SMITHY_PROTOCOL, "x-amzn-RequestId": request_id}

    def serialize(self, spec: ServiceSpec, op: OperationModel, result: dict[str, Any],
                  request_id: str) -> HttpResponse:
        headers = self._headers(request_id)
        shape = op.output_shape
        if shape is None:
            return HttpResponse(200, headers, b"")  # no body, so no Content-Type
        headers["Content-Type"] = CONTENT_TYPE
        return HttpResponse(200, headers, dumps(CBOR.encode(shape, result)))

    def serialize_error(self, spec: ServiceSpec, op: OperationModel | None, err: ServiceError,
                        request_id: str) -> HttpResponse:
        wire = resolve_error(spec, err)
        headers = self._headers(request_id)
        headers["Content-Type"] = CONTENT_TYPE
        headers.update(query_error_header(spec, wire))
        headers.update(err.headers)
        return HttpResponse(wire.status, headers, dumps(error_document(CBOR, wire)))
