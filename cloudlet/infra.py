"""What the platform gives every service: its facilities, and nothing of other services.

A provider is built with an `Infra` and, as keyword arguments, the internal APIs of the other
services it calls (`services/<svc>/api.py`; `services/__init__.py` says who uses whom). It never
reaches other services through the platform: what it may call is what it was given.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cloudlet.background import BackgroundManager
from cloudlet.blob_gc import BlobHolders
from cloudlet.config import Settings
from cloudlet.delivery import Targets
from cloudlet.gateway.identity import Identities
from cloudlet.outbox import Outbox
from cloudlet.replicas import Replica
from cloudlet.store import BlobStore, Store

T = TypeVar("T")


@dataclass
class Endpoint:
    """The platform's HTTP endpoint, once the server listens: its port, and how to serve it on one
    more listening socket (one in a function's network namespace)."""
    port: int | None = None
    serve_socket: Callable[[socket.socket], Awaitable[asyncio.AbstractServer]] | None = None


@dataclass(frozen=True)
class Infra:
    settings: Settings
    store: Store
    blobs: BlobStore
    data_dir: Path                # the platform's data directory (state of this process's making)
    executor: Executor            # worker threads for blocking work
    background: BackgroundManager  # long-running work, started and stopped with the platform
    outbox: Outbox                # durable side effects (outbox.py)
    targets: Targets              # delivery to target ARNs (delivery.py)
    identities: Identities        # access keys -> accounts and secrets
    replica: Replica              # this process among the replicas sharing the store
    blob_holders: BlobHolders     # what each service's records name in the blob store (blob_gc.py)
    endpoint: Endpoint = field(default_factory=Endpoint)  # set by the server when it listens

    async def run_store(self, fn: Callable[..., T], *args: Any) -> T:
        """Run store-bound work: inline with the embedded SQLite store (a call costs ~10 µs, a
        thread hop ~200 µs), on a worker thread with PostgreSQL (network round trips)."""
        if self.store.backend == "sqlite":
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """Run slow blocking work (files, subprocesses) on a worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
