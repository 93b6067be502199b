"""Aliases: CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases, with weighted routing."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .errors import (
    REVISION_MISMATCH,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
    ValidationException,
    pattern_error,
)
from .functions import child_key, load_function, load_version, new_revision, provisioned_key, url_index_key
from .names import LATEST, FunctionRef, is_alias, is_version
from .paging import paginate

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .provider import LambdaProvider

ALIAS_PATTERN = "(?!^[0-9]+$)([a-zA-Z0-9-_]+)"


def alias_key(ref: FunctionRef, name: str) -> tuple:
    return child_key("alias", ref.account, ref.region, ref.name, name)


def _check_version(tx: Any, ref: FunctionRef, version: str) -> None:
    if version != LATEST:
        load_version(tx, ref, version)


def _routing(tx: Any, ref: FunctionRef, primary: str, routing: dict | None) -> dict | None:
    """A checked RoutingConfig, or None when it routes nothing."""
    weights = (routing or {}).get("AdditionalVersionWeights") or {}
    if not weights:
        return None
    if len(weights) > 1:
        raise InvalidParameterValueException("Number of items in AdditionalVersionWeights cannot be greater than 1")
    for version, weight in weights.items():
        if not 0.0 <= weight < 1.0:
            raise ValidationException(
                f"1 validation error detected: Value '{{{version}={weight}}}' at 'routingConfig.additionalVersionWeights' "
                "failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or "
                "equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]")
        if version == primary:
            raise InvalidParameterValueException(
                f"Invalid function version {primary}. Function version {primary} is already included in routing "
                "configuration.")
        if primary == LATEST:
            raise InvalidParameterValueException("$LATEST is not supported for an alias pointing to more than 1 version")
        if not is_version(version):
            raise ValidationException(
                f"1 validation error detected: Value '{{{version}={weight}}}' at 'routingConfig.additionalVersionWeights' "
                "failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or "
                "equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular "
                "expression pattern: [0-9]+, Member must not be null]")
        load_version(tx, ref, version)
    return {"AdditionalVersionWeights": dict(weights)}


def create_alias(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    name, version = params["Name"], params["FunctionVersion"]
    if not is_alias(name):
        raise pattern_error(name, "name", ALIAS_PATTERN)

    def create(tx: Any) -> dict:
        load_function(tx, ref)
        _check_version(tx, ref, version)
        if tx.get(alias_key(ref, name)) is not None:
            raise ResourceConflictException(f"Alias already exists: {ref.arn(name)}")
        alias = {"AliasArn": ref.arn(name), "Name": name, "FunctionVersion": version,
                 "Description": params.get("Description") or "", "RevisionId": new_revision()}
        routing = _routing(tx, ref, version, params.get("RoutingConfig"))
        if routing:
            alias["RoutingConfig"] = routing
        tx.put_json(alias_key(ref, name), alias, if_absent=True)
        return alias

    return p.store.transact(create)


def _load(tx: Any, ref: FunctionRef, name: str, message: str) -> tuple[dict, int]:
    load_function(tx, ref)
    found = tx.get_json_versioned(alias_key(ref, name))
    if found is None:
        raise ResourceNotFoundException(f"{message}{ref.arn(name)}")
    return found


def get_alias(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    with p.store.transaction(write=False) as tx:
        return _load(tx, ref, params["Name"], "Cannot find alias arn: ")[0]


def update_alias(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    name = params["Name"]

    def update(tx: Any) -> dict:
        alias, stored = _load(tx, ref, name, "Alias not found: ")
        if params.get("RevisionId") and params["RevisionId"] != alias["RevisionId"]:
            raise PreconditionFailedException(REVISION_MISMATCH)
        if params.get("FunctionVersion"):
            _check_version(tx, ref, params["FunctionVersion"])
            alias["FunctionVersion"] = params["FunctionVersion"]
        if params.get("Description") is not None:
            alias["Description"] = params["Description"]
        if "RoutingConfig" in params:
            routing = _routing(tx, ref, alias["FunctionVersion"], params["RoutingConfig"])
        else:
            routing = _routing(tx, ref, alias["FunctionVersion"], alias.get("RoutingConfig"))
        alias.pop("RoutingConfig", None)
        if routing:
            alias["RoutingConfig"] = routing
        alias["RevisionId"] = new_revision()
        tx.put_json(alias_key(ref, name), alias, if_version=stored)
        return alias

    return p.store.transact(update)


def delete_alias(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    name = params["Name"]

    def delete(tx: Any) -> None:
        load_function(tx, ref)
        if tx.delete(alias_key(ref, name)):
            delete_alias_dependants(tx, ref, name)

    p.store.transact(delete)
    return {}


def delete_alias_dependants(tx: Any, ref: FunctionRef, name: str) -> None:
    """Drop what hangs off an alias: its policy, event invoke config, provisioned concurrency config
    and function URL."""
    for kind in ("policy", "invoke-config"):
        tx.delete(child_key(kind, ref.account, ref.region, ref.name, name))
    tx.delete(provisioned_key(ref.account, ref.region, ref.name, name))
    url = tx.get_json(child_key("url", ref.account, ref.region, ref.name, name))
    if url is not None:
        tx.delete(url_index_key(url["url_id"]))
        tx.delete(child_key("url", ref.account, ref.region, ref.name, name))


def list_aliases(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    wanted = params.get("FunctionVersion")
    with p.store.transaction(write=False) as tx:
        load_function(tx, ref)
        aliases = [json.loads(raw) for _, raw in tx.range(child_key("alias", ref.account, ref.region, ref.name))]
    aliases = [a for a in aliases if wanted is None or a["FunctionVersion"] == wanted]
    page, marker = paginate(aliases, lambda a: a["Name"], params.get("Marker"), params.get("MaxItems"))
    return {"Aliases": page, **({"NextMarker": marker} if marker else {})}
