"""S3 listing as range scans, checked against a plain model of S3's rules (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlet.services.s3 import listing, objects
from cloudlet.store.sqlite import SQLiteStore

ALPHABET = st.sampled_from(["a", "b", "/", "-", "é", "\U0010ffff", "z"])
KEYS = st.sets(st.text(ALPHABET, min_size=1, max_size=5), max_size=25)


def model(keys: set[str], prefix: str, delimiter: str) -> list[tuple[str, bool]]:
    """Every entry of a listing, in order: (key or common prefix, is a common prefix)."""
    out: dict[str, bool] = {}
    for key in sorted(keys, key=lambda k: k.encode()):
        if not key.startswith(prefix):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            out.setdefault(key[:cut + len(delimiter)], True)
        else:
            out[key] = False
    return sorted(out.items(), key=lambda kv: kv[0].encode())


def store_with(keys: set[str]) -> SQLiteStore:
    store = SQLiteStore(Path(tempfile.mkdtemp()) / "state.db")
    with store.transaction() as tx:
        for key in keys:
            objects.save(tx, "b", key, {"size": 0, "etag": "x", "mtime": 0}, b"")
    return store


@settings(max_examples=60, deadline=None)
@given(KEYS, st.text(ALPHABET, max_size=2), st.sampled_from(["", "/", "-", "a/"]), st.integers(1, 4))
def test_pages_concatenate_to_the_model(keys, prefix, delimiter, max_keys):
    store = store_with(keys)
    try:
        got: list[tuple[str, bool]] = []
        position: tuple[str, bool] | None = None
        with store.transaction(write=False) as tx:
            for _ in range(100):
                if position is None:
                    page = listing.scan(tx, "b", prefix, delimiter, max_keys)
                elif position[1]:
                    page = listing.scan(tx, "b", prefix, delimiter, max_keys, skip_prefix=position[0])
                else:
                    page = listing.scan(tx, "b", prefix, delimiter, max_keys, after=position[0])
                entries = [(k, False) for k, _ in page.contents] + [(p, True) for p in page.prefixes]
                assert len(entries) <= max_keys
                got += entries
                if not page.truncated:
                    break
                assert page.last is not None
                position = (page.last, page.last_is_prefix)
        assert sorted(got, key=lambda kv: kv[0].encode()) == model(keys, prefix, delimiter)
    finally:
        store.close()


def test_successor_skips_surrogates_and_ends():
    assert listing.successor("a/") == "a0"
    assert listing.successor("a\ud7ff") == "a\ue000"
    assert listing.successor("a\U0010ffff") == "b"
    assert listing.successor("\U0010ffff") is None
