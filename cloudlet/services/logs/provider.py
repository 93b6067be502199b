"""Amazon CloudWatch Logs: log groups, log streams, events, retention and tags."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cloudlet.infra import Infra
from cloudlet.services.cloudwatch.api import CloudWatchApi
from cloudlet.services.paging import decode_token, encode_token
from cloudlet.services.provider import Provider, blocking, inline
from cloudlet.services.s3.api import S3Api
from cloudlet.store import ConflictError

from . import absent, policies, queries
from . import events as ev
from .api import LogsApi
from .destinations import Destinations
from .exports import ExportTasks
from .filter_pattern import FilterPatternError, compile_pattern
from .groups import (
    GROUP_NOT_FOUND,
    RETENTION_DAYS,
    STREAM_NOT_FOUND,
    InvalidParameterException,
    LogsValidationException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    TooManyTagsException,
    check_group_name,
    check_identifier,
    check_new_group_name,
    check_stream_name,
    describe_group,
    describe_stream,
    events_prefix,
    group_key,
    groups_prefix,
    invalid_token,
    name_pattern_matcher,
    new_group,
    new_stream,
    parse_group_arn,
    retention_key,
    sequence_token,
    stream_key,
    streams_prefix,
)
from .live_tail import LiveTail
from .metric_filters import MetricFilters, count_filters, test_filter
from .resource_policies import ResourcePolicies
from .subscriptions import Subscriptions

MAX_TAGS = 50
TOO_OLD_MS = 14 * ev.DAY_MS
TOO_NEW_MS = 2 * 3600 * 1000
MAX_SPAN_MS = 24 * 3600 * 1000


def _is_name(position: Any) -> bool:
    """A token of a listing by name: the last name listed."""
    return isinstance(position, str)


def _is_time_and_name(position: Any) -> bool:
    """A token of DescribeLogStreams by LastEventTime: `[lastEventTimestamp, name]` of the last stream."""
    return (isinstance(position, list) and len(position) == 2 and isinstance(position[0], int)
            and isinstance(position[1], str))

class LogsProvider(Provider):
    service = "logs"
    limits = {
        "StartLiveTail": "Events are read back from the store about once a second; sessions of other "
                         "replicas learn of a new session within a few seconds.",
        "PutDataProtectionPolicy": "The policy is stored and returned; log events are not masked or audited.",
        "PutAccountPolicy": "Policies are stored and listed; none is applied to log groups.",
        "PutSubscriptionFilter": "Lambda destinations are delivered to; Kinesis and Firehose are not served, so "
                                 "a filter cannot target them directly, and deliveries through a Logs destination "
                                 "to them fail (logged, or dead-lettered)",
        "PutDestination": "Kinesis and Firehose targets are stored; deliveries to them fail until those services "
                          "exist",
        "PutResourcePolicy": "stored and returned; not evaluated (waits for IAM enforcement of service principals)",
        "CreateExportTask": "a stream's next object starts after 64 MiB of text (AWS does not document its split); "
                            "buckets of other accounts are refused (no bucket policies can grant Logs a write)",
    }

    def __init__(self, infra: Infra, cloudwatch: CloudWatchApi | None = None, s3: S3Api | None = None) -> None:
        super().__init__(infra)
        self.api = LogsApi(self.store, infra.outbox, infra.targets)
        infra.background.add(ev.RetentionSweeper(self.store))
        self.live_tail = LiveTail(self.store, self.settings.logs_live_tail_max_seconds)
        self.api.ingest.add_hook(self.live_tail.on_append)
        infra.background.add(self.live_tail)
        self.metric_filters = MetricFilters(self.store, cloudwatch)
        self.api.ingest.add_hook(self.metric_filters.on_ingest)
        infra.background.add(self.metric_filters.cache)
        self.subscriptions = Subscriptions(self.store, infra.targets)
        self.api.ingest.add_hook(self.subscriptions.on_append)
        infra.background.add(self.subscriptions.cache)
        self.destinations = Destinations(self.store)
        self.resource_policies = ResourcePolicies(self.store)
        self.exports = ExportTasks(self.store, infra.outbox, s3, infra.off_loop)

    # ---- helpers ----

    def _group_name(self, ctx, params: dict) -> str:
        """The group named by logGroupName or logGroupIdentifier (a name or an ARN)."""
        name, ident = params.get("logGroupName"), params.get("logGroupIdentifier")
        if name and ident:
            raise LogsValidationException("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if name:
            check_group_name(name)
            return name
        if not ident:
            raise InvalidParameterException("Either logGroupName or logGroupIdentifier must be specified.")
        return self._identifier(ctx, ident)

    def _identifier(self, ctx, ident: str) -> str:
        """The group name a logGroupIdentifier gives; an ARN of another account or region: not found."""
        name = self._identifier_here(ctx, ident)
        if name is None:
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return name

    def _identifier_here(self, ctx, ident: str) -> str | None:
        """The group name a logGroupIdentifier gives, or None for an ARN of another account or region."""
        check_identifier(ident)
        if ident.startswith("arn:"):
            parsed = parse_group_arn(ident)
            if parsed is None:
                raise InvalidParameterException(f"Invalid log group identifier: {ident}")
            region, account, name = parsed
            if region != ctx.region or account != ctx.account:
                return None
            return name
        check_group_name(ident, "logGroupIdentifier")
        return ident

    def _group(self, tx, ctx, name: str) -> tuple[dict, int]:
        found = tx.get_json_versioned(group_key(ctx.account, ctx.region, name))
        if found is None:
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return found

    def _update_group(self, ctx, name: str, change) -> dict:
        """Read-modify-write of a group record; `change(tx, record)` may write more keys."""
        def update(tx) -> None:
            record, version = self._group(tx, ctx, name)
            change(tx, record)
            tx.put_json(group_key(ctx.account, ctx.region, name), record, if_version=version)

        self.store.transact(update)
        return {}

    def _stored_bytes(self, tx, ctx, name: str) -> int:
        return sum(json.loads(raw).get("storedBytes", 0)
                   for _, raw in tx.range(streams_prefix(ctx.account, ctx.region, name)))

    # ---- log groups ----

    def create_log_group(self, ctx, params):
        name = params["logGroupName"]
        check_new_group_name(name)
        tags = params.get("tags") or {}
        if len(tags) > MAX_TAGS:
            raise InvalidParameterException(f"A resource can have no more than {MAX_TAGS} tags.")
        record = new_group(ev.now_ms(), tags=tags, kms_key_id=params.get("kmsKeyId"),
                           log_group_class=params.get("logGroupClass"),
                           deletion_protection=params.get("deletionProtectionEnabled", False))
        try:
            with self.store.transaction() as tx:
                tx.put_json(group_key(ctx.account, ctx.region, name), record, if_absent=True)
        except ConflictError:
            raise ResourceAlreadyExistsException("The specified log group already exists") from None
        return {}

    @blocking
    def delete_log_group(self, ctx, params):
        name = params["logGroupName"]
        check_group_name(name)
        with self.store.transaction() as tx:
            record, _ = self._group(tx, ctx, name)
            if record.get("deletionProtectionEnabled"):
                raise LogsValidationException(
                    f"Log group {name} cannot be deleted because deletion protection is enabled.")
            tx.delete(group_key(ctx.account, ctx.region, name))
            tx.delete(retention_key(ctx.account, ctx.region, name))
            tx.delete_range(streams_prefix(ctx.account, ctx.region, name))
            tx.delete_range(events_prefix(ctx.account, ctx.region, name))
            self.metric_filters.delete_group(tx, ctx.account, ctx.region, name)
            self.subscriptions.forget_group(tx, ctx.account, ctx.region, name)
        return {}

    def describe_log_groups(self, ctx, params):
        prefix = params.get("logGroupNamePrefix")
        pattern = params.get("logGroupNamePattern")
        idents = params.get("logGroupIdentifiers")
        group_class = params.get("logGroupClass")
        limit = params.get("limit") or 50
        if prefix and pattern:
            raise InvalidParameterException(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        if idents and (prefix or pattern):
            raise InvalidParameterException(
                "logGroupIdentifiers cannot be specified together with logGroupNamePrefix or logGroupNamePattern.")
        if prefix:
            check_group_name(prefix, "logGroupNamePrefix")
        base = groups_prefix(ctx.account, ctx.region)
        out_groups: list[dict] = []
        next_token = None
        with self.store.transaction(write=False) as tx:
            if idents:
                names = sorted(filter(None, (self._identifier_here(ctx, ident) for ident in idents)))
                rows = [(base + (n,), raw) for n in names if (raw := tx.get(base + (n,))) is not None]
                candidates = iter(rows)
            else:
                after = decode_token(params.get("nextToken"), invalid_token, _is_name)
                candidates = self._scan(tx, base, base + (prefix,) if prefix else None,
                                        None if after is None else base + (after,))
            for key, raw in candidates:
                name = key[-1]
                if prefix and not name.startswith(prefix):
                    break
                if pattern and pattern not in name:
                    continue
                record = json.loads(raw)
                if group_class and record.get("logGroupClass", "STANDARD") != group_class:
                    continue
                if len(out_groups) == limit:
                    next_token = encode_token(out_groups[-1]["logGroupName"])
                    break
                out_groups.append(describe_group(ctx.account, ctx.region, name, record,
                                                 self._stored_bytes(tx, ctx, name),
                                                 metric_filters=count_filters(tx, ctx.account, ctx.region, name)))
        out: dict = {"logGroups": out_groups}
        if next_token:
            out["nextToken"] = next_token
        return out

    def list_log_groups(self, ctx, params):
        """The newer listing: names, ARNs and classes, filtered by a name pattern (up to five
        alternatives, `^` for a prefix, else a substring; case-sensitive), class and tags (all
        filters must hold). No group has data sources or field indexes here, so filtering by
        them leaves none. Linked accounts: there is no cross-account observability, so only
        this account's groups."""
        matches = name_pattern_matcher(params.get("logGroupNamePattern"))
        group_class = params.get("logGroupClass")
        tag_filters = params.get("logGroupTags") or []
        limit = params.get("limit") or 50
        base = groups_prefix(ctx.account, ctx.region)
        out_groups: list[dict] = []
        next_token = None
        if params.get("dataSources") or params.get("fieldIndexNames"):
            return {"logGroups": []}
        with self.store.transaction(write=False) as tx:
            after = decode_token(params.get("nextToken"), invalid_token, _is_name)
            for key, raw in self._scan(tx, base, None, None if after is None else base + (after,)):
                name = key[-1]
                if not matches(name):
                    continue
                record = json.loads(raw)
                if group_class and record.get("logGroupClass", "STANDARD") != group_class:
                    continue
                tags = record.get("tags") or {}
                if not all(f["key"] in tags and (not f.get("values") or tags[f["key"]] in f["values"])
                           for f in tag_filters):
                    continue
                if len(out_groups) == limit:
                    next_token = encode_token(out_groups[-1]["logGroupName"])
                    break
                described = describe_group(ctx.account, ctx.region, name, record, 0)
                out_groups.append({k: described[k] for k in ("logGroupName", "logGroupArn", "logGroupClass")})
        out: dict = {"logGroups": out_groups}
        if next_token:
            out["nextToken"] = next_token
        return out

    @staticmethod
    def _scan(tx, prefix: tuple, start: tuple | None, after: tuple | None = None, chunk: int = 200):
        """Rows under `prefix` from `start` on (and after `after`), read in chunks."""
        while True:
            rows = tx.range(prefix, start=start, after=after, limit=chunk)
            yield from rows
            if len(rows) < chunk:
                return
            after = rows[-1][0]

    def put_retention_policy(self, ctx, params):
        name = params["logGroupName"]
        check_group_name(name)
        days = params["retentionInDays"]
        if days not in RETENTION_DAYS:
            raise InvalidParameterException(
                f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]")

        def change(tx, record):
            record["retentionInDays"] = days
            tx.put_json(retention_key(ctx.account, ctx.region, name), days)

        return self._update_group(ctx, name, change)

    def delete_retention_policy(self, ctx, params):
        name = params["logGroupName"]
        check_group_name(name)

        def change(tx, record):
            record.pop("retentionInDays", None)
            tx.delete(retention_key(ctx.account, ctx.region, name))

        return self._update_group(ctx, name, change)

    def put_log_group_deletion_protection(self, ctx, params):
        name = self._identifier(ctx, params["logGroupIdentifier"])

        def change(tx, record):
            record["deletionProtectionEnabled"] = bool(params["deletionProtectionEnabled"])

        return self._update_group(ctx, name, change)

    # ---- tags ----

    def _tag(self, ctx, name: str, tags: dict, error: type) -> dict:
        def change(tx, record):
            merged = {**record.get("tags", {}), **tags}
            if len(merged) > MAX_TAGS:
                raise error(f"A resource can have no more than {MAX_TAGS} tags.")
            record["tags"] = merged

        return self._update_group(ctx, name, change)

    def _untag(self, ctx, name: str, keys: list[str]) -> dict:
        def change(tx, record):
            record["tags"] = {k: v for k, v in record.get("tags", {}).items() if k not in set(keys)}

        return self._update_group(ctx, name, change)

    def _list_tags(self, ctx, name: str) -> dict:
        with self.store.transaction(write=False) as tx:
            record, _ = self._group(tx, ctx, name)
        return {"tags": record.get("tags", {})}

    def _arn_group(self, ctx, arn: str) -> str:
        parsed = parse_group_arn(arn)
        if parsed is None:
            if ":logs:" in arn and ":destination:" in arn:
                raise ResourceNotFoundException("The specified resource does not exist.")
            raise InvalidParameterException(f"Invalid ARN: {arn}")
        region, account, name = parsed
        if region != ctx.region or account != ctx.account:
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return name

    def tag_log_group(self, ctx, params):
        check_group_name(params["logGroupName"])
        return self._tag(ctx, params["logGroupName"], params["tags"], InvalidParameterException)

    def untag_log_group(self, ctx, params):
        check_group_name(params["logGroupName"])
        return self._untag(ctx, params["logGroupName"], params["tags"])

    def list_tags_log_group(self, ctx, params):
        check_group_name(params["logGroupName"])
        return self._list_tags(ctx, params["logGroupName"])

    def tag_resource(self, ctx, params):
        return self._tag(ctx, self._arn_group(ctx, params["resourceArn"]), params["tags"], TooManyTagsException)

    def untag_resource(self, ctx, params):
        return self._untag(ctx, self._arn_group(ctx, params["resourceArn"]), params["tagKeys"])

    def list_tags_for_resource(self, ctx, params):
        return self._list_tags(ctx, self._arn_group(ctx, params["resourceArn"]))

    # ---- log streams ----

    def create_log_stream(self, ctx, params):
        group, stream = params["logGroupName"], params["logStreamName"]
        check_group_name(group)
        check_stream_name(stream)
        try:
            with self.store.transaction() as tx:
                self._group(tx, ctx, group)
                tx.put_json(stream_key(ctx.account, ctx.region, group, stream), new_stream(ev.now_ms()),
                            if_absent=True)
        except ConflictError:
            raise ResourceAlreadyExistsException("The specified log stream already exists") from None
        return {}

    @blocking
    def delete_log_stream(self, ctx, params):
        group, stream = params["logGroupName"], params["logStreamName"]
        check_group_name(group)
        check_stream_name(stream)
        with self.store.transaction() as tx:
            record, _ = self._group(tx, ctx, group)
            if record.get("deletionProtectionEnabled"):
                raise LogsValidationException(
                    f"Log stream {stream} cannot be deleted because deletion protection is enabled on log group "
                    f"{group}.")
            if not tx.delete(stream_key(ctx.account, ctx.region, group, stream)):
                raise ResourceNotFoundException(STREAM_NOT_FOUND)
            tx.delete_range(events_prefix(ctx.account, ctx.region, group, stream))
        return {}

    def describe_log_streams(self, ctx, params):
        group = self._group_name(ctx, params)
        prefix = params.get("logStreamNamePrefix")
        order = params.get("orderBy") or "LogStreamName"
        descending = bool(params.get("descending"))
        limit = params.get("limit") or 50
        token = params.get("nextToken")
        if prefix:
            check_stream_name(prefix, "logStreamNamePrefix")
            if order == "LastEventTime":
                raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
        after = decode_token(token, invalid_token, _is_time_and_name if order == "LastEventTime" else _is_name)
        base = streams_prefix(ctx.account, ctx.region, group)
        with self.store.transaction(write=False) as tx:
            self._group(tx, ctx, group)
            if order == "LastEventTime":
                page, more = self._streams_by_time(tx, base, after, descending, limit)
            else:
                page, more = self._streams_by_name(tx, base, prefix, after, descending, limit)
        streams = [describe_stream(ctx.account, ctx.region, group, name, record) for name, record in page]
        out: dict = {"logStreams": streams}
        if more and page:
            name, record = page[-1]
            out["nextToken"] = encode_token([record.get("lastEventTimestamp") or 0, name]
                                             if order == "LastEventTime" else name)
        return out

    def _streams_by_name(self, tx, base, prefix, after, descending, limit):
        if descending:
            end = base + (after,) if after is not None else (
                base + (prefix + "\U0010ffff",) if prefix else None)
            rows = tx.range(base, start=base + (prefix,) if prefix else None, end=end, reverse=True,
                            limit=limit + 1)
        else:
            rows = tx.range(base, start=base + (prefix,) if prefix else None,
                            after=None if after is None else base + (after,), limit=limit + 1)
        rows = [(key[-1], json.loads(raw)) for key, raw in rows if not prefix or key[-1].startswith(prefix)]
        return rows[:limit], len(rows) > limit

    def _streams_by_time(self, tx, base, after, descending, limit):
        items = sorted(((json.loads(raw).get("lastEventTimestamp") or 0, key[-1], raw)
                        for key, raw in tx.range(base)), reverse=descending)
        if after is not None:
            mark = tuple(after)
            items = [it for it in items if ((it[0], it[1]) < mark if descending else (it[0], it[1]) > mark)]
        page = [(name, json.loads(raw)) for _, name, raw in items[:limit]]
        return page, len(items) > limit

    # ---- events (on worker threads: a batch or a page can be 10,000 events) ----

    @blocking
    def put_log_events(self, ctx, params):
        group, stream = params["logGroupName"], params["logStreamName"]
        check_group_name(group)
        check_stream_name(stream)
        batch = params["logEvents"]
        with self.store.transaction(write=False) as tx:
            record, _ = self._group(tx, ctx, group)
            if tx.get(stream_key(ctx.account, ctx.region, group, stream)) is None:
                raise ResourceNotFoundException(STREAM_NOT_FOUND)
        size = 0
        previous = None
        for item in batch:
            if previous is not None and item["timestamp"] < previous:
                raise InvalidParameterException(
                    "Log events in a single PutLogEvents request must be in chronological order.")
            previous = item["timestamp"]
            size += len(item["message"].encode("utf-8", "surrogatepass")) + ev.EVENT_OVERHEAD
        if size > ev.MAX_PAGE_BYTES:
            raise InvalidParameterException(f"Upload too large: {size} bytes exceeds limit of {ev.MAX_PAGE_BYTES}")
        now = ev.now_ms()
        too_old, too_new = now - TOO_OLD_MS, now + TOO_NEW_MS
        retention = record.get("retentionInDays")
        expired_before = now - retention * ev.DAY_MS if retention else None
        rejected: dict = {}
        accepted = []
        for index, item in enumerate(batch):
            ts = item["timestamp"]
            if ts > too_new:
                rejected.setdefault("tooNewLogEventStartIndex", index)
            elif ts < too_old:
                rejected["tooOldLogEventEndIndex"] = index
            elif expired_before is not None and ts < expired_before:
                rejected["expiredLogEventEndIndex"] = index
            else:
                accepted.append((ts, item["message"]))
        if accepted and accepted[-1][0] - accepted[0][0] > MAX_SPAN_MS:
            raise InvalidParameterException(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
        if accepted:
            meta = self.api.ingest.write_now(ctx.account, ctx.region, group, stream, accepted, create=False)
        else:
            meta = self.store.get_json(stream_key(ctx.account, ctx.region, group, stream)) or {"seq": 0}
        out: dict = {"nextSequenceToken": sequence_token(meta["seq"] or 1)}
        if rejected:
            out["rejectedLogEventsInfo"] = rejected
        return out

    @blocking
    def get_log_events(self, ctx, params):
        group = self._group_name(ctx, params)
        stream = params["logStreamName"]
        check_stream_name(stream)
        with self.store.transaction(write=False) as tx:
            self._group(tx, ctx, group)
            if tx.get(stream_key(ctx.account, ctx.region, group, stream)) is None:
                raise ResourceNotFoundException(STREAM_NOT_FOUND)
            return ev.read_stream(tx, ctx.account, ctx.region, group, stream, start_time=params.get("startTime"),
                                  end_time=params.get("endTime"), token=params.get("nextToken"),
                                  start_from_head=bool(params.get("startFromHead")), limit=params.get("limit"))

    @blocking
    def filter_log_events(self, ctx, params):
        group = self._group_name(ctx, params)
        names = params.get("logStreamNames")
        prefix = params.get("logStreamNamePrefix")
        if names and prefix:
            raise InvalidParameterException("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
        try:
            matches = compile_pattern(params.get("filterPattern") or "")
        except FilterPatternError as exc:
            raise InvalidParameterException(f"Invalid filter pattern: {exc}") from None
        start, end = params.get("startTime"), params.get("endTime")
        if start is not None and end is not None and start > end:
            raise InvalidParameterException("endTime must be greater than or equal to startTime.")
        base = streams_prefix(ctx.account, ctx.region, group)
        with self.store.transaction(write=False) as tx:
            self._group(tx, ctx, group)
            if names:
                streams = {}
                for name in names:
                    check_stream_name(name, "logStreamNames")
                    raw = tx.get(base + (name,))
                    if raw is not None:
                        streams[name] = json.loads(raw)
            else:
                if prefix:
                    check_stream_name(prefix, "logStreamNamePrefix")
                streams = {}
                for key, raw in self._scan(tx, base, base + (prefix,) if prefix else None):
                    if prefix and not key[-1].startswith(prefix):
                        break
                    streams[key[-1]] = json.loads(raw)
            out = ev.filter_group(tx, ctx.account, ctx.region, group, streams, start_time=start, end_time=end,
                                  matches=matches, limit=params.get("limit"), token=params.get("nextToken"))
        out["searchedLogStreams"] = []
        return out

    # ---- metric filters (metric_filters.py) ----

    def put_metric_filter(self, ctx, params):
        check_group_name(params["logGroupName"])
        return self.metric_filters.put(ctx, params)

    def describe_metric_filters(self, ctx, params):
        if params.get("logGroupName") is not None:
            check_group_name(params["logGroupName"])
        return self.metric_filters.describe(ctx, params)

    def delete_metric_filter(self, ctx, params):
        check_group_name(params["logGroupName"])
        return self.metric_filters.delete(ctx, params["logGroupName"], params["filterName"])

    @inline
    def test_metric_filter(self, ctx, params):
        return {"matches": test_filter(params["filterPattern"], params["logEventMessages"])}

    # ---- subscription filters, destinations, resource policies (subscriptions.py, destinations.py,
    # resource_policies.py) ----

    def reset(self) -> None:
        super().reset()
        self.subscriptions.cache.clear()
        self.metric_filters.reset()

    def put_subscription_filter(self, ctx, params):
        check_group_name(params["logGroupName"])
        return self.subscriptions.put(ctx, params["logGroupName"], params)

    def describe_subscription_filters(self, ctx, params):
        check_group_name(params["logGroupName"])
        return self.subscriptions.describe(ctx, params["logGroupName"], params)

    def delete_subscription_filter(self, ctx, params):
        check_group_name(params["logGroupName"])
        return self.subscriptions.delete(ctx, params["logGroupName"], params["filterName"])

    def put_destination(self, ctx, params):
        return self.destinations.put(ctx, params)

    def put_destination_policy(self, ctx, params):
        return self.destinations.put_policy(ctx, params)

    def describe_destinations(self, ctx, params):
        return self.destinations.describe(ctx, params)

    def delete_destination(self, ctx, params):
        return self.destinations.delete(ctx, params["destinationName"])

    def put_resource_policy(self, ctx, params):
        return self.resource_policies.put(ctx, params)

    def describe_resource_policies(self, ctx, params):
        return self.resource_policies.describe(ctx, params)

    def delete_resource_policy(self, ctx, params):
        return self.resource_policies.delete(ctx, params)

    # ---- export tasks (exports.py) ----

    @blocking
    def create_export_task(self, ctx, params):
        return self.exports.create(ctx, params)

    def describe_export_tasks(self, ctx, params):
        return self.exports.describe(ctx, params)

    def cancel_export_task(self, ctx, params):
        return self.exports.cancel(ctx, params["taskId"])

    # ---- live tail, data protection and account policies, query definitions, and the resources
    # that cannot exist here yet (live_tail.py, policies.py, queries.py, absent.py) ----

    async def start_live_tail(self, ctx, params):
        session = await asyncio.to_thread(self.live_tail.open, ctx, params)
        return {"responseStream": self.live_tail.stream(session)}

    def put_data_protection_policy(self, ctx, params):
        ident = params["logGroupIdentifier"]
        return policies.put_data_protection_policy(self.store, ctx.account, ctx.region, self._identifier(ctx, ident),
                                                   ident, params["policyDocument"])

    def get_data_protection_policy(self, ctx, params):
        ident = params["logGroupIdentifier"]
        return policies.get_data_protection_policy(self.store, ctx.account, ctx.region, self._identifier(ctx, ident),
                                                   ident)

    def delete_data_protection_policy(self, ctx, params):
        name = self._identifier(ctx, params["logGroupIdentifier"])
        return policies.delete_data_protection_policy(self.store, ctx.account, ctx.region, name)

    def put_account_policy(self, ctx, params):
        return policies.put_account_policy(self.store, ctx.account, ctx.region, params)

    def describe_account_policies(self, ctx, params):
        return policies.describe_account_policies(self.store, ctx.account, ctx.region, params)

    def delete_account_policy(self, ctx, params):
        return policies.delete_account_policy(self.store, ctx.account, ctx.region, params)

    def put_query_definition(self, ctx, params):
        return queries.put_query_definition(self.store, ctx.account, ctx.region, params)

    def describe_query_definitions(self, ctx, params):
        return queries.describe_query_definitions(self.store, ctx.account, ctx.region, params)

    def delete_query_definition(self, ctx, params):
        return queries.delete_query_definition(self.store, ctx.account, ctx.region, params)

    def get_query_results(self, ctx, params):
        return queries.get_query_results(params)

    def stop_query(self, ctx, params):
        return queries.stop_query(params)

    def describe_queries(self, ctx, params):
        return queries.describe_queries(params)

    def list_log_anomaly_detectors(self, ctx, params):
        return absent.list_log_anomaly_detectors(params)

    def get_log_anomaly_detector(self, ctx, params):
        return absent.missing_anomaly_detector(params)

    def update_log_anomaly_detector(self, ctx, params):
        return absent.missing_anomaly_detector(params)

    def delete_log_anomaly_detector(self, ctx, params):
        return absent.missing_anomaly_detector(params)

    def describe_deliveries(self, ctx, params):
        return absent.describe_deliveries(params)

    def describe_delivery_sources(self, ctx, params):
        return absent.describe_delivery_sources(params)

    def describe_delivery_destinations(self, ctx, params):
        return absent.describe_delivery_destinations(params)

    def get_delivery(self, ctx, params):
        return absent.missing_delivery(params)

    def delete_delivery(self, ctx, params):
        return absent.missing_delivery(params)

    def get_delivery_source(self, ctx, params):
        return absent.missing_delivery_source(params)

    def delete_delivery_source(self, ctx, params):
        return absent.missing_delivery_source(params)

    def get_delivery_destination(self, ctx, params):
        return absent.missing_delivery_destination(params)

    def delete_delivery_destination(self, ctx, params):
        return absent.missing_delivery_destination(params)

    def get_delivery_destination_policy(self, ctx, params):
        return absent.missing_delivery_destination(params)

    def delete_delivery_destination_policy(self, ctx, params):
        return absent.missing_delivery_destination(params)
