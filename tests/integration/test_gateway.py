"""The gateway pipeline end to end, with real clients: what providers and routes are handed.

These tests start the real server in this process (tests/support/inprocess.py) so they can
add what a subprocess cannot: a provider method that records its context and body, a route.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from cloudlet.gateway.routes import Route
from cloudlet.protocol import HttpResponse
from tests.support.inprocess import InProcessServer


@pytest.fixture(scope="module")
def srv():
    server = InProcessServer().start()
    yield server
    server.stop()


def test_routes_get_identity_and_authentication_from_the_gateway(srv):
    seen = []

    async def whoami(ctx):
        seen.append(ctx)
        return HttpResponse(200, {"Content-Type": "application/json"},
                            json.dumps({"account": ctx.account, "authenticated": ctx.authenticated,
                                        "params": ctx.route_params}).encode())

    srv.gateway.routes.add(Route("test-whoami", host="{name}.whoami.*", identity=True, authenticate=True,
                                 handler=whoami))
    req = urllib.request.Request(srv.url + "/anything", headers={"Host": "Alice.whoami.localhost:4566"})
    with urllib.request.urlopen(req, timeout=10) as r:
        anonymous = json.loads(r.read())
    assert anonymous == {"account": "000000000000", "authenticated": False, "params": {"name": "alice"}}
    assert seen[-1].principal == ""
    signed = {"Host": "bob.whoami.localhost", "Authorization": (
        "AWS4-HMAC-SHA256 Credential=AKIAOTHER/20250101/eu-west-1/execute-api/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64)}
    with urllib.request.urlopen(urllib.request.Request(srv.url + "/", headers=signed), timeout=10) as r:
        caller = json.loads(r.read())
    assert caller["authenticated"] is True  # enforcement is off: a credential scope is taken at its word
    assert caller["account"] != "000000000000" and seen[-1].region == "eu-west-1"


def test_metrics_count_requests_by_operation(srv):
    sts = srv.client("sts")
    with urllib.request.urlopen(srv.url + "/_cloudlet/metrics", timeout=10) as r:
        before = json.loads(r.read())["requests"].get("sts", {}).get("GetCallerIdentity", {}).get("requests", 0)
    for _ in range(3):
        sts.get_caller_identity()
    with urllib.request.urlopen(srv.url + "/_cloudlet/metrics", timeout=10) as r:
        after = json.loads(r.read())["requests"]["sts"]["GetCallerIdentity"]
    assert after["requests"] == before + 3 and after["server_errors"] == 0 and after["seconds"] > 0


def test_oversized_bodies_get_each_operations_own_error(srv):
    lam = srv.client("lambda")
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName="nope", Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    resp = err.value.response
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert resp["Error"]["Code"] == "RequestTooLargeException"
    assert resp["Error"]["Message"] == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
