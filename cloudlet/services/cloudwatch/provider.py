"""Amazon CloudWatch metrics: PutMetricData, ListMetrics, GetMetricStatistics, GetMetricData.

Metrics and their data points live in the store (layout: api.py); metric filters of CloudWatch
Logs write points through the same internal API. Alarms, dashboards, metric streams, insight
rules and anomaly detectors are not served (501).
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from typing import Any

from cloudlet.infra import Infra
from cloudlet.protocol.model_errors import errors_for
from cloudlet.services.paging import decode_token, encode_token
from cloudlet.services.provider import Provider

from . import metrics as m
from .api import NO_UNIT, CloudWatchApi, Point, Stats, canonical, put_points

E = errors_for("cloudwatch")
InvalidParameterValue = E.InvalidParameterValueException
InvalidParameterCombination = E.InvalidParameterCombinationException
MissingParameter = E.MissingRequiredParameterException
InvalidNextToken = E.InvalidNextToken
ValidationError = E.ValidationException

TWO_WEEKS_MS = 14 * 86_400_000
TWO_HOURS_MS = 2 * 3_600_000
THREE_HOURS_MS = 3 * 3_600_000
LIST_PAGE = 500
MAX_DATAPOINTS = 1440
DEFAULT_MAX_DATAPOINTS = 100_800
_QUERY_ID = re.compile(r"[a-z][a-zA-Z0-9_]*")


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _finite(value: Any, member: str) -> float:
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise InvalidParameterValue(f"The value {value} for parameter {member} is invalid.")
    return number


def _is_position(position: Any) -> bool:
    return isinstance(position, list) and len(position) == 3 and all(isinstance(x, str) for x in position)


def _check_period(period: int, member: str = "Period") -> None:
    if period < 60 and period not in (1, 5, 10, 30) or period >= 60 and period % 60:
        raise InvalidParameterValue(f"The parameter {member} must be 1, 5, 10, 30, or a multiple of 60.")


class CloudWatchProvider(Provider):
    service = "cloudwatch"
    limits = {
        "GetMetricStatistics": "ExtendedStatistics (percentiles) are refused: points are kept as "
                               "SampleCount/Sum/Minimum/Maximum only. Data is kept until deleted (no 15-month "
                               "roll-up).",
        "GetMetricData": "MetricStat queries only: metric math Expressions (and percentile stats) are refused; "
                         "no paging (results are cut at MaxDatapoints); LabelOptions are ignored.",
        "PutMetricData": "EntityMetricData is accepted and ignored.",
        "ListMetrics": "Linked accounts (IncludeLinkedAccounts) are not modelled: only this account's metrics.",
    }

    def __init__(self, infra: Infra) -> None:
        super().__init__(infra)
        self.api = CloudWatchApi()

    # ---- PutMetricData ----

    def put_metric_data(self, ctx, params):
        namespace = params["Namespace"]
        if namespace.startswith("AWS/"):
            raise InvalidParameterValue(f"The value {namespace} for parameter Namespace is invalid.")
        now = _now_ms()
        points = [self._point(namespace, datum, f"MetricData.member.{i}", now)
                  for i, datum in enumerate(params.get("MetricData") or [], 1)]
        with self.store.transaction() as tx:
            put_points(tx, ctx.account, ctx.region, points, now)
        return {}

    @staticmethod
    def _point(namespace: str, datum: dict, member: str, now: int) -> Point:
        value, values, counts = datum.get("Value"), datum.get("Values"), datum.get("Counts")
        stat_values = datum.get("StatisticValues")
        if value is not None and values:
            raise InvalidParameterCombination(f"The parameters {member}.Value and {member}.Values are mutually "
                                              "exclusive and you have specified both.")
        if value is not None and stat_values:
            raise InvalidParameterCombination(f"The parameters {member}.Value and {member}.StatisticValues are "
                                              "mutually exclusive and you have specified both.")
        if values and counts and len(values) != len(counts):
            raise InvalidParameterValue(f"The parameters {member}.Values and {member}.Counts must be of the "
                                        "same size.")
        stats: Stats | None = None
        if value is not None:
            stats = Stats.of(_finite(value, f"{member}.Value"))
        for i, v in enumerate(values or [], 1):
            number = _finite(v, f"{member}.Values.member.{i}")
            count = float(counts[i - 1]) if counts else 1.0
            if count <= 0:
                continue
            one = Stats(count, number * count, number, number)
            stats = one if stats is None else stats.merge(one)
        if stat_values:
            s = Stats(*(_finite(stat_values[k], f"{member}.StatisticValues.{k}")
                        for k in ("SampleCount", "Sum", "Minimum", "Maximum")))
            if s.max < s.min:
                raise InvalidParameterValue(f"The parameter {member}.StatisticValues.Maximum must be greater than "
                                            f"{member}.StatisticValues.Minimum.")
            if s.samples <= 0:
                raise InvalidParameterValue(f"The parameter {member}.StatisticValues.SampleCount must be greater "
                                            "than 0.")
            stats = s if stats is None else stats.merge(s)
        if stats is None:
            if values is not None:   # only zero counts: nothing to keep, as AWS keeps nothing either
                stats = Stats(0.0, 0.0, 0.0, 0.0)
            else:
                raise MissingParameter(f"At least one of the parameters {member}.Value or {member}.StatisticValues "
                                       "must be specified.")
        when = datum.get("Timestamp")
        at = _ms(when) if when is not None else now
        if at < now - TWO_WEEKS_MS or at > now + TWO_HOURS_MS:
            raise InvalidParameterValue(f"The parameter {member}.Timestamp must specify a time within the past "
                                        "two weeks.")
        resolution = datum.get("StorageResolution", 60)
        if resolution not in (1, 60):
            raise InvalidParameterValue(f"The value {resolution} for parameter {member}.StorageResolution is "
                                        "invalid.")
        dims = canonical([(d["Name"], d["Value"]) for d in datum.get("Dimensions") or []])
        return Point(namespace, datum["MetricName"], dims, datum.get("Unit") or NO_UNIT, at, stats, resolution)

    # ---- ListMetrics ----

    def list_metrics(self, ctx, params):
        namespace, name = params.get("Namespace"), params.get("MetricName")
        filters = params.get("Dimensions") or []
        since = _now_ms() - THREE_HOURS_MS if params.get("RecentlyActive") == "PT3H" else None
        after = decode_token(params.get("NextToken"), lambda: InvalidNextToken("The service returned an invalid "
                                                                               "NextToken."), _is_position)
        out: list[dict] = []
        token = None
        last: list[str] = []
        with self.store.transaction(write=False) as tx:
            for position, record in m.scan_metrics(tx, ctx.account, ctx.region, namespace, name, after):
                if namespace is not None and position[0] != namespace or name is not None and position[1] != name:
                    continue
                if since is not None and record["t"] < since:
                    continue
                dims = dict(record["d"])
                if not all(f["Name"] in dims and (f.get("Value") is None or dims[f["Name"]] == f["Value"])
                           for f in filters):
                    continue
                if len(out) == LIST_PAGE:
                    token = encode_token(last)
                    break
                out.append(m.described(position, record))
                last = position
        result: dict = {"Metrics": out}
        if token:
            result["NextToken"] = token
        return result

    # ---- GetMetricStatistics ----

    def get_metric_statistics(self, ctx, params):
        stats, extended = params.get("Statistics") or [], params.get("ExtendedStatistics") or []
        if not stats and not extended:
            raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics")
        if stats and extended:
            raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics, not both")
        if extended:
            raise InvalidParameterValue("ExtendedStatistics (percentiles) are not supported by cloudlet: data "
                                        "points are kept as SampleCount, Sum, Minimum and Maximum.")
        start, end, period = _ms(params["StartTime"]), _ms(params["EndTime"]), params["Period"]
        _check_period(period)
        if start >= end:
            raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
        start = start - start % (1000 if period < 60 else 60_000)
        wanted = -(-(end - start) // (period * 1000))
        if wanted > MAX_DATAPOINTS:
            raise InvalidParameterCombination(
                f"You have requested up to {wanted} datapoints, which exceeds the limit of {MAX_DATAPOINTS}. You may "
                "reduce the datapoints requested by increasing Period, or decreasing the time range.")
        dims = canonical([(d["Name"], d["Value"]) for d in params.get("Dimensions") or []])
        with self.store.transaction(write=False) as tx:
            buckets = m.read_buckets(tx, ctx.account, ctx.region, params["Namespace"], params["MetricName"], dims,
                                     start, end, params.get("Unit"))
        points = []
        for (at, unit), s in sorted(m.by_period(buckets, start, period).items()):
            point: dict = {"Timestamp": at / 1000, **{k: m.statistic(s, k) for k in stats}, "Unit": unit}
            points.append(point)
        return {"Label": params["MetricName"], "Datapoints": points}

    # ---- GetMetricData ----

    def get_metric_data(self, ctx, params):
        queries = params["MetricDataQueries"]
        start, end = _ms(params["StartTime"]), _ms(params["EndTime"])
        if start >= end:
            raise ValidationError("The parameter StartTime must be less than the parameter EndTime.")
        seen: set[str] = set()
        for i, q in enumerate(queries, 1):
            member = f"MetricDataQueries.member.{i}"
            if not _QUERY_ID.fullmatch(q["Id"]):
                raise ValidationError(f"The value for parameter {member}.Id is not matching the expected pattern "
                                      "^[a-z][a-zA-Z0-9_]*$.")
            if q["Id"] in seen:
                raise ValidationError("The values for parameter id in MetricDataQueries are not unique.")
            seen.add(q["Id"])
            if q.get("Expression") is not None and q.get("MetricStat") is not None:
                raise ValidationError(f"The parameters {member}.Expression and {member}.MetricStat are mutually "
                                      "exclusive and you have specified both.")
            if q.get("Expression") is not None:
                raise ValidationError(f"Metric math is not supported by cloudlet: {member}.Expression (only "
                                      "MetricStat queries are).")
            if q.get("MetricStat") is None:
                raise ValidationError(f"The parameter {member}.MetricStat is required.")
            stat = q["MetricStat"]
            _check_period(stat["Period"], f"{member}.MetricStat.Period")
            if stat["Stat"] not in m.STATISTICS:
                raise ValidationError(f"The value {stat['Stat']} for parameter {member}.MetricStat.Stat is not "
                                      f"supported by cloudlet (supported: {', '.join(m.STATISTICS)}).")
        limit = params.get("MaxDatapoints") or DEFAULT_MAX_DATAPOINTS
        descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        results = []
        with self.store.transaction(write=False) as tx:
            for q in queries:
                stat = q["MetricStat"]
                metric = stat["Metric"]
                period = stat["Period"]
                aligned = start - start % (1000 if period < 60 else 60_000)
                dims = canonical([(d["Name"], d["Value"]) for d in metric.get("Dimensions") or []])
                buckets = m.read_buckets(tx, ctx.account, ctx.region, metric.get("Namespace", ""),
                                         metric.get("MetricName", ""), dims, aligned, end, stat.get("Unit"))
                merged: dict[int, Stats] = {}
                for (at, _unit), s in m.by_period(buckets, aligned, period).items():
                    merged[at] = s if at not in merged else merged[at].merge(s)
                times = sorted(merged, reverse=descending)[:limit]
                if q.get("ReturnData", True):
                    results.append({"Id": q["Id"], "Label": q.get("Label") or metric.get("MetricName", ""),
                                    "Timestamps": [t / 1000 for t in times],
                                    "Values": [m.statistic(merged[t], stat["Stat"]) for t in times],
                                    "StatusCode": "Complete"})
        return {"MetricDataResults": results, "Messages": []}
