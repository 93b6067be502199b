"""The AWS JSON protocol (1.0/1.1): POST /, X-Amz-Target selects the operation (dynamodb, logs, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import jsoncodec
from .base import Protocol, WireError, message_member, resolve_error
from .errors import SerializationException, ServiceError, UnknownOperationException
from .http import HttpRequest, HttpResponse
from .service import ServiceSpec

if TYPE_CHECKING:
    from botocore.model import OperationModel


def error_body(wire: WireError, type_name: str) -> bytes:
    body: dict[str, Any] = {"__type": type_name, message_member(wire.shape): wire.message}
    if wire.shape is not None and wire.fields:
        body.update(jsoncodec.encode(wire.shape, wire.fields))
    return jsoncodec.dumps(body)


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
        data = jsoncodec.loads(req.body)
        if shape is None:
            return {}
        if not isinstance(data, dict):
            raise SerializationException("Start of structure or map found where not expected")
        return jsoncodec.decode(shape, data)

    def content_type(self, spec: ServiceSpec) -> str:
        return f"application/x-amz-json-{spec.model.metadata.get('jsonVersion', '1.0')}"

    def serialize(self, spec: ServiceSpec, op: OperationModel, result: dict, request_id: str) -> HttpResponse:
        shape = op.output_shape
        body = jsoncodec.dumps(jsoncodec.encode(shape, result) if shape is not None else {})
        return HttpResponse(200, {"Content-Type": self.content_type(spec), "x-amzn-RequestId": request_id}, body)

    def serialize_error(self, spec: ServiceSpec, op: OperationModel | None, err: ServiceError,
                        request_id: str) -> HttpResponse:
        wire = resolve_error(spec, err)
        headers = {"Content-Type": self.content_type(spec), "x-amzn-RequestId": request_id}
        type_name = wire.shape.name if wire.shape is not None else wire.code
        if spec.model.metadata.get("awsQueryCompatible") is not None:
            headers["x-amzn-query-error"] = f"{wire.code};{'Sender' if wire.sender_fault else 'Receiver'}"
        headers.update(err.headers)
        return HttpResponse(wire.status, headers, error_body(wire, type_name))
