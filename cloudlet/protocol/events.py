"""Event-stream outputs, driven by the model (S3 Select, Kinesis SubscribeToShard, Lambda
InvokeWithResponseStream, Logs StartLiveTail, ...).

A provider returns the output's event-stream member as an (async) iterable of events, each a
one-key dict `{"EventName": {member: value}}`. Each becomes one message:

- an event: `:message-type` event, `:event-type` its name, members marked `eventheader` as typed
  headers, and a payload: the `eventpayload` member raw (blob, string) or as a document, else the
  event's other members as a document in the service's body format (`:content-type` says which);
- a ServiceError raised while iterating ends the stream: `:message-type` exception with
  `:exception-type` when the stream models that error, else `:message-type` error with
  `:error-code` / `:error-message`.

Protocols supply the document format (`EventFormat`) and decide what precedes the events (the
JSON protocol's `initial-response`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .base import resolve_error
from .errors import InternalFailure, ServiceError
from .eventstream import HeaderValue, Int8, Int16, Int32, Int64, encode_message
from .service import ServiceSpec
from .values import to_datetime

if TYPE_CHECKING:
    from botocore.model import Shape

log = logging.getLogger("cloudlet.protocol")

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_INT_HEADERS: dict[str, type[int]] = {"byte": Int8, "short": Int16, "integer": Int32, "long": Int64}


@dataclass(frozen=True, slots=True)
class EventFormat:
    """How a protocol writes structure documents inside events."""

    encode: Callable[[Shape, Any], bytes]  # (structure shape, value) -> document
    content_type: str


def _header(member: Shape, value: Any) -> HeaderValue:
    t = member.type_name
    if t in _INT_HEADERS:
        return _INT_HEADERS[t](value)
    if t == "timestamp":
        return to_datetime(value)
    if t == "boolean":
        return bool(value)
    if t == "blob":
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return str(value)


def _payload(shape: Shape, value: dict[str, Any], fmt: EventFormat) -> tuple[bytes, str | None]:
    """The payload of an event and its content type (None: the event carries no payload)."""
    body: dict[str, Any] = {}
    documented = False
    for name, member in shape.members.items():
        ser = member.serialization
        if ser.get("eventheader"):
            continue
        if ser.get("eventpayload"):
            v = value.get(name)
            if member.type_name == "blob":
                return (v.encode("utf-8") if isinstance(v, str) else bytes(v or b"")), "application/octet-stream"
            if member.type_name == "string":
                return (v or "").encode("utf-8"), "text/plain"
            return fmt.encode(member, v or {}), fmt.content_type
        documented = True
        if value.get(name) is not None:
            body[name] = value[name]
    if not documented:
        return b"", None
    return fmt.encode(shape, body), fmt.content_type


def event_message(stream: Shape, event: dict[str, Any], fmt: EventFormat) -> bytes:
    if len(event) != 1:
        raise ValueError(f"an event of {stream.name} is a dict with one key, not {sorted(event)}")
    ((name, value),) = event.items()
    shape = stream.members.get(name)
    if shape is None or shape.metadata.get("exception"):
        raise ValueError(f"{name!r} is not an event of {stream.name}")
    value = value or {}
    headers: dict[str, HeaderValue] = {":message-type": "event", ":event-type": name}
    payload, content_type = _payload(shape, value, fmt)
    if content_type is not None:
        headers[":content-type"] = content_type
    for member_name, member in shape.members.items():
        if member.serialization.get("eventheader") and value.get(member_name) is not None:
            headers[member_name] = _header(member, value[member_name])
    return encode_message(headers, payload)


def _message_name(shape: Shape) -> str:
    return next((n for n in shape.members if n.lower() == "message"), "message")


def error_message(spec: ServiceSpec, stream: Shape, err: ServiceError, fmt: EventFormat) -> bytes:
    """A modeled exception of the stream, or a plain error message."""
    wire = resolve_error(spec, err)
    for name, member in stream.members.items():
        if member.metadata.get("exception") and {name, member.name} & {err.code, wire.code}:
            doc = {**{k: v for k, v in err.fields.items() if k in member.members}, _message_name(member): err.message}
            return encode_message({":message-type": "exception", ":exception-type": name,
                                   ":content-type": fmt.content_type}, fmt.encode(member, doc))
    return encode_message({":message-type": "error", ":error-code": wire.code, ":error-message": wire.message})


async def _events(source: Any) -> AsyncGenerator[Any, None]:
    if hasattr(source, "__aiter__"):
        async for event in source:
            yield event
    else:
        for event in source:
            yield event


async def message_stream(spec: ServiceSpec, stream: Shape, events: Any, fmt: EventFormat,
                         first: bytes | None = None) -> AsyncIterator[bytes]:
    """The response body: `first` (if any), one message per event, an error message if the
    provider's iterator raises. Closing this closes the provider's iterator."""
    if first is not None:
        yield first
    source = _events(events)
    try:
        async for event in source:
            yield event_message(stream, event, fmt)
    except ServiceError as err:
        yield error_message(spec, stream, err, fmt)
    except Exception:
        log.exception("the %s event stream failed", stream.name)
        yield error_message(spec, stream, InternalFailure("An internal error occurred."), fmt)
    finally:
        await source.aclose()
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
