"""The AWS query protocol: form-encoded requests (Action=...), XML responses (sts, iam, sns, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from . import xmlcodec
from .base import Protocol, WireError, resolve_error
from .errors import ServiceError
from .http import HttpRequest, HttpResponse
from .service import ServiceSpec

if TYPE_CHECKING:
    from botocore.model import OperationModel, Shape


class InvalidAction(ServiceError):
    code = "InvalidAction"
    status = 400


class MissingAction(ServiceError):
    code = "MissingAction"
    status = 400


class MalformedQueryString(ServiceError):
    code = "MalformedQueryString"
    status = 404


def form_params(req: HttpRequest) -> dict[str, str]:
    """The request's parameters: the query string, then a form-encoded body (which wins)."""
    try:
        pairs = parse_qsl(req.query_string, keep_blank_values=True) if req.query_string else []
        if req.body and req.method == "POST":
            pairs += parse_qsl(req.data.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise MalformedQueryString("The request body is not valid form-encoded UTF-8") from None
    return dict(pairs)


MAX_KEY = 1024


class _Flat:
    """A flat `A.b.1.C=v` parameter dict with O(1) 'is anything under this prefix?' checks."""

    __slots__ = ("values", "prefixes")

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        prefixes = set()
        for key in values:
            if len(key) > MAX_KEY:  # no model member path is this long; don't index its prefixes
                continue
            pos = key.find(".")
            while pos != -1:
                prefixes.add(key[:pos])
                pos = key.find(".", pos + 1)
        self.prefixes = prefixes

    def has(self, key: str) -> bool:
        return key in self.values or key in self.prefixes


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _member_keys(name: str, member: Shape, ec2: bool) -> tuple[str, ...]:
    """Parameter names a structure member may arrive under, preferred first."""
    ser = member.serialization
    if ec2:
        # EC2: queryName, else the xmlName with its first letter upper-cased, else the member
        # name, which the spec upper-cases too while botocore sends it as is.
        if "queryName" in ser:
            return (ser["queryName"],)
        if "name" in ser:
            return (_upper_first(ser["name"]),)
        return tuple(dict.fromkeys((_upper_first(name), name)))
    own = ser.get("name", name)
    if ser.get("flattened") and member.type_name == "list":
        # A flattened list's items are `Own.N` by the spec, but botocore names them after
        # the list's member (`Item.N`): accept both.
        item = member.member.serialization.get("name")
        if item and item != own:
            return (own, item)
    return (own,)


def decode(shape: Shape, flat: _Flat, prefix: str, ec2: bool = False) -> Any:
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            for wire in _member_keys(name, member, ec2):
                key = _join(prefix, wire)
                if flat.has(key):
                    out[name] = decode(member, flat, key, ec2)
                    break
        return out
    if t == "list":
        if flat.values.get(prefix) == "" and prefix not in flat.prefixes:
            return []
        if ec2 or shape.serialization.get("flattened"):
            base = prefix   # EC2 flattens every list
        else:
            base = f"{prefix}.{shape.member.serialization.get('name', 'member')}"
        out_list = []
        i = 1
        while flat.has(f"{base}.{i}"):
            out_list.append(decode(shape.member, flat, f"{base}.{i}", ec2))
            i += 1
        return out_list
    if t == "map":
        base = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
        kname = shape.key.serialization.get("name", "key")
        vname = shape.value.serialization.get("name", "value")
        out_map = {}
        i = 1
        while flat.has(f"{base}.{i}.{kname}"):
            key = flat.values.get(f"{base}.{i}.{kname}", "")
            vkey = f"{base}.{i}.{vname}"
            out_map[key] = decode(shape.value, flat, vkey, ec2) if flat.has(vkey) else None
            i += 1
        return out_map
    return xmlcodec.decode_scalar(shape, flat.values.get(prefix, ""), prefix)


class QueryProtocol(Protocol):
    name = "query"

    def find_operation(self, spec: ServiceSpec, req: HttpRequest) -> tuple[OperationModel, Any]:
        params = form_params(req)
        action = params.get("Action")
        if not action:
            raise MissingAction("Missing Action")
        op = spec.operations.get(action)
        if op is None:
            version = params.get("Version", spec.model.api_version)
            raise InvalidAction(f"Could not find operation {action} for version {version}")
        return op, params

    def parse(self, spec: ServiceSpec, op: OperationModel, req: HttpRequest, state: Any) -> dict:
        shape = op.input_shape
        if shape is None:
            return {}
        return decode(shape, _Flat(state), "")

    def serialize(self, spec: ServiceSpec, op: OperationModel, result: dict, request_id: str) -> HttpResponse:
        name = op.name
        out = [f'<{name}Response xmlns="{spec.xml_namespace}">']
        shape = op.output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper")
            if wrapper:
                xmlcodec.encode_structure(shape, result, wrapper, out, "")
            else:
                xmlcodec.encode_members(shape, result, out)
        out.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{name}Response>")
        return HttpResponse(200, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id},
                            "".join(out).encode("utf-8"))

    def serialize_error(self, spec: ServiceSpec, op: OperationModel | None, err: ServiceError,
                        request_id: str) -> HttpResponse:
        wire = resolve_error(spec, err)
        return HttpResponse(wire.status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id},
                            error_document(spec, wire, request_id))


def error_document(spec: ServiceSpec, wire: WireError, request_id: str) -> bytes:
    """`<ErrorResponse><Error>Type, Code, Message, modeled members</Error><RequestId/>`."""
    out = [f'<ErrorResponse xmlns="{spec.xml_namespace}"><Error>',
           f"<Type>{'Sender' if wire.sender_fault else 'Receiver'}</Type>",
           f"<Code>{xmlcodec.escape(wire.code)}</Code>",
           f"<Message>{xmlcodec.escape(wire.message)}</Message>"]
    if wire.shape is not None and wire.fields:
        xmlcodec.encode_members(wire.shape, wire.fields, out)
    out.append(f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return "".join(out).encode("utf-8")


class Ec2Protocol(QueryProtocol):
    """EC2's dialect of query: no result wrapper, lower-case requestId, <Response><Errors> errors."""

    name = "ec2"

    def parse(self, spec: ServiceSpec, op: OperationModel, req: HttpRequest, state: Any) -> dict:
        shape = op.input_shape
        return decode(shape, _Flat(state), "", ec2=True) if shape is not None else {}

    def serialize(self, spec: ServiceSpec, op: OperationModel, result: dict, request_id: str) -> HttpResponse:
        out = [f'<{op.name}Response xmlns="{spec.xml_namespace}"><requestId>{request_id}</requestId>']
        if op.output_shape is not None:
            xmlcodec.encode_members(op.output_shape, result, out)
        out.append(f"</{op.name}Response>")
        return HttpResponse(200, {"Content-Type": "text/xml"}, "".join(out).encode("utf-8"))

    def serialize_error(self, spec: ServiceSpec, op: OperationModel | None, err: ServiceError,
                        request_id: str) -> HttpResponse:
        wire = resolve_error(spec, err)
        out = [f"<Response><Errors><Error><Code>{xmlcodec.escape(wire.code)}</Code>",
               f"<Message>{xmlcodec.escape(wire.message)}</Message>"]
        if wire.shape is not None and wire.fields:
            xmlcodec.encode_members(wire.shape, wire.fields, out)
        out.append(f"</Error></Errors><RequestID>{request_id}</RequestID></Response>")
        return HttpResponse(wire.status, {"Content-Type": "text/xml"}, "".join(out).encode("utf-8"))
