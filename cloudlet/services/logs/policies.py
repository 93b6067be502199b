"""Data protection policies (one per log group) and account policies: stored, validated, listed.

Neither is applied: events are not masked or audited, and account policies reach no log group
(the provider's `limits` say so). A data protection policy lives in its group's record
(`dataProtectionPolicy`: document and lastUpdatedTime), so it goes with the group. Account
policies are account and region scoped:

    (account, region, "logs", "account-policy", policyType, policyName) -> policy record (JSON)
"""

from __future__ import annotations

import json
from typing import Any

from cloudlet.store import Store
from cloudlet.store.keyspace import resource_key, resource_prefix

from .events import now_ms
from .groups import GROUP_NOT_FOUND, InvalidParameterException, ResourceNotFoundException, group_key

SELECTION_TYPES = ("SUBSCRIPTION_FILTER_POLICY", "FIELD_INDEX_POLICY", "TRANSFORMER_POLICY")
MAX_DOCUMENT_BYTES = 30_720   # AWS: a data protection policy document is at most 30,720 characters
POLICY_NOT_FOUND = "The specified data protection policy does not exist."


def _document(text: str) -> dict:
    """A policy document: a JSON object (AWS refuses anything else with InvalidParameterException)."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise InvalidParameterException(
            f"Policy document length {len(text)} exceeds the maximum of {MAX_DOCUMENT_BYTES} characters.")
    try:
        doc = json.loads(text)
    except ValueError:
        raise InvalidParameterException("Invalid policy document: the policy document is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise InvalidParameterException("Invalid policy document: the policy document must be a JSON object.")
    return doc


def check_data_protection_document(text: str) -> None:
    """AWS's shape of a data protection policy: Name, Version and a Statement list whose first
    statement audits and second de-identifies the same data identifiers."""
    doc = _document(text)
    statements = doc.get("Statement")
    if not isinstance(statements, list) or len(statements) != 2 or not all(isinstance(s, dict) for s in statements):
        raise InvalidParameterException(
            "Invalid data protection policy: the policy must contain exactly two statements, "
            "the first with an Audit operation and the second with a Deidentify operation.")
    operations = [s.get("Operation") if isinstance(s.get("Operation"), dict) else {} for s in statements]
    if "Audit" not in operations[0] or "Deidentify" not in operations[1]:
        raise InvalidParameterException(
            "Invalid data protection policy: the policy must contain exactly two statements, "
            "the first with an Audit operation and the second with a Deidentify operation.")
    identifiers = [s.get("DataIdentifier") for s in statements]
    if not all(isinstance(i, list) and i for i in identifiers) or sorted(map(str, identifiers[0])) != sorted(
            map(str, identifiers[1])):
        raise InvalidParameterException(
            "Invalid data protection policy: both statements must name the same, non-empty DataIdentifier list.")


# ---- data protection policies (in the group record) ----

def put_data_protection_policy(store: Store, account: str, region: str, group: str, ident: str,
                               document: str) -> dict:
    check_data_protection_document(document)
    updated = now_ms()

    def put(tx) -> None:
        found = tx.get_json_versioned(group_key(account, region, group))
        if found is None:
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        record, version = found
        record["dataProtectionPolicy"] = {"policyDocument": document, "lastUpdatedTime": updated}
        tx.put_json(group_key(account, region, group), record, if_version=version)

    store.transact(put)
    return {"logGroupIdentifier": ident, "policyDocument": document, "lastUpdatedTime": updated}


def get_data_protection_policy(store: Store, account: str, region: str, group: str, ident: str) -> dict:
    record = store.get_json(group_key(account, region, group))
    if record is None:
        raise ResourceNotFoundException(GROUP_NOT_FOUND)
    policy = record.get("dataProtectionPolicy")
    return {"logGroupIdentifier": ident, **(policy or {})}


def delete_data_protection_policy(store: Store, account: str, region: str, group: str) -> dict:
    def delete(tx) -> None:
        found = tx.get_json_versioned(group_key(account, region, group))
        if found is None:
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        record, version = found
        if record.pop("dataProtectionPolicy", None) is None:
            raise ResourceNotFoundException(POLICY_NOT_FOUND)
        tx.put_json(group_key(account, region, group), record, if_version=version)

    store.transact(delete)
    return {}


# ---- account policies ----

def _policy_key(account: str, region: str, policy_type: str, name: str) -> tuple:
    return resource_key(account, region, "logs", "account-policy", policy_type, name)


def _describe_policy(account: str, record: dict) -> dict:
    out = {"policyName": record["policyName"], "policyDocument": record["policyDocument"],
           "lastUpdatedTime": record["lastUpdatedTime"], "policyType": record["policyType"],
           "scope": record.get("scope", "ALL"), "accountId": account}
    if record.get("selectionCriteria"):
        out["selectionCriteria"] = record["selectionCriteria"]
    return out


def put_account_policy(store: Store, account: str, region: str, params: dict) -> dict:
    name, policy_type, document = params["policyName"], params["policyType"], params["policyDocument"]
    scope = params.get("scope") or "ALL"   # (the model's only value; the protocol layer checks enums)
    if policy_type == "DATA_PROTECTION_POLICY":
        check_data_protection_document(document)
    else:
        _document(document)
    criteria = params.get("selectionCriteria")
    if criteria and policy_type not in SELECTION_TYPES:
        raise InvalidParameterException(
            f"selectionCriteria is not supported for policy type {policy_type}.")
    record: dict[str, Any] = {"policyName": name, "policyDocument": document, "policyType": policy_type,
                              "scope": scope, "lastUpdatedTime": now_ms()}
    if criteria:
        record["selectionCriteria"] = criteria
    if params.get("dryRun"):
        return {"accountPolicy": _describe_policy(account, record)}
    with store.transaction() as tx:
        tx.put_json(_policy_key(account, region, policy_type, name), record)
    return {"accountPolicy": _describe_policy(account, record)}


def describe_account_policies(store: Store, account: str, region: str, params: dict) -> dict:
    policy_type = params["policyType"]
    name = params.get("policyName")
    accounts = params.get("accountIdentifiers")
    if accounts and account not in accounts:   # no cross-account observability: only this account's
        return {"accountPolicies": []}
    if name:
        record = store.get_json(_policy_key(account, region, policy_type, name))
        records = [record] if record is not None else []
    else:
        prefix = resource_prefix(account, region, "logs", "account-policy", policy_type)
        records = [json.loads(raw) for _, raw in store.range(prefix)]
    return {"accountPolicies": [_describe_policy(account, r) for r in records]}


def delete_account_policy(store: Store, account: str, region: str, params: dict) -> dict:
    name, policy_type = params["policyName"], params["policyType"]
    key = _policy_key(account, region, policy_type, name)
    if params.get("dryRun"):
        if store.get(key) is None:
            raise ResourceNotFoundException(f"Policy with name [{name}] does not exist")
        return {}
    with store.transaction() as tx:
        if not tx.delete(key):
            raise ResourceNotFoundException(f"Policy with name [{name}] does not exist")
    return {}
