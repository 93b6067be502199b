"""Live Tail's pure parts: sampling, batch payloads, stream filters; data protection documents."""

from __future__ import annotations

import json

import pytest

from cloudlet.protocol.errors import ServiceError
from cloudlet.services.logs.live_tail import MAX_EVENTS_PER_UPDATE, Batch, Session, Target, sample
from cloudlet.services.logs.policies import check_data_protection_document


def test_sample_keeps_everything_up_to_the_limit():
    events = [{"n": i} for i in range(MAX_EVENTS_PER_UPDATE)]
    assert sample(events) == (events, False)
    assert sample([]) == ([], False)


def test_sample_spreads_over_the_events_beyond_the_limit():
    events = [{"n": i} for i in range(1234)]
    shown, sampled = sample(events)
    assert sampled and len(shown) == MAX_EVENTS_PER_UPDATE
    numbers = [e["n"] for e in shown]
    assert numbers == sorted(set(numbers)) and numbers[0] == 0 and numbers[-1] >= 1230  # in order, first to last
    assert sample(events, limit=2) == ([{"n": 0}, {"n": 617}], True)


def test_batch_payload_round_trip_and_garbage():
    batch = Batch("000000000000", "us-east-1", "/g", "s:1", 10, 20, 3, 7)
    assert Batch.parse(batch.payload()) == batch
    assert len(batch.payload().encode()) < 8000  # PostgreSQL's NOTIFY limit, with long names too
    assert len(Batch("0" * 12, "us-east-1", "g" * 512, "s" * 512, 1, 2, 3, 4).payload().encode()) < 8000
    for garbage in ("", "[1]", "{}", "not json", json.dumps(["a", "b", "c", "d", "x", 1, 2, 3])):
        assert Batch.parse(garbage) is None


def _session(names=(), prefixes=()):
    return Session(session_id="s", request_id="r", targets=[Target("arn", "a", "r", "g")], stream_names=list(names),
                   stream_prefixes=list(prefixes), pattern="", matches=None, started_ms=0, until_ms=1)


def test_session_stream_filters_and_pending_cap(monkeypatch):
    assert _session().wants_stream("anything")
    assert _session(names=["a"]).wants_stream("a") and not _session(names=["a"]).wants_stream("ab")
    assert _session(prefixes=["web-", "api-"]).wants_stream("api-1")
    assert not _session(prefixes=["web-"]).wants_stream("worker")
    monkeypatch.setattr("cloudlet.services.logs.live_tail.MAX_PENDING_BATCHES", 2)
    session = _session()
    for seq in range(3):
        session.offer(Batch("a", "r", "g", "s", 0, 0, seq, seq))
    pending, dropped = session.take()
    assert [b.first_seq for b in pending] == [1, 2] and dropped
    assert session.take() == ([], False)


GOOD = {"Name": "p", "Version": "2021-06-01", "Statement": [
    {"DataIdentifier": ["x"], "Operation": {"Audit": {"FindingsDestination": {}}}},
    {"DataIdentifier": ["x"], "Operation": {"Deidentify": {"MaskConfig": {}}}}]}


def test_data_protection_documents():
    check_data_protection_document(json.dumps(GOOD))
    swapped = {**GOOD, "Statement": GOOD["Statement"][::-1]}
    different = {**GOOD, "Statement": [GOOD["Statement"][0], {**GOOD["Statement"][1], "DataIdentifier": ["y"]}]}
    for bad in ("nope", "[]", json.dumps({"Statement": "x"}), json.dumps(swapped), json.dumps(different),
                json.dumps({**GOOD, "Statement": GOOD["Statement"][:1]})):
        with pytest.raises(ServiceError) as exc:
            check_data_protection_document(bad)
        assert exc.value.code == "InvalidParameterException"
