"""The gateway: the front door of the platform.

  HTTP request (http11.py)
   -> a data-plane route, if one matches by host or path (routes.py): the route asked for the
      caller's identity and signature, so those steps run, then its handler gets a context
   -> else the AWS API pipeline (pipeline.py): detect, identify, admit, authenticate, unwrap,
      parse, authorize, call, serialize, observe

It also answers the HTTP server's two questions that come before a request is complete: how
to receive a large body (`plan_body`, body.py) and who takes an upgraded connection
(`upgrade`, websocket.py).
"""

from __future__ import annotations

import functools
import json
import time
from typing import TYPE_CHECKING, Any

from cloudlet.protocol import HttpRequest, HttpResponse, load_service, protocol_for

from . import sigv4
from .body import BodyPlan, payload_digests
from .context import RequestContext
from .internal import internal_api
from .limits import DEFAULT, body_limit
from .metrics import RequestMetrics
from .pipeline import Pipeline, new_request_id, operation_of
from .routes import Route, RouteTable

if TYPE_CHECKING:
    from .websocket import WebSocketSession

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

    # ---- questions the HTTP server asks before a request is complete
    def plan_body(self, req: HttpRequest) -> BodyPlan:
        """How to receive the large body of `req` (body.py): the operation's limit, and for an
        operation whose input is a streaming blob, spooled to the blob store's temp area,
        aws-chunked framing decoded on the way."""
        if self.routes.match(req) is not None:
            return BodyPlan(DEFAULT.size)
        pipeline = self.pipeline
        scope = sigv4.request_scope(req)
        try:
            spec = load_service(pipeline.detect.detector.detect(req, scope) or "")
        except KeyError:
            return BodyPlan(DEFAULT.size)
        op = operation_of(spec, protocol_for(spec, req), req)
        plan = BodyPlan(body_limit(spec.name, op.name if op is not None else None).size)
        if op is None or not _streams_payload(op):
            return plan
        plan.spool = functools.partial(self.platform.blobs.writer, payload_digests(req.headers))
        if req.headers.get("x-amz-content-sha256", "").startswith("STREAMING-"):
            unwrap = pipeline.unwrap
            decoder = plan.decoder = unwrap.decoder(req, scope)
            plan.finish = lambda temp: unwrap.decoded(req, decoder, temp.size)
        return plan

    def upgrade(self, req: HttpRequest) -> WebSocketSession | None:
        """Who takes an upgraded connection: a route with a WebSocket handler, for a WebSocket
        upgrade; nobody otherwise (the HTTP server then answers 400)."""
        if req.headers.get("upgrade", "").lower() != "websocket":
            return None
        found = self.routes.match(req)
        if found is None:
            return None
        route, params = found
        if route.websocket is None:
            return None
        from .websocket import WebSocketSession  # wsproto loads on the first upgrade: ~20 ms of start-up
        return WebSocketSession(req, route.websocket, lambda: self.route_context(route, params, req))


@functools.lru_cache(maxsize=1024)
def _streams_payload(op: Any) -> bool:
    """Whether the operation's input is a streaming blob payload (S3 PutObject's Body)."""
    shape = op.input_shape
    payload = shape.serialization.get("payload") if shape is not None else None
    if payload is None:
        return False
    member = shape.members[payload]
    return bool(member.type_name == "blob" and member.serialization.get("streaming"))
