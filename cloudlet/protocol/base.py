"""What every protocol shares: the Protocol interface and the modeled-error lookup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ServiceError
from .http import HttpRequest, HttpResponse
from .service import ServiceSpec

if TYPE_CHECKING:
    from botocore.model import OperationModel, Shape


@dataclass(slots=True)
class WireError:
    """A ServiceError resolved against the model: wire code, status and extra members."""

    code: str
    status: int
    sender_fault: bool
    message: str
    shape: Shape | None
    fields: dict[str, Any]
    type_name: str = ""   # the RPC protocols' `__type`: the shape's name, else the raiser's code


def _explicit_status(err: ServiceError) -> int | None:
    """The status the raiser chose (instance or subclass), or None to defer to the model."""
    if "status" in err.__dict__:
        return err.status
    for cls in type(err).__mro__:
        if cls is ServiceError:
            return None
        if "status" in cls.__dict__:
            return cls.__dict__["status"]
    return None


def resolve_error(spec: ServiceSpec, err: ServiceError) -> WireError:
    shape = spec.error_shapes.get(err.code)
    code, status, sender = err.code, err.status, err.sender_fault
    if shape is not None:
        meta = shape.metadata.get("error") or {}
        code = meta.get("code", shape.name)
        if "httpStatusCode" in meta and _explicit_status(err) is None:
            status = meta["httpStatusCode"]
        if "senderFault" in meta:
            sender = bool(meta["senderFault"])
    type_name = shape.name if shape is not None else err.code
    query = spec.quirks.query_errors.get(type_name)
    if query is not None:  # (the model lacks the query-era code and status: the quirks table has them)
        code = query[0]
        if "status" not in err.__dict__:
            status = query[1]
    return WireError(code, status, sender, err.message, shape, err.fields, type_name)


def query_error_header(spec: ServiceSpec, wire: WireError) -> dict[str, str]:
    """`x-amzn-query-error: Code;Sender` on errors of services that moved off the query protocol
    (awsQueryCompatible): clients read the query-era error code from it, not from `__type`."""
    if spec.model.metadata.get("awsQueryCompatible") is None:
        return {}
    return {"x-amzn-query-error": f"{wire.code};{'Sender' if wire.sender_fault else 'Receiver'}"}


def message_member(shape: Shape | None) -> str:
    """The member name a modeled error uses for its message ("message" or "Message")."""
    if shape is not None:
        for name in shape.members:
            if name.lower() == "message":
                return shape.members[name].serialization.get("name", name)
    return "message"


class Protocol:
    """Parse requests into (operation, params) and write results and errors back."""

    name = ""

    def find_operation(self, spec: ServiceSpec, req: HttpRequest) -> tuple[OperationModel, Any]:
        """Return the operation and protocol-specific parse state (raise ServiceError)."""
        raise NotImplementedError

    def parse(self, spec: ServiceSpec, op: OperationModel, req: HttpRequest, state: Any) -> dict:
        raise NotImplementedError

    def serialize(self, spec: ServiceSpec, op: OperationModel, result: dict, request_id: str) -> HttpResponse:
        raise NotImplementedError

    def serialize_error(self, spec: ServiceSpec, op: OperationModel | None, err: ServiceError,
                        request_id: str) -> HttpResponse:
        raise NotImplementedError
