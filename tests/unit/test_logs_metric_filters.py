"""Metric filters without a server: validation, extraction, aggregation on ingest, the cache of
compiled filters and its invalidation, and CloudWatch's reads of what they wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudlet.call import CallContext
from cloudlet.services.cloudwatch import metrics as cwm
from cloudlet.services.cloudwatch.api import CloudWatchApi, Point, Stats, canonical, put_points
from cloudlet.services.logs.filter_pattern import compile_pattern, extractor
from cloudlet.services.logs.groups import InvalidParameterException
from cloudlet.services.logs.ingest import Ingest
from cloudlet.services.logs.metric_filters import (
    CACHE_TTL_S,
    MetricFilters,
    check_transformation,
    compile_filter,
    evaluate,
    filter_key,
)
from cloudlet.store.sqlite import SQLiteStore

A, R = "000000000000", "us-east-1"
MINUTE = 60_000
T0 = 1_700_000_040_000   # on a minute


@pytest.fixture
def store(tmp_path: Path):
    s = SQLiteStore(tmp_path / "state.db")
    yield s
    s.close()


def record(pattern: str, value: str = "1", **t) -> dict:
    return {"filterPattern": pattern, "creationTime": 0, "metricTransformations": [
        {"metricName": "M", "metricNamespace": "NS", "metricValue": value, **t}]}


def test_extracted_lookup():
    hit = extractor(compile_pattern('{ $.a.b = "x" }'))('{"a": {"b": "x", "n": 2.5}, "ok": true, "l": [1, 2]}')
    assert hit is not None and hit.values == {"$.a.b": "x"}
    assert (hit.lookup("$.a.n"), hit.lookup("$.ok"), hit.lookup("$.l[1]"), hit.lookup("$.nope")) == \
        ("2.5", "true", "2", None)
    fields = extractor(compile_pattern("[ip, ..., size]"))("1.2.3.4 - x 99")
    assert fields is not None and (fields.lookup("$size"), fields.lookup("$2"), fields.lookup("$ip")) == \
        ("99", "-", "1.2.3.4")
    assert extractor(compile_pattern("ERROR"))("all fine") is None
    assert extractor(None)("anything").values == {}


@pytest.mark.parametrize(("pattern", "t", "problem"), [
    ("{ $.a = 1 }", {"metricValue": "$.a"}, None),
    ("[a, b]", {"metricValue": "$b", "dimensions": {"A": "$a", "First": "$1"}}, None),
    ("ERROR", {"metricValue": "2.5", "defaultValue": 0.0}, None),
    ("ERROR", {"metricValue": "$.a"}, "metric value must be valid number or selector"),
    ("[a]", {"metricValue": "$.a"}, "metric value must be valid number or selector"),
    ("ERROR", {"metricValue": "1", "dimensions": {"A": "$.a"}}, "does not support dimensions"),
    ("{ $.a = 1 }", {"metricValue": "1", "dimensions": {"A": "x"}}, "dimension value must be valid selector"),
    ("{ $.a = 1 }", {"metricValue": "1", "dimensions": {"A": "$.a"}, "defaultValue": 1.0}, "mutually exclusive"),
    ("{ $.a = 1 }", {"metricValue": "1", "dimensions": {k: "$.a" for k in "ABCD"}}, "at most 3"),
])
def test_check_transformation(pattern, t, problem):
    if problem is None:
        check_transformation(pattern, t)
        return
    with pytest.raises(InvalidParameterException) as exc:
        check_transformation(pattern, t)
    assert problem in exc.value.message


def test_evaluate_aggregates_per_metric_dimensions_and_minute():
    latency = compile_filter(record("{ $.ms >= 0 }", "$.ms", dimensions={"Op": "$.op"}, unit="Milliseconds"))
    errors = compile_filter(record("ERROR", "1", defaultValue=0.0))
    events = [(T0, json.dumps({"ms": 10, "op": "get"})), (T0 + 5, json.dumps({"ms": 30, "op": "get"})),
              (T0 + MINUTE, json.dumps({"ms": 7, "op": "get"})), (T0 + 9, json.dumps({"ms": "n/a", "op": "get"})),
              (T0 + 10, json.dumps({"ms": 1})), (T0 + 11, "ERROR boom"), (T0 + MINUTE + 1, "ERROR again")]
    points = {(p.metric, p.dimensions, p.timestamp_ms): (p.stats, p.unit) for p in evaluate([latency, errors], events)}
    assert points[("M", (("Op", "get"),), T0)] == (Stats(2.0, 40.0, 10.0, 30.0), "Milliseconds")
    assert points[("M", (("Op", "get"),), T0 + MINUTE)] == (Stats(1.0, 7.0, 7.0, 7.0), "Milliseconds")
    assert points[("M", (), T0)] == (Stats(5.0, 1.0, 0.0, 1.0), "None")     # 4 defaults of 0, one ERROR
    assert points[("M", (), T0 + MINUTE)] == (Stats(2.0, 1.0, 0.0, 1.0), "None")
    assert len(points) == 4   # the event without "op" and the one whose value is no number publish nothing


def test_ingest_hook_writes_points_with_the_events_and_caches_filters(store):
    filters = MetricFilters(store, CloudWatchApi())
    ingest = Ingest(store)
    ingest.add_hook(filters.on_ingest)
    store.put_json(("000000000000", R, "logs", "group", "g"), {"creationTime": 0})
    reads = []
    original = filters._filters

    def counting(tx, *key):
        found = original(tx, *key)
        reads.append(len(found))
        return found

    ingest.write_now(A, R, "g", "s", [(T0, "ERROR a")], create=True)   # no filter: nothing written
    with store.transaction() as tx:
        tx.put_json(filter_key(A, R, "g", "f"), record("ERROR", "2"))
        filters.changed(tx, A, R, "g")
    ingest.write_now(A, R, "g", "s", [(T0, "ERROR a"), (T0 + 1, "fine"), (T0 + 2, "ERROR b")], create=True)
    ingest.write_now(A, R, "g", "s", [(T0 + 3, "ERROR c")], create=True)
    with store.transaction(write=False) as tx:
        buckets = cwm.read_buckets(tx, A, R, "NS", "M", (), T0 - MINUTE, T0 + MINUTE, None)
    assert buckets == {(T0, "None"): Stats(3.0, 6.0, 2.0, 2.0)}
    assert cwm.statistic(buckets[(T0, "None")], "Average") == 2.0
    filters._filters = counting  # type: ignore[method-assign]
    entry = filters.cache.entries[(A, R, "g")]
    ingest.write_now(A, R, "g", "s", [(T0 + 4, "ERROR d")], create=True)
    assert filters.cache.entries[(A, R, "g")] is entry   # served from the cache

    with store.transaction() as tx:   # a delete announced: the next append reads again
        tx.delete(filter_key(A, R, "g", "f"))
        filters.changed(tx, A, R, "g")
    assert (A, R, "g") not in filters.cache.entries
    ingest.write_now(A, R, "g", "s", [(T0 + 5, "ERROR e")], create=True)
    assert filters.cache.entries[(A, R, "g")][1] == ()
    with store.transaction(write=False) as tx:
        assert cwm.read_buckets(tx, A, R, "NS", "M", (), T0, T0 + MINUTE, None)[(T0, "None")].samples == 4.0


def test_cache_entries_expire_and_notes_clear_them(store, monkeypatch):
    filters = MetricFilters(store, CloudWatchApi())
    with store.transaction(write=False) as tx:
        assert filters._filters(tx, A, R, "g") == ()
    store.put_json(filter_key(A, R, "g", "f"), record("x"))      # written by "another process", unannounced
    with store.transaction(write=False) as tx:
        assert filters._filters(tx, A, R, "g") == ()               # still cached
    expires = filters.cache.entries[(A, R, "g")][0]
    monkeypatch.setattr("time.monotonic", lambda: expires + 0.001)
    with store.transaction(write=False) as tx:
        assert len(filters._filters(tx, A, R, "g")) == 1
    assert filters.cache.entries[(A, R, "g")][0] == pytest.approx(expires + 0.001 + CACHE_TTL_S)
    filters.cache.evict("")                                          # a listener reconnected: forget all
    assert filters.cache.entries == {}


def test_periods_and_units(store):
    call = CallContext(account=A, region=R)
    api = CloudWatchApi()
    with store.transaction() as tx:
        api.put_data(tx, call, "NS", "M", {"b": "2", "a": "1"}, "Count", T0 + 1000, Stats.of(1.0))
        api.put_data(tx, call, "NS", "M", [("a", "1"), ("b", "2")], "Count", T0 + 2 * MINUTE, Stats.of(3.0))
        api.put_data(tx, call, "NS", "M", {"a": "1", "b": "2"}, "Seconds", T0, Stats.of(9.0))
        put_points(tx, A, R, [Point("NS", "M", (), "None", T0 + 1500, Stats.of(4.0), 1)])   # high resolution
    dims = canonical({"a": "1", "b": "2"})
    with store.transaction(write=False) as tx:
        counts = cwm.read_buckets(tx, A, R, "NS", "M", dims, T0, T0 + 5 * MINUTE, "Count")
        every = cwm.read_buckets(tx, A, R, "NS", "M", dims, T0, T0 + 5 * MINUTE, None)
        fine = cwm.read_buckets(tx, A, R, "NS", "M", (), T0, T0 + MINUTE, None)
        listed = list(cwm.scan_metrics(tx, A, R, "NS", None, None))
    assert counts == {(T0, "Count"): Stats.of(1.0), (T0 + 2 * MINUTE, "Count"): Stats.of(3.0)}
    assert cwm.by_period(counts, T0, 300) == {(T0, "Count"): Stats(2.0, 4.0, 1.0, 3.0)}
    assert set(every) == {(T0, "Count"), (T0 + 2 * MINUTE, "Count"), (T0, "Seconds")}
    assert fine == {(T0 + 1000, "None"): Stats.of(4.0)}
    assert sorted(len(cwm.described(position, rec)["Dimensions"]) for position, rec in listed) == [0, 2]
    assert {"Name": "a", "Value": "1"} in cwm.described(*listed[0])["Dimensions"] + cwm.described(*listed[1])[
        "Dimensions"]
