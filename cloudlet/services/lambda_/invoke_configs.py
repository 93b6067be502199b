"""Asynchronous invocation settings: Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s).

`event_invoke_config(store, account, region, name, qualifier)` is what the async invoker reads.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from cloudlet.protocol.errors import ServiceError
from cloudlet.store.base import Store

from .errors import InvalidParameterValueException, ResourceNotFoundException, pattern_error
from .functions import child_key, function_key, load_function, now_epoch
from .names import LATEST, FunctionRef, is_version
from .paging import paginate

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .provider import LambdaProvider

_DESTINATION_PATTERN = (r"^$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1})?:"
                        r"(\d{12})?:(.*)")
_DESTINATION_SERVICES = {"onSuccess": ("lambda", "sqs", "sns", "events"),
                         "onFailure": ("lambda", "sqs", "sns", "events", "s3")}   # S3: on failure only
_FIELDS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")


def config_key(ref: FunctionRef, qualifier: str) -> tuple:
    return child_key("invoke-config", ref.account, ref.region, ref.name, qualifier)


def event_invoke_config(store: Store, account: str, region: str, name: str, qualifier: str = LATEST) -> dict | None:
    """The stored FunctionEventInvokeConfig of a function's $LATEST, version or alias, or None."""
    return store.get_json(child_key("invoke-config", account, region, name, qualifier))


def _check_destinations(tx: Any, ref: FunctionRef, destinations: dict) -> dict:
    """Validate and normalize a DestinationConfig: both keys present, as AWS returns it."""
    success = (destinations.get("OnSuccess") or {}).get("Destination")
    failure = (destinations.get("OnFailure") or {}).get("Destination")
    valid = True
    for path, arn in (("onSuccess", success), ("onFailure", failure)):
        if not arn:
            continue
        if re.match(_DESTINATION_PATTERN, arn) is None:
            raise pattern_error(arn, f"destinationConfig.{path}.destination", _DESTINATION_PATTERN)
        service = arn.split(":")[2] if arn.count(":") >= 2 else ""
        if service not in _DESTINATION_SERVICES[path]:
            valid = False
        elif service == "lambda":
            parts = arn.split(":")
            target = parts[6] if len(parts) > 6 and parts[5] == "function" else ""
            if target == ref.name:
                raise InvalidParameterValueException("You can't specify the function as a destination for itself.")
            if not target or tx.get(function_key(parts[4], parts[3], target)) is None:
                raise InvalidParameterValueException(f"The destination ARN {arn} is invalid.")
    if not valid:
        on_success = f"OnSuccess(destination={success})" if success else "null"
        on_failure = f"OnFailure(destination={failure})" if failure else "null"
        raise InvalidParameterValueException(
            f"The provided destination config DestinationConfig(onSuccess={on_success}, onFailure={on_failure}) "
            "is invalid.")
    return {"OnSuccess": {"Destination": success} if success else {},
            "OnFailure": {"Destination": failure} if failure else {}}


def _target(tx: Any, ref: FunctionRef) -> str:
    try:
        load_function(tx, ref)
    except ResourceNotFoundException:
        raise ResourceNotFoundException("The function doesn't exist.") from None
    qualifier = ref.qualifier or LATEST
    if qualifier != LATEST:
        kind, part = ("version", int(qualifier)) if is_version(qualifier) else ("alias", qualifier)
        if tx.get(child_key(kind, ref.account, ref.region, ref.name, part)) is None:
            raise ResourceNotFoundException("The function doesn't exist.")
    return qualifier


def _require_setting(params: dict) -> None:
    if all(params.get(k) is None for k in _FIELDS):
        raise InvalidParameterValueException("You must specify at least one of error handling or destination setting.")


def _missing(ref: FunctionRef) -> ServiceError:
    return ResourceNotFoundException(f"The function {ref.arn(ref.qualifier or LATEST)} doesn't have an EventInvokeConfig")


def put_function_event_invoke_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict,
                                     *, merge: bool = False) -> dict:
    """Put replaces the config; with `merge` (UpdateFunctionEventInvokeConfig) it must exist and
    only the given settings change."""
    _require_setting(params)

    def put(tx: Any) -> dict:
        qualifier = _target(tx, ref)
        found = tx.get_json_versioned(config_key(ref, qualifier))
        if merge and found is None:
            raise _missing(ref)
        record = dict(found[0]) if merge and found else {
            "FunctionArn": ref.arn(qualifier),
            "DestinationConfig": {"OnSuccess": {}, "OnFailure": {}}}
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if params.get(key) is not None:
                record[key] = params[key]
        if params.get("DestinationConfig") is not None:
            record["DestinationConfig"] = _check_destinations(tx, ref, params["DestinationConfig"])
        record["LastModified"] = now_epoch()
        if found:
            tx.put_json(config_key(ref, qualifier), record, if_version=found[1])
        else:
            tx.put_json(config_key(ref, qualifier), record, if_absent=True)
        return record

    return p.store.transact(put)


def get_function_event_invoke_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    with p.store.transaction(write=False) as tx:
        if tx.get(function_key(ref.account, ref.region, ref.name)) is None:
            raise _missing(ref)
        record = tx.get_json(config_key(ref, ref.qualifier or LATEST))
    if record is None:
        raise _missing(ref)
    return record


def delete_function_event_invoke_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef,
                                        params: dict) -> dict:
    def delete(tx: Any) -> None:
        if tx.get(function_key(ref.account, ref.region, ref.name)) is None or not tx.delete(
                config_key(ref, ref.qualifier or LATEST)):
            raise _missing(ref)

    p.store.transact(delete)
    return {}


def list_function_event_invoke_configs(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef,
                                       params: dict) -> dict:
    with p.store.transaction(write=False) as tx:
        if tx.get(function_key(ref.account, ref.region, ref.name)) is None:
            raise ResourceNotFoundException("The function doesn't exist.")
        rows = tx.range(child_key("invoke-config", ref.account, ref.region, ref.name))
        items = [json.loads(raw) for _, raw in rows]
    page, marker = paginate(items, lambda item: item["FunctionArn"], params.get("Marker"), params.get("MaxItems"))
    return {"FunctionEventInvokeConfigs": page, **({"NextMarker": marker} if marker else {})}
