"""Subscription filters: matching events of a log group delivered, as they arrive, to a Lambda
function or (through a Logs destination, destinations.py) to a Kinesis or Firehose stream.

State: `(account, region, "logs", "subscription", group, filterName)` -> the filter as
DescribeSubscriptionFilters shows it. At most two per log group, as on AWS.

Delivery: `Subscriptions.on_append` is a hook of the one ingestion path (ingest.py), so it sees
every append (PutLogEvents, Lambda's function output, other services' log writes) inside the
appending transaction. For the events of one append that a filter matches it sends ONE delivery
per (filter, stream) through `Targets.send`, in that transaction: it is durable with the events,
and carried out (and retried) by the outbox. The payload is what AWS sends: gzip-compressed JSON

    {"messageType": "DATA_MESSAGE", "owner": account, "logGroup": ..., "logStream": ...,
     "subscriptionFilters": [filterName], "logEvents": [{"id", "timestamp", "message"}]}

with the ids FilterLogEvents and GetLogEvents report (events.event_id). A Lambda function gets
it as an Event invocation of `{"awslogs": {"data": "<base64 of the gzip>"}}`; a Kinesis or
Firehose stream would get the gzip itself (those services are not served: such deliveries fail
through the outbox and are logged).

Checks when a filter is put, as AWS makes them: a Lambda destination must exist and its
resource policy must let `logs.amazonaws.com` (or `logs.<region>.amazonaws.com`) invoke it for
this log group's ARN and account (asked through the target registry's `check`, not by importing
Lambda); a Logs destination of another account must have an access policy that lets this
account call `logs:PutSubscriptionFilter`. AWS sends a CONTROL_MESSAGE ("CWL CONTROL MESSAGE:
Checking health of destination Kinesis stream.") to Kinesis and Firehose targets when a filter
is put and checks a Lambda function by its policy instead; here the control message goes to a
Logs destination's target (it fails there like any delivery to those services).

The hot path: `on_append` runs on every append, so the filters of each group are cached in this
process (group_cache.py): a group without filters costs one dict lookup per append and nothing
per event; a group not cached costs one range read. Put/Delete of a filter (and DeleteLogGroup,
PutDestination, DeleteDestination) notify the store channel "logs.subscriptions", which evicts
entries here and, on PostgreSQL, in every replica; entries also expire after `CACHE_TTL_S`,
for replicas sharing a SQLite file, which hear no notifications of each other.

Recursion: a function subscribed to its own log group writes output that matches, is delivered
to it, runs it again, and so on. AWS does not stop this loop (its recursive loop detection
covers SQS, SNS and S3, not CloudWatch Logs; its "Log recursion prevention" page only warns,
and it bills the loop). cloudlet breaks it after one turn: a delivery from the function's own
log group (`/aws/lambda/<name>`, AWS's default; a custom LoggingConfig group is not recognized)
runs the function under a request id marked as caused by the subscription, and the output of
invocations with such an id (from their START to their REPORT line, their INIT lines included)
is not delivered back. Output of the function's other invocations is.
"""

from __future__ import annotations

import base64
import fnmatch
import gzip
import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cloudlet.call import CallContext
from cloudlet.delivery import Targets, UnknownTarget, arn_service
from cloudlet.services.paging import decode_token, encode_token
from cloudlet.store import Store, Transaction
from cloudlet.store.keyspace import resource_key, resource_prefix

from .events import Event, event_id, now_ms
from .filter_pattern import FilterPatternError, Matcher, compile_pattern
from .group_cache import GroupCache, notify
from .groups import (
    GROUP_NOT_FOUND,
    E,
    InvalidParameterException,
    ResourceNotFoundException,
    group_arn,
    group_key,
    invalid_token,
    stream_key,
)

log = logging.getLogger("cloudlet.logs")

MAX_FILTERS = 2
CHANNEL = "logs.subscriptions"
CACHE_TTL_S = 10.0
LOGS_PRINCIPAL = "logs.amazonaws.com"
FILTER_NOT_FOUND = "The specified subscription filter does not exist."
LAMBDA_PERMISSION = ("Could not execute the lambda function. Make sure you have given CloudWatch Logs permission to "
                     "execute your function.")
CROSS_ACCOUNT_LAMBDA = ("Cross-account lambda invocation passing is not allowed. You must use DestinationPolicies to "
                        "create cross account lambda triggers.")
STREAM_TEST = {"kinesis": "Could not deliver test message to specified Kinesis stream. Check if the given kinesis "
                          "stream is in ACTIVE state.",
               "firehose": "Could not deliver test message to specified Firehose stream. Check if the given Firehose "
                           "stream is in ACTIVE state."}
CONTROL_TEXT = {"kinesis": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.",
                "firehose": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}

LimitExceededException = E.LimitExceededException
AccessDeniedException = E.AccessDeniedException


# ---- keys and records ----

def filter_key(account: str, region: str, group: str, name: str) -> tuple:
    return resource_key(account, region, "logs", "subscription", group, name)


def filters_prefix(account: str, region: str, group: str) -> tuple:
    return resource_prefix(account, region, "logs", "subscription", group)


def destination_key(account: str, region: str, name: str) -> tuple:
    """A Logs destination (destinations.py keeps them; subscriptions read them)."""
    return resource_key(account, region, "logs", "destination", name)


def destinations_prefix(account: str, region: str) -> tuple:
    return resource_prefix(account, region, "logs", "destination")


def parse_destination_arn(arn: str) -> tuple[str, str, str] | None:
    """`(region, account, name)` of `arn:aws:logs:<region>:<account>:destination:<name>`, else None."""
    parts = arn.split(":", 6)
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "logs" or parts[5] != "destination" or not parts[6]:
        return None
    return parts[3], parts[4], parts[6]


def describe_filter(record: dict) -> dict:
    """A filter record in the order of the model's SubscriptionFilter members."""
    order = ("filterName", "logGroupName", "filterPattern", "destinationArn", "roleArn", "distribution",
             "applyOnTransformedLogs", "creationTime", "fieldSelectionCriteria", "emitSystemFields")
    return {k: record[k] for k in order if record.get(k) is not None}


# ---- payloads ----

def data_message(owner: str, group: str, stream: str, filters: Sequence[str],
                 events: Sequence[tuple[str, int, str]]) -> bytes:
    """The gzip-compressed JSON AWS delivers for `(id, timestamp, message)` events."""
    doc = {"messageType": "DATA_MESSAGE", "owner": owner, "logGroup": group, "logStream": stream,
           "subscriptionFilters": list(filters),
           "logEvents": [{"id": eid, "timestamp": ts, "message": message} for eid, ts, message in events]}
    return gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), compresslevel=6)


def control_message(service: str, ts_ms: int) -> bytes:
    doc = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
           "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": ts_ms, "message": CONTROL_TEXT.get(
               service, CONTROL_TEXT["kinesis"])}]}
    return gzip.compress(json.dumps(doc, separators=(",", ":")).encode())


def for_lambda(data: bytes) -> bytes:
    """The Event payload a Lambda function receives: `{"awslogs": {"data": base64(gzip)}}`."""
    return json.dumps({"awslogs": {"data": base64.b64encode(data).decode()}}, separators=(",", ":")).encode()


def decode(payload: bytes) -> dict:
    """The JSON document of a delivered payload (a Lambda event or a bare gzip), for tests and tools."""
    if payload[:1] == b"{":
        payload = base64.b64decode(json.loads(payload)["awslogs"]["data"])
    loaded: dict = json.loads(gzip.decompress(payload))
    return loaded


# ---- the recursion guard ----

def _mark(head: str) -> str:
    return hashlib.sha256(f"cloudlet-logs-subscription:{head}".encode()).hexdigest()[:12]


def caused_request_id() -> str:
    """A request id (a UUID) that marks an invocation as caused by a subscription delivery."""
    text = str(uuid.uuid4())
    return text[:24] + _mark(text[:24])


def is_caused(request_id: str) -> bool:
    return len(request_id) == 36 and request_id[24:] == _mark(request_id[:24])


def not_caused(events: Sequence[Event], picked: list[int]) -> list[int]:
    """`picked` (indexes into `events`, a function's log stream) without the events of
    invocations `caused_request_id` marked: START..REPORT of such a request id, and the INIT lines
    that come before its START."""
    owner: list[str | None] = [None] * len(events)
    current: str | None = None
    waiting: list[int] = []          # events before a START with no invocation open (INIT lines)
    for i, (_, message) in enumerate(events):
        if message.startswith("START RequestId: "):
            current = message[17:53]
            for j in waiting:
                owner[j] = current
            waiting = []
        if current is None:
            waiting.append(i)
            continue
        owner[i] = current
        if message.startswith("REPORT RequestId: "):
            current = None
    return [i for i in picked if owner[i] is None or not is_caused(owner[i] or "")]


# ---- the cache of each group's filters ----

@dataclass(frozen=True)
class Subscription:
    name: str
    matches: Matcher | None
    destination: str            # the filter's destinationArn
    target: str | None          # where deliveries go (a Logs destination's targetArn); None: nowhere
    own_function: bool          # the destination is the function whose log group this is


def notify_changed(tx: Transaction, account: str | None = None, region: str | None = None,
                   group: str | None = None) -> None:
    """Evict a group's cached filters (or, with no group, every group's) in every replica."""
    notify(tx, CHANNEL, account, region, group)


# ---- the service ----

class Subscriptions:
    """Subscription filters: the operations' logic and the ingestion hook."""

    def __init__(self, store: Store, targets: Targets) -> None:
        self.store = store
        self.targets = targets
        self.cache: GroupCache[tuple[Subscription, ...]] = GroupCache(
            store, CHANNEL, CACHE_TTL_S, self._load, name="logs-subscriptions")

    # ---- operations ----

    def put(self, ctx: Any, group: str, params: dict) -> dict:
        name, pattern, destination = params["filterName"], params["filterPattern"], params["destinationArn"]
        role = params.get("roleArn")
        try:
            compile_pattern(pattern)
        except FilterPatternError as exc:
            raise InvalidParameterException(f"Invalid subscription filter pattern: {exc}") from None
        vendor = self._vendor(ctx, destination, role)
        record = {"filterName": name, "logGroupName": group, "filterPattern": pattern,
                  "destinationArn": destination, "roleArn": role,
                  "distribution": params.get("distribution") or "ByLogStream",
                  "applyOnTransformedLogs": bool(params.get("applyOnTransformedLogs", False)),
                  "creationTime": now_ms(), "fieldSelectionCriteria": params.get("fieldSelectionCriteria"),
                  "emitSystemFields": params.get("emitSystemFields")}
        call = self._call(ctx.account, ctx.region, group)

        def write(tx: Transaction) -> None:
            if tx.get(group_key(ctx.account, ctx.region, group)) is None:
                raise ResourceNotFoundException(GROUP_NOT_FOUND)
            others = [key[-1] for key, _ in tx.range(filters_prefix(ctx.account, ctx.region, group))
                      if key[-1] != name]
            if len(others) >= MAX_FILTERS:
                raise LimitExceededException("Resource limit exceeded.")
            target = destination
            if vendor == "logs":
                target = self._destination_target(tx, ctx, destination)
            elif vendor == "lambda" and self.targets.check(tx, call, destination) is not None:
                raise InvalidParameterException(LAMBDA_PERMISSION)
            tx.put_json(filter_key(ctx.account, ctx.region, group, name), record)
            self.cache.changed(tx, ctx.account, ctx.region, group)
            if vendor == "logs" and target:
                service = _service(target)
                self.targets.send(tx, call, target, control_message(service, now_ms()), unserved=True)

        self.store.transact(write)
        return {}

    def _vendor(self, ctx: Any, arn: str, role: str | None) -> str:
        """The destination's kind ("lambda", "logs", or a served stream service), or AWS's error."""
        try:
            service = arn_service(arn)
        except UnknownTarget:
            raise InvalidParameterException(f"Invalid destinationArn: {arn}") from None
        parts = arn.split(":")
        if service == "lambda":
            if parts[4] != ctx.account:
                raise AccessDeniedException(CROSS_ACCOUNT_LAMBDA)
            if role:
                raise InvalidParameterException("destinationArn for vendor lambda cannot be used with roleArn")
            return service
        if service == "logs":
            if parse_destination_arn(arn) is None:
                raise InvalidParameterException(f"Invalid destinationArn: {arn}")
            return service
        if service in STREAM_TEST:
            if not role:
                raise InvalidParameterException(f"destinationArn for vendor {service} cannot be used without roleArn")
            if not self.targets.serves(arn):
                raise InvalidParameterException(STREAM_TEST[service])
            return service
        raise InvalidParameterException(f"PutSubscriptionFilter operation cannot work with destinationArn for vendor "
                                        f"{service}")

    def _destination_target(self, tx: Transaction, ctx: Any, arn: str) -> str:
        """The targetArn of the Logs destination `arn`, if this account may subscribe to it."""
        parsed = parse_destination_arn(arn)
        assert parsed is not None
        region, account, name = parsed
        found = tx.get_json(destination_key(account, region, name))
        if found is None:
            raise ResourceNotFoundException("The specified destination does not exist.")
        if account != ctx.account and not policy_allows(found.get("accessPolicy"), ctx.account, arn):
            raise AccessDeniedException(f"User with accountId: {ctx.account} is not authorized to perform: "
                                        f"logs:PutSubscriptionFilter on resource: {arn}")
        target: str = found["targetArn"]
        return target

    def describe(self, ctx: Any, group: str, params: dict) -> dict:
        prefix = params.get("filterNamePrefix")
        limit = params.get("limit") or 50
        token = params.get("nextToken")
        after = decode_token(token, invalid_token, lambda p: isinstance(p, str))
        base = filters_prefix(ctx.account, ctx.region, group)
        with self.store.transaction(write=False) as tx:
            if tx.get(group_key(ctx.account, ctx.region, group)) is None:
                raise ResourceNotFoundException(GROUP_NOT_FOUND)
            rows = tx.range(base, start=base + (prefix,) if prefix else None,
                            after=None if after is None else base + (after,), limit=limit + 1)
        found = [json.loads(raw) for key, raw in rows if not prefix or key[-1].startswith(prefix)]
        out: dict = {"subscriptionFilters": [describe_filter(r) for r in found[:limit]]}
        if len(found) > limit:
            out["nextToken"] = encode_token(found[limit - 1]["filterName"])
        return out

    def delete(self, ctx: Any, group: str, name: str) -> dict:
        with self.store.transaction() as tx:
            if tx.get(group_key(ctx.account, ctx.region, group)) is None:
                raise ResourceNotFoundException(GROUP_NOT_FOUND)
            if not tx.delete(filter_key(ctx.account, ctx.region, group, name)):
                raise ResourceNotFoundException(FILTER_NOT_FOUND)
            self.cache.changed(tx, ctx.account, ctx.region, group)
        return {}

    def forget_group(self, tx: Transaction, account: str, region: str, group: str) -> None:
        """DeleteLogGroup: its filters go with it."""
        if tx.delete_range(filters_prefix(account, region, group)):
            self.cache.changed(tx, account, region, group)

    # ---- delivery (the ingestion hook) ----

    @staticmethod
    def _call(account: str, region: str, group: str) -> CallContext:
        arn = group_arn(account, region, group) + ":*"
        return CallContext(account, region, principal=LOGS_PRINCIPAL, source_arn=arn, source_account=account)

    def on_append(self, tx: Transaction, account: str, region: str, group: str, stream: str,
                  events: Sequence[Event]) -> None:
        subs = self.cache.get(tx, account, region, group)
        if not subs:
            return
        meta: dict | None = None
        for sub in subs:
            if sub.target is None:
                continue
            matches = sub.matches
            picked = list(range(len(events))) if matches is None else [
                i for i, (_, message) in enumerate(events) if matches(message)]
            if picked and sub.own_function:
                picked = not_caused(events, picked)
            if not picked:
                continue
            if meta is None:
                meta = tx.get_json(stream_key(account, region, group, stream)) or {"seq": len(events), "uid": 0}
            first_seq = meta["seq"] - len(events) + 1
            uid = meta.get("uid", 0)
            data = data_message(account, group, stream, [sub.name],
                                [(event_id(events[i][0], uid, first_seq + i), events[i][0], events[i][1])
                                 for i in picked])
            options: dict[str, Any] = {}
            if _service(sub.target) == "lambda":
                payload = for_lambda(data)
                if sub.own_function:
                    options["request_id"] = caused_request_id()
            else:
                payload = data
            self.targets.send(tx, self._call(account, region, group), sub.target, payload, unserved=True, **options)

    def _load(self, tx: Transaction, account: str, region: str, group: str) -> tuple[Subscription, ...]:
        subs = []
        for _, raw in tx.range(filters_prefix(account, region, group)):
            record = json.loads(raw)
            destination = record["destinationArn"]
            target: str | None = destination
            parsed = parse_destination_arn(destination)
            if parsed is not None:
                found = tx.get_json(destination_key(parsed[1], parsed[0], parsed[2]))
                target = found["targetArn"] if found else None
            try:
                matches = compile_pattern(record["filterPattern"])
            except FilterPatternError:  # (validated when put; a pattern the parser no longer takes)
                log.warning("subscription filter %s of %s has a pattern that no longer compiles", record["filterName"],
                            group)
                continue
            subs.append(Subscription(record["filterName"], matches, destination, target,
                                     _own_function(destination, account, region, group)))
        return tuple(subs)


def _service(arn: str) -> str:
    parts = arn.split(":", 3)
    return parts[2] if len(parts) > 2 else ""


def _own_function(destination: str, account: str, region: str, group: str) -> bool:
    parts = destination.split(":")
    return (len(parts) >= 7 and parts[2] == "lambda" and parts[3] == region and parts[4] == account
            and parts[5] == "function" and group == f"/aws/lambda/{parts[6]}")


def policy_allows(policy: str | None, account: str, resource: str) -> bool:
    """Whether a destination's access policy lets `account` call logs:PutSubscriptionFilter on it."""
    if not policy:
        return False
    try:
        doc = json.loads(policy)
    except ValueError:
        return False
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for s in statements or []:
        if not isinstance(s, dict):
            continue
        if not (_principal_matches(s.get("Principal"), account) and _action_matches(s.get("Action"))
                and _resource_matches(s.get("Resource", "*"), resource)):
            continue
        if s.get("Effect") == "Deny":
            return False
        if s.get("Effect") == "Allow":
            allowed = True
    return allowed


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, account: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return any(p in ("*", account, f"arn:aws:iam::{account}:root") for p in _listed(principal.get("AWS")))


def _action_matches(action: Any) -> bool:
    return any(a in ("*", "logs:*", "logs:PutSubscriptionFilter") for a in _listed(action))


def _resource_matches(resource: Any, arn: str) -> bool:
    return any(isinstance(r, str) and fnmatch.fnmatchcase(arn, r) for r in _listed(resource))
