"""botocore is the oracle for the protocol layer (property-based).

For every operation of every served service (and of the services coming next, so the layer
is ready for them), in every protocol its model lists (cloudwatch: smithy-rpc-v2-cbor, json
and query; a client may speak any of them), hypothesis generates valid inputs; botocore serializes them and our
parser must give the same params back. It generates outputs; we serialize them and
botocore's parser must read them back equal. Every modeled error must reach botocore with
its code, message and status. Examples per operation: CLOUDLET_ROUNDTRIP_EXAMPLES (default 6).
"""

from __future__ import annotations

import os

import pytest
from botocore.exceptions import EventStreamError
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cloudlet.protocol import PROTOCOLS, ServiceError, load_service
from cloudlet.services import PROVIDERS
from tests.support.botocore_oracle import botocore_parse, botocore_request, normalize
from tests.support.shape_strategies import for_events, for_input, for_output

UPCOMING = ["sqs", "sns", "logs", "events", "iam", "apigateway", "apigatewayv2", "stepfunctions", "kinesis",
            "cloudformation", "xray", "ecr", "ecs", "appsync", "secretsmanager", "ssm", "scheduler",
            "dynamodbstreams", "route53", "cloudwatch"]
SERVICES = sorted(PROVIDERS) + UPCOMING
EXAMPLES = int(os.environ.get("CLOUDLET_ROUNDTRIP_EXAMPLES", "6"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.generate], derandomize=True, database=None)


def _protocols(service: str) -> list[str]:
    """The protocols of the service's model that the protocol layer serves."""
    spec = load_service(service)
    return [p for p in spec.protocols if p in PROTOCOLS] or [spec.protocol]


def _service_protocols(services):
    for service in services:
        for protocol in _protocols(service):
            yield pytest.param(service, protocol, id=f"{service}.{protocol}")


def _operations():
    for service in SERVICES:
        spec = load_service(service)
        for protocol in _protocols(service):
            for name in spec.operations:
                yield pytest.param(service, protocol, name, id=f"{service}.{protocol}.{name}")


def _same_route(a, b) -> bool:
    """Operations a server cannot tell apart (s3 ListBuckets / ListDirectoryBuckets)."""
    return a.http == b.http and list(a.input_shape.required_members) == list(b.input_shape.required_members)


@pytest.mark.parametrize("service,protocol,operation", list(_operations()))
def test_request_roundtrip(service, protocol, operation):
    spec = load_service(service)
    op = spec.operations[operation]
    if op.input_shape is None:
        pytest.skip("no input")
    if (op.endpoint or {}).get("hostPrefix"):
        pytest.skip("host-prefixed endpoint: members travel in the host name")
    proto = PROTOCOLS[protocol]

    @SETTINGS
    @given(for_input(op.input_shape))
    def check(params):
        req = botocore_request(protocol, op, params)
        found, state = proto.find_operation(spec, req)
        if found.name != op.name and (op.deprecated or _same_route(found, op)):
            return
        assert found.name == op.name, f"{req.method} {req.path}?{req.query_string} routed to {found.name}"
        got = proto.parse(spec, found, req, state)
        if "ContentLength" in got and "ContentLength" not in params:
            del got["ContentLength"]  # the HTTP layer's own Content-Length header
        assert normalize(got) == normalize(params)

    check()


@pytest.mark.parametrize("service,protocol,operation", list(_operations()))
def test_response_roundtrip(service, protocol, operation):
    spec = load_service(service)
    op = spec.operations[operation]
    if op.output_shape is None:
        pytest.skip("no output")
    if op.deprecated:
        pytest.skip("deprecated operation whose model botocore cannot round-trip")
    proto = PROTOCOLS[protocol]
    # Members the protocol fills in when the result leaves them out: the status code, and for
    # event streams the Content-Type header (application/vnd.amazon.eventstream).
    status_members = [n for n, m in op.output_shape.members.items()
                      if m.serialization.get("location") == "statusCode"
                      or (op.has_event_stream_output and m.serialization.get("name", "").lower() == "content-type")]

    stream = op.output_shape.event_stream_name if op.has_event_stream_output else None
    outputs = for_output(op.output_shape)
    if stream is not None:  # the provider hands over its events as an async iterator
        outputs = st.tuples(outputs, for_events(op.output_shape.members[stream])).map(
            lambda pair: {**pair[0], stream: pair[1]})

    @SETTINGS
    @given(outputs)
    def check(result):
        expected = dict(result)
        if stream is not None:
            result = {**result, stream: _async(result[stream])}
        resp = proto.serialize(spec, op, result, "req-0001")
        got = botocore_parse(protocol, op, resp)
        for name in status_members:
            if name not in result:
                got.pop(name, None)
        assert normalize(got) == normalize(expected)

    check()


async def _async(items):
    for item in items:
        yield item


def _event_stream_operations():
    for service in SERVICES:
        spec = load_service(service)
        for name, op in spec.operations.items():
            if op.has_event_stream_output:
                yield pytest.param(service, name, id=f"{service}.{name}")


@pytest.mark.parametrize("service,operation", list(_event_stream_operations()))
def test_errors_inside_event_streams_reach_botocore(service, operation):
    """A ServiceError raised by the provider's iterator ends the stream: modeled ones as
    exception messages of their type, others as error messages; events before it arrive."""
    spec = load_service(service)
    op = spec.operations[operation]
    name = op.output_shape.event_stream_name
    stream = op.output_shape.members[name]
    first = next(n for n, m in stream.members.items() if not m.metadata.get("exception"))
    modeled = [n for n, m in stream.members.items() if m.metadata.get("exception")]
    for code in [*modeled, "SomethingOdd"]:
        async def events(code=code):
            yield {first: {}}
            raise ServiceError("it broke <&>", code=code)

        resp = PROTOCOLS[spec.protocol].serialize(spec, op, {name: events()}, "req-3")
        received = iter(botocore_parse(spec.protocol, op, resp, lazy=True)[name])
        assert first in next(received)
        with pytest.raises(EventStreamError) as info:
            next(received)
        assert info.value.response["Error"] == {"Code": code, "Message": "it broke <&>"}


@pytest.mark.parametrize("service,protocol", list(_service_protocols(SERVICES)))
def test_modeled_errors_reach_botocore(service, protocol):
    spec = load_service(service)
    proto = PROTOCOLS[protocol]
    op = next(iter(spec.operations.values()))
    seen = set()
    for name, shape in spec.error_shapes.items():
        if shape.name in seen:
            continue
        seen.add(shape.name)
        meta = shape.metadata.get("error", {})
        resp = proto.serialize_error(spec, op, ServiceError("it went wrong <&>", code=shape.name), "req-2")
        parsed = botocore_parse(protocol, op, resp) if resp.body else {}
        error = parsed.get("Error", {})
        # A service whose model lost its query-era codes (SQS) answers them as AWS does, in the query
        # body or the x-amzn-query-error header, and botocore reports that code.
        code, status = spec.quirks.query_errors.get(shape.name, (meta.get("code", shape.name),
                                                                 meta.get("httpStatusCode", 400)))
        assert resp.status == status, name
        if protocol != "rest-xml" or resp.body:
            assert error.get("Code") == code, name
            assert error.get("Message") == "it went wrong <&>", name


@pytest.mark.parametrize("service,protocol", list(_service_protocols(sorted(PROVIDERS))))
def test_unmodeled_errors_keep_code_and_status(service, protocol):
    spec = load_service(service)
    proto = PROTOCOLS[protocol]
    op = next(iter(spec.operations.values()))
    resp = proto.serialize_error(spec, op, ServiceError("nope", code="SomethingOdd", status=418), "r")
    error = botocore_parse(protocol, op, resp)["Error"]
    assert resp.status == 418
    assert error["Code"] == "SomethingOdd"
    assert error["Message"] == "nope"
