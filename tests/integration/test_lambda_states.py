"""A function's State and LastUpdateStatus as AWS records them, through unmodified boto3: Pending
until its code is ready, updates InProgress until applied (invocations meanwhile run the previous
code), conflicts while either lasts, every Lambda waiter, and a Pending function left by a killed
server settled by the next one."""

from __future__ import annotations

import io
import json
import signal
import time
import uuid
import zipfile

import pytest
from botocore.exceptions import WaiterError

from tests.conftest import Server
from tests.support.aws import aws_error as error
from tests.support.aws import created_functions

KEY = "AKIALAMBDASTATES0001"  # an account of its own on the shared server
FAST = {"Delay": 1, "MaxAttempts": 30}
CREATING = "The function is being created."
REASONS = {"StateReason", "StateReasonCode", "LastUpdateStatusReason", "LastUpdateStatusReasonCode"}
NOT_ACTIVE = "The operation cannot be performed at this time. The function is currently in the following state: {}"


def make_zip(result: str, padding: int = 0) -> bytes:
    """A handler returning `result`; `padding` small files make unpacking it take seconds, so that
    a test can act while the function is still being prepared. Each package is unique: one
    already unpacked (same bytes, same digest) would be ready at once."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("app.py", f"def handler(event, context):\n    return {result!r}\n")
        archive.writestr("nonce.txt", uuid.uuid4().hex)
        for i in range(padding):
            archive.writestr(f"pad/{i % 50}/{i}.txt", "x")
    return buf.getvalue()


SLOW = 10000  # files: unpacking takes over a second even on a fast machine (check_zip at upload a fraction)


def unique() -> str:
    return f"st-{uuid.uuid4().hex[:10]}"



def invoke(lam, name: str, **kw) -> str:
    out = lam.invoke(FunctionName=name, Payload=b"{}", **kw)
    assert "FunctionError" not in out, out
    return json.loads(out["Payload"].read())


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


def create(lam, role, names, result: str = "one", padding: int = 0, **kw) -> dict:
    name = unique()
    names.append(name)
    return lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                               Code={"ZipFile": make_zip(result, padding)}, **kw)


def seconds_until(condition, timeout: float = 10.0) -> float:
    """How long until `condition()` holds, polling as a client in a hurry would."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout
        time.sleep(0.01)
    return time.monotonic() - started


def state(lam, name: str, **kw) -> dict:
    config = lam.get_function(FunctionName=name, **kw)["Configuration"]
    return {k: config[k] for k in ("State", "LastUpdateStatus", *REASONS) if k in config}


# ---- creation ----------------------------------------------------------------------------------

def test_a_new_function_is_pending_then_active_with_a_new_revision(lam, role, names):
    created = create(lam, role, names)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    # As AWS answers CreateFunction: Pending with its reason, and no LastUpdateStatus yet.
    assert (created["State"], created["StateReason"], created["StateReasonCode"]) == ("Pending", CREATING, "Creating")
    assert not {"LastUpdateStatus", "LastUpdateStatusReason", "LastUpdateStatusReasonCode"} & set(created)
    name = created["FunctionName"]
    assert seconds_until(lambda: state(lam, name)["State"] == "Active") < 0.5  # milliseconds, really
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    config = lam.get_function(FunctionName=name)["Configuration"]
    assert (config["State"], config["LastUpdateStatus"]) == ("Active", "Successful")
    assert not REASONS & set(config)
    assert config["RevisionId"] != created["RevisionId"]  # becoming Active changes it (AWS)
    assert invoke(lam, name) == "one"


def test_a_pending_function_refuses_invoke_updates_and_publishing(lam, role, names):
    created = create(lam, role, names, padding=SLOW)
    name, arn = created["FunctionName"], created["FunctionArn"]
    assert created["State"] == "Pending"
    for kind in ("RequestResponse", "Event", "DryRun"):
        err = error(lam.invoke, FunctionName=name, InvocationType=kind, Payload=b"{}")
        assert err == {"code": "ResourceConflictException", "status": 409, "type": "User", "message": NOT_ACTIVE.format("Pending")}
    pending = (f"The operation cannot be performed at this time. The resource {arn} is currently in the following "
               "state: 'Pending'. StateReasonCode: 'Creating'")
    for call, kw in [(lam.update_function_configuration, {"Timeout": 9}),
                     (lam.update_function_code, {"ZipFile": make_zip("two")}),
                     (lam.publish_version, {})]:
        err = error(call, FunctionName=name, **kw)
        assert err == {"code": "ResourceConflictException", "status": 409, "type": "User", "message": pending}, call
    assert state(lam, name)["State"] == "Pending", "the package unpacked too fast for this test: pad it more"

    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    assert invoke(lam, name) == "one"
    assert lam.publish_version(FunctionName=name)["Version"] == "1"


# ---- updates -----------------------------------------------------------------------------------

def test_an_update_is_in_progress_until_applied_and_meanwhile_the_previous_code_runs(lam, role, names):
    name = create(lam, role, names)["FunctionName"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    before = lam.get_function_configuration(FunctionName=name)
    assert invoke(lam, name) == "one"

    updated = lam.update_function_code(FunctionName=name, ZipFile=make_zip("two", SLOW))
    # As AWS answers an update: State kept, LastUpdateStatus InProgress with its reason, a new RevisionId.
    assert (updated["State"], updated["LastUpdateStatus"], updated["LastUpdateStatusReason"],
            updated["LastUpdateStatusReasonCode"]) == ("Active", "InProgress", CREATING, "Creating")
    assert not {"StateReason", "StateReasonCode"} & set(updated)
    assert updated["RevisionId"] != before["RevisionId"]
    assert lam.get_function_configuration(FunctionName=name)["CodeSha256"] == updated["CodeSha256"]

    # AWS: "While a function update is in progress, invocations go to the function's previous code
    # and configuration."
    assert invoke(lam, name) == "one"
    in_progress = ("The operation cannot be performed at this time. An update is in progress for resource: "
                   f"{updated['FunctionArn']}")
    for call, kw in [(lam.update_function_configuration, {"Timeout": 9}),
                     (lam.update_function_code, {"ZipFile": make_zip("three")}),
                     (lam.publish_version, {})]:
        err = error(call, FunctionName=name, **kw)
        assert err == {"code": "ResourceConflictException", "status": 409, "type": "User", "message": in_progress}, call
    assert state(lam, name)["LastUpdateStatus"] == "InProgress", "unpacked too fast for this test: pad it more"

    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST)
    done = lam.get_function_configuration(FunctionName=name)
    assert (done["State"], done["LastUpdateStatus"]) == ("Active", "Successful") and not REASONS & set(done)
    assert done["RevisionId"] != updated["RevisionId"]  # applying the update changes it again (AWS)
    assert invoke(lam, name) == "two"


def test_a_configuration_update_is_applied_within_milliseconds(lam, role, names):
    name = create(lam, role, names)["FunctionName"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    updated = lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "b"}})
    assert (updated["State"], updated["LastUpdateStatus"]) == ("Active", "InProgress")
    assert seconds_until(lambda: state(lam, name)["LastUpdateStatus"] == "Successful") < 0.5
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST)
    lam.get_waiter("function_updated").wait(FunctionName=name, WaiterConfig=FAST)
    assert lam.get_function_configuration(FunctionName=name)["Environment"] == {"Variables": {"STAGE": "b"}}
    # Once applied, the next update is accepted.
    lam.update_function_configuration(FunctionName=name, Timeout=7)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST)
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 7


# ---- versions ----------------------------------------------------------------------------------

def test_published_versions_are_active_and_successful(lam, role, names):
    name = create(lam, role, names)["FunctionName"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    published = lam.publish_version(FunctionName=name)
    assert (published["State"], published["LastUpdateStatus"]) == ("Active", "Successful")
    version = published["Version"]
    lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier=version, WaiterConfig=FAST)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, Qualifier=version, WaiterConfig=FAST)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version, WaiterConfig=FAST)
    lam.get_waiter("function_updated").wait(FunctionName=name, Qualifier=version, WaiterConfig=FAST)
    assert state(lam, name, Qualifier=version) == {"State": "Active", "LastUpdateStatus": "Successful"}
    assert invoke(lam, name, Qualifier=version) == "one"


def test_a_version_published_with_the_create_turns_active_with_it(lam, role, names):
    created = create(lam, role, names, padding=SLOW, Publish=True)
    name = created["FunctionName"]
    assert created["Version"] == "1"
    assert (created["State"], created["StateReasonCode"]) == ("Pending", "Creating")
    assert "LastUpdateStatus" not in created
    err = error(lam.invoke, FunctionName=name, Qualifier="1", Payload=b"{}")
    assert err["message"] == NOT_ACTIVE.format("Pending")
    lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier="1", WaiterConfig=FAST)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, Qualifier="1", WaiterConfig=FAST)
    version = lam.get_function_configuration(FunctionName=name, Qualifier="1")
    assert (version["State"], version["LastUpdateStatus"]) == ("Active", "Successful")
    assert version["RevisionId"] == created["RevisionId"]  # a version turning Active keeps its RevisionId (AWS)
    assert state(lam, name) == {"State": "Active", "LastUpdateStatus": "Successful"}
    assert invoke(lam, name, Qualifier="1") == "one"


def test_a_version_published_with_an_update_turns_active_with_it(lam, role, names):
    name = create(lam, role, names)["FunctionName"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    published = lam.update_function_code(FunctionName=name, ZipFile=make_zip("two", SLOW), Publish=True)
    assert (published["Version"], published["State"]) == ("1", "Pending")
    assert state(lam, name)["LastUpdateStatus"] == "InProgress"
    lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier="1", WaiterConfig=FAST)
    assert state(lam, name, Qualifier="1") == {"State": "Active", "LastUpdateStatus": "Successful"}
    assert state(lam, name) == {"State": "Active", "LastUpdateStatus": "Successful"}
    assert invoke(lam, name, Qualifier="1") == "two" and invoke(lam, name) == "two"


# ---- every waiter --------------------------------------------------------------------------------

def test_every_lambda_waiter_passes(lam, role, names):
    """botocore's lambda waiters (waiters-2.json), each against a function still being prepared
    where it applies: they wait through Pending / InProgress and pass once it is ready."""
    name = unique()
    waiters = {}

    def timed(waiter: str, **kw) -> None:
        started = time.monotonic()
        lam.get_waiter(waiter).wait(WaiterConfig=FAST, **kw)
        waiters[waiter] = time.monotonic() - started

    with pytest.raises(WaiterError) as missing:  # FunctionExists retries ResourceNotFoundException
        lam.get_waiter("function_exists").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
    assert "ResourceNotFoundException" in str(missing.value)
    names.append(name)
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip("one", SLOW)})
    timed("function_exists", FunctionName=name)
    timed("function_active", FunctionName=name)          # GetFunctionConfiguration: State
    timed("function_active_v2", FunctionName=name)       # GetFunction: Configuration.State
    timed("function_updated", FunctionName=name)         # GetFunctionConfiguration: LastUpdateStatus
    lam.update_function_code(FunctionName=name, ZipFile=make_zip("two", SLOW))
    assert state(lam, name)["LastUpdateStatus"] == "InProgress"
    timed("function_updated_v2", FunctionName=name)      # GetFunction: Configuration.LastUpdateStatus
    lam.update_function_configuration(FunctionName=name, Timeout=5)
    timed("function_updated", FunctionName=name)
    version = lam.publish_version(FunctionName=name)["Version"]
    timed("published_version_active", FunctionName=name, Qualifier=version)
    timed("function_updated_v2", FunctionName=name, Qualifier=version)
    assert invoke(lam, name) == "two"
    # Each passed once the function was ready: seconds of unpacking at most, never the five
    # minutes a waiter polls for before it gives up.
    assert max(waiters.values()) < 20, waiters


def test_a_failed_function_stops_the_waiters(lam, role, names):
    """A terminal state ends a waiter at once (failure acceptors), here a runtime this host cannot run."""
    from cloudlet.compute import catalog

    runtime = next((r for r in ("java21", "dotnet8", "ruby3.3") if catalog.check(r)), None)
    if runtime is None:
        pytest.skip("this host runs every runtime tried")
    name = unique()
    names.append(name)
    created = lam.create_function(FunctionName=name, Runtime=runtime, Role=role, Handler="app.handler",
                                  Code={"ZipFile": make_zip("one")})
    assert (created["State"], created["StateReasonCode"]) == ("Failed", "InvalidRuntime")
    for waiter in ("function_active_v2", "function_active", "function_updated_v2", "function_updated"):
        started = time.monotonic()
        with pytest.raises(WaiterError) as failed:
            lam.get_waiter(waiter).wait(FunctionName=name, WaiterConfig=FAST)
        # at its first look, not after polling (FAST: 30 looks a second apart)
        assert "terminal failure state" in str(failed.value) and time.monotonic() - started < 5, waiter


# ---- restart -------------------------------------------------------------------------------------

def test_a_function_left_pending_by_a_killed_server_becomes_active_after_restart(tmp_path):
    srv = Server(data_dir=tmp_path).start()
    lam = srv.client("lambda")
    name = unique()
    lam.create_function(FunctionName=name, Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
                        Handler="app.handler", Code={"ZipFile": make_zip("survived", SLOW)})
    assert lam.get_function(FunctionName=name)["Configuration"]["State"] == "Pending"
    srv.stop(signal.SIGKILL)  # while it unpacks the package
    again = Server(data_dir=tmp_path).start()
    try:
        lam = again.client("lambda")
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
        config = lam.get_function(FunctionName=name)["Configuration"]
        assert (config["State"], config["LastUpdateStatus"]) == ("Active", "Successful")
        assert invoke(lam, name) == "survived"
    finally:
        again.stop()


def test_a_small_function_is_ready_when_create_and_update_answer(lam, role, names):
    """A package that unpacks in milliseconds is prepared before CreateFunction and
    UpdateFunctionCode answer (their answers still say Pending / InProgress, as AWS's do): a
    script that invokes right away runs the new code, every time."""
    for _ in range(5):
        created = create(lam, role, names, result="first")
        assert created["State"] == "Pending"
        assert invoke(lam, created["FunctionName"]) == "first"
        updated = lam.update_function_code(FunctionName=created["FunctionName"], ZipFile=make_zip("second"))
        assert updated["LastUpdateStatus"] == "InProgress"
        assert invoke(lam, created["FunctionName"]) == "second"
