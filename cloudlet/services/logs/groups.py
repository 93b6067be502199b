"""Log groups and log streams: state keys, records, ARNs, name rules and AWS's errors.

State layout (account and region scoped, as on AWS; see cloudlet/store/keyspace.py):

    (account, region, "logs", "group", group)                       -> group record (JSON)
    (account, region, "logs", "stream", group, stream)              -> stream record (JSON)
    (account, region, "logs", "event", group, stream, ts_ms, seq)   -> event (see events.py)
    ("global", "logs", "retention", account, region, group)         -> retentionInDays (JSON)

The retention index lets the retention sweeper find groups with a policy without scanning
every account. A group record holds creationTime, retentionInDays, tags, kmsKeyId,
logGroupClass and deletionProtectionEnabled; a stream record holds creationTime,
firstEventTimestamp, lastEventTimestamp, lastIngestionTime, storedBytes, `seq` (the last
sequence number given to an event of the stream) and `uid` (random, makes event ids unique
across streams).
"""

from __future__ import annotations

import re
import secrets

from cloudlet.protocol.errors import ServiceError
from cloudlet.protocol.model_errors import errors_for
from cloudlet.store.keyspace import global_key, resource_key, resource_prefix

GROUP_NOT_FOUND = "The specified log group does not exist."
STREAM_NOT_FOUND = "The specified log stream does not exist."
INVALID_TOKEN = "The specified nextToken is invalid."

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                  2922, 3288, 3653)

_GROUP_NAME = re.compile(r"[\.\-_/#A-Za-z0-9]+")
_GROUP_NAME_PATTERN = r"[\.\-_/#A-Za-z0-9]+"
_STREAM_NAME_PATTERN = "[^:*]*"
_ARN = re.compile(r"arn:[^:]+:logs:([^:]*):([^:]*):log-group:([^:]+)(?::\*)?")


# Errors, generated from the model (status 400: the model gives logs' errors no other).
E = errors_for("logs")
InvalidParameterException = E.InvalidParameterException
ResourceNotFoundException = E.ResourceNotFoundException
ResourceAlreadyExistsException = E.ResourceAlreadyExistsException
TooManyTagsException = E.TooManyTagsException
LogsValidationException = E.ValidationException   # logs' own, not protocol.errors.ValidationException


def invalid_token() -> ServiceError:
    return InvalidParameterException(INVALID_TOKEN)


# ---- keys ----

def group_key(account: str, region: str, group: str) -> tuple:
    return resource_key(account, region, "logs", "group", group)


def groups_prefix(account: str, region: str) -> tuple:
    return resource_prefix(account, region, "logs", "group")


def stream_key(account: str, region: str, group: str, stream: str) -> tuple:
    return resource_key(account, region, "logs", "stream", group, stream)


def streams_prefix(account: str, region: str, group: str) -> tuple:
    return resource_prefix(account, region, "logs", "stream", group)


def events_prefix(account: str, region: str, group: str, stream: str | None = None) -> tuple:
    base = resource_prefix(account, region, "logs", "event", group)
    return base if stream is None else base + (stream,)


RETENTION_INDEX = global_key("logs", "retention")


def retention_key(account: str, region: str, group: str) -> tuple:
    return RETENTION_INDEX + (account, region, group)


# ---- ARNs ----

def group_arn(account: str, region: str, group: str) -> str:
    """The log group ARN without the trailing `:*` (`logGroupArn`; tagging takes this form)."""
    return f"arn:aws:logs:{region}:{account}:log-group:{group}"


def stream_arn(account: str, region: str, group: str, stream: str) -> str:
    return f"{group_arn(account, region, group)}:log-stream:{stream}"


def parse_group_arn(arn: str) -> tuple[str, str, str] | None:
    """`(region, account, group)` of a log group ARN (with or without `:*`), else None."""
    m = _ARN.fullmatch(arn)
    return (m.group(1), m.group(2), m.group(3)) if m else None


# ---- names ----

def _pattern_problem(value: str, member: str, pattern: str) -> str:
    return (f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}")


def check_group_name(name: str, member: str = "logGroupName") -> None:
    if not _GROUP_NAME.fullmatch(name):
        raise InvalidParameterException(_pattern_problem(name, member, _GROUP_NAME_PATTERN))


_IDENTIFIER = re.compile(r"[\w#+=/:,.@-]*")
_IDENTIFIER_PATTERN = r"[\w#+=/:,.@-]*"


def check_identifier(ident: str, member: str = "logGroupIdentifier") -> None:
    """A logGroupIdentifier: a name, or an ARN without the `:*` DescribeLogGroups shows."""
    if not _IDENTIFIER.fullmatch(ident):
        raise InvalidParameterException(_pattern_problem(ident, member, _IDENTIFIER_PATTERN))


def check_stream_name(name: str, member: str = "logStreamName") -> None:
    if ":" in name or "*" in name:
        raise InvalidParameterException(_pattern_problem(name, member, _STREAM_NAME_PATTERN))


def check_new_group_name(name: str) -> None:
    check_group_name(name)
    if name[:4].lower() == "aws/":
        raise InvalidParameterException("Log groups starting with AWS/ are reserved for AWS.")


# ---- records ----

def new_group(now_ms: int, *, tags: dict | None = None, kms_key_id: str | None = None,
              log_group_class: str | None = None, deletion_protection: bool = False) -> dict:
    record: dict = {"creationTime": now_ms, "logGroupClass": log_group_class or "STANDARD",
                    "deletionProtectionEnabled": bool(deletion_protection), "tags": dict(tags or {})}
    if kms_key_id:
        record["kmsKeyId"] = kms_key_id
    return record


def new_stream(now_ms: int) -> dict:
    return {"creationTime": now_ms, "storedBytes": 0, "seq": 0, "uid": secrets.randbits(59)}


def sequence_token(seq: int) -> str:
    return f"{seq:056d}"


def name_pattern_matcher(pattern: str | None):
    """ListLogGroups' logGroupNamePattern as a predicate on names: alternatives split by `|`,
    each a prefix when it starts with `^`, else a substring; case-sensitive."""
    if not pattern:
        return lambda name: True
    prefixes = tuple(p[1:] for p in pattern.split("|") if p.startswith("^"))
    parts = [p for p in pattern.split("|") if not p.startswith("^")]
    return lambda name: name.startswith(prefixes) or any(p in name for p in parts)


def describe_group(account: str, region: str, name: str, record: dict, stored_bytes: int,
                   *, metric_filters: int = 0) -> dict:
    arn = group_arn(account, region, name)
    out = {"logGroupName": name, "creationTime": record["creationTime"], "metricFilterCount": metric_filters,
           "arn": arn + ":*", "storedBytes": stored_bytes, "logGroupClass": record.get("logGroupClass", "STANDARD"),
           "logGroupArn": arn, "deletionProtectionEnabled": record.get("deletionProtectionEnabled", False)}
    if record.get("retentionInDays"):
        out["retentionInDays"] = record["retentionInDays"]
    if record.get("kmsKeyId"):
        out["kmsKeyId"] = record["kmsKeyId"]
    return out


def describe_stream(account: str, region: str, group: str, name: str, record: dict) -> dict:
    out = {"logStreamName": name, "creationTime": record["creationTime"],
           "arn": stream_arn(account, region, group, name), "storedBytes": record.get("storedBytes", 0)}
    for field in ("firstEventTimestamp", "lastEventTimestamp", "lastIngestionTime"):
        if record.get(field) is not None:
            out[field] = record[field]
    if record.get("seq"):
        out["uploadSequenceToken"] = sequence_token(record["seq"])
    return out
