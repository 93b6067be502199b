"""Lambda's control-plane helpers without a server: name parsing, paging, zip checks, and
`resolve` (the seam Invoke uses) against a provider driven in-process."""

from __future__ import annotations

import asyncio
import io
import zipfile

import pytest

from cloudlet.config import Settings
from cloudlet.gateway.context import RequestContext
from cloudlet.platform import Platform
from cloudlet.protocol.errors import ServiceError
from cloudlet.services.lambda_ import lifecycle
from cloudlet.services.lambda_.code import check_zip
from cloudlet.services.lambda_.functions import ResolvedFunction, choose_version, function_key, resolve
from cloudlet.services.lambda_.invoke_configs import event_invoke_config
from cloudlet.services.lambda_.names import FunctionRef, split_function_name
from cloudlet.services.lambda_.paging import decode_marker, paginate
from cloudlet.services.lambda_.urls import lookup_url

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"


def make_zip(text: str = "def handler(e, c):\n    return e\n") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("handler.py", text)
    return buf.getvalue()


@pytest.mark.parametrize("value, expected", [
    ("fn", ("fn", None, None, None)),
    ("fn:prod", ("fn", "prod", None, None)),
    ("fn:$LATEST", ("fn", "$LATEST", None, None)),
    ("123456789012:function:fn", ("fn", None, "123456789012", None)),
    ("arn:aws:lambda:eu-west-1:123456789012:function:fn:7", ("fn", "7", "123456789012", "eu-west-1")),
    ("arn:aws:lambda:us-gov-west-1:123456789012:function:fn", ("fn", None, "123456789012", "us-gov-west-1")),
    ("bad name", None),
    ("fn:a:b", None),
])
def test_split_function_name(value, expected):
    assert split_function_name(value) == expected


def test_paginate_round_trip_and_bad_marker():
    items = list(range(7))
    seen, marker = [], None
    while True:
        page, marker = paginate(items, lambda i: i, marker, 3)
        seen += page
        if marker is None:
            break
    assert seen == items
    page, marker = paginate(items[::-1], lambda i: i, None, 5, descending=True)
    assert page == [6, 5, 4, 3, 2] and paginate(items[::-1], lambda i: i, marker, 5, descending=True)[0] == [1, 0]
    with pytest.raises(ServiceError) as err:
        decode_marker("%%%")
    assert err.value.code == "InvalidParameterValueException"


def test_check_zip():
    check_zip(make_zip())
    with pytest.raises(ServiceError) as err:
        check_zip(b"PK\x03\x04 broken")
    assert err.value.message.startswith("Could not unzip uploaded file.")


def test_choose_version():
    resolved = ResolvedFunction(account=ACCOUNT, region="us-east-1", name="f", arn="arn", version="1", alias="live",
                                configuration={}, code_digest=None, routing={"2": 0.25})
    assert choose_version(resolved, 0.1) == "2"
    assert choose_version(resolved, 0.5) == "1"


@pytest.fixture(scope="module")
def platform():
    p = Platform(Settings(ephemeral=True))
    yield p
    p.close()


def call(platform, operation: str, params: dict, account: str = ACCOUNT) -> dict:
    from cloudlet.services.provider import snake_case

    ctx = RequestContext(account=account, region="us-east-1", request_id="r", service="lambda", operation=operation,
                         principal=f"arn:aws:iam::{account}:root")
    provider = platform.providers["lambda"]
    if operation in _CHANGES:  # the change alone: the test carries out its preparation itself (ready)
        return _CHANGES[operation](provider, ctx, params)
    return getattr(provider, snake_case(operation))(ctx, params)


# The stored changes of the operations whose API method also prepares the function before it
# answers (provider.py): called without that, the test sees Pending / InProgress.
_CHANGES = {
    "CreateFunction": lambda provider, ctx, params: lifecycle.create_function(provider, ctx, params),
    "UpdateFunctionCode": lambda provider, ctx, params: lifecycle.update_function_code(
        provider, ctx, provider._ref(ctx, params, qualified=False), params),
}


def ready(platform, name: str) -> None:
    """Carry out the preparation a change asked for (a running server's outbox worker does)."""
    record = platform.store.get_json(function_key(ACCOUNT, "us-east-1", name))
    preparations = platform.providers["lambda"].preparations
    asyncio.run(preparations.prepare(FunctionRef(ACCOUNT, "us-east-1", name, None), record["revision"]))


def test_resolve(platform):
    store = platform.store
    data = make_zip()
    call(platform, "CreateFunction", {"FunctionName": "f", "Runtime": "python3.12", "Role": ROLE,
                                      "Handler": "handler.handler", "Code": {"ZipFile": data}})
    assert resolve(store, ACCOUNT, "us-east-1", "f").configuration["State"] == "Pending"
    ready(platform, "f")
    latest = resolve(store, ACCOUNT, "us-east-1", "f")
    assert latest.configuration["State"] == "Active"
    assert (latest.name, latest.version, latest.alias) == ("f", "$LATEST", None)
    assert latest.arn == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f"
    assert platform.blobs.read(latest.code_digest) == data
    assert latest.configuration["Handler"] == "handler.handler" and latest.layer_digests == []

    call(platform, "PublishVersion", {"FunctionName": "f"})
    assert resolve(store, ACCOUNT, "us-east-1", "f", "1").revision == latest.revision != ""
    call(platform, "UpdateFunctionCode", {"FunctionName": "f", "ZipFile": make_zip("x = 2\n")})
    # While the update is in progress, invocations run the previous code and configuration.
    during = resolve(store, ACCOUNT, "us-east-1", "f")
    assert (during.revision, during.code_digest) == (latest.revision, latest.code_digest)
    assert during.configuration["LastUpdateStatus"] == "Successful"
    ready(platform, "f")
    after = resolve(store, ACCOUNT, "us-east-1", "f")
    assert after.code_digest != latest.code_digest and after.configuration["LastUpdateStatus"] == "Successful"
    call(platform, "PublishVersion", {"FunctionName": "f"})
    call(platform, "CreateAlias", {"FunctionName": "f", "Name": "live", "FunctionVersion": "1",
                                   "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.5}}})
    call(platform, "PutFunctionConcurrency", {"FunctionName": "f", "ReservedConcurrentExecutions": 5})

    v1 = resolve(store, ACCOUNT, "us-east-1", "f", "1")
    assert v1.version == "1" and v1.code_digest == latest.code_digest and v1.reserved_concurrency == 5
    alias = resolve(store, ACCOUNT, "us-east-1", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f:live")
    assert (alias.version, alias.alias, alias.routing) == ("1", "live", {"2": 0.5})
    assert alias.arn.endswith(":function:f:live") and alias.configuration["Version"] == "1"
    assert resolve(store, ACCOUNT, "us-east-1", "f:2").code_digest != latest.code_digest
    assert resolve(store, ACCOUNT, "us-east-1", "f").revision != latest.revision

    for name, qualifier, message in [
        ("nope", None, f"Function not found: arn:aws:lambda:us-east-1:{ACCOUNT}:function:nope:$LATEST"),
        ("f", "9", f"Function not found: arn:aws:lambda:us-east-1:{ACCOUNT}:function:f:9"),
        ("f", "gone", f"Function not found: arn:aws:lambda:us-east-1:{ACCOUNT}:function:f:gone"),
    ]:
        with pytest.raises(ServiceError) as err:
            resolve(store, ACCOUNT, "us-east-1", name, qualifier)
        assert (err.value.code, err.value.message) == ("ResourceNotFoundException", message)
    with pytest.raises(ServiceError) as err:
        resolve(store, ACCOUNT, "us-east-1", "f:1", "2")
    assert err.value.code == "InvalidParameterValueException"


def test_event_invoke_config_and_url_lookup(platform):
    call(platform, "CreateFunction", {"FunctionName": "g", "Runtime": "python3.12", "Role": ROLE,
                                      "Handler": "handler.handler", "Code": {"ZipFile": make_zip()}})
    call(platform, "PutFunctionEventInvokeConfig", {"FunctionName": "g", "MaximumRetryAttempts": 0})
    config = event_invoke_config(platform.store, ACCOUNT, "us-east-1", "g")
    assert config["MaximumRetryAttempts"] == 0
    assert event_invoke_config(platform.store, ACCOUNT, "us-east-1", "g", "1") is None

    url = call(platform, "CreateFunctionUrlConfig", {"FunctionName": "g", "AuthType": "NONE"})["FunctionUrl"]
    url_id = url.split("//")[1].split(".")[0]
    assert lookup_url(platform.store, url_id) == {"account": ACCOUNT, "region": "us-east-1", "function": "g",
                                                  "qualifier": "$LATEST", "AuthType": "NONE"}
    call(platform, "DeleteFunction", {"FunctionName": "g"})
    assert lookup_url(platform.store, url_id) is None


def test_account_concurrency_limit_comes_from_settings():
    from dataclasses import fields

    if "lambda_concurrency_limit" not in {f.name for f in fields(Settings)}:
        pytest.skip("this build has no lambda_concurrency_limit setting")
    p = Platform(Settings(ephemeral=True, lambda_concurrency_limit=200))
    try:
        limit = call(p, "GetAccountSettings", {})["AccountLimit"]
        assert (limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]) == (200, 200)
        call(p, "CreateFunction", {"FunctionName": "h", "Runtime": "python3.12", "Role": ROLE,
                                   "Handler": "handler.handler", "Code": {"ZipFile": make_zip()}})
        with pytest.raises(ServiceError) as err:
            call(p, "PutFunctionConcurrency", {"FunctionName": "h", "ReservedConcurrentExecutions": 101})
        assert err.value.message.endswith("below its minimum value of [100].")
        call(p, "PutFunctionConcurrency", {"FunctionName": "h", "ReservedConcurrentExecutions": 100})
        assert call(p, "GetAccountSettings", {})["AccountLimit"]["UnreservedConcurrentExecutions"] == 100
    finally:
        p.close()
