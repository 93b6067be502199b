"""Log event storage: appending, paged reads of one stream, merged filtered reads of a group,
and retention expiry.

An event lives at `(account, region, "logs", "event", group, stream, timestamp_ms, seq)`, so a
stream is a time-ordered range; `seq` is the stream's running sequence number (kept in the
stream record), which keeps events with equal timestamps apart and in arrival order. The value
is an 8-byte big-endian ingestion time followed by the UTF-8 message.

Services append through ingest.py (which runs what watches new events); other services send
events through api.py.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from cloudlet.services.paging import decode_token, encode_token
from cloudlet.store import Store, Transaction
from cloudlet.store.keys import split_first, unpack

from .groups import (
    GROUP_NOT_FOUND,
    RETENTION_INDEX,
    STREAM_NOT_FOUND,
    ResourceNotFoundException,
    events_prefix,
    group_key,
    invalid_token,
    new_group,
    new_stream,
    stream_key,
    streams_prefix,
)

log = logging.getLogger("cloudlet.logs")

EVENT_OVERHEAD = 26                 # bytes AWS adds per event when sizing batches and pages
MAX_PAGE_BYTES = 1_048_576          # a GetLogEvents/FilterLogEvents page holds at most 1 MB
DEFAULT_LIMIT = 10_000
DAY_MS = 86_400_000
SCAN_BUDGET = 50_000                # events FilterLogEvents examines per call before it hands back a token
RETRIES = 50                        # runs of a conflicting write_events before giving up
RETRY_BACKOFF_S = 0.002
_INGESTION = struct.Struct(">q")
_CHUNK_FIRST, _CHUNK_MAX = 64, 2048

Event = tuple[int, str]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def encode_event(ingestion_ms: int, message: str) -> bytes:
    return _INGESTION.pack(ingestion_ms) + message.encode("utf-8", "surrogatepass")


def decode_event(raw: bytes) -> tuple[int, str]:
    return _INGESTION.unpack_from(raw)[0], bytes(raw[8:]).decode("utf-8", "surrogatepass")


def event_id(ts: int, uid: int, seq: int) -> str:
    """A 56-digit id, unique within the region: timestamp, stream uid, sequence number."""
    return f"{ts:020d}{uid % 10**18:018d}{seq % 10**18:018d}"


# ---- writing ----

def append_events(store: Store, account: str, region: str, group: str, stream: str,
                  events: list[Event]) -> None:
    """Append `(timestamp_ms, message)` events to `group`/`stream`, creating both if missing.

    The events are stored in one transaction with the current time as their ingestionTime, in
    any timestamp order (reads return them by timestamp). Safe to call from any thread,
    including concurrently for the same stream and from several processes sharing a store;
    it must not be called from a thread that has a store transaction open. Costs one read and
    `len(events) + 1` writes in a single transaction, so batching lines is cheap but one call
    per line is fine too. Nothing is validated: callers are internal.
    """
    if events:
        write_events(store, account, region, group, stream, events, create=True)


def write_events(store: Store, account: str, region: str, group: str, stream: str, events: Iterable[Event],
                 *, create: bool) -> dict:
    """Store events and update the stream record; returns that record. With `create=False`
    a missing group or stream is ResourceNotFoundException; conflicting writers retry."""
    events = list(events)
    # Every writer of a stream rewrites its record (the sequence number), so on PostgreSQL
    # concurrent writers of one stream collide there, again and again when they retry at once:
    # with the default 8 immediate runs, 6 threads appending to one stream fail (see
    # test_concurrent_appends_from_threads). Retries wait a growing random while, and many.
    return store.transact(lambda tx: write_events_in(tx, account, region, group, stream, events, create=create),
                          attempts=RETRIES, backoff=RETRY_BACKOFF_S)


def write_events_in(tx: Transaction, account: str, region: str, group: str, stream: str, events: list[Event],
                    *, create: bool) -> dict:
    """`write_events` inside an open transaction (a racing writer of the stream is ConflictError:
    retry the whole transaction)."""
    skey = stream_key(account, region, group, stream)
    ingestion = now_ms()
    found = tx.get_json_versioned(skey)
    if found is None:
        gkey = group_key(account, region, group)
        if tx.get(gkey) is None:
            if not create:
                raise ResourceNotFoundException(GROUP_NOT_FOUND)
            tx.put_json(gkey, new_group(ingestion), if_absent=True)
        elif not create:
            raise ResourceNotFoundException(STREAM_NOT_FOUND)
        meta, version = new_stream(ingestion), None
    else:
        meta, version = found
    if events:
        _put_events(tx, events_prefix(account, region, group, stream), meta, events, ingestion)
    if version is None:
        tx.put_json(skey, meta, if_absent=True)
    else:
        tx.put_json(skey, meta, if_version=version)
    return meta


def _put_events(tx: Transaction, prefix: tuple, meta: dict, events: list[Event], ingestion: int) -> None:
    seq = meta["seq"]
    stored = 0
    first = meta.get("firstEventTimestamp")
    last = meta.get("lastEventTimestamp")
    rows = []
    for ts, message in events:
        seq += 1
        raw = encode_event(ingestion, message)
        rows.append(((ts, seq), raw))
        stored += len(raw) - _INGESTION.size
        if first is None or ts < first:
            first = ts
        if last is None or ts > last:
            last = ts
    tx.put_many(rows, prefix=prefix)
    meta.update(seq=seq, storedBytes=meta.get("storedBytes", 0) + stored, firstEventTimestamp=first,
                lastEventTimestamp=last, lastIngestionTime=ingestion)


# ---- GetLogEvents: one stream, paged by position tokens ----

def _position_token(direction: str, ts: int, seq: int) -> str:
    return f"{direction}/{ts:020d}{seq:036d}/s"


def parse_position_token(token: str) -> tuple[str, int, int]:
    """`("f"|"b", timestamp, seq)` of a GetLogEvents token (AWS's `f/<56 digits>/s` shape)."""
    parts = token.split("/")
    if len(parts) != 3 or parts[0] not in ("f", "b") or parts[2] != "s" or len(parts[1]) != 56 \
            or not parts[1].isdigit():
        raise invalid_token()
    return parts[0], int(parts[1][:20]), int(parts[1][20:])


def read_stream(tx: Transaction, account: str, region: str, group: str, stream: str, *,
                start_time: int | None = None, end_time: int | None = None, token: str | None = None,
                start_from_head: bool = False, limit: int | None = None) -> dict:
    """One GetLogEvents page: `{"events", "nextForwardToken", "nextBackwardToken"}`.

    A forward token `f/<ts,seq>` resumes at the first event at or after that position, a
    backward token `b/<ts,seq>` at the last event before it. Like AWS, when a page in the
    token's direction is empty, that direction's token comes back unchanged, and tokens are
    never null. startTime is inclusive, endTime exclusive.
    """
    limit = limit or DEFAULT_LIMIT
    prefix = events_prefix(account, region, group, stream)
    low = (start_time or 0, 0)
    high = None if end_time is None else (end_time, 0)
    if token is not None:
        direction, ts, seq = parse_position_token(token)
        forward = direction == "f"
        if forward:
            low = max(low, (ts, seq))
        else:
            high = (ts, seq) if high is None else min(high, (ts, seq))
    else:
        forward = start_from_head
    if high is not None and high <= low:
        rows = []
    else:
        rows = tx.range(prefix, start=prefix + low, end=None if high is None else prefix + high,
                        reverse=not forward, limit=limit, relative=True)
    events: list[tuple[tuple[int, int], dict]] = []
    size = 0
    for (ts, seq), raw in rows:
        ingestion, message = decode_event(raw)
        size += len(raw) - _INGESTION.size + EVENT_OVERHEAD
        if events and size > MAX_PAGE_BYTES:
            break
        events.append(((ts, seq), {"timestamp": ts, "message": message, "ingestionTime": ingestion}))
    if not forward:
        events.reverse()
    if events:
        (first_ts, first_seq), (last_ts, last_seq) = events[0][0], events[-1][0]
        fwd, bwd = _position_token("f", last_ts, last_seq + 1), _position_token("b", first_ts, first_seq)
    elif token is not None:
        _, ts, seq = parse_position_token(token)
        fwd = token if forward else _position_token("f", ts, seq)
        bwd = token if not forward else _position_token("b", ts, seq)
    else:
        fwd, bwd = _position_token("f", *low), _position_token("b", *low)
    return {"events": [e for _, e in events], "nextForwardToken": fwd, "nextBackwardToken": bwd}


# ---- FilterLogEvents: streams of a group merged by timestamp ----

def _is_filter_position(position: Any) -> bool:
    """A FilterLogEvents token's position: `[timestamp, stream name, seq]` of the last event examined."""
    return (isinstance(position, list) and len(position) == 3 and isinstance(position[0], int)
            and isinstance(position[1], str) and isinstance(position[2], int))


def _stream_rows(tx: Transaction, prefix: tuple, name: str, start: tuple, end: tuple | None
                 ) -> Iterator[tuple[bytes, str, bytes]]:
    """Events of one stream in key order as `(key, stream, raw)`, the key (timestamp, seq) still
    packed (it sorts as the numbers do; the scan decodes only the events it keeps), fetched in
    growing chunks."""
    base = prefix + (name,)
    chunk = _CHUNK_FIRST
    lo = base + start
    hi = None if end is None else base + end
    while True:
        rows = tx.range_packed(base, start=lo, end=hi, limit=chunk)
        for key, raw in rows:
            yield key, name, raw
        if len(rows) < chunk:
            return
        ts, seq = unpack(rows[-1][0])
        lo = base + (ts, seq + 1)
        chunk = min(chunk * 4, _CHUNK_MAX)


def _merge_order(row: tuple[bytes, str, bytes]) -> tuple[bytes, str, bytes]:
    """(timestamp, stream, seq), packed: the order of FilterLogEvents across streams."""
    ts, seq = split_first(row[0])
    return ts, row[1], seq


def filter_group(tx: Transaction, account: str, region: str, group: str, streams: dict[str, dict], *,
                 start_time: int | None = None, end_time: int | None = None,
                 matches: Callable[[str], bool] | None = None, limit: int | None = None,
                 token: str | None = None, scan_budget: int = SCAN_BUDGET) -> dict:
    """One FilterLogEvents page over `streams` (name -> stream record): `{"events", "nextToken"?}`.

    Events come in (timestamp, stream name, seq) order; the token is the position of the last
    event examined, so a page may be short or empty (when the scan budget ran out first) and
    still carry a token, as on AWS. startTime and endTime are both inclusive.
    """
    limit = limit or DEFAULT_LIMIT
    prefix = events_prefix(account, region, group)
    resume = decode_token(token, invalid_token, _is_filter_position)
    lo_ts = start_time or 0
    end = None if end_time is None else (end_time + 1,)
    iters = []
    for name in sorted(streams):
        meta = streams[name]
        first, last = meta.get("firstEventTimestamp"), meta.get("lastEventTimestamp")
        if first is None or last is None or (end_time is not None and first > end_time) or last < lo_ts:
            continue
        start: tuple = (lo_ts,)
        if resume is not None:
            r_ts, r_stream, r_seq = resume
            after: tuple[int, ...]
            if name < r_stream:
                after = (r_ts + 1,)
            elif name == r_stream:
                after = (r_ts, r_seq + 1)
            else:
                after = (r_ts,)
            start = max(start, after)
        iters.append(_stream_rows(tx, prefix, name, start, end))
    merged = iters[0] if len(iters) == 1 else heapq.merge(*iters, key=_merge_order)
    on_bytes = getattr(matches, "on_bytes", None)  # (term patterns test the bytes: no decoding)
    events: list[dict] = []
    size = scanned = 0
    done: tuple[bytes, str] | None = None  # (packed key, stream) of the last event this page accounts for
    more = False
    for key, name, raw in merged:
        if matches is None or (on_bytes(raw, 8) if on_bytes is not None else matches(decode_event(raw)[1])):
            size += len(raw) - _INGESTION.size + EVENT_OVERHEAD
            if events and size > MAX_PAGE_BYTES:
                more = True         # this event starts the next page
                break
            ts, seq = unpack(key)
            ingestion, message = decode_event(raw)
            events.append({"logStreamName": name, "timestamp": ts, "message": message, "ingestionTime": ingestion,
                           "eventId": event_id(ts, streams[name].get("uid", 0), seq)})
            if len(events) >= limit:
                done = (key, name)
                more = next(merged, None) is not None
                break
        done = (key, name)
        scanned += 1
        if scanned >= scan_budget:
            more = True
            break
        if not scanned & 511:
            time.sleep(0)  # the event loop's thread gets the GIL: other requests go on meanwhile
    out: dict[str, Any] = {"events": events}
    if more and done is not None:
        ts, seq = unpack(done[0])
        out["nextToken"] = encode_token((ts, done[1], seq))
    return out


# ---- retention ----

def expire_events(store: Store, now: int | None = None, batch: int = 1000) -> int:
    """Delete events older than their group's retention; return how many were deleted."""
    now = now_ms() if now is None else now
    deleted = 0
    for key, raw in store.range(RETENTION_INDEX):
        account, region, group = key[-3:]
        cutoff = now - int(json.loads(raw)) * DAY_MS
        for skey, sraw in store.range(streams_prefix(account, region, group)):
            first = json.loads(sraw).get("firstEventTimestamp")
            if first is not None and first < cutoff:
                deleted += _expire_stream(store, account, region, group, skey[-1], cutoff, batch)
    return deleted


def _expire_stream(store: Store, account: str, region: str, group: str, stream: str, cutoff: int,
                   batch: int) -> int:
    prefix = events_prefix(account, region, group, stream)
    skey = stream_key(account, region, group, stream)

    def expire_batch(tx: Transaction) -> int | None:
        """Delete up to `batch` expired events; their count, or None if the stream is gone."""
        found = tx.get_json_versioned(skey)
        if found is None:
            return None
        meta, version = found
        rows = tx.range(prefix, end=prefix + (cutoff,), limit=batch)
        freed = 0
        for key, raw in rows:
            tx.delete(key)
            freed += len(raw) - _INGESTION.size
        following = tx.range(prefix, limit=1)
        meta["storedBytes"] = max(0, meta.get("storedBytes", 0) - freed)
        if following:
            meta["firstEventTimestamp"] = following[0][0][-2]
        else:
            meta.pop("firstEventTimestamp", None)
            meta.pop("lastEventTimestamp", None)
        tx.put_json(skey, meta, if_version=version)
        return len(rows)

    deleted = 0
    while True:
        # The stream record is the writers' hot key too: retry like they do.
        count = store.transact(expire_batch, attempts=RETRIES, backoff=RETRY_BACKOFF_S)
        if count is None:
            return deleted
        deleted += count
        if count < batch:
            return deleted


class RetentionSweeper:
    """Background service: deletes expired events every `interval` seconds (AWS takes up to 72 h)."""

    name = "logs-retention"

    def __init__(self, store: Store, interval: float = 600.0) -> None:
        self.store = store
        self.interval = interval

    async def run(self, stopping: asyncio.Event) -> None:
        from cloudlet.background import sleep_or_stop

        while not await sleep_or_stop(stopping, self.interval):
            deleted = await asyncio.to_thread(expire_events, self.store)
            if deleted:
                log.info("logs retention: deleted %d expired events", deleted)
