"""Shared helpers for the compute engine tests: an engine on its own event loop, and specs.

(No tests here; named test_compute_* so it lives beside the tests that import it.)
"""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from pathlib import Path

from cloudlet.compute import ComputeManager, FunctionSpec, InvokeResult, LogTarget
from cloudlet.services.lambda_ import platform_log

ACCOUNT = "000000000000"
REGION = "us-east-1"


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Function code as the Lambda service extracts it: readable by the environment's own id
    (pytest makes its temporary directories 0700)."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def make_spec(code_dir: Path, name: str | None = None, *, runtime: str = "python3.11",
              handler: str = "app.handler", **kw) -> FunctionSpec:
    name = name or f"fn-{uuid.uuid4().hex[:8]}"
    fields = {
        "function_name": name,
        "function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        "version": "$LATEST",
        "runtime": runtime,
        "handler": handler,
        "code_dir": code_dir,
        "layer_dirs": (),
        "memory_mb": 128,
        "timeout_s": 10.0,
        "environment": {},
        "account": ACCOUNT,
        "region": REGION,
        "revision": "r1",
        "log_group": f"/aws/lambda/{name}",
        "platform_endpoint": "http://127.0.0.1:4566",
        "reserved_concurrency": None,
    }
    fields.update(kw)
    return FunctionSpec(**fields)


def log_text(result: InvokeResult) -> str:
    """The invocation's log as Invoke's LogType=Tail shows it."""
    return platform_log.text(result.log)


class Engine:
    """A ComputeManager driven from synchronous tests on a private event loop."""

    def __init__(self, data_dir: Path, **kw) -> None:
        self.loop = asyncio.new_event_loop()
        # What the log sink received: (target, stream, lines worded as the Lambda service words them)
        self.sunk: list[tuple[LogTarget, str, list[tuple[int, str]]]] = []
        kw.setdefault("preload_sdk", False)
        kw.setdefault("prefork", 2)  # a small pool: tests start many engines
        self.manager = ComputeManager(
            data_dir, log_sink=lambda t, s, entries: self.sunk.append((t, s, platform_log.lines(entries))), **kw)
        self.run(self.manager.start())

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def invoke(self, spec: FunctionSpec, payload: bytes = b"{}", **kw) -> InvokeResult:
        kw.setdefault("request_id", str(uuid.uuid4()))
        return self.run(self.manager.invoke(spec, payload, **kw))

    def invoke_many(self, spec: FunctionSpec, n: int, payload: bytes = b"{}") -> list:
        async def many():
            return await asyncio.gather(*(self.manager.invoke(spec, payload, request_id=str(uuid.uuid4()))
                                          for _ in range(n)), return_exceptions=True)
        return self.run(many())

    def sleep(self, seconds: float) -> None:
        self.run(asyncio.sleep(seconds))

    def close(self) -> None:
        self.run(self.manager.stop())
        self.loop.close()
