"""Metric filters: patterns that turn a log group's events into CloudWatch data points.

State layout (account and region scoped, next to the group's keys in groups.py):

    (account, region, "logs", "metricfilter", group, filterName)   -> filter record (JSON)

A record holds filterPattern, metricTransformations (exactly one), creationTime,
applyOnTransformedLogs, fieldSelectionCriteria and emitSystemFieldDimensions.

Evaluation happens on ingest (ingest.py): a hook runs in every appending transaction, matches
the appended events against the group's filters, aggregates what they produce per (metric,
dimensions, unit, minute) and writes those statistics with the events, through CloudWatch's
internal API. The group's compiled filters are cached in process (group_cache.py; a group
without filters too, the common case, so an append to it reads nothing); Put/Delete evict the
entry here and, through the store's notifications, on other replicas; entries also expire after
`CACHE_TTL_S`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from cloudlet.call import CallContext
from cloudlet.services.cloudwatch.api import CloudWatchApi, Point, Stats, bucket_of
from cloudlet.services.paging import decode_token, encode_token
from cloudlet.store import Store, Transaction
from cloudlet.store.keyspace import resource_key, resource_prefix

from .events import Event, now_ms
from .filter_pattern import (
    Extractor,
    FilterPatternError,
    compile_pattern,
    extractor,
    parse_selector,
    pattern_kind,
)
from .group_cache import GroupCache
from .groups import (
    GROUP_NOT_FOUND,
    E,
    InvalidParameterException,
    ResourceNotFoundException,
    group_arn,
    group_key,
    invalid_token,
)

LimitExceededException = E.LimitExceededException

MAX_FILTERS = 100          # metric filters per log group (a hard quota)
MAX_DIMENSIONS = 3
CHANNEL = "logs.metricfilters"
CACHE_TTL_S = 5.0
NOT_FOUND = "The specified metric filter does not exist."
LIMIT_EXCEEDED = "Resource limit exceeded."


def filter_key(account: str, region: str, group: str, name: str) -> tuple:
    return resource_key(account, region, "logs", "metricfilter", group, name)


def filters_prefix(account: str, region: str, group: str | None = None) -> tuple:
    base = resource_prefix(account, region, "logs", "metricfilter")
    return base if group is None else base + (group,)


# ---- validation ----

def _invalid_transformation(problem: str) -> Exception:
    return InvalidParameterException(f"Invalid metric transformation: {problem}")


def _is_selector(text: str, kind: str) -> bool:
    """`$.a.b` for a JSON pattern; `$name` or `$3` for a space-delimited one."""
    if kind == "json":
        return parse_selector(text) is not None
    return kind == "delimited" and len(text) > 1 and text[0] == "$" and not text.startswith("$.")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def compile_filter_pattern(pattern: str):
    try:
        return compile_pattern(pattern)
    except FilterPatternError as exc:
        raise InvalidParameterException(f"Invalid filter pattern: {exc}") from None


def check_transformation(pattern: str, t: dict) -> None:
    """AWS's rules for a metric transformation of a filter with `pattern`."""
    kind = pattern_kind(compile_filter_pattern(pattern))
    value = t["metricValue"]
    if _number(value) is None and not _is_selector(value, kind):
        raise _invalid_transformation("metric value must be valid number or selector")
    dims = t.get("dimensions") or {}
    if not dims:
        return
    if kind == "text":
        raise InvalidParameterException("The specified filter pattern does not support dimensions")
    if t.get("defaultValue") is not None:
        raise _invalid_transformation("dimensions and default value are mutually exclusive properties")
    if len(dims) > MAX_DIMENSIONS:
        raise _invalid_transformation(f"a metric filter can have at most {MAX_DIMENSIONS} dimensions")
    if not all(_is_selector(v, kind) for v in dims.values()):
        raise _invalid_transformation("dimension value must be valid selector")


def new_filter(params: dict, now_ms: int) -> dict:
    record = {"filterPattern": params["filterPattern"], "metricTransformations": params["metricTransformations"],
              "creationTime": now_ms, "applyOnTransformedLogs": bool(params.get("applyOnTransformedLogs", False))}
    for optional in ("fieldSelectionCriteria", "emitSystemFieldDimensions"):
        if params.get(optional):
            record[optional] = params[optional]
    return record


def describe_filter(group: str, name: str, record: dict) -> dict:
    """A filter as DescribeMetricFilters gives it (AWS's field order)."""
    out = {"filterName": name, "filterPattern": record["filterPattern"],
           "metricTransformations": record["metricTransformations"], "creationTime": record["creationTime"],
           "logGroupName": group, "applyOnTransformedLogs": record.get("applyOnTransformedLogs", False)}
    for optional in ("fieldSelectionCriteria", "emitSystemFieldDimensions"):
        if record.get(optional):
            out[optional] = record[optional]
    return out


def count_filters(tx: Transaction, account: str, region: str, group: str) -> int:
    return len(tx.range(filters_prefix(account, region, group), limit=MAX_FILTERS + 1))


def test_filter(pattern: str, messages: Sequence[str]) -> list[dict]:
    """TestMetricFilter's matches: eventNumber counts from 0, extractedValues as AWS names them."""
    extract = extractor(compile_filter_pattern(pattern))
    matches = []
    for number, message in enumerate(messages):
        hit = extract(message)
        if hit is not None:
            matches.append({"eventNumber": number, "eventMessage": message, "extractedValues": hit.values})
    return matches


# ---- evaluation on ingest ----

class Compiled(NamedTuple):
    extract: Extractor
    namespace: str
    metric: str
    value: float | None        # a constant metricValue, else ...
    selector: str              # ... the selector it names
    default: float | None
    dimensions: tuple[tuple[str, str], ...]    # (dimension name, selector), sorted by name
    unit: str


def compile_filter(record: dict) -> Compiled:
    t = record["metricTransformations"][0]
    value = _number(t["metricValue"])
    default = t.get("defaultValue")
    return Compiled(extractor(compile_pattern(record["filterPattern"])), t["metricNamespace"], t["metricName"],
                    value, t["metricValue"], None if default is None else float(default),
                    tuple(sorted((t.get("dimensions") or {}).items())), t.get("unit") or "None")


def evaluate(filters: Sequence[Compiled], events: Sequence[Event]) -> list[Point]:
    """The points `events` produce: per (filter's metric, dimensions, unit, minute) one statistic
    set of the values of matching events (a filter's defaultValue for the others)."""
    agg: dict[tuple[str, str, tuple[tuple[str, str], ...], str, int], Stats] = {}
    for f in filters:
        for ts, message in events:
            hit = f.extract(message)
            dims: tuple[tuple[str, str], ...] = ()
            if hit is None:
                if f.default is None:
                    continue
                value = f.default
            else:
                if f.value is not None:
                    value = f.value
                else:
                    found = hit.lookup(f.selector)
                    number = None if found is None else _number(found)
                    if number is None:     # a value that is not a number publishes nothing
                        continue
                    value = number
                if f.dimensions:
                    looked = tuple((name, hit.lookup(selector)) for name, selector in f.dimensions)
                    if any(v is None or v == "" for _, v in looked):
                        continue
                    dims = looked  # type: ignore[assignment]
            key = (f.namespace, f.metric, dims, f.unit, bucket_of(ts))
            found_stats = agg.get(key)
            one = Stats(1.0, value, value, value)
            agg[key] = one if found_stats is None else found_stats.merge(one)
    return [Point(ns, metric, dims, unit, minute, stats) for (ns, metric, dims, unit, minute), stats in agg.items()]


class MetricFilters:
    """The ingest hook and the per-group cache of compiled filters."""

    def __init__(self, store: Store, cloudwatch: CloudWatchApi | None) -> None:
        self.store = store
        self.cloudwatch = cloudwatch
        self.cache: GroupCache[tuple[Compiled, ...]] = GroupCache(
            store, CHANNEL, CACHE_TTL_S, self._load, name="logs-metric-filters")

    # -- cache --

    def changed(self, tx: Transaction, account: str, region: str, group: str) -> None:
        """Call in the transaction that changes a group's filters (group_cache.py)."""
        self.cache.changed(tx, account, region, group)

    def reset(self) -> None:
        self.cache.clear()

    @staticmethod
    def _load(tx: Transaction, account: str, region: str, group: str) -> tuple[Compiled, ...]:
        return tuple(compile_filter(json.loads(raw)) for _, raw in tx.range(filters_prefix(account, region, group)))

    def _filters(self, tx: Transaction, account: str, region: str, group: str) -> tuple[Compiled, ...]:
        return self.cache.get(tx, account, region, group)

    # -- operations --

    def put(self, ctx: Any, params: dict) -> dict:
        group, name = params["logGroupName"], params["filterName"]
        check_transformation(params["filterPattern"], params["metricTransformations"][0])
        key = filter_key(ctx.account, ctx.region, group, name)

        def put(tx: Transaction) -> None:
            if tx.get(group_key(ctx.account, ctx.region, group)) is None:
                raise ResourceNotFoundException(GROUP_NOT_FOUND)
            existing = tx.get_json_versioned(key)
            if existing is None and count_filters(tx, ctx.account, ctx.region, group) >= MAX_FILTERS:
                raise LimitExceededException(LIMIT_EXCEEDED)
            record = new_filter(params, now_ms())
            if existing is None:
                tx.put_json(key, record, if_absent=True)
            else:
                tx.put_json(key, record, if_version=existing[1])
            self.changed(tx, ctx.account, ctx.region, group)

        self.store.transact(put)
        return {}

    def delete(self, ctx: Any, group: str, name: str) -> dict:
        with self.store.transaction() as tx:
            if tx.get(group_key(ctx.account, ctx.region, group)) is None:
                raise ResourceNotFoundException(GROUP_NOT_FOUND)
            if not tx.delete(filter_key(ctx.account, ctx.region, group, name)):
                raise ResourceNotFoundException(NOT_FOUND)
            self.changed(tx, ctx.account, ctx.region, group)
        return {}

    def delete_group(self, tx: Transaction, account: str, region: str, group: str) -> None:
        """In the transaction deleting a log group: its filters go with it."""
        if tx.delete_range(filters_prefix(account, region, group)):
            self.changed(tx, account, region, group)

    def describe(self, ctx: Any, params: dict) -> dict:
        group, prefix = params.get("logGroupName"), params.get("filterNamePrefix")
        metric, namespace = params.get("metricName"), params.get("metricNamespace")
        if (metric is None) != (namespace is None):
            given, missing = ("metricName", "metricNamespace") if metric is not None else \
                ("metricNamespace", "metricName")
            raise InvalidParameterException(f"If you include the {given} parameter in your request, you must also "
                                            f"include the {missing} parameter.")
        limit = params.get("limit") or 50
        after = decode_token(params.get("nextToken"), invalid_token,
                             lambda p: isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p))
        scope = filters_prefix(ctx.account, ctx.region, group)
        base = filters_prefix(ctx.account, ctx.region)
        out: list[dict] = []
        token = None
        with self.store.transaction(write=False) as tx:
            if group is not None and tx.get(group_key(ctx.account, ctx.region, group)) is None:
                raise ResourceNotFoundException(GROUP_NOT_FOUND)
            start = scope + (prefix,) if group is not None and prefix else None
            cursor = None if after is None else base + tuple(after)
            while True:
                rows = tx.range(scope, start=start, after=cursor, limit=200)
                for key, raw in rows:
                    owner, name = key[-2], key[-1]
                    if start is not None and not name.startswith(prefix):
                        rows = []
                        break
                    record = json.loads(raw)
                    t = record["metricTransformations"][0]
                    if metric is not None and (t["metricName"] != metric or t["metricNamespace"] != namespace):
                        continue
                    if len(out) == limit:
                        token = encode_token([out[-1]["logGroupName"], out[-1]["filterName"]])
                        rows = []
                        break
                    out.append(describe_filter(owner, name, record))
                if len(rows) < 200:
                    break
                cursor = rows[-1][0]
        result: dict = {"metricFilters": out}
        if token:
            result["nextToken"] = token
        return result

    # -- the hook --

    def on_ingest(self, tx: Transaction, account: str, region: str, group: str, stream: str,
                  events: Sequence[Event]) -> None:
        filters = self._filters(tx, account, region, group)
        if not filters or self.cloudwatch is None:
            return
        points = evaluate(filters, events)
        if points:
            call = CallContext(account=account, region=region, principal="logs.amazonaws.com",
                               source_arn=group_arn(account, region, group), source_account=account)
            self.cloudwatch.put_points(tx, call, points)
