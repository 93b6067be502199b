"""The AWS JSON protocol (1.0/1.1): POST /, X-Amz-Target selects the operation (dynamodb, logs, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import jsoncodec
from .base import Protocol, WireError, message_member, query_error_header, resolve_error
from .document import ShapeCodec
from .errors import SerializationException, ServiceError, UnknownOperationException
from .http import HttpRequest, HttpResponse
from .service import ServiceSpec

if TYPE_CHECKING:
    from botocore.model import OperationModel, Shape


def error_document(codec: ShapeCodec, wire: WireError) -> dict[str, Any]:
    """The error body of the RPC protocols (json, smithy-rpc-v2-cbor): `__type` names the
    error shape (or the code of an unmodeled error), then the message and modeled members."""
    body: dict[str, Any] = {"__type": wire.type_name or wire.code, message_member(wire.shape): wire.message}
    if wire.shape is not None and wire.fields:
        body.update(codec.encode(wire.shape, wire.fields))
    return body


class JsonProtocol(Protocol):
    name = "json"

    def find_operation(self, spec: ServiceSpec, req: HttpRequest) -> tuple[OperationModel, Any]:
        target = req.headers.get("x-amz-target", "")
        prefix, _, name = target.rpartition(".")
        op = spec.operations.get(name) if prefix == spec.target_prefix else None
        if op is None:
            raise UnknownOperationException(f"Operation is not supported: {target or '(no X-Amz-Target)'}")
        return op, None

    def parse(self, spec: ServiceSpec, op: OperationModel, req: HttpRequest, state: Any) -> dict:
        shape = op.input_shape
        data = jsoncodec.loads(req.data)
        if shape is None:
            return {}
        if not isinstance(data, dict):
            raise SerializationException("Start of structure or map found where not expected")
        return jsoncodec.decode(shape, data)

    def content_type(self, spec: ServiceSpec) -> str:
        return f"application/x-amz-json-{spec.model.metadata.get('jsonVersion', '1.0')}"

    def serialize(self, spec: ServiceSpec, op: OperationModel, result: dict, request_id: str) -> HttpResponse:
        shape = op.output_shape
        if shape is not None and op.has_event_stream_output:
            return self._event_stream(spec, shape, result, request_id)
        body = jsoncodec.dumps(jsoncodec.encode(shape, result) if shape is not None else {})
        return HttpResponse(200, {"Content-Type": self.content_type(spec), "x-amzn-RequestId": request_id}, body)

    def _event_stream(self, spec: ServiceSpec, shape: Shape, result: dict, request_id: str) -> HttpResponse:
        """The whole body is an event stream; the other output members travel first, in an
        `initial-response` event (which botocore requires)."""
        from . import events  # (event streams are rare: loaded on first use)
        from .eventstream import encode_message

        name = shape.event_stream_name
        content_type = self.content_type(spec)
        initial = encode_message({":message-type": "event", ":event-type": "initial-response",
                                  ":content-type": content_type},
                                 jsoncodec.dumps(jsoncodec.encode(shape, {k: v for k, v in result.items() if k != name})))
        fmt = events.EventFormat(lambda s, v: jsoncodec.dumps(jsoncodec.encode(s, v)), content_type)
        body = events.message_stream(spec, shape.members[name], result.get(name) or (), fmt, first=initial)
        return HttpResponse(200, {"Content-Type": events.CONTENT_TYPE, "x-amzn-RequestId": request_id}, body)

    def serialize_error(self, spec: ServiceSpec, op: OperationModel | None, err: ServiceError,
                        request_id: str) -> HttpResponse:
        wire = resolve_error(spec, err)
        headers = {"Content-Type": self.content_type(spec), "x-amzn-RequestId": request_id}
        headers.update(query_error_header(spec, wire))
        headers.update(err.headers)
        return HttpResponse(wire.status, headers, jsoncodec.dumps(error_document(jsoncodec.JSON, wire)))
