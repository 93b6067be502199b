"""Per-function settings kept in the function's own records: recursive loop detection
(Put/GetFunctionRecursionConfig) and runtime management (Put/GetRuntimeManagementConfig).

`"recursive_loop"` lives in the function record (it is unqualified); `"runtime_management"`
(`{"UpdateRuntimeOn", "RuntimeVersionArn"?}`) in the record of the qualifier it was set for:
the function record for $LATEST, a version record for a published version. Both go with the
function when it is deleted. Neither changes how code runs here: loops are not detected, and
there is one runtime version per runtime (runtimes.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import InvalidParameterValueException
from .functions import function_key, load_function, load_version, version_key
from .names import LATEST, FunctionRef, is_version

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .provider import LambdaProvider

DEFAULT_RECURSIVE_LOOP = "Terminate"
DEFAULT_UPDATE_RUNTIME_ON = "Auto"


def put_function_recursion_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    def put(tx: Any) -> dict:
        record, stored = load_function(tx, ref)
        record["recursive_loop"] = params["RecursiveLoop"]
        tx.put_json(function_key(ref.account, ref.region, ref.name), record, if_version=stored)
        return {"RecursiveLoop": params["RecursiveLoop"]}

    return p.store.transact(put)


def get_function_recursion_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef) -> dict:
    with p.store.transaction(write=False) as tx:
        record, _ = load_function(tx, ref)
    return {"RecursiveLoop": record.get("recursive_loop") or DEFAULT_RECURSIVE_LOOP}


def _record(tx: Any, ref: FunctionRef) -> tuple[tuple, dict, int]:
    """The record holding the addressed qualifier's runtime management config: (key, record, store version)."""
    qualifier = ref.qualifier or LATEST
    if qualifier == LATEST:
        record, stored = load_function(tx, ref)
        return function_key(ref.account, ref.region, ref.name), record, stored
    if not is_version(qualifier):
        raise InvalidParameterValueException(
            "Runtime management configuration is supported only on $LATEST and published versions; "
            f"{qualifier} is neither.")
    load_function(tx, ref, qualifier)
    record, stored = load_version(tx, ref, qualifier)
    return version_key(ref.account, ref.region, ref.name, int(qualifier)), record, stored


def put_runtime_management_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    mode, version_arn = params["UpdateRuntimeOn"], params.get("RuntimeVersionArn")
    if mode == "Manual" and not version_arn:
        raise InvalidParameterValueException("RuntimeVersionArn is required when UpdateRuntimeOn is Manual.")
    if mode != "Manual" and version_arn:
        raise InvalidParameterValueException(
            f"RuntimeVersionArn can only be specified when UpdateRuntimeOn is Manual, not {mode}.")
    config = {"UpdateRuntimeOn": mode, **({"RuntimeVersionArn": version_arn} if version_arn else {})}

    def put(tx: Any) -> None:
        key, record, stored = _record(tx, ref)
        record["runtime_management"] = config
        tx.put_json(key, record, if_version=stored)

    p.store.transact(put)
    return {**config, "FunctionArn": ref.qualified_arn}


def get_runtime_management_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef) -> dict:
    with p.store.transaction(write=False) as tx:
        _, record, _ = _record(tx, ref)
    config = record.get("runtime_management") or {"UpdateRuntimeOn": DEFAULT_UPDATE_RUNTIME_ON}
    return {**config, "FunctionArn": ref.qualified_arn}
