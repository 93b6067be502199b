"""The AWS SDK protocol compliance cases, run against the protocol layer from the server's side.

The cases ship with botocore (`tests/unit/protocols/`; a copy lives in
`shared/conformance/botocore-protocols/` beside the repository). Each input case is an
operation's params plus the exact request a client sends for them: we parse that request and
must get the params back. Each output case is a result plus a response a client must read it
from: we serialize the result (or raise the error) ourselves, botocore's parser reads our
response, and must get the result (or error code, message and modeled fields) back.

Covered: query, ec2, json (1.1), json_1_0, json_1_0-query-compatible, rest-json, rest-xml,
smithy-rpc-v2-cbor (plain, query-compatible and not).

Cases a server cannot pass are listed in XFAIL with the reason: client-only behaviour
(idempotency-token auto-fill, endpoint hosts, request compression), points where the smithy
case and botocore disagree (we read what botocore sends), and results botocore's parser cannot
read back at all. The marks are strict, so a case that starts passing must leave the list.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase

import pytest

from cloudlet.protocol import PROTOCOLS, ServiceError
from tests.support.conformance import (
    CASES_DIR,
    Case,
    canonical,
    cases_dir,
    client_parse,
    load_cases,
    request_for,
    to_python,
)

# Case-id patterns (fnmatch) -> why the case cannot pass against a server read by botocore.
XFAIL: dict[str, str] = {
    # Client-only behaviour: the request on the wire does not carry what the case checks.
    "*:input:Test cases for QueryIdempotencyTokenAutoFill operation:0":
        "idempotency-token auto-fill is client-side: the filled-in token is not in the params",
    "*:input:Test cases for PutWithContentEncoding operation:*":
        "request compression is client-side: the case gives a Content-Encoding header but no body",
    "json_1_0:input:Test cases for EndpointOperation operation:0":
        "the case pins only the endpoint host: its request has no X-Amz-Target",
    "json_1_0:input:Test cases for EndpointWithHostLabelOperation operation:0":
        "the case pins only the endpoint host: its request has no X-Amz-Target",
    "json_1_0:input:Test cases for HostWithPathOperation operation:0":
        "the case pins only the endpoint host: its request has no X-Amz-Target",
    "rest-json:input:Test cases for HostWithPathOperation operation:0":
        "the client's endpoint has a base path (/custom); a server is not mounted under it",
    "*:input:Test cases for QueryPrecedence operation:0":
        "the client drops map entries a named query param overrides; the server cannot see them",
    # Where smithy and botocore disagree we read what botocore sends.
    "rest-json:input:Test cases for AllQueryStringTypes operation:[02-6]":
        "wants named params repeated in the httpQueryParams map (its rest-xml twin does not); "
        "as botocore, the map holds only unbound params",
    "rest-json:input:Test cases for MediaTypeHeader operation:0":
        "smithy sends a mediaType header as base64 of the raw text, botocore as base64 JSON",
    "rest-xml:input:Test cases for BodyWithXmlName operation:0":
        "botocore names a nested element after its shape's xmlName (<Hello>), smithy after the member",
    # botocore's parser cannot read these results, not even from the case's own response.
    "*:output:Test cases for XmlLists operation:0":
        "botocore finds flattened list items by the member's xmlName: two such lists collide",
    "*:output:Test cases for HttpPayloadTraits operation:1":
        "botocore reads an absent blob payload as b''",
    "rest-*:output:Test cases for HttpPayloadWithUnion operation:1":
        "botocore rejects a response whose union payload is unset",
    "rest-json:output:Test cases for InputAndOutputWithHeaders operation:1":
        "botocore splits list headers at every comma, quoted or not",
    "rest-json:output:Test cases for InputAndOutputWithHeaders operation:4":
        "botocore splits list headers at every comma, so HTTP dates (which hold one) break",
    "rest-xml:output:Test cases for InputAndOutputWithHeaders operation:3":
        "botocore splits list headers at every comma, so HTTP dates (which hold one) break",
    # A server cannot do it.
    "rest-json:output:Test cases for HttpPrefixHeadersInResponse operation:0":
        "an empty-prefix header map collects every response header, and ours carry x-amzn-RequestId",
}


def _xfail_reason(case_id: str) -> str | None:
    return next((reason for pattern, reason in XFAIL.items() if fnmatchcase(case_id, pattern)), None)


def _params(kind: str) -> list:
    out = []
    for case in load_cases(kind):
        reason = _xfail_reason(case.id)
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def _where(case: Case) -> str:
    return f"case {case.case.get('id')}: {case.case.get('description', '')}"


def test_cases_present():
    if cases_dir() is None:
        if os.environ.get("CI"):
            pytest.fail(f"protocol conformance cases missing in CI: {CASES_DIR}")
        pytest.skip(f"protocol conformance cases not found at {CASES_DIR}")
    assert load_cases("input") and load_cases("output")


def test_xfail_list_is_current():
    """Every XFAIL pattern still names a case (passing ones fail by the strict marks)."""
    if cases_dir() is None:
        pytest.skip("no cases")
    ids = [c.id for kind in ("input", "output") for c in load_cases(kind)]
    assert [p for p in XFAIL if not any(fnmatchcase(i, p) for i in ids)] == []


@pytest.mark.parametrize("case", _params("input"))
def test_input(case: Case):
    spec, op = case.spec, case.operation
    proto = PROTOCOLS[spec.protocol]
    req = request_for(case)
    found, state = proto.find_operation(spec, req)
    assert found.name == op.name, _where(case)
    params = proto.parse(spec, found, req, state)
    shape = op.input_shape
    expected = case.case["params"]
    assert canonical(shape, params, True) == canonical(shape, expected, True), _where(case)


@pytest.mark.parametrize("case", _params("output"))
def test_output(case: Case):
    spec, op = case.spec, case.operation
    proto = PROTOCOLS[spec.protocol]
    if "error" in case.case:
        _check_error(case)
        return
    shape = op.output_shape
    resp = proto.serialize(spec, op, to_python(shape, case.case["result"]), "req-1")
    assert resp.status == case.case["response"]["status_code"], _where(case)
    parsed = client_parse(spec.protocol, op, resp)
    assert canonical(shape, parsed) == canonical(shape, case.case["result"]), _where(case)


def _check_error(case: Case):
    """Raise the case's error through serialize_error; botocore must read back its code,
    message and modeled fields."""
    spec, op = case.spec, case.operation
    code = case.case["errorCode"]
    fields = dict(case.case["error"])
    message_key = next((k for k in fields if k.lower() == "message"), None)
    message = case.case.get("errorMessage") or fields.pop(message_key, None) or ""
    fields.pop(message_key, None)
    error_shape = spec.model.shape_for_error_code(code) or spec.error_shapes.get(code)
    err = ServiceError(message, code=code, **to_python(error_shape, fields))
    resp = PROTOCOLS[spec.protocol].serialize_error(spec, op, err, "req-1")
    parsed = client_parse(spec.protocol, op, resp)
    assert parsed["Error"]["Code"] == code, _where(case)
    # An empty message may come back as "", None (an empty <Message/>) or not at all.
    assert (parsed["Error"].get("Message") or "") == case.case.get("errorMessage", ""), _where(case)
    expected = canonical(error_shape, case.case["error"])
    got = canonical(error_shape, {k: v for k, v in parsed.items() if k != "Error"})
    assert got == expected, _where(case)
