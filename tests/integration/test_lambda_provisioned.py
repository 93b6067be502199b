"""Provisioned concurrency through unmodified boto3 and the AWS CLI: configs on aliases and
published versions as AWS answers them (IN_PROGRESS -> READY, FAILED when init raises), the
environments really initialized ahead of invocations (AWS_LAMBDA_INITIALIZATION_TYPE, no Init
Duration), used first, spilled over when busy, replaced when one dies, released by a delete, and
re-established by a restarted server."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import Server
from tests.support.aws import aws_error as error
from tests.support.aws import created_functions

KEY = "AKIALAMBDAPROVISION1"  # an account of its own on the shared server
PUT_LATEST = "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
NOT_ALIAS_OR_VERSION = "The function resource provided must be an alias or a published version."

APP = """
import os, time, uuid
ENV_ID = uuid.uuid4().hex          # one per execution environment, made by its init
INIT_TYPE = os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]
INIT_AT = time.time()
{extra}

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("crash"):
        os._exit(3)
    return {{"env": ENV_ID, "init_type": INIT_TYPE, "init_at": INIT_AT}}
"""


def make_zip(extra: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("app.py", APP.format(extra=extra))
        archive.writestr("nonce.txt", uuid.uuid4().hex)
    return buf.getvalue()


@pytest.fixture(scope="module")
def lam(server):
    return server.client("lambda", key=KEY)


@pytest.fixture(scope="module")
def role(server) -> str:
    account = server.client("sts", key=KEY).get_caller_identity()["Account"]
    return f"arn:aws:iam::{account}:role/lambda-role"


@pytest.fixture
def names(lam):
    yield from created_functions(lam)


def create(lam, role: str, names: list[str] | None, extra: str = "", versions: int = 1) -> str:
    name = f"pc-{uuid.uuid4().hex[:10]}"
    if names is not None:
        names.append(name)
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip(extra)})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    for i in range(versions):
        if i:
            lam.update_function_configuration(FunctionName=name, Description=f"v{i + 1}")
            lam.get_waiter("function_updated_v2").wait(FunctionName=name,
                                                       WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        lam.publish_version(FunctionName=name)
    return name


def wait_status(lam, name: str, qualifier: str, wanted: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        out = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if out["Status"] == wanted or time.monotonic() > deadline:
            assert out["Status"] == wanted, out
            return out
        time.sleep(0.1)


def invoke(lam, name: str, qualifier: str, **event) -> tuple[dict, str]:
    out = lam.invoke(FunctionName=name, Qualifier=qualifier, Payload=json.dumps(event).encode(), LogType="Tail")
    assert "FunctionError" not in out, out
    return json.loads(out["Payload"].read()), base64.b64decode(out["LogResult"]).decode()


# ---- configs, statuses and the environments ---------------------------------------------------

def test_put_answers_in_progress_then_ready_and_the_environments_are_initialized_before_any_invoke(lam, role, names):
    name = create(lam, role, names)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    put = lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live",
                                                 ProvisionedConcurrentExecutions=2)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (put["Status"], put["RequestedProvisionedConcurrentExecutions"],
            put["AllocatedProvisionedConcurrentExecutions"], put["AvailableProvisionedConcurrentExecutions"]) == (
        "IN_PROGRESS", 2, 0, 0)
    assert time.strptime(put["LastModified"], "%Y-%m-%dT%H:%M:%S+0000")  # AWS's format, no milliseconds
    ready = wait_status(lam, name, "live", "READY")
    ready_at = time.time()
    assert (ready["AllocatedProvisionedConcurrentExecutions"], ready["AvailableProvisionedConcurrentExecutions"],
            ready["LastModified"]) == (2, 2, put["LastModified"])
    assert "StatusReason" not in ready

    # Two concurrent invocations: each gets one of the two environments initialized beforehand.
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: invoke(lam, name, "live", sleep=0.5), range(2)))
    envs = {payload["env"] for payload, _ in results}
    assert len(envs) == 2
    for payload, tail in results:
        assert payload["init_type"] == "provisioned-concurrency"
        assert payload["init_at"] < ready_at  # init ran before READY, not at the invocation
        report = next(line for line in tail.splitlines() if line.startswith("REPORT"))
        assert "Init Duration" not in report
    # The version behind the alias is served by the same environments, again without init.
    again, _ = invoke(lam, name, "1")
    assert again["env"] in envs and again["init_type"] == "provisioned-concurrency"

    # Three at once: the third spills over to an on-demand environment, which runs its init then.
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: invoke(lam, name, "live", sleep=1.0), range(3)))
    kinds = sorted(payload["init_type"] for payload, _ in results)
    assert kinds == ["on-demand", "provisioned-concurrency", "provisioned-concurrency"]
    spilled = next(tail for payload, tail in results if payload["init_type"] == "on-demand")
    assert "Init Duration" in spilled

    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert listed == [{"FunctionArn": f"{lam.get_function(FunctionName=name)['Configuration']['FunctionArn']}:live",
                       **{k: v for k, v in ready.items() if k != "ResponseMetadata"}}]

    # Delete releases them: the next invocation has no provisioned environment to take.
    assert lam.delete_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error(lam.get_provisioned_concurrency_config, FunctionName=name, Qualifier="live")["code"] == (
        "ProvisionedConcurrencyConfigNotFoundException")
    deadline = time.monotonic() + 5
    while True:
        payload, _ = invoke(lam, name, "live")
        if payload["init_type"] == "on-demand" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert payload["init_type"] == "on-demand" and payload["env"] not in envs


def test_a_provisioned_environment_that_dies_is_replaced(lam, role, names):
    name = create(lam, role, names)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    wait_status(lam, name, "1", "READY")
    first, _ = invoke(lam, name, "1")
    crashed = lam.invoke(FunctionName=name, Qualifier="1", Payload=b'{"crash": true}')
    assert crashed["FunctionError"] == "Unhandled"
    time.sleep(0.6)  # the Provisioner sees the loss (IN_PROGRESS) and the replacement come up
    wait_status(lam, name, "1", "READY")
    second, tail = invoke(lam, name, "1")
    assert second["init_type"] == "provisioned-concurrency" and second["env"] != first["env"]
    assert "Init Duration" not in tail


def test_an_init_that_raises_fails_the_allocation(lam, role, names):
    name = create(lam, role, names, extra="raise RuntimeError('no database')")
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    failed = wait_status(lam, name, "1", "FAILED")
    assert failed["StatusReason"] == "FUNCTION_ERROR_INIT_FAILURE"
    assert failed["AllocatedProvisionedConcurrentExecutions"] == 0
    # Put again: tried again from scratch (and fails again: the version's code cannot change).
    again = lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1",
                                                   ProvisionedConcurrentExecutions=1)
    assert again["Status"] == "IN_PROGRESS" and "StatusReason" not in again
    wait_status(lam, name, "1", "FAILED")


def test_list_pages_with_marker_and_max_items(lam, role, names):
    name = create(lam, role, names, versions=3)
    for version in ("1", "2", "3"):
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    arns, marker = [], None
    while True:
        page = lam.list_provisioned_concurrency_configs(FunctionName=name, MaxItems=2,
                                                        **({"Marker": marker} if marker else {}))
        assert len(page["ProvisionedConcurrencyConfigs"]) <= 2
        arns += [c["FunctionArn"] for c in page["ProvisionedConcurrencyConfigs"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert [a.rsplit(":", 1)[1] for a in arns] == ["1", "2", "3"]
    paginated = lam.get_paginator("list_provisioned_concurrency_configs").paginate(FunctionName=name)
    assert sum(len(p["ProvisionedConcurrencyConfigs"]) for p in paginated) == 3
    # Deleting the function drops its configs (and releases their environments).
    lam.delete_function(FunctionName=name)
    names.remove(name)
    assert error(lam.list_provisioned_concurrency_configs, FunctionName=name)["code"] == "ResourceNotFoundException"


# ---- errors ------------------------------------------------------------------------------------

def test_errors_as_aws_answers_them(server, lam, role, names):
    name = create(lam, role, names)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.create_alias(FunctionName=name, Name="latest", FunctionVersion="$LATEST")
    lam.create_alias(FunctionName=name, Name="one", FunctionVersion="1")
    put = lam.put_provisioned_concurrency_config

    def user(code: str, status: int, message: str) -> dict:
        return {"code": code, "status": status, "message": message, "type": "User"}

    invalid = "InvalidParameterValueException"
    assert error(put, FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1) == user(
        invalid, 400, PUT_LATEST)
    assert error(put, FunctionName=name, Qualifier="latest", ProvisionedConcurrentExecutions=1) == user(
        invalid, 400, PUT_LATEST)
    for op in (lam.get_provisioned_concurrency_config, lam.delete_provisioned_concurrency_config):
        assert error(op, FunctionName=name, Qualifier="$LATEST") == user(invalid, 400, NOT_ALIAS_OR_VERSION)
    missing = f"{arn}-gone"
    assert error(put, FunctionName=f"{name}-gone", Qualifier="1", ProvisionedConcurrentExecutions=1) == user(
        "ResourceNotFoundException", 404, f"Function not found: {missing}:1")
    assert error(put, FunctionName=name, Qualifier="9", ProvisionedConcurrentExecutions=1) == user(
        "ResourceNotFoundException", 404, f"Function not found: {arn}:9")
    assert error(lam.get_provisioned_concurrency_config, FunctionName=name, Qualifier="nope") == user(
        "ResourceNotFoundException", 404, f"Cannot find alias arn: {arn}:nope")
    assert error(lam.get_provisioned_concurrency_config, FunctionName=name, Qualifier="1") == user(
        "ProvisionedConcurrencyConfigNotFoundException", 404, "No Provisioned Concurrency Config found for this function")
    # Deleting a config that is not there succeeds (the model has no NotFound error for it).
    assert lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    unchecked = server.client("lambda", key=KEY, parameter_validation=False)  # as a client that checks nothing
    assert error(unchecked.put_provisioned_concurrency_config, FunctionName=name, Qualifier="1",
                 ProvisionedConcurrentExecutions=0)["code"] == "ValidationException"

    # The account's unreserved concurrency (1000 here) keeps its minimum of 100.
    assert error(put, FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1001) == user(
        invalid, 400, "Specified ConcurrentExecutions for function is greater than account's unreserved "
                      "concurrency [1000].")
    assert error(put, FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=901) == user(
        invalid, 400, "Specified ConcurrentExecutions for function decreases account's "
                      "UnreservedConcurrentExecution below its minimum value of [100].")
    # With reserved concurrency, the function's configs share it.
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    assert error(put, FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2) == user(
        invalid, 400, "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                      "for function")
    lam.delete_function_concurrency(FunctionName=name)

    # A version and an alias pointing at it cannot both have a config.
    put(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    assert error(put, FunctionName=name, Qualifier="one", ProvisionedConcurrentExecutions=1) == user(
        "ResourceConflictException", 409,
        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version")
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    put(FunctionName=name, Qualifier="one", ProvisionedConcurrentExecutions=1)
    assert error(put, FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1) == user(
        "ResourceConflictException", 409, "Version is pointed by a Provisioned Concurrency alias")
    # Reserved concurrency cannot go below what the function's configs ask for.
    assert error(lam.put_function_concurrency, FunctionName=name, ReservedConcurrentExecutions=0) == user(
        invalid, 400, " ReservedConcurrentExecutions  0 should not be lower than function's total provisioned "
                      "concurrency [1].")
    assert lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)[
        "ReservedConcurrentExecutions"] == 1
    lam.delete_function_concurrency(FunctionName=name)
    # Deleting the alias deletes its config.
    lam.delete_alias(FunctionName=name, Name="one")
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []


def test_the_aws_cli_puts_and_gets_a_config(server, lam, role, names):
    name = create(lam, role, names)
    out = json.loads(server.cli("lambda", "put-provisioned-concurrency-config", "--function-name", name,
                                "--qualifier", "1", "--provisioned-concurrent-executions", "1", key=KEY).stdout)
    assert (out["Status"], out["RequestedProvisionedConcurrentExecutions"]) == ("IN_PROGRESS", 1)
    wait_status(lam, name, "1", "READY")
    got = json.loads(server.cli("lambda", "get-provisioned-concurrency-config", "--function-name", name,
                                "--qualifier", "1", key=KEY).stdout)
    assert (got["Status"], got["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 1)


# ---- restart -------------------------------------------------------------------------------------

def test_a_restarted_server_initializes_the_environments_again(tmp_path):
    srv = Server(data_dir=tmp_path).start()
    try:
        lam = srv.client("lambda")
        role = "arn:aws:iam::000000000000:role/lambda-role"
        name = create(lam, role, None)
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
        wait_status(lam, name, "1", "READY")
        before, _ = invoke(lam, name, "1")
    finally:
        srv.stop()
    again = Server(data_dir=tmp_path).start()
    try:
        lam = again.client("lambda")
        ready = wait_status(lam, name, "1", "READY")
        assert ready["AllocatedProvisionedConcurrentExecutions"] == 1
        after, tail = invoke(lam, name, "1")
        assert after["init_type"] == "provisioned-concurrency" and after["env"] != before["env"]
        assert "Init Duration" not in tail
    finally:
        again.stop()
