"""Event-stream outputs on a small synthetic model: the parts no served model uses yet (typed
event headers, string payloads, modeled exceptions with extra members), botocore as the oracle.
The served models' event streams are covered by test_protocol_roundtrip.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import EventStreamError
from botocore.model import ServiceModel

from cloudlet.protocol import PROTOCOLS, ServiceError
from cloudlet.protocol.eventstream import decode_messages
from cloudlet.protocol.service import ServiceSpec
from tests.support.botocore_oracle import botocore_parse, collect_body

MODEL = {
    "metadata": {"protocol": "rest-json", "apiVersion": "2024-01-01", "endpointPrefix": "demo",
                 "serviceId": "Demo", "signatureVersion": "v4", "uid": "demo-2024-01-01"},
    "operations": {"Watch": {"name": "Watch", "http": {"method": "GET", "requestUri": "/watch"},
                             "output": {"shape": "WatchOutput"}}},
    "shapes": {
        "WatchOutput": {"type": "structure", "payload": "Events", "members": {
            "Events": {"shape": "Events"},
            "Session": {"shape": "Text", "location": "header", "locationName": "x-session"}}},
        "Events": {"type": "structure", "eventstream": True, "members": {
            "Tick": {"shape": "Tick"}, "Note": {"shape": "Note"}, "Done": {"shape": "Done"},
            "Overloaded": {"shape": "Overloaded"}}},
        "Tick": {"type": "structure", "event": True, "members": {
            "Flag": {"shape": "Bool", "eventheader": True}, "Small": {"shape": "Byte", "eventheader": True},
            "Mid": {"shape": "Short", "eventheader": True}, "Count": {"shape": "Int", "eventheader": True},
            "Big": {"shape": "Long", "eventheader": True}, "Raw": {"shape": "Blob", "eventheader": True},
            "Label": {"shape": "Text", "eventheader": True}, "At": {"shape": "Time", "eventheader": True},
            "Body": {"shape": "Blob", "eventpayload": True}}},
        "Note": {"type": "structure", "event": True, "members": {"Text": {"shape": "Text", "eventpayload": True}}},
        "Done": {"type": "structure", "event": True, "members": {"Total": {"shape": "Int"}, "At": {"shape": "Time"}}},
        "Overloaded": {"type": "structure", "exception": True, "members": {
            "message": {"shape": "Text"}, "RetryAfter": {"shape": "Int"}}},
        "Bool": {"type": "boolean"}, "Byte": {"type": "byte"}, "Short": {"type": "short"},
        "Int": {"type": "integer"}, "Long": {"type": "long"}, "Blob": {"type": "blob"},
        "Text": {"type": "string"}, "Time": {"type": "timestamp"},
    },
}
SPEC = ServiceSpec("demo", ServiceModel(MODEL, service_name="demo"))
OP = SPEC.operations["Watch"]
PROTO = PROTOCOLS["rest-json"]
WHEN = datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)


async def _events(*items, error=None):
    for item in items:
        yield item
    if error is not None:
        raise error


def test_typed_headers_string_payloads_and_documents_reach_botocore():
    tick = {"Flag": False, "Small": -3, "Mid": 1234, "Count": -70000, "Big": 2**40, "Raw": b"\x00\x01",
            "Label": "caf\u00e9", "At": WHEN, "Body": b"bytes!"}
    resp = PROTO.serialize(SPEC, OP, {"Session": "s-1", "Events": _events(
        {"Tick": tick}, {"Note": {"Text": "plain \u2713"}}, {"Done": {"Total": 2, "At": WHEN}})}, "rid")
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/vnd.amazon.eventstream"
    got = botocore_parse("rest-json", OP, resp)
    assert got["Session"] == "s-1"
    assert got["Events"] == [{"Tick": tick}, {"Note": {"Text": "plain \u2713"}}, {"Done": {"Total": 2, "At": WHEN}}]


def test_wire_headers_say_what_each_message_is():
    resp = PROTO.serialize(SPEC, OP, {"Events": _events({"Note": {"Text": "x"}}, {"Done": {}})}, "rid")
    note, done = decode_messages(collect_body(resp.body))
    assert note.headers == {":message-type": "event", ":event-type": "Note", ":content-type": "text/plain"}
    assert done.headers[":content-type"] == "application/json" and done.payload == b"{}"


def test_modeled_exception_keeps_its_members():
    def respond():
        return PROTO.serialize(SPEC, OP, {"Events": _events(
            {"Note": {"Text": "before"}}, error=ServiceError("slow down", code="Overloaded", RetryAfter=5))}, "rid")

    messages = decode_messages(collect_body(respond().body))
    assert messages[-1].headers[":message-type"] == "exception"
    assert messages[-1].headers[":exception-type"] == "Overloaded"
    received = iter(botocore_parse("rest-json", OP, respond(), lazy=True)["Events"])
    assert next(received) == {"Note": {"Text": "before"}}
    with pytest.raises(EventStreamError) as info:
        next(received)
    assert info.value.response["Error"] == {"Code": "Overloaded", "Message": "slow down"}
    assert b'"RetryAfter":5' in messages[-1].payload


def test_a_provider_bug_ends_the_stream_with_an_internal_error(caplog):
    resp = PROTO.serialize(SPEC, OP, {"Events": _events({"Nope": {}})}, "rid")
    [message] = decode_messages(collect_body(resp.body))
    assert message.headers == {":message-type": "error", ":error-code": "InternalFailure",
                               ":error-message": "An internal error occurred."}
    assert "'Nope' is not an event of Events" in caplog.text


def test_closing_the_body_closes_the_providers_iterator():
    import asyncio

    closed = []

    async def forever():
        try:
            while True:
                yield {"Note": {"Text": "again"}}
                await asyncio.sleep(0)
        finally:
            closed.append(True)

    async def read_one():
        body = PROTO.serialize(SPEC, OP, {"Events": forever()}, "rid").body
        first = await body.__anext__()
        await body.aclose()
        return first

    assert decode_messages(asyncio.run(read_one()))[0].payload == b"again"
    assert closed == [True]
