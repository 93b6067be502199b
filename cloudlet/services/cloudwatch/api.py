"""What other services may ask of CloudWatch: keep metric data points.

CloudWatch keeps statistics, not raw values: a data point is `(SampleCount, Sum, Minimum,
Maximum)` of one metric (namespace, name, dimensions) with one unit over one period of time.
Writers aggregate what they have (a metric filter: the matching events of one append, per
minute) and call `put_data` (or `put_points` for several) in their own transaction, so the
points commit with whatever caused them. PutMetricData writes through the same functions.

State layout (account and region scoped, as on AWS; see cloudlet/store/keyspace.py):

    (account, region, "cloudwatch", "metric", namespace, name, dims)
        -> {"d": [[name, value], ...], "t": last_put_ms}            (JSON; ListMetrics)
    (account, region, "cloudwatch", "point", namespace, name, dims, bucket_ms, unit, uid)
        -> [SampleCount, Sum, Minimum, Maximum]                     (JSON)

`dims` is the metric's dimension set in one canonical string (`dims_key`: pairs sorted by
name), so the same set in any order is the same metric. `bucket_ms` is the point's time
truncated to its storage resolution (60 s; 1 s for high-resolution data), `unit` the unit
given ("None" without one). Points are only ever added (`uid` is random): writers never read
and never conflict; reads (metrics.py) merge every point of a bucket. So a hot writer (log
ingestion) costs two puts per metric and append, whatever the number of events.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from cloudlet.call import CallContext
from cloudlet.store import Transaction
from cloudlet.store.keyspace import resource_key, resource_prefix

SERVICE = "cloudwatch"
MINUTE_MS = 60_000
NO_UNIT = "None"

Dimensions = Mapping[str, str] | Sequence[tuple[str, str]]


class Stats(NamedTuple):
    """CloudWatch's statistic set of some values."""
    samples: float
    sum: float
    min: float
    max: float

    @classmethod
    def of(cls, value: float) -> Stats:
        return cls(1.0, value, value, value)

    def merge(self, other: Stats) -> Stats:
        return Stats(self.samples + other.samples, self.sum + other.sum, min(self.min, other.min),
                     max(self.max, other.max))


class Point(NamedTuple):
    """One aggregated data point to keep."""
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]   # sorted by name (see `canonical`)
    unit: str
    timestamp_ms: int
    stats: Stats
    resolution_s: int = 60


def canonical(dimensions: Dimensions | None) -> tuple[tuple[str, str], ...]:
    """A dimension set as pairs sorted by name."""
    if not dimensions:
        return ()
    pairs = dimensions.items() if isinstance(dimensions, Mapping) else dimensions
    return tuple(sorted((str(k), str(v)) for k, v in pairs))


def dims_key(pairs: tuple[tuple[str, str], ...]) -> str:
    """The key element naming a canonical dimension set."""
    return json.dumps(pairs, separators=(",", ":"), ensure_ascii=False)


def metric_key(account: str, region: str, namespace: str, metric: str, dims: str) -> tuple[object, ...]:
    return resource_key(account, region, SERVICE, "metric", namespace, metric, dims)


def metrics_prefix(account: str, region: str, *within: str) -> tuple[object, ...]:
    """Every metric of the account and region, or of a namespace (and name)."""
    return resource_prefix(account, region, SERVICE, "metric", *within)


def points_prefix(account: str, region: str, namespace: str, metric: str, dims: str) -> tuple[object, ...]:
    return resource_prefix(account, region, SERVICE, "point", namespace, metric, dims)


def bucket_of(timestamp_ms: int, resolution_s: int = 60) -> int:
    step = 1000 if resolution_s == 1 else MINUTE_MS
    return timestamp_ms - timestamp_ms % step


def encode_point(stats: Stats) -> bytes:
    return json.dumps(list(stats), separators=(",", ":")).encode()


class CloudWatchApi:
    """The internal API (stateless: everything is in the caller's transaction)."""

    def put_data(self, tx: Transaction, call: CallContext, namespace: str, metric: str,
                 dimensions: Dimensions | None, unit: str | None, timestamp_ms: int, statistics: Stats) -> None:
        """Keep one aggregated data point of the call's account and region in `tx`."""
        self.put_points(tx, call, [Point(namespace, metric, canonical(dimensions), unit or NO_UNIT,
                                         timestamp_ms, statistics)])

    def put_points(self, tx: Transaction, call: CallContext, points: Iterable[Point], now_ms: int | None = None) -> None:
        """Keep several points (nothing is validated: callers are internal or validated)."""
        put_points(tx, call.account, call.region, points, now_ms)


def put_points(tx: Transaction, account: str, region: str, points: Iterable[Point], now_ms: int | None = None) -> None:
    """Write `points` (and their metrics' records, `t` = `now_ms`, the time of the put) in `tx`."""
    rows: list[tuple[tuple[object, ...], bytes]] = []
    metrics: dict[tuple[str, str, str], tuple[tuple[str, str], ...]] = {}
    for point in points:
        dims = dims_key(point.dimensions)
        ident = (point.namespace, point.metric, dims)
        metrics[ident] = point.dimensions
        rows.append((points_prefix(account, region, *ident)
                     + (bucket_of(point.timestamp_ms, point.resolution_s), point.unit, random.getrandbits(62)),
                     encode_point(point.stats)))
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    for ident, pairs in metrics.items():
        record = {"d": [list(pair) for pair in pairs], "t": now}
        rows.append((metric_key(account, region, *ident), json.dumps(record, separators=(",", ":")).encode()))
    if rows:
        tx.put_many(rows)
