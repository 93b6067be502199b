"""The real server (Platform, Gateway, HttpServer), started in this process on a free port, for
tests that must add something a subprocess cannot: a data-plane route of the test's own, or a
provider method that records what the gateway handed it. Nothing in the request path is
replaced; the event loop runs in a background thread and clients talk to it over TCP."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from cloudlet.config import Settings
from cloudlet.gateway.http11 import HttpServer
from cloudlet.server import build_app


class InProcessServer:
    def __init__(self, **settings: Any) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="cloudlet-inprocess-")
        self.settings = Settings.from_env({}, data_dir=Path(self._tmp.name), log_level="warning", **settings)
        self.gateway, self.platform = build_app(self.settings)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="inprocess-server", daemon=True)
        self.server: HttpServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run the coroutine `fn()` on the server's loop and wait for its result."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(fn(), self.loop)
        return future.result(timeout=30)

    def start(self) -> InProcessServer:
        self._thread.start()

        async def start() -> None:
            self.server = HttpServer(self.gateway.handle, max_body=self.settings.max_body_bytes or sys.maxsize,
                                     plan_body=self.gateway.plan_body, upgrade=self.gateway.upgrade)
            await self.server.start("127.0.0.1", 0)
            await self.platform.start()
            self.port = self.server.port
        self.call(start)
        return self

    def stop(self) -> None:
        async def stop() -> None:
            assert self.server is not None
            await self.server.stop(grace=2)
            await self.platform.stop()
        try:
            self.call(stop)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            if not self._thread.is_alive():
                self.loop.close()
            self.platform.close()
            self._tmp.cleanup()

    def client(self, service: str, **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="test",
                            aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}, **config))
