"""The Provider seam: one method per AWS operation.

A provider method is named after its operation in snake_case and takes `(self, ctx, params)`;
`params` is what a botocore user passed (already parsed and validated against the model),
and the return value is a dict shaped like the operation's output. Errors are raised as
`ServiceError` subclasses named after the AWS error code.

Methods may be plain functions (run in the platform's worker threads, so they may block on
the store), `async def` (awaited on the event loop), or plain functions marked `@inline`
(pure computation, run on the event loop without a thread hop).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext
    from cloudlet.platform import Platform

Handler = Callable[["RequestContext", dict], Any]


def inline(fn: Callable) -> Callable:
    """Mark a provider method as non-blocking: it runs on the event loop directly."""
    fn.cloudlet_inline = True  # type: ignore[attr-defined]
    return fn


def snake_case(operation: str) -> str:
    """`GetCallerIdentity` -> `get_caller_identity`, `ListBucketsV2` -> `list_buckets_v2`."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", operation)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


class Provider:
    """Base class of every service provider. Subclasses set `service` (the botocore name)."""

    service: str = ""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.store = platform.store

    def handler(self, operation: str) -> tuple[Handler, str] | None:
        """The method for `operation` and how to call it: "inline", "async" or "thread"."""
        fn = getattr(self, snake_case(operation), None)
        if fn is None or not callable(fn):
            return None
        if asyncio.iscoroutinefunction(fn):
            return fn, "async"
        return fn, "inline" if getattr(fn, "cloudlet_inline", False) else "thread"

    def implemented_operations(self) -> list[str]:
        """Operations of this service's model that have a method here."""
        from cloudlet.protocol import load_service

        return [op for op in load_service(self.service).operations if self.handler(op) is not None]

    def reset(self) -> None:
        """Drop in-process caches after the platform's state was wiped (override if any)."""
