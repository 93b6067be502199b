"""The platform's own HTTP API under /_cloudlet/: health, metrics, reset (a data-plane route)."""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

from cloudlet.protocol import HttpResponse

from .context import RequestContext
from .metrics import RequestMetrics


def _json(status: int, obj: Any) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(obj).encode())


def _is_operator(platform: Any, authorization: str) -> bool:
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), platform.operator_token.encode())


async def internal_api(platform: Any, metrics: RequestMetrics, ctx: RequestContext) -> HttpResponse:
    req = ctx.request
    assert req is not None
    if req.origin == "function":  # the platform's own API is the operator's, never a tenant's
        return _json(403, {"error": "AccessDenied",
                           "message": f"{req.path} does not answer requests from functions"})
    path = req.path.rstrip("/")
    if path in ("/_cloudlet/health", "/_cloudlet/metrics"):
        if req.method not in ("GET", "HEAD"):
            return _json(405, {"error": "MethodNotAllowed", "message": "use GET"})
        return _json(200, platform.health() if path.endswith("health") else {"requests": metrics.snapshot()})
    if path == "/_cloudlet/reset":
        if req.method != "POST":
            return _json(405, {"error": "MethodNotAllowed", "message": "use POST"})
        if not _is_operator(platform, req.headers.get("authorization", "")):
            return _json(403, {"error": "AccessDenied",
                               "message": "POST /_cloudlet/reset needs the operator token: "
                                          "'Authorization: Bearer <token>', the token as set in "
                                          f"CLOUDLET_OPERATOR_TOKEN or written to {platform.operator_token_file}"})
        await asyncio.get_running_loop().run_in_executor(platform.executor, platform.reset)
        return _json(200, {"reset": True})
    return _json(404, {"error": "NotFound", "message": f"no platform endpoint {req.path}"})
