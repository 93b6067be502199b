"""Resource policies (PutResourcePolicy): which AWS services may write logs into this account.

Two scopes, as on AWS: an account policy, named (`policyName`, at most 10 per region), and a
log group's own policy (`resourceArn`, one per log group, with a `revisionId` that
`expectedRevisionId` must match to change or delete it). Policies are stored and returned;
nothing evaluates them yet (that waits for IAM enforcement of service principals).

State: `(account, region, "logs", "resource-policy", "ACCOUNT"|"RESOURCE", name or ARN)`.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from cloudlet.services.paging import decode_token, encode_token
from cloudlet.store import Store
from cloudlet.store.keyspace import resource_key, resource_prefix

from .events import now_ms
from .groups import (
    GROUP_NOT_FOUND,
    E,
    InvalidParameterException,
    ResourceNotFoundException,
    group_key,
    invalid_token,
    parse_group_arn,
)

MAX_ACCOUNT_POLICIES = 10
MAX_DOCUMENT_CHARS = 5120
LimitExceededException = E.LimitExceededException
OperationAbortedException = E.OperationAbortedException


def _key(account: str, region: str, scope: str, name: str) -> tuple:
    return resource_key(account, region, "logs", "resource-policy", scope, name)


def _prefix(account: str, region: str, scope: str) -> tuple:
    return resource_prefix(account, region, "logs", "resource-policy", scope)


def describe_policy(record: dict) -> dict:
    order = ("policyName", "policyDocument", "lastUpdatedTime", "policyScope", "resourceArn", "revisionId")
    return {k: record[k] for k in order if record.get(k) is not None}


class ResourcePolicies:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _scope(self, ctx: Any, params: dict) -> tuple[str, str]:
        """("ACCOUNT", policyName) or ("RESOURCE", resourceArn): exactly one must be given."""
        name, arn = params.get("policyName"), params.get("resourceArn")
        if bool(name) == bool(arn):
            raise InvalidParameterException("Exactly one of policyName or resourceArn must be specified.")
        if name:
            return "ACCOUNT", name
        parsed = parse_group_arn(arn or "")
        if parsed is None:
            raise InvalidParameterException(f"Invalid resourceArn: {arn}")
        return "RESOURCE", arn or ""

    def put(self, ctx: Any, params: dict) -> dict:
        scope, name = self._scope(ctx, params)
        document = params.get("policyDocument")
        if not document:
            raise InvalidParameterException("policyDocument is required.")
        if len(document) > MAX_DOCUMENT_CHARS:
            raise InvalidParameterException(
                f"Policy document exceeds the maximum length of {MAX_DOCUMENT_CHARS} characters.")
        try:
            if not isinstance(json.loads(document), dict):
                raise ValueError
        except ValueError:
            raise InvalidParameterException("The policy document is not valid JSON.") from None
        expected = params.get("expectedRevisionId")
        key = _key(ctx.account, ctx.region, scope, name)

        def write(tx: Any) -> dict:
            found = tx.get_json_versioned(key)
            if scope == "RESOURCE":
                _, _, group = parse_group_arn(name) or ("", "", "")
                if tx.get(group_key(ctx.account, ctx.region, group)) is None:
                    raise ResourceNotFoundException(GROUP_NOT_FOUND)
                have = found[0].get("revisionId") if found else None
                if expected != have:
                    raise OperationAbortedException("The expected revision ID does not match the current revision "
                                                    "of the resource policy.")
            elif found is None and len(tx.range(_prefix(ctx.account, ctx.region, scope),
                                                limit=MAX_ACCOUNT_POLICIES)) >= MAX_ACCOUNT_POLICIES:
                raise LimitExceededException("Resource limit exceeded.")
            record: dict = {"policyDocument": document, "lastUpdatedTime": now_ms(), "policyScope": scope}
            if scope == "ACCOUNT":
                record["policyName"] = name
            else:
                record.update(resourceArn=name, revisionId=secrets.token_hex(16))
            if found is None:
                tx.put_json(key, record, if_absent=True)
            else:
                tx.put_json(key, record, if_version=found[1])
            return record

        record = self.store.transact(write)
        out: dict = {"resourcePolicy": describe_policy(record)}
        if record.get("revisionId"):
            out["revisionId"] = record["revisionId"]
        return out

    def describe(self, ctx: Any, params: dict) -> dict:
        limit = params.get("limit") or 50
        arn = params.get("resourceArn")
        scope = params.get("policyScope") or ("RESOURCE" if arn else "ACCOUNT")
        after = decode_token(params.get("nextToken"), invalid_token, lambda p: isinstance(p, str))
        base = _prefix(ctx.account, ctx.region, scope)
        with self.store.transaction(write=False) as tx:
            if arn:
                raw = tx.get(base + (arn,))
                rows = [] if raw is None else [(base + (arn,), raw)]
            else:
                rows = tx.range(base, after=None if after is None else base + (after,), limit=limit + 1)
        found = [(key[-1], json.loads(raw)) for key, raw in rows]
        out: dict = {"resourcePolicies": [describe_policy(r) for _, r in found[:limit]]}
        if len(found) > limit:
            out["nextToken"] = encode_token(found[limit - 1][0])
        return out

    def delete(self, ctx: Any, params: dict) -> dict:
        scope, name = self._scope(ctx, params)
        key = _key(ctx.account, ctx.region, scope, name)
        with self.store.transaction() as tx:
            found = tx.get_json(key)
            if found is None:
                raise ResourceNotFoundException(f"Policy with name [{name}] does not exist.")
            expected = params.get("expectedRevisionId")
            if scope == "RESOURCE" and expected is not None and expected != found.get("revisionId"):
                raise OperationAbortedException("The expected revision ID does not match the current revision of "
                                                "the resource policy.")
            tx.delete(key)
        return {}
