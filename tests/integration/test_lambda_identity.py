"""Functions run with credentials of their execution role, as on AWS: a session of the role named
after the function ("ASIA..." key, secret, session token), which cloudlet itself accepts (the
function's account, the assumed-role ARN as caller, signatures checked with the session's secret)."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import Server

HANDLER = '''
import os
import boto3
def handler(event, context):
    creds = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    ident = boto3.client("sts").get_caller_identity()
    ident.pop("ResponseMetadata", None)
    return {"creds": creds, "identity": ident}
'''
OTHER_KEY = "AKIAIDENTITYTESTACCT"  # a key nobody configured: an account derived from it


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def deploy(lam, role: str) -> str:
    name = f"ident-{uuid.uuid4().hex[:10]}"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Timeout=30,
                        Code={"ZipFile": make_zip({"app.py": HANDLER})})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def run(lam, name: str) -> dict:
    resp = lam.invoke(FunctionName=name, Payload=b"{}")
    out = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, out
    return out


def sts_with(srv: Server, key: str, secret: str, token: str | None):
    return boto3.client("sts", endpoint_url=srv.url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, aws_session_token=token,
                        config=Config(retries={"max_attempts": 1}))


def check_identity(out: dict, *, account: str, role_name: str, name: str) -> None:
    creds, ident = out["creds"], out["identity"]
    assert re.fullmatch(r"ASIA[A-Z0-9]{16}", creds["AWS_ACCESS_KEY_ID"])
    assert len(creds["AWS_SECRET_ACCESS_KEY"]) == 40
    assert creds["AWS_SESSION_TOKEN"] and creds["AWS_SESSION_TOKEN"] != "test"
    assert ident["Account"] == account
    assert ident["Arn"] == f"arn:aws:sts::{account}:assumed-role/{role_name}/{name}"
    role_id, _, session = ident["UserId"].partition(":")
    assert re.fullmatch(r"AROA[A-Z0-9]{16}", role_id) and session == name


def test_function_runs_as_its_execution_role(server):
    lam = server.client("lambda")
    name = deploy(lam, "arn:aws:iam::000000000000:role/service-role/ident-role")
    try:
        out = run(lam, name)
        check_identity(out, account="000000000000", role_name="ident-role", name=name)
        # Anyone holding the credentials is that session, and the role's id is stable.
        creds = out["creds"]
        outside = sts_with(server, creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"],
                           creds["AWS_SESSION_TOKEN"]).get_caller_identity()
        assert {k: outside[k] for k in ("Account", "Arn", "UserId")} == out["identity"]
        # The plain test key is still the account's root.
        root = server.client("sts").get_caller_identity()
        assert root["Arn"] == "arn:aws:iam::000000000000:root" and root["UserId"] == "000000000000"
    finally:
        lam.delete_function(FunctionName=name)


def test_role_id_follows_the_role_and_sessions_follow_the_function(server):
    lam = server.client("lambda")
    a = deploy(lam, "arn:aws:iam::000000000000:role/ident-shared")
    b = deploy(lam, "arn:aws:iam::000000000000:role/ident-shared")
    c = deploy(lam, "arn:aws:iam::000000000000:role/ident-other")
    try:
        ia, ib, ic = (run(lam, n)["identity"] for n in (a, b, c))
        assert ia["UserId"].split(":")[0] == ib["UserId"].split(":")[0] != ic["UserId"].split(":")[0]
        assert ia["Arn"].endswith(f"/ident-shared/{a}") and ib["Arn"].endswith(f"/ident-shared/{b}")
        assert ic["Arn"].endswith(f"/ident-other/{c}")
    finally:
        for n in (a, b, c):
            lam.delete_function(FunctionName=n)


def test_function_of_another_account_is_in_that_account(server):
    account = server.client("sts", key=OTHER_KEY).get_caller_identity()["Account"]
    assert account != "000000000000"
    lam = server.client("lambda", key=OTHER_KEY)
    name = deploy(lam, f"arn:aws:iam::{account}:role/ident-role")
    try:
        out = run(lam, name)
        check_identity(out, account=account, role_name="ident-role", name=name)
    finally:
        lam.delete_function(FunctionName=name)


def test_unknown_session_key_is_not_a_session(server):
    fake = sts_with(server, "ASIA" + "A" * 16, "x" * 40, "token").get_caller_identity()
    assert ":assumed-role/" not in fake["Arn"]


@pytest.fixture(scope="module")
def enforced():
    srv = Server(env={"CLOUDLET_ENFORCE_SIGV4": "1"}).start()
    yield srv
    srv.stop()


def test_session_credentials_are_checked_when_signatures_are_enforced(enforced):
    lam = enforced.client("lambda")
    name = deploy(lam, "arn:aws:iam::000000000000:role/ident-role")
    try:
        out = run(lam, name)  # the function's own signed call to STS passed
        check_identity(out, account="000000000000", role_name="ident-role", name=name)
        creds = out["creds"]
        key, secret, token = creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"], creds["AWS_SESSION_TOKEN"]
        assert sts_with(enforced, key, secret, token).get_caller_identity()["Arn"] == out["identity"]["Arn"]
        tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
        with pytest.raises(ClientError) as err:
            sts_with(enforced, key, tampered, token).get_caller_identity()
        assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        with pytest.raises(ClientError) as err:
            sts_with(enforced, "ASIA" + "B" * 16, secret, token).get_caller_identity()
        assert err.value.response["Error"]["Code"] == "InvalidClientTokenId"
        for wrong in ("not-the-token", None):  # the session's key signs with the session's token
            with pytest.raises(ClientError) as err:
                sts_with(enforced, key, secret, wrong).get_caller_identity()
            assert err.value.response["Error"]["Code"] == "InvalidClientTokenId"
            assert err.value.response["Error"]["Message"] == "The security token included in the request is invalid."
        # Other services take them too (json protocol here).
        ddb = boto3.client("dynamodb", endpoint_url=enforced.url, region_name="us-east-1", aws_access_key_id=key,
                           aws_secret_access_key=secret, aws_session_token=token)
        assert "TableNames" in ddb.list_tables()
    finally:
        lam.delete_function(FunctionName=name)
