"""Store contract tests, run against SQLite and PostgreSQL.

PostgreSQL comes from CLOUDLET_TEST_DATABASE_URL (default: local trust
auth). When it is unreachable those params skip, or fail when CI is set.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from cloudlet.store import ConflictError, PostgresUnavailable, Store, open_store, pack
from cloudlet.store.keys import unpack
from cloudlet.store.migrations import latest_version
from cloudlet.store.sqlite import SQLiteStore
from tests.conftest import PG_URL, require_postgres
from tests.support.stores import store_factory


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def make_store(request, tmp_path: Path):
    """Factory opening (or re-opening) the test's store; closes and cleans up."""
    with store_factory(request.param, tmp_path) as factory:
        yield factory


@pytest.fixture
def store(make_store) -> Store:
    return make_store()


def test_get_put_delete(store: Store):
    assert store.get(("a",)) is None
    assert store.put(("a",), b"1") == 1
    assert store.get(("a",)) == b"1"
    assert store.delete(("a",)) is True
    assert store.delete(("a",)) is False
    assert store.get(("a",)) is None
    with store.transaction() as tx:
        tx.put(("b", 1), b"x")
        assert tx.get(("b", 1)) == b"x"
        assert tx.delete(("b", 1))
        assert tx.get(("b", 1)) is None
    with pytest.raises(TypeError):
        store.put(("c",), "not bytes")  # type: ignore[arg-type]


def test_versions_and_conflicts(store: Store):
    k = ("acct", "q", 7)
    assert store.put(k, b"a") == 1
    assert store.put(k, b"b") == 2
    assert store.get_versioned(k) == (b"b", 2)
    assert store.put(k, b"c", if_version=2) == 3
    with pytest.raises(ConflictError):
        store.put(k, b"d", if_version=2)
    with pytest.raises(ConflictError):
        store.put(k, b"d", if_absent=True)
    with pytest.raises(ValueError):
        store.put(k, b"d", if_version=3, if_absent=True)
    assert store.get_versioned(k) == (b"c", 3)
    with pytest.raises(ConflictError):
        store.delete(k, if_version=1)
    assert store.delete(k, if_version=3) is True
    with pytest.raises(ConflictError):
        store.put(k, b"e", if_version=3)
    with pytest.raises(ConflictError):
        store.delete(k, if_version=3)
    assert store.put(k, b"e", if_absent=True) == 1
    with store.transaction() as tx:
        assert tx.get_versioned(k) == (b"e", 1)
        with pytest.raises(ConflictError):
            tx.put(k, b"f", if_absent=True)
        assert tx.put(k, b"f", if_version=1) == 2


def test_json_helpers(store: Store):
    assert store.put_json(("j",), {"a": [1, "é"], "b": None}) == 1
    assert store.get(("j",)) == '{"a":[1,"é"],"b":null}'.encode()
    assert store.get_json(("j",)) == {"a": [1, "é"], "b": None}
    assert store.get_json(("missing",), default={}) == {}
    with pytest.raises(TypeError):
        store.put_json(("j",), {"t": object()})
    with store.transaction() as tx:
        assert tx.get_json_versioned(("j",)) == ({"a": [1, "é"], "b": None}, 1)
        assert tx.put_json(("j",), [1], if_version=1) == 2


def test_range_ordering_and_bounds(store: Store):
    p = ("acct", "t")
    children = [
        (-(1 << 70),),
        (-5,),
        (0,),
        (3,),
        (1 << 70,),
        ("",),
        ("a",),
        ("a", 1),
        ("b",),
        (None,),
        (b"x",),
    ]
    with store.transaction() as tx:
        for i, c in enumerate(children):
            tx.put(p + c, str(i).encode())
        tx.put(p, b"the prefix key itself")
        tx.put(("acct", "s", 1), b"before")
        tx.put(("acct", "u", 1), b"after")
        tx.put(("acct", "t\x00"), b"string sibling")
    expected = [p + c for c in sorted(children, key=pack)]
    assert expected[0] == p + (None,) and expected[1] == p + (b"x",)
    assert [k for k, _ in store.range(p)][2:] == [
        p + ("",),
        p + ("a",),
        p + ("a", 1),
        p + ("b",),
        p + (-(1 << 70),),
        p + (-5,),
        p + (0,),
        p + (3,),
        p + (1 << 70,),
    ]
    rows = store.range(p)
    assert [k for k, _ in rows] == expected
    assert dict(rows)[p + (3,)] == str(children.index((3,))).encode()
    assert [k for k, _ in store.range(p, reverse=True)] == expected[::-1]
    assert [k for k, _ in store.range(p, limit=3)] == expected[:3]
    assert [k for k, _ in store.range(p, reverse=True, limit=2)] == expected[:-3:-1]
    assert store.range(p, limit=0) == []
    assert [k for k, _ in store.range(p, start=p + (0,))] == [p + (0,), p + (3,), p + (1 << 70,)]
    assert [k for k, _ in store.range(p, start=p + ("a",), end=p + ("b",))] == [p + ("a",), p + ("a", 1)]
    assert [k for k, _ in store.range(p, end=p + ("",), reverse=True)] == [p + (b"x",), p + (None,)]
    assert store.range(p, start=p + (5,), end=p + (1,)) == []
    assert [k for k, _ in store.range(("acct",), start=("acct", "t"), end=("acct", "t", None))] == [p]
    assert len(store.range()) == len(children) + 4
    with pytest.raises(ValueError):
        store.range(p, limit=-1)


def test_relative_and_packed_ranges_and_prefixed_put_many(store: Store):
    """range(relative=True) answers keys without the prefix; range_packed leaves them packed (in
    the same order); put_many(prefix=) stores prefix + key."""
    p = ("acct", "logs", "g")
    with store.transaction() as tx:
        tx.put_many([((2, 1), b"b"), ((1, 7), b"a"), ((10, 0), b"c")], prefix=p)
        tx.put(("acct", "logs", "h", 1, 1), b"elsewhere")
        assert tx.range(p, relative=True) == [((1, 7), b"a"), ((2, 1), b"b"), ((10, 0), b"c")]
        assert tx.range(p, start=p + (2,), relative=True, limit=1) == [((2, 1), b"b")]
        packed = tx.range_packed(p, reverse=True)
        assert [(unpack(k), v) for k, v in packed] == [((10, 0), b"c"), ((2, 1), b"b"), ((1, 7), b"a")]
        assert [unpack(k) for k, _ in tx.range_packed(p, after=p + (1, 7), end=p + (10,))] == [(2, 1)]
    assert [k for k, _ in store.range(p)] == [p + (1, 7), p + (2, 1), p + (10, 0)]
    many = [((n,), str(n).encode()) for n in range(450)]  # more rows than one statement takes
    with store.transaction() as tx:
        tx.put_many(many, prefix=("acct", "many"))
    with store.transaction() as tx:
        tx.put_many([((3,), b"again")], prefix=("acct", "many"))
        assert tx.get_versioned(("acct", "many", 3)) == (b"again", 2)
        assert tx.range(("acct", "many"), relative=True) == [((n,), b"again" if n == 3 else str(n).encode())
                                                              for n in range(450)]


def test_delete_range(store: Store):
    for i in range(5):
        store.put(("q", "a", i), b"x")
        store.put(("q", "b", i), b"y")
    store.put(("q", "a"), b"parent")
    assert store.delete_range(("q", "a")) == 5
    assert store.get(("q", "a")) == b"parent"
    assert len(store.range(("q",))) == 6
    with store.transaction() as tx:
        assert tx.delete_range(("q",)) == 6
    assert store.delete_range(("q",)) == 0


def test_rollback_on_exception(store: Store):
    store.put(("k",), b"before")
    with pytest.raises(KeyError):
        with store.transaction() as tx:
            tx.put(("k",), b"during")
            tx.put(("other",), b"x")
            raise KeyError("boom")
    assert store.get(("k",)) == b"before"
    assert store.get(("other",)) is None
    with pytest.raises(ConflictError):
        with store.transaction() as tx:
            tx.put(("k",), b"x")
            tx.put(("k",), b"y", if_version=99)
    assert store.get_versioned(("k",)) == (b"before", 1)


def test_read_only_transaction(store: Store):
    store.put(("k",), b"v")
    with store.transaction(write=False) as tx:
        assert tx.get(("k",)) == b"v"
        assert tx.range(()) == [(("k",), b"v")]
        for op in (lambda: tx.put(("k",), b"w"), lambda: tx.delete(("k",)), lambda: tx.claim(())):
            with pytest.raises(RuntimeError):
                op()
    assert store.get(("k",)) == b"v"


def test_claim_two_concurrent_transactions(store: Store):
    for i in range(3):
        store.put(("jobs", i), f"job{i}".encode())
    a_claimed, b_claimed = threading.Event(), threading.Event()
    got: dict[str, object] = {}
    errors: list[BaseException] = []

    def worker(name: str, mine: threading.Event, other: threading.Event | None) -> None:
        try:
            if other is None:  # worker b starts once a holds its claim
                a_claimed.wait(5)
            with store.transaction() as tx:
                row = tx.claim(("jobs",))
                got[name] = row
                tx.delete(row[0])
                mine.set()
                if other is not None:  # a keeps its transaction open for a while
                    got["b_during_a"] = other.wait(0.5)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ta = threading.Thread(target=worker, args=("a", a_claimed, b_claimed))
    tb = threading.Thread(target=worker, args=("b", b_claimed, None))
    ta.start()
    tb.start()
    ta.join(10)
    tb.join(10)
    assert not errors, errors
    assert got["a"] == (("jobs", 0), b"job0")
    assert got["b"] == (("jobs", 1), b"job1")
    # PostgreSQL: b skips a's locked row while a is open; SQLite: b waits for a.
    assert got["b_during_a"] is (store.backend == "postgresql")
    with store.transaction() as tx:
        assert tx.claim(("jobs",)) == (("jobs", 2), b"job2")
        assert tx.claim(("jobs",), start=("jobs", 3)) is None
        assert tx.claim(("nothing",)) is None


def test_durable_across_reopen(make_store):
    first = make_store()
    first.put(("persist",), b"yes")
    with first.transaction() as tx:
        tx.put(("persist", 2), b"too")
    first.close()
    second = make_store()
    assert second.get_versioned(("persist",)) == (b"yes", 1)
    assert second.range(("persist",)) == [(("persist", 2), b"too")]


def test_reset(store: Store):
    for i in range(10):
        store.put(("r", i), b"x")
    store.reset()
    assert store.range() == []
    assert store.put(("r", 1), b"y") == 1


def test_concurrent_writers(store: Store):
    threads, per_thread = 8, 25
    errors: list[BaseException] = []
    runs: list[int] = []

    def increment(tx) -> None:  # optimistic read-modify-write of a shared counter
        runs.append(1)
        found = tx.get_versioned(("counter",))
        if found is None:
            tx.put(("counter",), b"1", if_absent=True)
        else:
            tx.put(("counter",), str(int(found[0]) + 1).encode(), if_version=found[1])

    def worker(n: int) -> None:
        try:
            for i in range(per_thread):
                store.put(("w", n, i), b"x")
                store.transact(increment, attempts=100, backoff=0.001)
                assert store.get(("w", n, i)) == b"x"
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(30)
    assert not errors, errors
    assert store.get(("counter",)) == str(threads * per_thread).encode()
    assert len(runs) >= threads * per_thread    # runs that lost a race (PostgreSQL) ran again
    assert len(store.range(("w",))) == threads * per_thread


def test_transact_runs_fn_again_after_a_conflicting_writer(store: Store):
    key = ("t",)
    store.put(key, b"0")
    stale = store.get_versioned(key)
    store.put(key, b"theirs")               # another writer commits after `stale` was read
    runs: list[bytes] = []

    def fn(tx) -> int:
        seen = stale if not runs else tx.get_versioned(key)
        runs.append(seen[0])
        return tx.put(key, seen[0] + b"+mine", if_version=seen[1])

    assert store.transact(fn) == 3
    assert runs == [b"0", b"theirs"]
    assert store.get(key) == b"theirs+mine"


def test_transact_gives_up_after_attempts(store: Store):
    runs: list[int] = []

    def fn(tx) -> None:
        runs.append(1)
        tx.put(("written",), b"x")
        tx.put(("missing",), b"x", if_version=7)

    with pytest.raises(ConflictError):
        store.transact(fn, attempts=3)
    assert len(runs) == 3
    assert store.get(("written",)) is None  # every run rolled back
    with pytest.raises(ValueError):
        store.transact(fn, attempts=0)


def test_migrations_concurrent_open(make_store):
    stores: list[Store] = []
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            stores.append(make_store())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    pool = [threading.Thread(target=opener) for _ in range(3)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(30)
    assert not errors, errors
    assert len(stores) == 3
    stores[0].put(("m",), b"1")
    assert stores[2].get(("m",)) == b"1"


def test_schema_migrations_recorded(tmp_path: Path):
    store = SQLiteStore(tmp_path / "db" / "s.db")
    store.close()
    import sqlite3

    conn = sqlite3.connect(tmp_path / "db" / "s.db")
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == list(range(1, latest_version() + 1))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_sqlite_nested_transaction_rejected(tmp_path: Path):
    store = SQLiteStore(tmp_path / "s.db")
    with store.transaction(write=False):
        with pytest.raises(RuntimeError):
            with store.transaction():
                pass
    store.close()
    with pytest.raises(Exception):  # noqa: B017 - closed store is unusable
        store.get(("k",))


def test_open_store(tmp_path: Path):
    store = open_store(None, tmp_path)
    assert store.backend == "sqlite" and (tmp_path / "state.db").exists()
    store.close()
    store = open_store("", tmp_path)
    assert store.backend == "sqlite"
    store.close()
    for bad in ("mysql://x", "sqlite:///x.db", "localhost:5432"):
        with pytest.raises(ValueError, match="unsupported database URL"):
            open_store(bad, tmp_path)


def test_open_store_postgres_without_psycopg_says_what_to_install(tmp_path: Path, monkeypatch):
    """The PostgreSQL driver is the `postgres` extra: without it, a PostgreSQL URL is refused
    with what to install (the SQLite default does not need it)."""
    monkeypatch.setitem(sys.modules, "psycopg", None)  # None in sys.modules: `import psycopg` fails
    with pytest.raises(PostgresUnavailable, match=r"install cloudlet\[postgres\]"):
        open_store(PG_URL, tmp_path)
    store = open_store(None, tmp_path)
    assert store.backend == "sqlite"
    store.close()


@pytest.mark.postgres
def test_open_store_postgres(tmp_path: Path):
    require_postgres()
    import psycopg

    from cloudlet.store.postgres import PostgresStore

    assert PG_URL.startswith("postgresql://")
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        existed = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'cloudlet'").fetchone()
        try:
            for url in (PG_URL, "postgres://" + PG_URL.split("://", 1)[1]):
                store = open_store(url, tmp_path)
                try:
                    assert isinstance(store, PostgresStore) and store.backend == "postgresql"
                    assert store.schema == "cloudlet"
                finally:
                    store.close()
        finally:
            if not existed:
                conn.execute("DROP SCHEMA IF EXISTS cloudlet CASCADE")
    with pytest.raises(ValueError):
        PostgresStore(PG_URL, schema="Bad-Name; drop")


def test_claim_many_skips_rows_another_transaction_holds(store: Store):
    for i in range(10):
        store.put(("due", i), b"x")
    held = threading.Event()
    release = threading.Event()
    first: list = []

    def holder() -> None:
        with store.transaction() as tx:
            first.extend(k for k, _ in tx.claim_many(("due",), limit=4))
            held.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(5)
    if store.backend == "postgresql":  # SQLite serializes writers: the second would wait
        with store.transaction() as tx:
            second = [k for k, _ in tx.claim_many(("due",), limit=4)]
        assert second == [("due", i) for i in range(4, 8)]
    release.set()
    t.join(5)
    assert first == [("due", i) for i in range(4)]
    with store.transaction() as tx:
        assert [k[-1] for k, _ in tx.claim_many(("due",), end=("due", 6), limit=100)] == list(range(6))
        assert tx.claim_many(("due",), limit=0) == []


def test_range_after_is_exclusive(store: Store):
    for name in ("a", "a\x00", "ab", "b"):
        store.put(("names", name), b"")
    store.put(("names", "ab", "child"), b"")
    assert [k[1:] for k, _ in store.range(("names",), after=("names", "a"))] == [("a\x00",), ("ab",),
                                                                                ("ab", "child"), ("b",)]
    with store.transaction(write=False) as tx:
        assert [k[-1] for k, _ in tx.range(("names",), after=("names", "ab", "child"), limit=5)] == ["b"]
        assert tx.range(("names",), after=("names", "b")) == []


def test_notifications_after_commit_only(store: Store):
    seen: list[str] = []
    stop = store.listen("wake", seen.append)
    with store.transaction() as tx:
        tx.put(("k",), b"v")
        tx.notify("wake", "1")
        assert seen == []  # not before the commit
    assert "1" in seen
    seen.clear()
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            tx.notify("wake", "2")
            raise RuntimeError("roll back")
    markers = threading.Semaphore(0)
    store.listen("marker", lambda payload: markers.release())
    store.notify("other", "3")
    stop()
    store.notify("wake", "4")
    store.notify("marker")  # notifications arrive in commit order: once this is in, "4" would be too
    # On PostgreSQL each arrives twice: at commit, and again through the listener connection.
    for _ in range(2 if store.backend == "postgresql" else 1):
        assert markers.acquire(timeout=5)
    assert "2" not in seen and "3" not in seen and "4" not in seen
    with pytest.raises(RuntimeError), store.transaction(write=False) as tx:
        tx.notify("wake", "5")


@pytest.mark.postgres
def test_postgres_notifications_reach_other_processes(tmp_path: Path):
    with store_factory("postgresql", tmp_path) as make:
        a, b = make(), make()  # two stores on one schema stand for two replicas
        arrived = threading.Event()
        b.listen("wake", lambda payload: arrived.set() if payload == "from-a" else None)  # LISTENing on return
        with a.transaction() as tx:
            tx.put(("x",), b"1")
            tx.notify("wake", "from-a")
        assert arrived.wait(5)


def test_put_many_and_delete_many(store: Store):
    store.put(("m", 1), b"old")
    with store.transaction() as tx:
        tx.put_many((("m", i), f"v{i}".encode()) for i in range(5))
        tx.put_many([])
    assert [(k[-1], v) for k, v in store.range(("m",))] == [(i, f"v{i}".encode()) for i in range(5)]
    assert store.get_versioned(("m", 1)) == (b"v1", 2) and store.get_versioned(("m", 0)) == (b"v0", 1)
    with store.transaction() as tx:
        tx.delete_many([("m", 1), ("m", 3), ("m", 99)])
        tx.delete_many(())
    assert [k[-1] for k, _ in store.range(("m",))] == [0, 2, 4]
    with pytest.raises(TypeError), store.transaction() as tx:
        tx.put_many([(("m", 7), "not bytes")])
    assert store.get(("m", 7)) is None
    with pytest.raises(RuntimeError), store.transaction(write=False) as tx:
        tx.put_many([(("m", 8), b"x")])
