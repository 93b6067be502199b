"""The platform's own HTTP API under /_cloudlet/ (health, reset)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cloudlet.protocol import HttpRequest, HttpResponse


def _json(status: int, obj: Any) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(obj).encode())


async def internal_api(platform: Any, req: HttpRequest) -> HttpResponse:
    path = req.path.rstrip("/")
    if path == "/_cloudlet/health":
        if req.method not in ("GET", "HEAD"):
            return _json(405, {"error": "MethodNotAllowed", "message": "use GET"})
        return _json(200, platform.health())
    if path == "/_cloudlet/reset":
        if req.method != "POST":
            return _json(405, {"error": "MethodNotAllowed", "message": "use POST"})
        await asyncio.get_running_loop().run_in_executor(platform.executor, platform.reset)
        return _json(200, {"reset": True})
    return _json(404, {"error": "NotFound", "message": f"no platform endpoint {req.path}"})
