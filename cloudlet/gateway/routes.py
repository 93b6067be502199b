"""Data-plane routes: HTTP endpoints that are not AWS APIs, matched before the API pipeline.

A route is declared, not coded as a predicate: it names a host pattern and/or a path prefix,
and says whether it wants the caller's identity and a verified signature. The gateway runs
those steps (the same ones the API pipeline uses) and hands the route a RequestContext.
Function URLs, Lambda's code downloads and the platform's `/_cloudlet/` API are routes; API
Gateway invoke hosts, S3 website endpoints and the container registry will be.

Host patterns are dot-separated labels: `{name}` matches one label and captures it, `*` as
the last label matches the rest of the host (any domain), anything else is literal; the port
is ignored, and so is case (the HTTP server lower-cases the host):

    "{url_id}.lambda-url.{region}.*"   matches abc123.lambda-url.us-east-1.localhost:4566

Routes with a host pattern are tried first, in the order they were added; then routes with
only a path prefix, longest prefix first. A route with both needs both to match.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cloudlet.protocol import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from .context import RequestContext
    from .websocket import WebSocket

RouteHandler = Callable[["RequestContext"], Awaitable[HttpResponse]]
WebSocketHandler = Callable[["RequestContext", "WebSocket"], Awaitable[None]]

_LABEL = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Route:
    """A data-plane endpoint.

    `handler(ctx)` answers plain requests (`ctx.request` is the request); `websocket(ctx, ws)`
    serves WebSocket upgrades (gateway/websocket.py), and a route without one refuses them.
    `identity`: resolve the caller from the SigV4 credential scope (account, region, access
    key); without a scope the caller is anonymous (`ctx.principal` empty). `authenticate`:
    also verify the signature when CLOUDLET_ENFORCE_SIGV4 is on; `ctx.authenticated` tells
    the route whether the caller proved who it is. The route decides what to refuse.
    """

    name: str
    handler: RouteHandler | None = None
    host: str = ""
    path_prefix: str = ""
    identity: bool = False
    authenticate: bool = False
    websocket: WebSocketHandler | None = None

    def __post_init__(self) -> None:
        if not self.host and not self.path_prefix:
            raise ValueError(f"route {self.name!r} needs a host pattern or a path prefix")
        if self.handler is None and self.websocket is None:
            raise ValueError(f"route {self.name!r} has neither a handler nor a websocket handler")


class HostPattern:
    """A compiled host pattern; `literal` is its longest fixed text, checked first because a
    substring test costs far less than a regular expression on every API request."""

    __slots__ = ("pattern", "literal", "_regex")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern.lower()
        labels = self.pattern.split(".")
        parts: list[str] = []
        for i, label in enumerate(labels):
            if label == "*":
                if i != len(labels) - 1:
                    raise ValueError(f"host pattern {pattern!r}: '*' must be the last label")
                parts.append(r"[^:/]+")
                continue
            pos, out = 0, []
            for m in _LABEL.finditer(label):
                out.append(re.escape(label[pos:m.start()]))
                out.append(f"(?P<{m.group(1)}>[^.:/]+)")
                pos = m.end()
            out.append(re.escape(label[pos:]))
            parts.append("".join(out))
        self._regex = re.compile(r"\.".join(parts) + r"(?::\d+)?")
        fixed = re.split(r"\{[^}]*\}|\*", self.pattern)
        self.literal = max(fixed, key=len)

    def match(self, host: str) -> dict[str, str] | None:
        """What the pattern captures from `host` (lower-case, as the HTTP server hands it over)."""
        if self.literal not in host:
            return None
        m = self._regex.fullmatch(host)
        return m.groupdict() if m is not None else None


_NO_PARAMS: dict[str, str] = {}


class RouteTable:
    """The data-plane routes, matched by host and path (see the module docstring)."""

    def __init__(self) -> None:
        self._by_host: list[tuple[HostPattern, Route]] = []
        self._by_path: list[Route] = []
        self._prefixes: tuple[str, ...] = ()

    def add(self, route: Route) -> None:
        if route.host:
            self._by_host.append((HostPattern(route.host), route))
        else:
            self._by_path.append(route)
            self._by_path.sort(key=lambda r: -len(r.path_prefix))
            self._prefixes = tuple(r.path_prefix for r in self._by_path)

    def __iter__(self) -> Iterator[Route]:
        yield from (route for _, route in self._by_host)
        yield from self._by_path

    def match(self, req: HttpRequest) -> tuple[Route, dict[str, str]] | None:
        """The route serving `req` and what its host pattern captured, or None (an AWS API call)."""
        host = req.host
        for pattern, route in self._by_host:
            if pattern.literal in host:  # the cheap test first: most requests are API calls
                params = pattern.match(host)
                if params is not None and req.path.startswith(route.path_prefix):
                    return route, params
        path = req.path
        if self._prefixes and path.startswith(self._prefixes):
            for route in self._by_path:
                if path.startswith(route.path_prefix):
                    return route, _NO_PARAMS
        return None
