"""The gateway: the path of a request through the platform.

  HTTP request
   -> data-plane routes (/_cloudlet/*, later API Gateway hosts, the Lambda Runtime API)
   -> service detection (detect.py) and identity (identity.py)
   -> SigV4 verification when CLOUDLET_ENFORCE_SIGV4 is on (sigv4.py)
   -> protocol: operation + params from the botocore model; constraint validation
   -> provider method (inline, async, or on a worker thread)
   -> protocol: result or error in the service's wire format
   -> one request log line
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cloudlet.protocol import HttpRequest, HttpResponse, load_service, protocol_for
from cloudlet.protocol.errors import (
    InternalFailure,
    NotImplementedOperation,
    RequestEntityTooLarge,
    SerializationException,
    ServiceError,
    ValidationException,
    validation_message,
)
from cloudlet.protocol.service import ServiceSpec
from cloudlet.protocol.validate import validate
from cloudlet.protocol.xmlcodec import escape

from . import sigv4
from .awschunked import AwsChunkedDecoder, ChunkFormatError
from .context import RequestContext
from .detect import s3_bucket_from_host
from .internal import internal_api

log = logging.getLogger("cloudlet.gateway")
request_log = logging.getLogger("cloudlet.request")

DataPlaneRoute = tuple[Callable[[HttpRequest], bool], Callable[[HttpRequest], Awaitable[HttpResponse]]]


def new_request_id() -> str:
    """A UUID4-shaped request id (not a secret, so the fast non-crypto generator will do)."""
    h = f"{random.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


class Gateway:
    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.detector = platform.detector
        self.identities = platform.identities
        self.routes: list[DataPlaneRoute] = [
            (lambda req: req.path.startswith("/_cloudlet/"), lambda req: internal_api(platform, req)),
        ]
        for provider in platform.providers.values():
            self.routes[:0] = provider.routes()  # service routes are more specific than /_cloudlet/

    async def handle(self, req: HttpRequest, too_large: bool = False) -> HttpResponse:
        """Serve one request: a data-plane route if one matches, else the AWS API pipeline."""
        for matches, handler in self.routes:
            if matches(req):
                return await handler(req)
        started = time.perf_counter()
        service, operation, account, resp = await self.dispatch(req, too_large)
        if request_log.isEnabledFor(logging.INFO):
            request_log.info("%s %s %s %d %.2fms", service, operation or "-", account, resp.status,
                             (time.perf_counter() - started) * 1000)
        return resp

    # ---- the AWS API pipeline ----
    async def dispatch(self, req: HttpRequest, too_large: bool = False) -> tuple[str, str, str, HttpResponse]:
        rid = new_request_id()
        scope = sigv4.request_scope(req)
        service = self.detector.detect(req, scope) or "unknown"
        try:
            spec = load_service(service)
        except KeyError:
            return service, "", "", unknown_service_response(service, rid)
        if service == "s3":
            bucket = s3_bucket_from_host(req.host)
            if bucket:
                req.path = "/" + bucket + (req.path if req.path != "/" else "")
        access_key = scope.access_key if scope else sigv4.parse_sigv2_access_key(req.headers, req.query) or ""
        account = self.identities.account_for(access_key)
        ctx = RequestContext(account=account, region=(scope.region if scope and scope.region else self.settings.region),
                             request_id=rid, service=service, access_key=access_key,
                             principal=f"arn:aws:iam::{account}:root",
                             trace_header=req.headers.get("x-amzn-trace-id", ""), request=req)
        protocol = protocol_for(spec, req)
        op = None
        try:
            if too_large:
                raise RequestEntityTooLarge(
                    f"Request must be smaller than {self.settings.max_body_bytes} bytes for the {service} API")
            if self.settings.enforce_sigv4:
                self._verify_signature(spec, req, scope, protocol.name)
            if req.headers.get("x-amz-content-sha256", "").startswith("STREAMING-"):
                self._decode_chunked(req, scope)
            op, state = protocol.find_operation(spec, req)
            ctx.operation = op.name
            try:
                params = protocol.parse(spec, op, req, state)
                problems = (validate(op.input_shape, params, spec.quirks.unvalidated)
                            if spec.quirks.validate and op.input_shape is not None else [])
            except RecursionError:
                raise SerializationException("The request is nested too deeply") from None
            if problems:
                raise ValidationException(validation_message(problems), code=spec.validation_error_code)
            result = await self._call(spec, op.name, ctx, params)
            resp = protocol.serialize(spec, op, result or {}, rid)
        except ServiceError as err:
            resp = protocol.serialize_error(spec, op, err, rid)
        except Exception:
            log.exception("internal error in %s.%s (request %s)", service, ctx.operation or "?", rid)
            resp = protocol.serialize_error(
                spec, op, InternalFailure(f"An internal error occurred (request id {rid})."), rid)
        return service, ctx.operation, account, resp

    async def _call(self, spec: ServiceSpec, operation: str, ctx: RequestContext, params: dict) -> Any:
        provider = self.platform.providers.get(spec.name)
        found = provider.handler(operation) if provider is not None else None
        if found is None:
            what = f"operation {operation} of service {spec.name}"
            raise NotImplementedOperation(f"cloudlet does not implement the {what} yet")
        fn, mode = found
        if mode == "inline":
            return fn(ctx, params)
        if mode == "async":
            return await fn(ctx, params)
        if mode == "store":  # on the loop with SQLite, on a worker thread with PostgreSQL
            return await self.platform.run_store(fn, ctx, params)
        return await asyncio.get_running_loop().run_in_executor(self.platform.executor, fn, ctx, params)

    def _decode_chunked(self, req: HttpRequest, scope: sigv4.CredentialScope | None) -> None:
        """Unwrap an aws-chunked body (SDK streaming uploads); chunk signatures are checked when
        enforcement is on. Afterwards the request looks as if the payload had been sent plainly."""
        signed = self.settings.enforce_sigv4 and scope is not None and "UNSIGNED" not in req.headers[
            "x-amz-content-sha256"]
        kwargs = {}
        if signed:
            secret = self.identities.secret_for(scope.access_key) or ""
            kwargs = dict(seed_signature=sigv4.seed_signature(req.headers),
                          signing_key=sigv4.signing_key(secret, scope.date, scope.region, scope.service),
                          scope=scope.scope, amz_date=req.headers.get("x-amz-date", ""))
        decoder = AwsChunkedDecoder(**kwargs)
        try:
            body = decoder.feed(req.body)
            decoder.finish()
        except ChunkFormatError as exc:
            raise ServiceError(f"Invalid aws-chunked body: {exc}", code="IncompleteBody", status=400) from None
        except sigv4.SignatureError as err:
            code, status = sigv4.aws_error(err.kind, s3=True, protocol="rest-xml")
            raise ServiceError(err.message, code=code, status=status) from None
        decoded_length = req.headers.get("x-amz-decoded-content-length")
        if decoded_length is not None and decoded_length.isdigit() and int(decoded_length) != len(body):
            raise ServiceError("You did not provide the number of bytes specified by the Content-Length HTTP header",
                               code="IncompleteBody", status=400)
        req.body = body
        encodings = [e.strip() for e in req.headers.get("content-encoding", "").split(",")
                     if e.strip() and e.strip() != "aws-chunked"]
        if encodings:
            req.headers["content-encoding"] = ",".join(encodings)
        else:
            req.headers.pop("content-encoding", None)
        req.headers.update({f"x-amz-trailer-{k}" if not k.startswith("x-amz-") else k: v
                            for k, v in decoder.trailers.items()})

    def _verify_signature(self, spec: ServiceSpec, req: HttpRequest, scope: sigv4.CredentialScope | None,
                          protocol: str) -> None:
        """`protocol` is the one the request speaks: its error codes differ (a query client of
        cloudwatch gets query's, a CBOR one json's), not only the model's first."""
        s3 = spec.name == "s3"
        try:
            sigv4.verify_request(req, self.identities.secret_for, s3_style=s3)
        except sigv4.SignatureError as err:
            code, status = sigv4.aws_error(err.kind, s3=s3, protocol=protocol,
                                           presigned=bool(scope and scope.presigned))
            raise ServiceError(err.message, code=code, status=status) from None


def unknown_service_response(service: str, rid: str) -> HttpResponse:
    """No botocore model names this service: answer as the query protocol would."""
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>UnknownService</Code>"
            f"<Message>cloudlet does not know the service '{escape(service)}'</Message></Error>"
            f"<RequestId>{rid}</RequestId></ErrorResponse>").encode("utf-8", "replace")
    return HttpResponse(400, {"Content-Type": "text/xml", "x-amzn-RequestId": rid}, body)
