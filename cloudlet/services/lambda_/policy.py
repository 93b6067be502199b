"""Resource-based policies: AddPermission, RemovePermission, GetPolicy, and the check that lets
another account reach a function when its policy allows it."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import TYPE_CHECKING, Any

from .errors import (
    REVISION_MISMATCH,
    InvalidParameterValueException,
    PolicyLengthExceededException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
    pattern_error,
)
from .functions import child_key, function_key, load_function, new_revision, version_key
from .names import LATEST, FunctionRef, is_version

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .provider import LambdaProvider

MAX_POLICY_BYTES = 20480
_SID_PATTERN = "([a-zA-Z0-9-_]+)"
_ACTION_PATTERN = "(lambda:[*]|lambda:[a-zA-Z]+|[*])"


def policy_key(ref: FunctionRef, qualifier: str) -> tuple:
    return child_key("policy", ref.account, ref.region, ref.name, qualifier)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _principal(principal: str) -> Any:
    if principal == "*":
        return "*"
    if principal.endswith(".amazonaws.com"):
        return {"Service": principal}
    if re.fullmatch(r"\d{12}", principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if re.match(r"arn:aws[a-zA-Z-]*:iam:", principal):
        return {"AWS": principal}
    raise InvalidParameterValueException("The provided principal was invalid. Please check the principal and try again.")


def build_statement(resource: str, params: dict) -> dict:
    """The policy statement AddPermission adds, shaped like AWS's."""
    statement: dict[str, Any] = {"Sid": params["StatementId"], "Effect": "Allow",
                                 "Principal": _principal(params["Principal"]), "Action": params["Action"],
                                 "Resource": resource}
    condition: dict[str, dict] = {}
    equals = {"lambda:FunctionUrlAuthType": params.get("FunctionUrlAuthType"),
              "aws:PrincipalOrgID": params.get("PrincipalOrgID"), "AWS:SourceAccount": params.get("SourceAccount"),
              "lambda:EventSourceToken": params.get("EventSourceToken")}
    if any(equals.values()):
        condition["StringEquals"] = {k: v for k, v in equals.items() if v}
    if params.get("InvokedViaFunctionUrl"):
        condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    if params.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": params["SourceArn"]}
    if condition:
        statement["Condition"] = condition
    return statement


def _target(tx: Any, ref: FunctionRef, qualifier: str) -> tuple[tuple, dict, int, dict]:
    """The record a qualifier's RevisionId lives in: (key, record, store version, dict holding RevisionId)."""
    if qualifier == LATEST:
        record, stored = load_function(tx, ref)
        return function_key(ref.account, ref.region, ref.name), record, stored, record["config"]
    if is_version(qualifier):
        key = version_key(ref.account, ref.region, ref.name, int(qualifier))
        found = tx.get_json_versioned(key)
        if found is None:
            raise ResourceNotFoundException(f"Function not found: {ref.arn(qualifier)}")
        return key, found[0], found[1], found[0]["config"]
    key = child_key("alias", ref.account, ref.region, ref.name, qualifier)
    found = tx.get_json_versioned(key)
    if found is None:
        raise ResourceNotFoundException(f"Cannot find alias arn: {ref.arn(qualifier)}")
    return key, found[0], found[1], found[0]


def _bump(tx: Any, key: tuple, record: dict, stored: int, holder: dict) -> None:
    holder["RevisionId"] = new_revision()
    tx.put_json(key, record, if_version=stored)


def add_permission(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    if ref.qualifier == LATEST:
        raise InvalidParameterValueException("We currently do not support adding policies for $LATEST.")
    sid = params["StatementId"]
    if re.fullmatch(_SID_PATTERN, sid) is None:
        raise pattern_error(sid, "statementId", _SID_PATTERN)
    if re.fullmatch(_ACTION_PATTERN, params["Action"]) is None:
        raise pattern_error(params["Action"], "action", _ACTION_PATTERN)
    qualifier = ref.qualifier or LATEST

    def add(tx: Any) -> dict:
        load_function(tx, ref)
        key, record, stored, holder = _target(tx, ref, qualifier)
        if params.get("RevisionId") and params["RevisionId"] != holder["RevisionId"]:
            raise PreconditionFailedException(REVISION_MISMATCH)
        found = tx.get_json_versioned(policy_key(ref, qualifier))
        statements = found[0]["statements"] if found else []
        if any(s["Sid"] == sid for s in statements):
            raise ResourceConflictException(f"The statement id ({sid}) provided already exists. Please provide a new "
                                            "statement id, or remove the existing statement.")
        statement = build_statement(ref.qualified_arn, params)
        statements.append(statement)
        size = len(_dumps(_document(statements)))
        if size > MAX_POLICY_BYTES:
            raise PolicyLengthExceededException(
                f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES}).")
        if found:
            tx.put_json(policy_key(ref, qualifier), {"statements": statements}, if_version=found[1])
        else:
            tx.put_json(policy_key(ref, qualifier), {"statements": statements}, if_absent=True)
        _bump(tx, key, record, stored, holder)
        return {"Statement": _dumps(statement)}

    return p.store.transact(add)


def _document(statements: list[dict]) -> dict:
    return {"Version": "2012-10-17", "Id": "default", "Statement": statements}


def remove_permission(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    sid = params["StatementId"]
    qualifier = ref.qualifier or LATEST

    def remove(tx: Any) -> None:
        if tx.get(function_key(ref.account, ref.region, ref.name)) is None:
            raise ResourceNotFoundException(f"No policy found for: {ref.arn()}")
        key, record, stored, holder = _target(tx, ref, qualifier)
        found = tx.get_json_versioned(policy_key(ref, qualifier))
        if found is None:
            raise ResourceNotFoundException("No policy is associated with the given resource.")
        statements = found[0]["statements"]
        if not any(s["Sid"] == sid for s in statements):
            raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
        if params.get("RevisionId") and params["RevisionId"] != holder["RevisionId"]:
            raise PreconditionFailedException(REVISION_MISMATCH)
        remaining = [s for s in statements if s["Sid"] != sid]
        if remaining:
            tx.put_json(policy_key(ref, qualifier), {"statements": remaining}, if_version=found[1])
        else:
            tx.delete(policy_key(ref, qualifier), if_version=found[1])
        _bump(tx, key, record, stored, holder)

    p.store.transact(remove)
    return {}


def get_policy(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    qualifier = ref.qualifier or LATEST
    with p.store.transaction(write=False) as tx:
        load_function(tx, ref)
        policy = tx.get_json(policy_key(ref, qualifier))
        if policy is None:
            raise ResourceNotFoundException("The resource you requested does not exist.")
        _, _, _, holder = _target(tx, ref, qualifier)
    return {"Policy": _dumps(_document(policy["statements"])), "RevisionId": holder["RevisionId"]}


def allows(tx: Any, ref: FunctionRef, account: str | None, action: str, context: dict[str, str] | None = None) -> bool:
    """Whether the function's policy (for the addressed qualifier, else $LATEST) lets `account`
    (None: an anonymous caller, whom only Principal "*" admits) call `action` (e.g.
    "lambda:GetFunction"). A statement's conditions must all hold for the request `context`
    (condition key -> value); a key the request does not carry fails its condition, as on AWS."""
    context = context or {}
    for qualifier in dict.fromkeys([ref.qualifier or LATEST, LATEST]):
        policy = tx.get_json(policy_key(ref, qualifier)) or {"statements": []}
        for s in policy["statements"]:
            principal = s.get("Principal")
            who = principal if principal == "*" else (principal or {}).get("AWS")
            if who != "*" and (account is None or who not in (account, f"arn:aws:iam::{account}:root")):
                continue
            if s.get("Action") in ("*", "lambda:*", action) and _conditions_hold(s.get("Condition") or {}, context):
                return True
    return False


def allows_service(tx: Any, ref: FunctionRef, service: str, action: str, context: dict[str, str]) -> bool:
    """Whether the function's policy (for the addressed qualifier, else $LATEST) lets the service
    principal `service` ("logs.amazonaws.com") call `action` under `context`'s conditions. A
    statement may name the service globally or by region (`logs.us-east-1.amazonaws.com`), or "*"."""
    prefix, _, domain = service.partition(".")
    names = {service, f"{prefix}.{ref.region}.{domain}"}
    for qualifier in dict.fromkeys([ref.qualifier or LATEST, LATEST]):
        policy = tx.get_json(policy_key(ref, qualifier)) or {"statements": []}
        for s in policy["statements"]:
            principal = s.get("Principal")
            who = principal if principal == "*" else (principal or {}).get("Service")
            if who != "*" and who not in names:
                continue
            if s.get("Action") in ("*", "lambda:*", action) and _conditions_hold(s.get("Condition") or {}, context):
                return True
    return False


def _conditions_hold(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, pairs in condition.items():
        for key, wanted in pairs.items():
            have = context.get(key)
            if have is None:
                return False
            options = wanted if isinstance(wanted, list) else [wanted]
            if operator == "ArnLike":
                if not any(fnmatch.fnmatchcase(have, str(o)) for o in options):
                    return False
            elif operator == "Bool":
                if have.lower() not in (str(o).lower() for o in options):
                    return False
            elif have not in (str(o) for o in options):  # StringEquals and anything we do not model
                return False
    return True
