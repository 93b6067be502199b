"""The REST protocols: rest-json (lambda, apigateway, ...) and rest-xml (s3, ...).

Both bind members to the URI, query string, headers and status code the same way; they
differ only in how the body document is written, which the two subclasses supply.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import TYPE_CHECKING, Any

from . import jsoncodec, xmlcodec
from .base import Protocol, WireError, message_member, resolve_error
from .errors import SerializationException, ServiceError, UnknownOperationException
from .http import HttpRequest, HttpResponse
from .service import ServiceSpec
from .values import b64encode, float_text, format_timestamp

if TYPE_CHECKING:
    from botocore.model import OperationModel, Shape

    from . import events


def split_header_list(value: str) -> list[str]:
    """Split a comma-separated header list; items may be double-quoted with \\" escapes."""
    items: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t":
            i += 1
        if i < n and value[i] == '"':
            i += 1
            buf = []
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(value[i])
                i += 1
            items.append("".join(buf))
            i = value.find(",", i)
            i = n if i == -1 else i + 1
        else:
            j = value.find(",", i)
            j = n if j == -1 else j
            items.append(value[i:j].strip())
            i = j + 1
    return items


def decode_header(member: Shape, value: str, name: str) -> Any:
    if member.serialization.get("jsonvalue"):
        try:
            return json.loads(base64.b64decode(value))
        except ValueError:
            raise SerializationException(f"Header {name} is not base64-encoded JSON") from None
    if member.type_name == "list":
        items = split_header_list(value)
        if member.member.type_name == "timestamp" and "," in value and not value.strip().startswith('"'):
            # RFC 822 dates contain a comma themselves: re-pair "Mon" with " 01 Jan ...".
            items = [f"{items[i]}, {items[i + 1]}" for i in range(0, len(items) - 1, 2)]
        return [xmlcodec.decode_scalar(member.member, v, name) for v in items]
    return xmlcodec.decode_scalar(member, value, name)


def encode_header(member: Shape, value: Any) -> str:
    t = member.type_name
    if member.serialization.get("jsonvalue"):
        return b64encode(json.dumps(value, separators=(",", ":")))
    if t == "list":
        parts = []
        for v in value:
            text = encode_header(member.member, v)
            if member.member.type_name == "string" and ('"' in text or "," in text):
                text = '"' + text.replace('"', '\\"') + '"'
            parts.append(text)
        return ",".join(parts)
    if t == "timestamp":
        return str(format_timestamp(value, member.serialization.get("timestampFormat", "rfc822")))
    if t == "boolean":
        return "true" if value else "false"
    if t in ("float", "double"):
        return float_text(value)
    if t == "blob":
        return b64encode(value)
    return str(value)


def _query_value(member: Shape, values: list[str], name: str) -> Any:
    if member.type_name == "list":
        return [xmlcodec.decode_scalar(member.member, v, name) for v in values]
    return xmlcodec.decode_scalar(member, values[0], name)


@functools.lru_cache(maxsize=4096)
def _has_header_member(shape: Shape, header: str) -> bool:
    return any(m.serialization.get("location") == "header" and m.serialization.get("name", "").lower() == header
               for m in shape.members.values())


def literal_query_keys(op: OperationModel) -> list[str]:
    """Query keys fixed by the requestUri itself (`/restapis?mode=import`)."""
    query = op.http.get("requestUri", "").partition("?")[2]
    return [part.partition("=")[0] for part in query.split("&") if part]


class RestProtocol(Protocol):
    """URI/query/header binding shared by rest-json and rest-xml."""

    body_content_type = ""
    event_content_type = ""  # of documents inside event-stream messages

    def find_operation(self, spec: ServiceSpec, req: HttpRequest) -> tuple[OperationModel, Any]:
        found = spec.router.match(req.method, req.path, req.query, req.headers)
        if found is None:
            raise UnknownOperationException(f"No operation matches {req.method} {req.path}", status=404)
        return found

    def parse(self, spec: ServiceSpec, op: OperationModel, req: HttpRequest, state: Any) -> dict:
        shape = op.input_shape
        if shape is None:
            return {}
        labels: dict[str, str] = state
        params: dict[str, Any] = {}
        bound_query = set(literal_query_keys(op))
        query_map: tuple[str, Shape] | None = None
        has_body_members = False
        for name, member in shape.members.items():
            ser = member.serialization
            loc = ser.get("location")
            wire = ser.get("name", name)
            if loc == "uri":
                if wire in labels:
                    params[name] = xmlcodec.decode_scalar(member, labels[wire], name)
            elif loc == "querystring":
                if member.type_name == "map":
                    query_map = (name, member)
                    continue
                bound_query.add(wire)
                values = req.query.get(wire)
                if values:
                    params[name] = _query_value(member, values, name)
            elif loc == "header":
                value = req.headers.get(wire.lower())
                if value is not None:
                    params[name] = decode_header(member, value, wire)
            elif loc == "headers":
                prefix = wire.lower()
                found = {h[len(prefix):]: v for h, v in req.headers.items() if h.startswith(prefix)}
                if found:
                    params[name] = found
            elif loc is None:
                has_body_members = True
        if query_map is not None:
            name, member = query_map
            rest = {k: v for k, v in req.query.items() if k not in bound_query}
            if rest:
                listy = member.value.type_name == "list"
                params[name] = {k: (v if listy else v[0]) for k, v in rest.items()}
        payload = shape.serialization.get("payload")
        if payload is not None:
            member = shape.members[payload]
            if member.type_name in ("blob", "string"):
                if req.body:
                    params[payload] = req.body if member.type_name == "blob" else self._text(req.data)
            elif req.body:
                params[payload] = self.decode_body(member, req.data)
        elif has_body_members and req.body:
            params.update(self.decode_body(shape, req.data))
        return params

    @staticmethod
    def _text(body: bytes) -> str:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise SerializationException("Body is not valid UTF-8") from None

    # -- subclasses --
    def decode_body(self, shape: Shape, body: bytes) -> Any:
        raise NotImplementedError

    def encode_body(self, spec: ServiceSpec, shape: Shape, value: dict, root: str | None) -> bytes:
        raise NotImplementedError

    def error_response(self, spec: ServiceSpec, wire: WireError, request_id: str) -> HttpResponse:
        raise NotImplementedError

    # -- responses --
    def serialize(self, spec: ServiceSpec, op: OperationModel, result: dict, request_id: str) -> HttpResponse:
        status = op.http.get("responseCode", 200)
        headers = {"x-amzn-RequestId": request_id}
        shape = op.output_shape
        if shape is None:
            return HttpResponse(status, headers, b"")
        body_values: dict[str, Any] = {}
        for name, value in result.items():
            member = shape.members.get(name)
            if member is None or value is None:
                continue
            ser = member.serialization
            loc = ser.get("location")
            if loc == "header":
                if member.type_name == "list" and not value:
                    continue
                headers[ser.get("name", name)] = encode_header(member, value)
            elif loc == "headers":
                prefix = ser.get("name", "")
                for k, v in value.items():
                    headers[prefix + k] = str(v)
            elif loc == "statusCode":
                status = int(value)
            else:
                body_values[name] = value
        if status == 200 and spec.quirks.partial_content and result.get(spec.quirks.partial_content) is not None:
            status = 206
        payload = shape.serialization.get("payload")
        body: Any = b""
        if payload is not None:
            member = shape.members[payload]
            value = body_values.get(payload)
            if member.serialization.get("eventstream"):
                if value is not None:
                    from . import events  # (event streams are rare: loaded on first use)

                    body = events.message_stream(spec, member, value, self.event_format(spec))
                    headers.setdefault("Content-Type", events.CONTENT_TYPE)
            elif member.type_name in ("blob", "string"):
                body = value.encode("utf-8") if isinstance(value, str) else (value if value is not None else b"")
                if not _has_header_member(shape, "content-type"):
                    headers.setdefault("Content-Type", "application/octet-stream")
            elif value is not None:
                body = self.encode_body(spec, member, value, member.serialization.get("name", member.name))
                headers.setdefault("Content-Type", self.body_content_type)
        elif body_values or self.always_body(shape):
            body = self.encode_body(spec, shape, body_values, spec.quirks.xml_roots.get(op.name))
            headers.setdefault("Content-Type", self.body_content_type)
        return HttpResponse(status, headers, body)

    def always_body(self, shape: Shape) -> bool:
        return False

    def event_format(self, spec: ServiceSpec) -> events.EventFormat:
        """Documents inside events are written like bodies (the event's shape names the root)."""
        from . import events

        return events.EventFormat(lambda shape, value: self.encode_body(spec, shape, value, None),
                                  self.event_content_type)

    def serialize_error(self, spec: ServiceSpec, op: OperationModel | None, err: ServiceError,
                        request_id: str) -> HttpResponse:
        wire = resolve_error(spec, err)
        bound: dict[str, str] = {}
        if wire.shape is not None and wire.fields:
            # Members of the error shape bound to headers travel there, not in the body.
            members = wire.shape.members
            body_fields = {}
            for key, value in wire.fields.items():
                member = members.get(key)
                if member is not None and member.serialization.get("location") == "header":
                    if value is not None:
                        bound[member.serialization.get("name", key)] = encode_header(member, value)
                else:
                    body_fields[key] = value
            wire.fields = body_fields
        resp = self.error_response(spec, wire, request_id)
        resp.headers.update(bound)
        resp.headers.update(err.headers)
        return resp


class RestJsonProtocol(RestProtocol):
    name = "rest-json"
    body_content_type = "application/json"
    event_content_type = "application/json"

    def decode_body(self, shape: Shape, body: bytes) -> Any:
        data = jsoncodec.loads(body)
        if shape.type_name == "structure" and not shape.is_document_type and not isinstance(data, dict):
            raise SerializationException("Start of structure or map found where not expected")
        return jsoncodec.decode(shape, data)

    def encode_body(self, spec: ServiceSpec, shape: Shape, value: dict, root: str | None) -> bytes:
        return jsoncodec.dumps(jsoncodec.encode(shape, value))

    def always_body(self, shape: Shape) -> bool:
        return any("location" not in m.serialization for m in shape.members.values())

    def error_response(self, spec: ServiceSpec, wire: WireError, request_id: str) -> HttpResponse:
        body: dict[str, Any] = {}
        if wire.shape is not None and wire.fields:
            body.update(jsoncodec.encode(wire.shape, wire.fields))
        body[message_member(wire.shape)] = wire.message
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id,
                   "x-amzn-ErrorType": wire.code}
        return HttpResponse(wire.status, headers, jsoncodec.dumps(body))


class RestXmlProtocol(RestProtocol):
    name = "rest-xml"
    body_content_type = "application/xml"
    event_content_type = "text/xml"

    def decode_body(self, shape: Shape, body: bytes) -> Any:
        root = xmlcodec.parse_document(body)
        if shape.type_name == "structure":
            return xmlcodec.decode_structure(shape, root)
        return xmlcodec.decode(shape, root)

    def encode_body(self, spec: ServiceSpec, shape: Shape, value: dict, root: str | None) -> bytes:
        name = root or shape.serialization.get("name") or shape.name
        ns = xmlcodec.namespace_attr(shape) or f' xmlns="{spec.xml_namespace}"'
        out = ['<?xml version="1.0" encoding="UTF-8"?>']
        xmlcodec.encode(shape, value, name, out, ns)
        return "".join(out).encode("utf-8")

    def error_response(self, spec: ServiceSpec, wire: WireError, request_id: str) -> HttpResponse:
        headers = {"Content-Type": "application/xml", "x-amzn-RequestId": request_id}
        esc = xmlcodec.escape
        fields: list[str] = []
        if wire.fields:
            known = wire.shape.members if wire.shape is not None else {}
            for key, value in wire.fields.items():
                if key in known:
                    xmlcodec.encode(known[key], value, known[key].serialization.get("name", key), fields)
                elif value is not None:
                    fields.append(f"<{key}>{esc(str(value))}</{key}>")
        if spec.quirks.error_style == "s3":
            headers["x-amz-request-id"] = request_id
            headers["x-amz-id-2"] = request_id
            doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{esc(wire.code)}</Code>'
                   f"<Message>{esc(wire.message)}</Message>{''.join(fields)}"
                   f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>")
        else:
            doc = (f'<ErrorResponse xmlns="{spec.xml_namespace}"><Error>'
                   f"<Type>{'Sender' if wire.sender_fault else 'Receiver'}</Type>"
                   f"<Code>{esc(wire.code)}</Code><Message>{esc(wire.message)}</Message>{''.join(fields)}"
                   f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        return HttpResponse(wire.status, headers, doc.encode("utf-8"))
