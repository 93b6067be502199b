"""The key-space layout: account and region first, and its two documented exceptions."""

from __future__ import annotations

from cloudlet.services.lambda_.functions import function_key, url_index_key
from cloudlet.services.logs.groups import RETENTION_INDEX, stream_key
from cloudlet.services.s3.buckets import bucket_key, owned_key
from cloudlet.store.keyspace import account_key, global_key, resource_key, resource_prefix


def test_layout():
    assert resource_key("111122223333", "eu-west-1", "logs", "group", "g") == (
        "111122223333", "eu-west-1", "logs", "group", "g")
    assert resource_prefix("111122223333", "eu-west-1", "dynamodb", "table") == (
        "111122223333", "eu-west-1", "dynamodb", "table")
    assert global_key("s3", "bucket", "b") == ("global", "s3", "bucket", "b")
    assert account_key("111122223333", "s3", "owned") == ("111122223333", "s3", "owned")


def test_services_keep_their_stored_keys():
    assert function_key("1", "r", "f") == ("1", "r", "lambda", "function", "f")
    assert stream_key("1", "r", "g", "s") == ("1", "r", "logs", "stream", "g", "s")
    assert url_index_key("u") == ("global", "lambda", "url", "u")
    assert RETENTION_INDEX == ("global", "logs", "retention")
    assert bucket_key("b") == ("global", "s3", "bucket", "b")
    assert owned_key("1", "b") == ("1", "s3", "owned", "b")


def test_scopes_lists_each_account_and_region_once(tmp_path):
    from cloudlet.store import open_store
    from cloudlet.store.keyspace import account_key, global_key, resource_key, scopes

    store = open_store(None, tmp_path)
    with store.transaction() as tx:
        for account in ("000000000000", "111111111111", "1111111111112"):
            for region in ("us-east-1", "eu-west-2"):
                for i in range(3):
                    tx.put(resource_key(account, region, "lambda", "function", f"f{i}"), b"x")
        tx.put(global_key("s3", "bucket", "b"), b"x")
        tx.put(account_key("000000000000", "s3", "bucket", "b"), b"x")  # not a region
    with store.transaction(write=False) as tx:
        assert list(scopes(tx)) == [(a, r) for a in ("000000000000", "111111111111", "1111111111112")
                                    for r in ("eu-west-2", "us-east-1")]
    store.close()
