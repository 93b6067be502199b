"""Listings that resume after a name (the store's `after=`), on the embedded store."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cloudlet.services.dynamodb.provider import DynamoDBProvider, tables_prefix
from cloudlet.services.logs.provider import LogsProvider
from cloudlet.store.sqlite import SQLiteStore

CTX = SimpleNamespace(account="111122223333", region="eu-west-1")


@pytest.fixture
def store(tmp_path):
    with SQLiteStore(tmp_path / "state.db") as opened:
        yield opened


def test_dynamodb_list_tables_resumes_after_the_last_name(store):
    for name in ("a", "a-", "a.b", "b", "c"):
        store.put(tables_prefix(CTX) + (name,), b"{}")
    provider = DynamoDBProvider(SimpleNamespace(store=store, settings=None))
    first = provider.list_tables(CTX, {"Limit": 2})
    assert first == {"TableNames": ["a", "a-"], "LastEvaluatedTableName": "a-"}
    second = provider.list_tables(CTX, {"Limit": 2, "ExclusiveStartTableName": "a-"})
    assert second == {"TableNames": ["a.b", "b"], "LastEvaluatedTableName": "b"}
    assert provider.list_tables(CTX, {"ExclusiveStartTableName": "b"}) == {"TableNames": ["c"]}
    assert provider.list_tables(CTX, {"ExclusiveStartTableName": "zzz"}) == {"TableNames": []}


def test_logs_scan_reads_in_chunks_from_start_and_after(store):
    base = ("k",)
    for name in ("a", "b", "c", "d", "e", "f", "g"):
        store.put(base + (name,), b"")
    with store.transaction(write=False) as tx:
        def names(start=None, after=None):
            return [key[-1] for key, _ in LogsProvider._scan(tx, base, start, after, chunk=2)]

        assert names() == ["a", "b", "c", "d", "e", "f", "g"]
        assert names(start=base + ("c",)) == ["c", "d", "e", "f", "g"]
        assert names(start=base + ("b",), after=base + ("d",)) == ["e", "f", "g"]
