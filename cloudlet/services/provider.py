"""The Provider seam: one method per AWS operation.

A provider method is named after its operation in snake_case and takes `(self, ctx, params)`;
`params` is what a botocore user passed (already parsed and validated against the model),
and the return value is a dict shaped like the operation's output. Errors are raised as
`ServiceError` subclasses named after the AWS error code.

How a method runs:
- plain function: may use the store and nothing else that blocks. With the embedded SQLite
  store it runs on the event loop (a store call costs ~10 µs; a hop to a worker thread costs
  ~200 µs on a small machine); with PostgreSQL, whose calls cross the network, it runs on a
  worker thread.
- `@blocking`: does slow blocking work (large files, subprocesses); always a worker thread.
- `@inline`: pure computation; always on the event loop.
- `async def`: awaited on the event loop.

A provider is built with the platform's facilities (`Infra`: store, blobs, settings, outbox,
delivery targets, ...) and, as keyword arguments, the internal APIs of the services it calls
(`services/__init__.py` wires them). It offers its own internal API to others as `api`.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from cloudlet.protocol import load_service

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext
    from cloudlet.gateway.routes import Route
    from cloudlet.infra import Infra

Handler = Callable[["RequestContext", dict], Any]
F = TypeVar("F", bound=Callable[..., Any])

# The markers below are attributes set on the function object and read back with getattr() in
# Provider._find_handler; a Callable type has no such attribute, hence the ignores.


def inline(fn: F) -> F:
    """Mark a provider method as non-blocking: it runs on the event loop directly."""
    fn.cloudlet_inline = True  # type: ignore[attr-defined]  # a marker attribute, see above
    return fn


def blocking(fn: F) -> F:
    """Mark a provider method as doing slow blocking work: it always runs on a worker thread."""
    fn.cloudlet_blocking = True  # type: ignore[attr-defined]  # a marker attribute, see above
    return fn


@functools.lru_cache(maxsize=4096)
def snake_case(operation: str) -> str:
    """`GetCallerIdentity` -> `get_caller_identity`, `ListBucketsV2` -> `list_buckets_v2`."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", operation)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


class Provider:
    """Base class of every service provider. Subclasses set `service` (the botocore name)."""

    service: str = ""
    # What an implemented operation does not do yet, by operation name; shown on docs/coverage.md.
    limits: dict[str, str] = {}

    # The internal API other services may call (services/<svc>/api.py), if the service has one.
    api: Any = None

    def __init__(self, infra: Infra) -> None:
        self.infra = infra
        self.store = infra.store
        self.settings = infra.settings

    def handler(self, operation: str) -> tuple[Handler, str] | None:
        """The method for `operation` and how to call it: "inline", "async", "thread" or "store"."""
        cache = self.__dict__.setdefault("_handlers", {})
        if operation not in cache:
            cache[operation] = self._find_handler(operation)
        return cache[operation]

    def _find_handler(self, operation: str) -> tuple[Handler, str] | None:
        fn = getattr(self, snake_case(operation), None)
        if fn is None or not callable(fn):
            return None
        if asyncio.iscoroutinefunction(fn):
            return fn, "async"
        if getattr(fn, "cloudlet_inline", False):
            return fn, "inline"
        return fn, "thread" if getattr(fn, "cloudlet_blocking", False) else "store"

    @classmethod
    def implemented_operations(cls) -> list[str]:
        """The operations of the service's model that this class has a method for."""
        return [op for op in load_service(cls.service).operations if callable(getattr(cls, snake_case(op), None))]

    def routes(self) -> list[Route]:
        """Data-plane HTTP routes this service serves besides its AWS API (function URLs, ...),
        declared by host pattern or path prefix (gateway/routes.py)."""
        return []

    async def shutdown(self) -> None:
        """Stop what the provider runs itself (execution environments, ...) at platform stop."""

    def reset(self) -> None:
        """Drop in-process caches after the platform's state was wiped (override if any)."""
