"""Match REST requests (method + path + query) to operations by their `requestUri` templates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from botocore.model import OperationModel, ServiceModel


_LABEL = re.compile(r"\{([^}]+)\}")


@dataclass(slots=True)
class _Route:
    operation: OperationModel
    pattern: re.Pattern
    labels: dict[str, str]          # regex group -> label name (without '+')
    query_required: dict[str, str | None]   # literal query keys in requestUri (value or None)
    query_members: frozenset[str]           # those of them that are required members, not literals
    headers_required: tuple[str, ...]       # lower-case headers of required header members
    rank: tuple
    bucket: tuple[str, str] | None  # its first two path segments, when both are literal


def _bucket(path: str) -> tuple[str, str] | None:
    """The first two segments of a path (`/2015-03-31/functions/...` -> ('2015-03-31', 'functions'))."""
    parts = path.split("/", 3)
    return (parts[1], parts[2]) if len(parts) >= 3 else None


def _route_bucket(op: OperationModel) -> tuple[str, str] | None:
    """A route's bucket, if its first two segments are literal (no label can change them)."""
    path = op.http.get("requestUri", "/").partition("?")[0]
    if "{" not in path:
        return _bucket(path)
    literal = path[:path.index("{")]
    return _bucket(literal) if literal.count("/") >= 3 else None


def _literal_query(op: OperationModel) -> set[str]:
    query = op.http.get("requestUri", "/").partition("?")[2]
    return {part.partition("=")[0] for part in query.split("&") if part}


def _required_query(op: OperationModel) -> dict[str, str | None]:
    """Query keys an operation's request always carries: literals in its requestUri
    (`?uploads`, `?list-type=2`) and required querystring members (`uploadId`)."""
    _, _, query = op.http.get("requestUri", "/").partition("?")
    required: dict[str, str | None] = {}
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        required[key] = value if eq else None
    shape = op.input_shape
    if shape is not None:
        for name in shape.required_members:
            ser = shape.members[name].serialization
            if ser.get("location") == "querystring" and shape.members[name].type_name != "map":
                required.setdefault(ser.get("name", name), None)
    return required


def _required_headers(op: OperationModel) -> tuple[str, ...]:
    """Headers a request must carry; they tell same-URI twins apart (s3 CopyObject's x-amz-copy-source)."""
    shape = op.input_shape
    if shape is None:
        return ()
    return tuple(shape.members[n].serialization.get("name", n).lower() for n in shape.required_members
                 if shape.members[n].serialization.get("location") == "header")


def _compile(op: OperationModel) -> tuple[re.Pattern, dict[str, str], dict[str, str | None], tuple]:
    path = op.http.get("requestUri", "/").partition("?")[0]
    required = _required_query(op)
    labels: dict[str, str] = {}
    regex = ["^"]
    pos = 0
    literal_chars = 0
    greedy = False
    for i, m in enumerate(_LABEL.finditer(path)):
        literal = path[pos:m.start()]
        literal_chars += len(literal)
        regex.append(re.escape(literal))
        name = m.group(1)
        group = f"g{i}"
        if name.endswith("+"):
            greedy = True
            labels[group] = name[:-1]
            regex.append(f"(?P<{group}>.+)")
        else:
            labels[group] = name
            regex.append(f"(?P<{group}>[^/]+)")
        pos = m.end()
    tail = path[pos:]
    literal_chars += len(tail)
    regex.append(re.escape(tail))
    # AWS routes tolerate one trailing slash on paths that do not end in a label.
    if not tail.endswith("/") and not greedy:
        regex.append("/?")
    regex.append("$")
    # More required query keys first, then more literal path, then non-greedy routes.
    # Deprecated twins of a route (s3 GetBucketLifecycle) lose to the current operation.
    rank = (-len(required), -literal_chars, greedy, -len(labels), -len(_required_headers(op)),
            bool(op.deprecated))
    return re.compile("".join(regex)), labels, required, rank


class RestRouter:
    """Per-service table of REST routes, tried most specific first. Routes are bucketed by their
    first two path segments when those are literal (`/2015-03-31/functions`), so a request tries
    only the routes of its bucket and those whose labels start earlier, in the same order."""

    def __init__(self, model: ServiceModel, *, lacking_query: bool = False) -> None:
        self._lacking_query = lacking_query
        by_method: dict[str, list[_Route]] = {}
        for name in model.operation_names:
            op = model.operation_model(name)
            http = op.http
            pattern, labels, query, rank = _compile(op)
            members = frozenset(query.keys() - _literal_query(op))
            by_method.setdefault(http.get("method", "POST"), []).append(
                _Route(op, pattern, labels, query, members, _required_headers(op), rank, _route_bucket(op)))
        self._by_method: dict[str, list[_Route]] = {}
        self._buckets: dict[str, dict[tuple[str, str], list[_Route]]] = {}
        self._anywhere: dict[str, list[_Route]] = {}   # routes whose labels start earlier
        for method, routes in by_method.items():
            routes.sort(key=lambda r: r.rank)
            self._by_method[method] = routes
            self._anywhere[method] = [r for r in routes if r.bucket is None]
            self._buckets[method] = {
                bucket: [r for r in routes if r.bucket in (bucket, None)]
                for bucket in {r.bucket for r in routes if r.bucket is not None}}

    def _candidates(self, method: str, path: str) -> list[_Route]:
        buckets = self._buckets.get(method)
        if buckets is None:
            return []
        bucket = _bucket(path)
        found = buckets.get(bucket) if bucket is not None else None
        return found if found is not None else self._anywhere[method]

    def match(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]
              ) -> tuple[OperationModel, dict[str, str]] | None:
        """Return the operation and its URI label values (percent-decoded), or None.

        With `lacking_query`, a request that lacks only a required query member (Lambda's
        UntagResource without `tagKeys`) and that no other route takes goes to that operation,
        whose validation then answers as AWS does ("Value null at 'tagKeys' ... Member must not
        be null")."""
        lacking: tuple[_Route, re.Match] | None = None
        for route in self._candidates(method, path):
            if route.headers_required and not all(h in headers for h in route.headers_required):
                continue
            missing_member = False
            if route.query_required:
                ok = True
                for key, value in route.query_required.items():
                    got = query.get(key)
                    if got is None and key in route.query_members:
                        missing_member = True
                    elif got is None or (value is not None and value not in got):
                        ok = False
                        break
                if not ok:
                    continue
            m = route.pattern.match(path)
            if m is None:
                continue
            if missing_member:
                lacking = lacking or (route, m)
                continue
            return route.operation, {route.labels[g]: unquote(v) for g, v in m.groupdict().items()}
        if lacking is not None and self._lacking_query:
            route, m = lacking
            return route.operation, {route.labels[g]: unquote(v) for g, v in m.groupdict().items()}
        return None

    def methods_for(self, path: str) -> set[str]:
        """HTTP methods that some route would accept for this path (for 405 answers)."""
        return {method for method, routes in self._by_method.items()
                if any(r.pattern.match(path) for r in routes)}
