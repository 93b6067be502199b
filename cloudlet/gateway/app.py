"""The gateway: the front door of the platform.

  HTTP request (http11.py)
   -> a data-plane route, if one matches by host or path (routes.py): the route asked for the
      caller's identity and signature, so those steps run, then its handler gets a context
   -> else the AWS API pipeline (pipeline.py): detect, identify, admit, authenticate, unwrap,
      parse, authorize, call, serialize, observe
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from cloudlet.protocol import HttpRequest, HttpResponse

from . import sigv4
from .context import RequestContext
from .internal import internal_api
from .metrics import RequestMetrics
from .pipeline import Pipeline, new_request_id
from .routes import Route, RouteTable

__all__ = ["Gateway", "new_request_id"]



class Gateway:
    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.metrics = RequestMetrics()
        self.pipeline = Pipeline(platform, self.metrics)
        self.routes = RouteTable()
        for provider in platform.providers.values():
            for route in provider.routes():
                self.routes.add(route)
        self.routes.add(Route("platform", path_prefix="/_cloudlet/",
                              handler=functools.partial(internal_api, platform, self.metrics)))

    async def handle(self, req: HttpRequest, too_large: bool = False) -> HttpResponse:
        """Serve one request: a data-plane route if one matches, else the AWS API pipeline."""
        found = self.routes.match(req)
        if found is None:
            return await self.pipeline.handle(req, too_large)
        route, params = found
        if too_large:
            return HttpResponse(413, {"Content-Type": "application/json"},
                                json.dumps({"Message": "Request Entity Too Large"}).encode())
        if route.handler is None:  # a WebSocket-only route asked for plain HTTP
            return HttpResponse(426, {"Content-Type": "text/plain", "Upgrade": "websocket"},
                                b"This endpoint speaks WebSocket")
        started = time.perf_counter()
        resp = await route.handler(self.route_context(route, params, req))
        self.metrics.record("route:" + route.name, "", resp.status, time.perf_counter() - started)
        return resp

    def route_context(self, route: Route, params: dict[str, str], req: HttpRequest) -> RequestContext:
        """The context a route is handed: its identity and authentication steps run if it
        asked for them (the pipeline's own), else an anonymous caller in the default region."""
        rid = new_request_id()
        pipeline = self.pipeline
        if route.identity or route.authenticate:
            scope = sigv4.request_scope(req)
            ctx = pipeline.identify.context(req, scope, rid, "", anonymous=True)
            if route.authenticate:
                ctx.authenticated = pipeline.authenticate.verified(req, scope)
        else:
            ctx = RequestContext(account=self.settings.default_account, region=self.settings.region,
                                 request_id=rid, request=req)
        ctx.route_params = params
        return ctx
