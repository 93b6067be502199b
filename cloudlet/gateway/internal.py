"""The platform's own HTTP API under /_cloudlet/: health, metrics, reset (a data-plane route)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cloudlet.protocol import HttpResponse

from .context import RequestContext
from .metrics import RequestMetrics


def _json(status: int, obj: Any) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(obj).encode())


async def internal_api(platform: Any, metrics: RequestMetrics, ctx: RequestContext) -> HttpResponse:
    req = ctx.request
    assert req is not None
    path = req.path.rstrip("/")
    if path in ("/_cloudlet/health", "/_cloudlet/metrics"):
        if req.method not in ("GET", "HEAD"):
            return _json(405, {"error": "MethodNotAllowed", "message": "use GET"})
        return _json(200, platform.health() if path.endswith("health") else {"requests": metrics.snapshot()})
    if path == "/_cloudlet/reset":
        if req.method != "POST":
            return _json(405, {"error": "MethodNotAllowed", "message": "use POST"})
        await asyncio.get_running_loop().run_in_executor(platform.executor, platform.reset)
        return _json(200, {"reset": True})
    return _json(404, {"error": "NotFound", "message": f"no platform endpoint {req.path}"})
