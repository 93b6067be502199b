"""A function's State and LastUpdateStatus, as AWS records them: the one place they change.

AWS (docs "Lambda function states"; the responses AWS records for each step):

  CreateFunction        $LATEST State Pending, StateReason "The function is being created.",
                        StateReasonCode Creating, no LastUpdateStatus ... prepared: State Active,
                        LastUpdateStatus Successful, reasons gone, a new RevisionId.
  UpdateFunctionCode,   State kept, LastUpdateStatus InProgress, LastUpdateStatusReason "The function
  -Configuration        is being created.", LastUpdateStatusReasonCode Creating, a new RevisionId ...
                        prepared: LastUpdateStatus Successful, a new RevisionId again.
  PublishVersion        the version copies $LATEST's state (Active and Successful); one published
                        with the change that is still being prepared (Publish=True) is Pending until
                        that preparation makes both ready (its RevisionId stays).

While creation is pending, UpdateFunctionCode, UpdateFunctionConfiguration and PublishVersion fail
(and Invoke: invoke.check_active); while an update is in progress the first three fail and
invocations run the previous code and configuration (`as_invoked`). Two cloudlet-specific
cases: a runtime this host cannot run is Failed at once (StateReasonCode InvalidRuntime; an
update to a runnable one repairs the function through Pending), and preparing means unpacking the
code and layers where environments read them.

The preparation is an outbox record (kind "lambda.prepare") written in the transaction of the
change: it survives a restart and is carried out by whichever replica takes it (preparation.py),
which then calls `settle`.
"""

from __future__ import annotations

from cloudlet.outbox import enqueue
from cloudlet.store import Transaction

from .errors import ResourceConflictException
from .names import FunctionRef
from .runtimes import unrunnable_reason

KIND = "lambda.prepare"
CREATING_REASON = "The function is being created."
CREATING = "Creating"
INVALID_RUNTIME = "InvalidRuntime"         # StateReasonCode / LastUpdateStatusReasonCode (model enums)
INVALID_ZIP = "InvalidZipFileException"
INTERNAL_ERROR = "InternalError"
STATE_FIELDS = ("State", "StateReason", "StateReasonCode",
                "LastUpdateStatus", "LastUpdateStatusReason", "LastUpdateStatusReasonCode")
PREVIOUS_FIELDS = ("config", "code", "layers", "revision")  # what invocations run during an update


def _clear(config: dict) -> None:
    for key in STATE_FIELDS:
        config.pop(key, None)


def _unrunnable(config: dict) -> str | None:
    runtime = config.get("Runtime") if config.get("PackageType", "Zip") == "Zip" else None
    return unrunnable_reason(runtime) if runtime else None


def _failed(config: dict, reason: str, code: str) -> None:
    config.update(State="Failed", StateReason=reason, StateReasonCode=code, LastUpdateStatus="Failed",
                  LastUpdateStatusReason=reason, LastUpdateStatusReasonCode=code)


def _pending(config: dict) -> None:
    config.update(State="Pending", StateReason=CREATING_REASON, StateReasonCode=CREATING)


def preparing(config: dict) -> bool:
    """Whether this configuration waits for its preparation (creation pending or update in progress)."""
    return config.get("State") == "Pending" or config.get("LastUpdateStatus") == "InProgress"


# ---- transitions ------------------------------------------------------------------------------

def create(config: dict) -> bool:
    """A new function's $LATEST: Pending until prepared (True: ask for the preparation), or Failed
    at once when this host cannot run its runtime."""
    _clear(config)
    reason = _unrunnable(config)
    if reason is not None:
        _failed(config, reason, INVALID_RUNTIME)
        return False
    _pending(config)
    return True


def update(config: dict) -> bool:
    """A changed $LATEST (`config`, already changed): its update InProgress until prepared (True),
    or Failed at once when this host cannot run its runtime. A Failed function that becomes
    runnable goes through Pending, so that function_active waiters wait rather than fail."""
    was_active = config.get("State") == "Active"
    _clear(config)
    reason = _unrunnable(config)
    if reason is not None:
        _failed(config, reason, INVALID_RUNTIME)
        return False
    if was_active:
        config["State"] = "Active"
    else:
        _pending(config)
    config.update(LastUpdateStatus="InProgress", LastUpdateStatusReason=CREATING_REASON,
                  LastUpdateStatusReasonCode=CREATING)
    return True


def publish(version: dict, latest: dict) -> None:
    """The state of a version published from `latest`: Pending while `latest` is being prepared,
    else what `latest` has (Active and Successful, or Failed with its reasons)."""
    _clear(version)
    if preparing(latest):
        _pending(version)
    else:
        version.update({k: latest[k] for k in STATE_FIELDS if k in latest})


def settle(config: dict, failure: tuple[str, str] | None) -> bool:
    """The preparation of `config` ended (`failure`: reason code, reason): True if that changed
    its state. Creation: Active, or Failed. Update: Successful, or Failed with the State kept
    (the previous code and configuration go on running). The caller gives it a new RevisionId
    ($LATEST; a published version keeps its own)."""
    if not preparing(config):
        return False
    creating = config.get("State") == "Pending"
    _clear(config)
    if failure is None:
        config.update(State="Active", LastUpdateStatus="Successful")
        return True
    code, reason = failure
    if creating:
        _failed(config, reason, code)
    else:
        config.update(State="Active", LastUpdateStatus="Failed", LastUpdateStatusReason=reason,
                      LastUpdateStatusReasonCode=code)
    return True


# ---- what each state allows -------------------------------------------------------------------

def check_changeable(ref: FunctionRef, config: dict) -> None:
    """UpdateFunctionCode, UpdateFunctionConfiguration and PublishVersion fail while $LATEST is
    being created or updated, with AWS's messages."""
    if config.get("LastUpdateStatus") == "InProgress":
        raise ResourceConflictException(
            f"The operation cannot be performed at this time. An update is in progress for resource: {ref.arn()}")
    if config.get("State") == "Pending":
        raise ResourceConflictException(
            f"The operation cannot be performed at this time. The resource {ref.arn()} is currently in the "
            f"following state: 'Pending'. StateReasonCode: '{config.get('StateReasonCode', CREATING)}'")


def as_invoked(record: dict) -> dict:
    """The function record as invocations see it: while an update is in progress (or after it
    failed), the previous code and configuration."""
    previous = record.get("previous")
    if previous and record["config"].get("LastUpdateStatus") in ("InProgress", "Failed"):
        return {**record, **previous}
    return record


def created(tx: Transaction, ref: FunctionRef, record: dict) -> None:
    """A new function's record, in the transaction that writes it: its state, and the request to
    prepare it."""
    if create(record["config"]):
        _prepare(tx, ref, record)


def changed(tx: Transaction, ref: FunctionRef, record: dict, previous: dict) -> bool:
    """An update of $LATEST (`record` holds it, `previous` is the record before it), in the
    transaction that writes it: its state, and the request to prepare it (True), during which
    invocations run `previous`."""
    if not update(record["config"]):
        record.pop("previous", None)
        return False
    record["previous"] = {key: previous[key] for key in PREVIOUS_FIELDS if key in previous}
    _prepare(tx, ref, record)
    return True


def _prepare(tx: Transaction, ref: FunctionRef, record: dict) -> None:
    enqueue(tx, KIND, {"account": ref.account, "region": ref.region, "name": ref.name,
                       "revision": record["revision"]})


def settled(record: dict, failure: tuple[str, str] | None) -> bool:
    """`record`'s preparation ended: `settle` its $LATEST (True if that changed it); once an
    update succeeded, the previous code and configuration are no longer run."""
    if not settle(record["config"], failure):
        return False
    if record["config"].get("LastUpdateStatus") != "Failed":
        record.pop("previous", None)
    return True
