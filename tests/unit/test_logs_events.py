"""Log event storage: append_events, GetLogEvents pages, FilterLogEvents merging, retention."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from cloudlet.services.logs import events as ev
from cloudlet.services.logs.filter_pattern import compile_pattern
from cloudlet.services.logs.groups import (
    InvalidParameterException,
    ResourceNotFoundException,
    group_key,
    retention_key,
    stream_key,
    streams_prefix,
)
from cloudlet.store import Store
from cloudlet.store.sqlite import SQLiteStore
from tests.conftest import PG_URL, require_postgres

A, R = "000000000000", "us-east-1"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path: Path):
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "state.db")
        yield s
        s.close()
        return
    require_postgres()
    import psycopg

    from cloudlet.store.postgres import PostgresStore

    schema = f"t_{uuid.uuid4().hex[:16]}"
    s = PostgresStore(PG_URL, schema=schema, max_size=12)
    yield s
    s.close()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def meta(store: Store, group: str, stream: str) -> dict:
    return store.get_json(stream_key(A, R, group, stream))


def page(store: Store, group: str, stream: str, **kw) -> dict:
    with store.transaction(write=False) as tx:
        return ev.read_stream(tx, A, R, group, stream, **kw)


def filtered(store: Store, group: str, **kw) -> dict:
    with store.transaction(write=False) as tx:
        streams = {key[-1]: store_json(raw) for key, raw in tx.range(streams_prefix(A, R, group))}
        return ev.filter_group(tx, A, R, group, streams, **kw)


def store_json(raw: bytes) -> dict:
    import json

    return json.loads(raw)


def test_append_creates_group_and_stream_and_keeps_metadata(store):
    ev.append_events(store, A, R, "/aws/lambda/f", "s", [(300, "c"), (100, "a"), (200, "bé")])
    assert store.get_json(group_key(A, R, "/aws/lambda/f"))["logGroupClass"] == "STANDARD"
    m = meta(store, "/aws/lambda/f", "s")
    assert (m["firstEventTimestamp"], m["lastEventTimestamp"], m["seq"]) == (100, 300, 3)
    assert m["storedBytes"] == len("c") + len("a") + len("bé".encode())
    assert m["lastIngestionTime"] >= m["creationTime"]
    ev.append_events(store, A, R, "/aws/lambda/f", "s", [(50, "first")])
    ev.append_events(store, A, R, "/aws/lambda/f", "s", [])
    m = meta(store, "/aws/lambda/f", "s")
    assert (m["firstEventTimestamp"], m["lastEventTimestamp"], m["seq"]) == (50, 300, 4)
    got = page(store, "/aws/lambda/f", "s", start_from_head=True)["events"]
    assert [e["message"] for e in got] == ["first", "a", "bé", "c"]
    assert all(e["ingestionTime"] >= m["creationTime"] for e in got)


def test_write_events_without_create_needs_group_and_stream(store):
    with pytest.raises(ResourceNotFoundException, match="log group does not exist"):
        ev.write_events(store, A, R, "g", "s", [(1, "x")], create=False)
    ev.append_events(store, A, R, "g", "other", [(1, "x")])
    with pytest.raises(ResourceNotFoundException, match="log stream does not exist"):
        ev.write_events(store, A, R, "g", "s", [(1, "x")], create=False)


def test_equal_timestamps_keep_arrival_order(store):
    for i in range(5):
        ev.append_events(store, A, R, "g", "s", [(7, f"m{i}")])
    assert [e["message"] for e in page(store, "g", "s")["events"]] == [f"m{i}" for i in range(5)]


def test_concurrent_appends_from_threads(store):
    errors = []

    def worker(n: int) -> None:
        try:
            for i in range(25):
                ev.append_events(store, A, R, "g", "shared", [(i, f"w{n}-{i}")])
                ev.append_events(store, A, R, "g", f"own-{n}", [(i, "x"), (i, "y")])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert meta(store, "g", "shared")["seq"] == 150
    events = page(store, "g", "shared", start_from_head=True)["events"]
    assert len(events) == 150 and len({e["message"] for e in events}) == 150
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert all(meta(store, "g", f"own-{n}")["seq"] == 50 for n in range(6))


def test_get_pages_forward_from_head(store):
    ev.append_events(store, A, R, "g", "s", [(t, f"e{t}") for t in range(10)])
    first = page(store, "g", "s", start_from_head=True, limit=4)
    assert [e["timestamp"] for e in first["events"]] == [0, 1, 2, 3]
    for token in (first["nextForwardToken"], first["nextBackwardToken"]):
        assert token[:2] in ("f/", "b/") and token.endswith("/s") and len(token) == 60
    second = page(store, "g", "s", token=first["nextForwardToken"], limit=4)
    assert [e["timestamp"] for e in second["events"]] == [4, 5, 6, 7]
    third = page(store, "g", "s", token=second["nextForwardToken"], limit=4)
    assert [e["timestamp"] for e in third["events"]] == [8, 9]
    end = page(store, "g", "s", token=third["nextForwardToken"], limit=4)
    assert end["events"] == [] and end["nextForwardToken"] == third["nextForwardToken"]
    # new events show up behind the same token
    ev.append_events(store, A, R, "g", "s", [(20, "late")])
    more = page(store, "g", "s", token=third["nextForwardToken"])
    assert [e["message"] for e in more["events"]] == ["late"]
    # and going back from the second page gives the first
    back = page(store, "g", "s", token=second["nextBackwardToken"], limit=4)
    assert [e["timestamp"] for e in back["events"]] == [0, 1, 2, 3]
    start = page(store, "g", "s", token=back["nextBackwardToken"], limit=4)
    assert start["events"] == [] and start["nextBackwardToken"] == back["nextBackwardToken"]


def test_get_default_reads_the_tail(store):
    ev.append_events(store, A, R, "g", "s", [(t, f"e{t}") for t in range(10)])
    tail = page(store, "g", "s", limit=3)
    assert [e["timestamp"] for e in tail["events"]] == [7, 8, 9]
    before = page(store, "g", "s", token=tail["nextBackwardToken"], limit=3)
    assert [e["timestamp"] for e in before["events"]] == [4, 5, 6]
    after = page(store, "g", "s", token=tail["nextForwardToken"], limit=3)
    assert after["events"] == [] and after["nextForwardToken"] == tail["nextForwardToken"]


def test_get_time_bounds(store):
    ev.append_events(store, A, R, "g", "s", [(t, f"e{t}") for t in range(10)])
    got = page(store, "g", "s", start_time=3, end_time=6, start_from_head=True)
    assert [e["timestamp"] for e in got["events"]] == [3, 4, 5]          # endTime is exclusive
    got = page(store, "g", "s", start_time=3, end_time=6)
    assert [e["timestamp"] for e in got["events"]] == [3, 4, 5]
    assert page(store, "g", "s", start_time=6, end_time=6)["events"] == []
    empty = page(store, "g", "s", start_time=100, start_from_head=True)
    assert empty["events"] == [] and empty["nextForwardToken"].startswith("f/")


def test_get_empty_stream_and_bad_tokens(store):
    ev.write_events(store, A, R, "g", "s", [], create=True)
    got = page(store, "g", "s")
    assert got["events"] == [] and got["nextForwardToken"] and got["nextBackwardToken"]
    for bad in ("x", "f/123/s", "q/" + "0" * 56 + "/s", "f/" + "0" * 56 + "/x", "f/" + "a" * 56 + "/s"):
        with pytest.raises(InvalidParameterException, match="nextToken is invalid"):
            page(store, "g", "s", token=bad)


def test_get_page_is_capped_at_one_megabyte(store):
    big = "x" * 100_000
    ev.append_events(store, A, R, "g", "s", [(t, big) for t in range(15)])
    first = page(store, "g", "s", start_from_head=True)
    assert len(first["events"]) == 10
    rest = page(store, "g", "s", token=first["nextForwardToken"])
    assert [e["timestamp"] for e in rest["events"]] == list(range(10, 15))


def test_filter_merges_streams_by_timestamp(store):
    ev.append_events(store, A, R, "g", "b", [(1, "b1"), (3, "b3"), (5, "b5")])
    ev.append_events(store, A, R, "g", "a", [(2, "a2"), (3, "a3"), (6, "a6")])
    ev.append_events(store, A, R, "g", "c", [(4, "c4")])
    got = filtered(store, "g")
    assert [e["message"] for e in got["events"]] == ["b1", "a2", "a3", "b3", "c4", "b5", "a6"]
    assert "nextToken" not in got
    assert {e["logStreamName"] for e in got["events"]} == {"a", "b", "c"}
    ids = [e["eventId"] for e in got["events"]]
    assert len(set(ids)) == len(ids) and all(len(i) == 56 and i.isdigit() for i in ids)
    # inclusive time bounds
    got = filtered(store, "g", start_time=3, end_time=5)
    assert [e["message"] for e in got["events"]] == ["a3", "b3", "c4", "b5"]
    got = filtered(store, "g", matches=compile_pattern("?a3 ?b5 ?c4"))
    assert [e["message"] for e in got["events"]] == ["a3", "c4", "b5"]


def test_filter_pagination_returns_each_event_once(store):
    for name in ("s1", "s2", "s3"):
        ev.append_events(store, A, R, "g", name, [(t % 7, f"{name}-{t}") for t in range(20)])
    seen, token, pages = [], None, 0
    while True:
        got = filtered(store, "g", limit=4, token=token)
        seen += [e["message"] for e in got["events"]]
        pages += 1
        token = got.get("nextToken")
        if not token:
            break
    assert sorted(seen) == sorted(f"{n}-{t}" for n in ("s1", "s2", "s3") for t in range(20))
    assert len(seen) == 60 and pages == 15
    full = [e["message"] for e in filtered(store, "g")["events"]]
    assert seen == full


def test_filter_scan_budget_gives_empty_pages_with_token(store):
    ev.append_events(store, A, R, "g", "s", [(t, "noise") for t in range(10)] + [(10, "needle")])
    matcher = compile_pattern("needle")
    got = filtered(store, "g", matches=matcher, scan_budget=4)
    assert got["events"] == [] and got["nextToken"]
    found = []
    token = got["nextToken"]
    while token:
        got = filtered(store, "g", matches=matcher, scan_budget=4, token=token)
        found += got["events"]
        token = got.get("nextToken")
    assert [e["message"] for e in found] == ["needle"]
    with pytest.raises(InvalidParameterException):
        filtered(store, "g", token="not-a-token")


def test_expire_events_honours_retention(store):
    day = ev.DAY_MS
    now = 100 * day
    ev.append_events(store, A, R, "g", "s", [(now - 10 * day, "old"), (now - 2 * day, "older"), (now, "new")])
    ev.append_events(store, A, R, "g", "gone", [(now - 10 * day, "old")])
    ev.append_events(store, A, R, "keep", "s", [(now - 10 * day, "old")])
    assert ev.expire_events(store, now=now) == 0          # no retention policy: nothing expires
    store.put_json(retention_key(A, R, "g"), 3)
    assert ev.expire_events(store, now=now, batch=1) == 2
    assert [e["message"] for e in page(store, "g", "s")["events"]] == ["older", "new"]
    m = meta(store, "g", "s")
    assert m["firstEventTimestamp"] == now - 2 * day and m["storedBytes"] == len("older") + len("new")
    assert "firstEventTimestamp" not in meta(store, "g", "gone")
    assert [e["message"] for e in page(store, "keep", "s")["events"]] == ["old"]
