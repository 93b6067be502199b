"""The layout of the store's key space, in one place.

Every resource belongs to an account and a region, as on AWS, and its keys start with them:

    (account, region, service, kind, *names)    e.g. (account, region, "logs", "stream", group, stream)

so an account's state in a region is one range, a service's state in it another, and a listing
(ListFunctions, DescribeLogGroups) is a range scan of `(account, region, service, kind)`.
Build them with :func:`resource_key` (and :func:`resource_prefix` for the range of a kind).

Two exceptions, each for a reason AWS gives:

* :func:`global_key` — `("global", service, *parts)`: indexes no account or region owns. S3
  bucket names (one namespace for every account and region), Lambda function URL ids (a URL
  names no account), the logs retention sweep's index across accounts, and the platform's own
  records (`"outbox"`, `"replica"`).
* :func:`account_key` — `(account, service, *parts)`: an account's index that spans regions.
  Only S3's bucket listing: ListBuckets answers an account's buckets of every region.

A service documents its own kinds and what their values hold beside the functions that build
its keys (`lambda_/functions.py`, `logs/groups.py`, `s3/buckets.py`); keys are tuples encoded by
`keys.pack`, so their elements order as `keys.py` says.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudlet.store.base import Transaction

__all__ = ["GLOBAL", "account_key", "global_key", "resource_key", "resource_prefix", "scopes"]

GLOBAL = "global"
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")


def resource_key(account: str, region: str, service: str, *parts: Any) -> tuple[Any, ...]:
    """The key of a resource (or record) of `service` in `account` and `region`."""
    return (account, region, service, *parts)


def resource_prefix(account: str, region: str, service: str, *parts: Any) -> tuple[Any, ...]:
    """The prefix of a range of such keys (a kind, or a resource's children): the same tuple,
    named for what it is used for."""
    return (account, region, service, *parts)


def global_key(service: str, *parts: Any) -> tuple[Any, ...]:
    """The key (or prefix) of an index no account or region owns; see the module doc."""
    return (GLOBAL, service, *parts)


def account_key(account: str, service: str, *parts: Any) -> tuple[Any, ...]:
    """The key (or prefix) of an account's index across regions (S3's bucket listing only)."""
    return (account, service, *parts)


def scopes(tx: Transaction) -> Iterator[tuple[str, str]]:
    """Every `(account, region)` that has resource keys, in key order, for work across accounts
    (a sweep): found by skipping from one to the next, two reads per pair, whatever their size.
    `"\x00"` appended to a name is the first string after every key that starts with it."""
    rows = tx.range((), limit=1)
    while rows:
        account = rows[0][0][0]
        if account != GLOBAL:
            rows = tx.range((account,), limit=1)
            while rows:
                region = rows[0][0][1]
                if _REGION.fullmatch(region):  # (not an account's cross-region index: account_key)
                    yield account, region
                rows = tx.range((account,), start=(account, region + "\x00"), limit=1)
        rows = tx.range((), start=(account + "\x00",), limit=1)
