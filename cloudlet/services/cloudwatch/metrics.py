"""Reading metrics back: listings, and statistics over periods (the layout is api.py's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from cloudlet.store import Transaction

from .api import Stats, bucket_of, dims_key, metrics_prefix, points_prefix

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


def scan_metrics(tx: Transaction, account: str, region: str, namespace: str | None, name: str | None,
                 after: list[str] | None, chunk: int = 500) -> Iterator[tuple[list[str], dict[str, Any]]]:
    """`([namespace, name, dims], record)` of every metric (of `namespace`, of `name` in it), in
    key order, after the position `after`."""
    within = () if namespace is None else (namespace,) if name is None else (namespace, name)
    prefix = metrics_prefix(account, region)
    scope = prefix + within
    cursor = None if after is None else prefix + tuple(after)
    while True:
        rows = tx.range(scope, after=cursor, limit=chunk)
        for key, raw in rows:
            yield list(key[len(prefix):]), json.loads(raw)
        if len(rows) < chunk:
            return
        cursor = rows[-1][0]


def described(position: list[str], record: dict[str, Any]) -> dict[str, Any]:
    """A metric as ListMetrics lists it."""
    return {"Namespace": position[0], "MetricName": position[1],
            "Dimensions": [{"Name": n, "Value": v} for n, v in record["d"]]}


def read_buckets(tx: Transaction, account: str, region: str, namespace: str, name: str,
                 dims: tuple[tuple[str, str], ...], start_ms: int, end_ms: int,
                 unit: str | None) -> dict[tuple[int, str], Stats]:
    """The merged points of one metric by `(bucket_ms, unit)`, for buckets in [start, end)."""
    prefix = points_prefix(account, region, namespace, name, dims_key(dims))
    out: dict[tuple[int, str], Stats] = {}
    after = None
    start = prefix + (bucket_of(start_ms, 1),)
    end = prefix + (end_ms,)
    while True:
        rows = tx.range(prefix, start=start, after=after, end=end, limit=1000)
        for key, raw in rows:
            bucket, point_unit = key[-3], key[-2]
            if unit is not None and point_unit != unit:
                continue
            stats = Stats(*json.loads(raw))
            found = out.get((bucket, point_unit))
            out[(bucket, point_unit)] = stats if found is None else found.merge(stats)
        if len(rows) < 1000:
            return out
        after = rows[-1][0]


def by_period(buckets: dict[tuple[int, str], Stats], start_ms: int, period_s: int) -> dict[tuple[int, str], Stats]:
    """Buckets merged into periods of `period_s` starting at `start_ms`: `(period_start, unit)`."""
    period_ms = period_s * 1000
    out: dict[tuple[int, str], Stats] = {}
    for (bucket, unit), stats in buckets.items():
        at = start_ms + (bucket - start_ms) // period_ms * period_ms
        found = out.get((at, unit))
        out[(at, unit)] = stats if found is None else found.merge(stats)
    return out


def statistic(stats: Stats, name: str) -> float:
    if name == "SampleCount":
        return stats.samples
    if name == "Sum":
        return stats.sum
    if name == "Minimum":
        return stats.min
    if name == "Maximum":
        return stats.max
    return stats.sum / stats.samples if stats.samples else 0.0
