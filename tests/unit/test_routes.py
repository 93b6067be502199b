"""Data-plane route matching (cloudlet/gateway/routes.py)."""

from __future__ import annotations

import pytest

from cloudlet.gateway.routes import HostPattern, Route, RouteTable
from cloudlet.protocol import HttpRequest, HttpResponse


async def ok(ctx):
    return HttpResponse(200)


def req(path="/", host="localhost:4566"):
    return HttpRequest("GET", path, "", {}, b"", host)


def test_host_patterns_capture_labels_and_ignore_the_port():
    p = HostPattern("{url_id}.lambda-url.{region}.*")
    assert p.literal == ".lambda-url."
    assert p.match("abc123.lambda-url.us-east-1.localhost:4566") == {"url_id": "abc123", "region": "us-east-1"}
    assert p.match("abc123.lambda-url.eu-west-1.on.aws") == {"url_id": "abc123", "region": "eu-west-1"}
    assert p.match("a.b.lambda-url.us-east-1.localhost") is None  # {url_id} is one label
    assert p.match("abc.lambda-url.localhost") is None              # region and a domain are both needed
    assert p.match("127.0.0.1:4566") is None
    exact = HostPattern("api.example.com")
    assert exact.match("api.example.com:80") == {} and exact.match("xapi.example.com") is None
    with pytest.raises(ValueError):
        HostPattern("*.example.com")


def test_host_routes_first_then_longest_prefix():
    table = RouteTable()
    table.add(Route("platform", path_prefix="/_cloudlet/", handler=ok))
    table.add(Route("code", path_prefix="/_cloudlet/lambda/code/", handler=ok))
    table.add(Route("urls", host="{id}.lambda-url.{region}.*", handler=ok))
    table.add(Route("scoped", host="{id}.api.*", path_prefix="/v1/", handler=ok))

    def name(r):
        found = table.match(r)
        return found[0].name if found else None
    assert name(req("/_cloudlet/health")) == "platform"
    assert name(req("/_cloudlet/lambda/code/x.zip")) == "code"
    assert name(req("/_cloudlet/health", host="f.lambda-url.us-east-1.localhost")) == "urls"
    assert name(req("/v1/x", host="a.api.localhost")) == "scoped"
    assert name(req("/v2/x", host="a.api.localhost")) is None  # both host and prefix must match
    assert name(req("/2015-03-31/functions")) is None             # an AWS API call
    assert [r.name for r in table] == ["urls", "scoped", "code", "platform"]


def test_a_route_must_say_where_and_what():
    with pytest.raises(ValueError):
        Route("nowhere", handler=ok)
    with pytest.raises(ValueError):
        Route("nothing", path_prefix="/x")
