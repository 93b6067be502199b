"""Long-running platform work (pollers, schedulers, reapers) with orderly start and stop.

A background service is an object with `name` and `async run(stopping: asyncio.Event)`; it
loops until `stopping` is set and then returns after finishing or persisting its in-flight
work. The manager starts each as a task and, on shutdown, sets the event and waits (with a
deadline) for every task to return; a task that crashes is logged and restarted with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("cloudlet.background")


class BackgroundService(Protocol):
    name: str

    async def run(self, stopping: asyncio.Event) -> None: ...


class BackgroundManager:
    def __init__(self) -> None:
        self._services: list[BackgroundService] = []
        self._tasks: dict[str, asyncio.Task] = {}
        self._stopping = asyncio.Event()
        self.state: dict[str, str] = {}

    def add(self, service: BackgroundService) -> None:
        self._services.append(service)
        self.state[service.name] = "registered"

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        for service in self._services:
            self._tasks[service.name] = asyncio.create_task(self._supervise(service), name=service.name)

    async def _supervise(self, service: BackgroundService) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            self.state[service.name] = "running"
            try:
                await service.run(self._stopping)
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background service %s crashed; restarting in %.1fs", service.name, delay)
                self.state[service.name] = "restarting"
                try:
                    await asyncio.wait_for(self._stopping.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, 10.0)
        self.state[service.name] = "stopped"

    async def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        tasks = list(self._tasks.values())
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            log.warning("background service %s did not stop within %.0fs; cancelling", task.get_name(), timeout)
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        self._tasks.clear()


async def sleep_or_stop(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; return True if the platform is stopping."""
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
        return True
    except TimeoutError:
        return stopping.is_set()


def call_on_loop(loop: asyncio.AbstractEventLoop | None, fn: Callable[..., object], *args: object) -> None:
    """Run `fn(*args)` on `loop` from any thread: at once when called on that loop, else at its
    next turn; nothing when it has not started or has closed."""
    if loop is None or loop.is_closed():
        return
    try:
        on_loop = asyncio.get_running_loop() is loop
    except RuntimeError:
        on_loop = False
    if on_loop:
        fn(*args)
    else:
        loop.call_soon_threadsafe(fn, *args)
