"""Live Tail (StartLiveTail): events of up to ten log groups pushed to a client as they arrive.

A session answers an event stream: one `sessionStart`, then a `sessionUpdate` about once a second
with the events ingested since the previous one that match the session's streams and filter
pattern (at most 500 an update: beyond that they are sampled down and `sampled` is true), until
the client goes away (the gateway cancels the response, which ends the session) or the session
reaches its time limit (three hours, as on AWS; `CLOUDLET_LOGS_LIVE_TAIL_MAX_SECONDS` shortens
it), which ends the stream with SessionTimeoutException.

How a session learns of new events, on one process or several sharing a PostgreSQL store:

- Sessions are registered in the store, `(REGISTRY..., account, region, group, session id) ->
  {"until": ms}`, and every process keeps the set of groups that have a session anywhere:
  its own sessions at once, the others' reloaded when a session opens or closes (a
  SESSIONS_CHANNEL notification, which PostgreSQL carries to every process) and every
  REFRESH_S in any case (SQLite carries notifications only within a process).
- An ingestion hook (ingest.py) runs in every appending transaction. For a group without a
  session it costs two dict lookups; for a watched group it adds one EVENTS_CHANNEL
  notification naming the stream, the timestamp range and the sequence numbers appended.
  Notifications reach listeners only after the commit, so an update never shows an event that
  is not stored.
- Each process's sessions take the notifications of their groups and, at the next tick, read
  those events back from the store (events.py layout: a range of the stream by timestamp, kept
  when the sequence number is one of the batch's): what a session shows is always what is
  stored, whichever process appended it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudlet.background import call_on_loop
from cloudlet.store import Store, Transaction
from cloudlet.store.keyspace import global_key

from .events import Event, decode_event, now_ms
from .filter_pattern import FilterPatternError, Matcher, compile_pattern
from .groups import (
    GROUP_NOT_FOUND,
    E,
    InvalidParameterException,
    ResourceNotFoundException,
    check_stream_name,
    events_prefix,
    group_key,
    parse_group_arn,
    stream_key,
)

log = logging.getLogger("cloudlet.logs")

SessionTimeoutException = E.SessionTimeoutException

REGISTRY = global_key("logs", "live-tail")
SESSIONS_CHANNEL = "logs.live-tail.sessions"
EVENTS_CHANNEL = "logs.live-tail.events"
UPDATE_INTERVAL_S = 1.0          # AWS sends a sessionUpdate every second
MAX_EVENTS_PER_UPDATE = 500      # beyond that AWS samples the events down and says so
MAX_PENDING_BATCHES = 5000       # notified batches a session holds between two ticks; older ones dropped
MAX_SESSION_S = 3 * 3600         # AWS ends a session after three hours
MAX_GROUPS = 10
REFRESH_S = 5.0                  # how often a process reloads the sessions other processes hold
STALE_MS = 60_000                # a session still registered this long after its limit is let go

GroupKey = tuple[str, str, str]  # (account, region, group)


def sample(events: Sequence[dict], limit: int = MAX_EVENTS_PER_UPDATE) -> tuple[list[dict], bool]:
    """At most `limit` of `events`, spread evenly over them in their order, and whether any were
    left out."""
    n = len(events)
    if n <= limit:
        return list(events), False
    return [events[i * n // limit] for i in range(limit)], True


@dataclass(frozen=True, slots=True)
class Batch:
    """What one appending transaction added to one stream (an EVENTS_CHANNEL payload)."""

    account: str
    region: str
    group: str
    stream: str
    first_ts: int
    last_ts: int
    first_seq: int
    last_seq: int

    def payload(self) -> str:
        return json.dumps([self.account, self.region, self.group, self.stream, self.first_ts, self.last_ts,
                           self.first_seq, self.last_seq], separators=(",", ":"))

    @classmethod
    def parse(cls, payload: str) -> Batch | None:
        try:
            a, r, g, s, t0, t1, q0, q1 = json.loads(payload)
            return cls(str(a), str(r), str(g), str(s), int(t0), int(t1), int(q0), int(q1))
        except (ValueError, TypeError):
            return None


@dataclass
class Target:
    """A group a session tails, as the client named it."""

    identifier: str
    account: str
    region: str
    group: str


@dataclass(eq=False)
class Session:
    """One StartLiveTail session: its filters and the batches notified since its last update."""

    session_id: str
    request_id: str
    targets: list[Target]
    stream_names: list[str]
    stream_prefixes: list[str]
    pattern: str
    matches: Matcher | None
    started_ms: int
    until_ms: int
    _pending: list[Batch] = field(default_factory=list)
    _dropped: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wants_stream(self, stream: str) -> bool:
        if self.stream_names:
            return stream in self.stream_names
        if self.stream_prefixes:
            return stream.startswith(tuple(self.stream_prefixes))
        return True

    def offer(self, batch: Batch) -> None:
        """Keep a batch of one of the session's groups for the next update (any thread)."""
        if not self.wants_stream(batch.stream):
            return
        with self._lock:
            self._pending.append(batch)
            if len(self._pending) > MAX_PENDING_BATCHES:
                del self._pending[0]
                self._dropped = True

    def take(self) -> tuple[list[Batch], bool]:
        with self._lock:
            pending, dropped = self._pending, self._dropped
            self._pending, self._dropped = [], False
        return pending, dropped

    def start_event(self) -> dict:
        return {"sessionStart": {
            "requestId": self.request_id, "sessionId": self.session_id,
            "logGroupIdentifiers": [t.identifier for t in self.targets],
            "logStreamNames": list(self.stream_names), "logStreamNamePrefixes": list(self.stream_prefixes),
            "logEventFilterPattern": self.pattern}}


def read_batches(store: Store, session: Session, batches: Sequence[Batch]) -> list[dict]:
    """The stored events of `batches` that match the session's pattern, as sessionResults."""
    identifiers = {(t.account, t.region, t.group): t.identifier for t in session.targets}
    results: list[dict] = []
    with store.transaction(write=False) as tx:
        for b in batches:
            prefix = events_prefix(b.account, b.region, b.group, b.stream)
            rows = tx.range(prefix, start=prefix + (b.first_ts,), end=prefix + (b.last_ts + 1,), relative=True)
            for (ts, seq), raw in rows:
                if not b.first_seq <= seq <= b.last_seq:
                    continue
                ingestion, message = decode_event(raw)
                if session.matches is not None and not session.matches(message):
                    continue
                results.append({"logStreamName": b.stream,
                                "logGroupIdentifier": identifiers[(b.account, b.region, b.group)],
                                "message": message, "timestamp": ts, "ingestionTime": ingestion})
    return results


class LiveTail:
    """The sessions of this process and the hook that tells them of new events."""

    def __init__(self, store: Store, max_session_s: float = MAX_SESSION_S) -> None:
        self.store = store
        self.max_session_s = max_session_s
        self._local: dict[GroupKey, list[Session]] = {}      # this process's sessions by group
        self._remote: frozenset[GroupKey] = frozenset()      # groups with a session in any process
        self._lock = threading.Lock()
        self._reload = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        store.listen(EVENTS_CHANNEL, self._on_batch)
        store.listen(SESSIONS_CHANNEL, self._on_sessions)

    # ---- the ingestion hook (ingest.py): in every appending transaction ----

    def on_append(self, tx: Transaction, account: str, region: str, group: str, stream: str,
                  events: Sequence[Event]) -> None:
        key = (account, region, group)
        if key not in self._local and key not in self._remote:
            return
        meta = tx.get_json(stream_key(account, region, group, stream))
        if meta is None:
            return
        last_seq = meta["seq"]
        stamps = [ts for ts, _ in events]
        batch = Batch(account, region, group, stream, min(stamps), max(stamps), last_seq - len(events) + 1,
                      last_seq)
        tx.notify(EVENTS_CHANNEL, batch.payload())

    # ---- notifications (after commits; any thread) ----

    def _on_batch(self, payload: str) -> None:
        batch = Batch.parse(payload)
        if batch is None:
            return
        for session in tuple(self._local.get((batch.account, batch.region, batch.group), ())):
            session.offer(batch)

    def _on_sessions(self, payload: str) -> None:
        call_on_loop(self._loop, self._reload.set)

    # ---- the registry of sessions (every process's) ----

    def refresh(self) -> None:
        """Reload the groups that have a session in some process; drop registrations past their
        time (of a process that died)."""
        now = now_ms()
        groups: set[GroupKey] = set()
        expired = []
        for key, raw in self.store.range(REGISTRY):
            if json.loads(raw).get("until", 0) < now:
                expired.append(key)
            else:
                account, region, group = key[-4:-1]
                groups.add((account, region, group))
        self._remote = frozenset(groups)
        with self._lock:  # sessions whose stream never started (or never ended) are let go at their limit
            stale = {s for sessions in self._local.values() for s in sessions if s.until_ms + STALE_MS < now}
        for session in stale:
            self._forget(session)
        if expired:
            with self.store.transaction() as tx:
                tx.delete_many(expired)

    name = "logs-live-tail"

    async def run(self, stopping: asyncio.Event) -> None:
        """Background service: reload the registry when told, and every REFRESH_S."""
        self._loop = asyncio.get_running_loop()
        self._reload = asyncio.Event()
        while not stopping.is_set():
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:
                log.exception("live tail: reloading the sessions failed")
            stop = asyncio.ensure_future(stopping.wait())
            reload = asyncio.ensure_future(self._reload.wait())
            try:
                await asyncio.wait((stop, reload), timeout=REFRESH_S, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                reload.cancel()
            self._reload.clear()

    # ---- sessions ----

    def open(self, ctx: Any, params: dict) -> Session:
        """Check StartLiveTail's parameters and the groups, and register the session (blocking:
        run off the event loop)."""
        idents = params["logGroupIdentifiers"]
        names = params.get("logStreamNames") or []
        prefixes = params.get("logStreamNamePrefixes") or []
        pattern = params.get("logEventFilterPattern") or ""
        if len(idents) > MAX_GROUPS:
            raise InvalidParameterException(
                f"1 validation error detected: Value '{idents}' at 'logGroupIdentifiers' failed to satisfy "
                f"constraint: Member must have length less than or equal to {MAX_GROUPS}")
        if names and prefixes:
            raise InvalidParameterException(
                "logStreamNames and logStreamNamePrefixes are mutually exclusive parameters.")
        if (names or prefixes) and len(idents) != 1:
            raise InvalidParameterException(
                "logStreamNames and logStreamNamePrefixes can only be specified with exactly one log group "
                "in logGroupIdentifiers.")
        for name in names:
            check_stream_name(name, "logStreamNames")
        for prefix in prefixes:
            check_stream_name(prefix, "logStreamNamePrefixes")
        try:
            matches = compile_pattern(pattern)
        except FilterPatternError as exc:
            raise InvalidParameterException(f"Invalid filter pattern: {exc}") from None
        targets = [self._target(ctx, ident) for ident in idents]
        now = now_ms()
        session = Session(session_id=str(uuid.uuid4()), request_id=ctx.request_id or "", targets=targets,
                          stream_names=list(names), stream_prefixes=list(prefixes), pattern=pattern,
                          matches=matches, started_ms=now, until_ms=now + int(self.max_session_s * 1000))
        try:
            with self.store.transaction() as tx:
                for t in targets:
                    if tx.get(group_key(t.account, t.region, t.group)) is None:
                        raise ResourceNotFoundException(GROUP_NOT_FOUND)
                for key in self._keys(session):
                    tx.put_json(REGISTRY + key + (session.session_id,), {"until": session.until_ms})
                # Listening before the commit: no batch committed after the session starts is missed.
                with self._lock:
                    for key in self._keys(session):
                        self._local.setdefault(key, []).append(session)
                tx.notify(SESSIONS_CHANNEL, session.session_id)
        except BaseException:
            self._forget(session)
            raise
        return session

    @staticmethod
    def _keys(session: Session) -> list[GroupKey]:
        return list(dict.fromkeys((t.account, t.region, t.group) for t in session.targets))

    @staticmethod
    def _target(ctx: Any, ident: str) -> Target:
        """A logGroupIdentifiers item: a log group ARN (AWS takes no names here, nor `:*`)."""
        if ident.endswith("*"):
            raise InvalidParameterException(
                f"The log group identifier {ident} is not valid: a log group ARN can't end with an asterisk (*).")
        parsed = parse_group_arn(ident) if ident.startswith("arn:") else None
        if parsed is None:
            raise InvalidParameterException(
                f"The log group identifier {ident} is not valid: specify each log group by its ARN.")
        region, account, group = parsed
        if region != ctx.region or account != ctx.account:
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return Target(ident, account, region, group)

    def _forget(self, session: Session) -> None:
        with self._lock:
            for key in self._keys(session):
                sessions = self._local.get(key, [])
                if session in sessions:
                    sessions.remove(session)
                if not sessions:
                    self._local.pop(key, None)

    def close(self, session: Session) -> None:
        """Forget the session here and in the registry (blocking)."""
        self._forget(session)
        try:
            with self.store.transaction() as tx:
                tx.delete_many([REGISTRY + key + (session.session_id,) for key in self._keys(session)])
                tx.notify(SESSIONS_CHANNEL, session.session_id)
        except Exception:  # the registration expires on its own
            log.exception("live tail: unregistering session %s failed", session.session_id)

    async def stream(self, session: Session, interval: float = UPDATE_INTERVAL_S) -> AsyncIterator[dict]:
        """The session's events: sessionStart, then a sessionUpdate every `interval` seconds until
        the time limit (SessionTimeoutException). Closing the iterator (the client went away)
        ends the session."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (session.until_ms - now_ms()) / 1000
        try:
            yield session.start_event()
            tick = loop.time()
            while True:
                tick += interval
                if tick > deadline:
                    await asyncio.sleep(max(0.0, deadline - loop.time()))
                    raise SessionTimeoutException("The session has timed out after "
                                                  f"{self.max_session_s:g} seconds.")
                await asyncio.sleep(max(0.0, tick - loop.time()))
                batches, dropped = session.take()
                results = await asyncio.to_thread(read_batches, self.store, session, batches) if batches else []
                shown, sampled = sample(results)
                yield {"sessionUpdate": {"sessionMetadata": {"sampled": sampled or dropped},
                                         "sessionResults": shown}}
        finally:
            await asyncio.shield(asyncio.to_thread(self.close, session))
