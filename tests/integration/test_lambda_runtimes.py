"""Runtimes through unmodified boto3: identifiers validated as AWS validates them, and a real
runtime this host cannot run stored in State Failed, which the waiters see and Invoke refuses."""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.request
import uuid
import zipfile

import pytest
from botocore.exceptions import ClientError, WaiterError

from cloudlet.compute import catalog
from tests.support.aws import aws_error as error
from tests.support.aws import created_functions

KEY = "AKIALAMBDARUNTIME01"
CODE = "def handler(event, context):\n    return {'got': event}\n"
NOT_ACTIVE = "The operation cannot be performed at this time. The function is currently in the following state: Failed"
FAST = {"Delay": 1, "MaxAttempts": 3}


def make_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("handler.py", CODE)
    return buf.getvalue()


def unique() -> str:
    return f"rt-{uuid.uuid4().hex[:10]}"



@pytest.fixture(scope="module")
def lam(server):
    return server.client("lambda", key=KEY)


@pytest.fixture(scope="module")
def role(server) -> str:
    account = server.client("sts", key=KEY).get_caller_identity()["Account"]
    return f"arn:aws:iam::{account}:role/lambda-role"


@pytest.fixture
def names(lam):
    """Names of the functions a test creates; deleted afterwards."""
    yield from created_functions(lam)


def create(lam, role, names, runtime: str, **kw) -> dict:
    name = unique()
    names.append(name)
    return lam.create_function(FunctionName=name, Runtime=runtime, Role=role, Handler="handler.handler",
                               Code={"ZipFile": make_zip()}, **kw)


def missing_python() -> str | None:
    """A Python runtime of the Lambda model this host has no interpreter for, if any."""
    from cloudlet.services.lambda_.runtimes import creatable

    return next((r for r in creatable() if re.fullmatch(r"python3\.\d+", r) and catalog.check(r)), None)


# ---- identifiers --------------------------------------------------------------------------------

def test_unknown_runtime_fails_lambdas_enum_constraint(lam, role, names):
    for call in ("create", "update"):
        if call == "create":
            err = error(lam.create_function, FunctionName=unique(), Runtime="cobol9", Role=role,
                        Handler="handler.handler", Code={"ZipFile": make_zip()})
        else:
            name = create(lam, role, names, "python3.12")["FunctionName"]
            err = error(lam.update_function_configuration, FunctionName=name, Runtime="cobol9")
            assert lam.get_function_configuration(FunctionName=name)["Runtime"] == "python3.12"
        assert (err["code"], err["status"], err["type"]) == ("InvalidParameterValueException", 400, "User"), call
        message = err["message"]
        assert message.startswith("Value cobol9 at 'runtime' failed to satisfy constraint: Member must satisfy "
                                  "enum value set: [nodejs20.x, python3.14, provided.al2023, python3.12, "), message
        assert message.endswith("] or be a valid ARN"), message
        listed = message.split("[", 1)[1].rsplit("]", 1)[0].split(", ")
        assert {"python3.12", "nodejs22.x", "java21", "dotnet8", "ruby3.3", "provided.al2"} <= set(listed)
        assert not {"python2.7", "python3.7", "nodejs12.x", "java8", "go1.x", "provided"} & set(listed)


@pytest.mark.parametrize("runtime,family", [("python2.7", r"python3\.\d+"), ("nodejs12.x", r"nodejs\d+\.x"),
                                            ("go1.x", r"provided\.al2023")])
def test_deprecated_runtime_is_no_longer_supported(lam, role, names, runtime, family):
    wording = (rf"The runtime parameter of {re.escape(runtime)} is no longer supported for creating or updating "
               rf"AWS Lambda functions\. We recommend you use the new runtime \({family}\) while creating or "
               r"updating functions\.")
    err = error(lam.create_function, FunctionName=unique(), Runtime=runtime, Role=role, Handler="handler.handler",
                Code={"ZipFile": make_zip()})
    assert (err["code"], err["status"]) == ("InvalidParameterValueException", 400)
    assert re.fullmatch(wording, err["message"]), err["message"]
    name = create(lam, role, names, "python3.12")["FunctionName"]
    err = error(lam.update_function_configuration, FunctionName=name, Runtime=runtime)
    assert err["code"] == "InvalidParameterValueException" and re.fullmatch(wording, err["message"])


def test_layer_compatible_runtimes_are_checked_against_the_model(lam):
    name = unique()
    err = error(lam.publish_layer_version, LayerName=name, Content={"ZipFile": make_zip()},
                CompatibleRuntimes=["python3.12", "cobol9"])
    assert (err["code"], err["status"]) == ("ValidationException", 400)
    assert "Value 'cobol9' at 'compatibleRuntimes" in err["message"]
    assert "Member must satisfy enum value set: [" in err["message"]
    # A layer may say it suits deprecated runtimes and ones this host cannot run.
    published = lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip()},
                                          CompatibleRuntimes=["python2.7", "java21"])
    assert published["CompatibleRuntimes"] == ["python2.7", "java21"]
    lam.delete_layer_version(LayerName=name, VersionNumber=published["Version"])


# ---- runtimes this host cannot run ----------------------------------------------------------------

def assert_failed(config: dict, runtime: str) -> None:
    reason = catalog.check(runtime)
    assert reason is not None and f"cannot run {runtime}" in reason
    assert config["Runtime"] == runtime
    assert (config["State"], config["StateReasonCode"], config["StateReason"]) == ("Failed", "InvalidRuntime", reason)


def assert_nothing_ran(server, name: str) -> None:
    """No invocation reached an environment: none wrote a line to the function's log group."""
    logs = server.client("logs", key=KEY)
    try:
        streams = logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ResourceNotFoundException"
        return
    assert streams == []


def assert_invoke_refused(lam, name: str, **kw) -> None:
    for kind in ("RequestResponse", "Event", "DryRun"):
        err = error(lam.invoke, FunctionName=name, InvocationType=kind, Payload=b"{}", **kw)
        assert err == {"code": "ResourceConflictException", "status": 409, "type": "User", "message": NOT_ACTIVE}, kind
    err = error(lam.invoke_with_response_stream, FunctionName=name, Payload=b"{}", **kw)
    assert (err["code"], err["status"], err["message"]) == ("ResourceConflictException", 409, NOT_ACTIVE)


@pytest.mark.parametrize("runtime", ["java21", "dotnet8", "ruby3.3", "python3.x-missing"])
def test_unrunnable_runtime_is_stored_failed_and_not_invoked(server, lam, role, names, runtime):
    if runtime == "python3.x-missing":
        runtime = missing_python() or pytest.skip("every Python runtime of the model is installed here")
    assert catalog.check(runtime) is not None, f"{runtime} runs here: pick a runtime this host lacks"
    created = create(lam, role, names, runtime)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    name = created["FunctionName"]
    assert_failed(created, runtime)
    assert created["LastUpdateStatus"] == "Failed" and created["LastUpdateStatusReasonCode"] == "InvalidRuntime"

    assert_failed(lam.get_function(FunctionName=name)["Configuration"], runtime)
    assert_failed(lam.get_function_configuration(FunctionName=name), runtime)
    listed = [f for f in lam.list_functions()["Functions"] if f["FunctionName"] == name]
    assert len(listed) == 1 and listed[0]["Runtime"] == runtime and "State" not in listed[0]  # as AWS lists

    with pytest.raises(WaiterError) as waited:
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    assert "terminal failure state" in str(waited.value) and '"Failed"' in str(waited.value)
    assert_invoke_refused(lam, name)
    assert_nothing_ran(server, name)


def test_versions_of_a_failed_function_are_failed_and_an_update_recovers(lam, role, names):
    name = create(lam, role, names, "java21")["FunctionName"]
    published = lam.publish_version(FunctionName=name)
    assert_failed(published, "java21")
    failed_version = published["Version"]
    with pytest.raises(WaiterError):
        lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier=failed_version,
                                                         WaiterConfig=FAST)
    assert_invoke_refused(lam, name, Qualifier=failed_version)

    updated = lam.update_function_configuration(FunctionName=name, Runtime="python3.12")
    # Repaired through Pending (states.py), so that function_active waiters wait instead of failing.
    assert (updated["State"], updated["LastUpdateStatus"]) == ("Pending", "InProgress")
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST)
    ready = lam.get_function_configuration(FunctionName=name)
    assert (ready["State"], ready["LastUpdateStatus"]) == ("Active", "Successful")
    assert not {"StateReason", "StateReasonCode", "LastUpdateStatusReason", "LastUpdateStatusReasonCode"} & set(ready)
    out = lam.invoke(FunctionName=name, Payload=b'{"k": 1}')
    assert "FunctionError" not in out and json.loads(out["Payload"].read()) == {"got": {"k": 1}}

    version = lam.publish_version(FunctionName=name)["Version"]
    lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier=version, WaiterConfig=FAST)
    assert lam.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")["StatusCode"] == 200
    # A published version is immutable: the old one stays Failed.
    assert_failed(lam.get_function_configuration(FunctionName=name, Qualifier=failed_version), "java21")
    assert_invoke_refused(lam, name, Qualifier=failed_version)


def test_update_to_an_unrunnable_runtime_fails_the_update(lam, role, names):
    name = create(lam, role, names, "python3.12")["FunctionName"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    assert lam.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200
    updated = lam.update_function_configuration(FunctionName=name, Runtime="ruby3.3", Handler="handler.handler")
    reason = catalog.check("ruby3.3")
    assert (updated["LastUpdateStatus"], updated["LastUpdateStatusReasonCode"], updated["LastUpdateStatusReason"]) \
        == ("Failed", "InvalidRuntime", reason)
    assert_failed(updated, "ruby3.3")
    with pytest.raises(WaiterError) as waited:
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST)
    assert "terminal failure state" in str(waited.value)
    assert_invoke_refused(lam, name)
    # Another change that keeps the runtime does not make it runnable.
    assert lam.update_function_configuration(FunctionName=name, MemorySize=256)["State"] == "Failed"
    assert lam.update_function_code(FunctionName=name, ZipFile=make_zip())["LastUpdateStatus"] == "Failed"

    back = lam.update_function_configuration(FunctionName=name, Runtime="python3.12")
    assert (back["State"], back["LastUpdateStatus"]) == ("Pending", "InProgress")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST)
    assert lam.get_function_configuration(FunctionName=name)["State"] == "Active"
    assert json.loads(lam.invoke(FunctionName=name, Payload=b"[2]")["Payload"].read()) == {"got": [2]}


def test_function_url_of_a_failed_function_runs_nothing(server, lam, role, names):
    name = create(lam, role, names, "dotnet8")["FunctionName"]
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True)
    host = url.split("//")[1].split("/")[0]
    req = urllib.request.Request(server.url + "/", headers={"Host": host})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=30)
    assert refused.value.code == 502 and refused.value.read() == b"Internal Server Error"
    assert_nothing_ran(server, name)
