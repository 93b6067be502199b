"""Logs destinations: a named, account-owned front for a Kinesis or Firehose stream that other
accounts' subscription filters deliver to when its access policy lets them (subscriptions.py).

State: `(account, region, "logs", "destination", name)` -> {destinationName, targetArn, roleArn,
accessPolicy?, arn, creationTime, tags}. AWS accepts only Kinesis Data Streams and Firehose
targets (a Lambda function cannot be one); neither service is served here, so deliveries to a
destination's target fail through the outbox (and are logged) until one is.
"""

from __future__ import annotations

import json
from typing import Any

from cloudlet.services.paging import decode_token, encode_token
from cloudlet.store import Store

from .events import now_ms
from .groups import InvalidParameterException, ResourceNotFoundException, invalid_token
from .subscriptions import destination_key, destinations_prefix, notify_changed

NOT_FOUND = "The specified resource does not exist."
TARGET_SERVICES = ("kinesis", "firehose")


def describe_destination(record: dict) -> dict:
    """The model's Destination members, in its order."""
    order = ("destinationName", "targetArn", "roleArn", "accessPolicy", "arn", "creationTime")
    return {k: record[k] for k in order if record.get(k) is not None}


class Destinations:
    def __init__(self, store: Store) -> None:
        self.store = store

    def put(self, ctx: Any, params: dict) -> dict:
        name, target, role = params["destinationName"], params["targetArn"], params["roleArn"]
        parts = target.split(":")
        if len(parts) < 6 or parts[0] != "arn":
            raise InvalidParameterException(f"Invalid targetArn: {target}")
        if parts[2] not in TARGET_SERVICES:
            raise InvalidParameterException(f"PutDestination operation cannot work with targetArn for vendor {parts[2]}")
        key = destination_key(ctx.account, ctx.region, name)

        def write(tx: Any) -> dict:
            found = tx.get_json_versioned(key)
            if found is None:
                record = {"destinationName": name, "arn": ctx.arn("logs", f"destination:{name}"),
                          "creationTime": now_ms(), "tags": dict(params.get("tags") or {})}
                version = None
            else:
                record, version = found
            record.update(targetArn=target, roleArn=role)
            if version is None:
                tx.put_json(key, record, if_absent=True)
            else:
                tx.put_json(key, record, if_version=version)
            notify_changed(tx)  # filters that deliver through it: their cached target changed
            return record

        return {"destination": describe_destination(self.store.transact(write))}

    def put_policy(self, ctx: Any, params: dict) -> dict:
        policy = params["accessPolicy"]
        try:
            doc = json.loads(policy)
        except ValueError:
            raise InvalidParameterException("Invalid policy document: the access policy is not valid JSON.") from None
        if not isinstance(doc, dict) or "Statement" not in doc:
            raise InvalidParameterException("Invalid policy document: the access policy has no Statement.")
        key = destination_key(ctx.account, ctx.region, params["destinationName"])

        def write(tx: Any) -> None:
            found = tx.get_json_versioned(key)
            if found is None:
                raise ResourceNotFoundException(NOT_FOUND)
            record, version = found
            record["accessPolicy"] = policy
            tx.put_json(key, record, if_version=version)

        self.store.transact(write)
        return {}

    def describe(self, ctx: Any, params: dict) -> dict:
        prefix = params.get("DestinationNamePrefix")
        limit = params.get("limit") or 50
        after = decode_token(params.get("nextToken"), invalid_token, lambda p: isinstance(p, str))
        base = destinations_prefix(ctx.account, ctx.region)
        with self.store.transaction(write=False) as tx:
            rows = tx.range(base, start=base + (prefix,) if prefix else None,
                            after=None if after is None else base + (after,), limit=limit + 1)
        found = [json.loads(raw) for key, raw in rows if not prefix or key[-1].startswith(prefix)]
        out: dict = {"destinations": [describe_destination(r) for r in found[:limit]]}
        if len(found) > limit:
            out["nextToken"] = encode_token(found[limit - 1]["destinationName"])
        return out

    def delete(self, ctx: Any, name: str) -> dict:
        with self.store.transaction() as tx:
            if not tx.delete(destination_key(ctx.account, ctx.region, name)):
                raise ResourceNotFoundException(NOT_FOUND)
            notify_changed(tx)
        return {}
