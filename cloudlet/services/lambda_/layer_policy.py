"""Layer version permissions: AddLayerVersionPermission, GetLayerVersionPolicy,
RemoveLayerVersionPermission.

A layer version's resource policy lives at `L + ("layer-policy", layer, n)` as
`{"statements": [...], "RevisionId"}` (deleted with its last statement or its layer version). It is
enforced by `layers.check_layer_access`: another account may get the version, or use it in a
function's Layers, only when a statement names its account or "*".
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .errors import (
    AccessDeniedException,
    InvalidParameterValueException,
    PolicyLengthExceededException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from .functions import new_revision
from .layers import layer_policy_key, layer_version_key, locate_layer
from .names import check_member_pattern, layer_arn

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .provider import LambdaProvider

MAX_POLICY_BYTES = 20480
# AWS's wording for layer policies names GetLayerPolicy (not GetFunction/GetAlias as for functions).
REVISION_MISMATCH = ("The Revision Id provided does not match the latest Revision Id. "
                     "Call the GetLayerPolicy API to retrieve the latest Revision Id")
NO_POLICY = "No policy is associated with the given resource."


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _document(statements: list[dict]) -> dict:
    return {"Version": "2012-10-17", "Id": "default", "Statement": statements}


def _version(p: LambdaProvider, ctx: RequestContext, params: dict) -> tuple[str, str, str, int]:
    """The caller's layer version a request names: `(account, region, name, version)`."""
    account, region, name = locate_layer(ctx, params["LayerName"])
    version = params["VersionNumber"]
    if version < 1:
        raise InvalidParameterValueException("Layer Version Cannot be less than 1")
    if account != ctx.account:
        action = f"lambda:{ctx.operation}"
        raise AccessDeniedException(f"User: {ctx.principal} is not authorized to perform: {action} on resource: "
                                    f"{layer_arn(account, region, name, version)}")
    return account, region, name, version


def _require_version(tx: Any, account: str, region: str, name: str, version: int) -> None:
    if tx.get(layer_version_key(account, region, name, version)) is None:
        raise ResourceNotFoundException(f"Layer version {layer_arn(account, region, name, version)} does not exist.")


def build_statement(resource: str, params: dict) -> dict:
    principal = params["Principal"]
    statement: dict[str, Any] = {
        "Sid": params["StatementId"], "Effect": "Allow",
        "Principal": "*" if principal == "*" else {"AWS": principal if principal.startswith("arn:")
                                                   else f"arn:aws:iam::{principal}:root"},
        "Action": params["Action"], "Resource": resource}
    if params.get("OrganizationId"):
        statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": params["OrganizationId"]}}
    return statement


def add_layer_version_permission(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    op = "AddLayerVersionPermission"
    for member, path in (("StatementId", "statementId"), ("Action", "action"), ("Principal", "principal"),
                         ("OrganizationId", "organizationId")):
        if params.get(member) is not None:
            check_member_pattern(op, member, params[member], path)
    account, region, name, version = _version(p, ctx, params)
    sid = params["StatementId"]

    def add(tx: Any) -> dict:
        _require_version(tx, account, region, name, version)
        key = layer_policy_key(account, region, name, version)
        found = tx.get_json_versioned(key)
        policy = found[0] if found else {"statements": [], "RevisionId": None}
        if any(s["Sid"] == sid for s in policy["statements"]):
            raise ResourceConflictException(f"The statement id ({sid}) provided already exists. Please provide a new "
                                            "statement id, or remove the existing statement.")
        if params.get("RevisionId") and params["RevisionId"] != policy["RevisionId"]:
            raise PreconditionFailedException(REVISION_MISMATCH)
        statement = build_statement(layer_arn(account, region, name, version), params)
        statements = [*policy["statements"], statement]
        size = len(_dumps(_document(statements)))
        if size > MAX_POLICY_BYTES:
            raise PolicyLengthExceededException(
                f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES}).")
        record = {"statements": statements, "RevisionId": new_revision()}
        if found:
            tx.put_json(key, record, if_version=found[1])
        else:
            tx.put_json(key, record, if_absent=True)
        return {"Statement": _dumps(statement), "RevisionId": record["RevisionId"]}

    return p.store.transact(add)


def get_layer_version_policy(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    account, region, name, version = _version(p, ctx, params)
    with p.store.transaction(write=False) as tx:
        _require_version(tx, account, region, name, version)
        policy = tx.get_json(layer_policy_key(account, region, name, version))
    if policy is None:
        raise ResourceNotFoundException(NO_POLICY)
    return {"Policy": _dumps(_document(policy["statements"])), "RevisionId": policy["RevisionId"]}


def remove_layer_version_permission(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    check_member_pattern("RemoveLayerVersionPermission", "StatementId", params["StatementId"], "statementId")
    account, region, name, version = _version(p, ctx, params)
    sid = params["StatementId"]

    def remove(tx: Any) -> None:
        _require_version(tx, account, region, name, version)
        key = layer_policy_key(account, region, name, version)
        found = tx.get_json_versioned(key)
        if found is None:
            raise ResourceNotFoundException(NO_POLICY)
        policy, stored = found
        if params.get("RevisionId") and params["RevisionId"] != policy["RevisionId"]:
            raise PreconditionFailedException(REVISION_MISMATCH)
        if not any(s["Sid"] == sid for s in policy["statements"]):
            raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
        remaining = [s for s in policy["statements"] if s["Sid"] != sid]
        if remaining:
            tx.put_json(key, {"statements": remaining, "RevisionId": new_revision()}, if_version=stored)
        else:
            tx.delete(key, if_version=stored)

    p.store.transact(remove)
    return {}
