"""The AWS API pipeline: one request, from its bytes to a provider call and back, as an ordered
chain of small steps. `Pipeline.handle` runs them; read it top to bottom:

    detect        which service (detect.py), its model and the protocol the request speaks
    identify      who is calling: access key -> account (identity.py), region, trace header
    admit         when the HTTP server refused the body: the operation's own "too large" (limits.py)
    authenticate  the SigV4 signature, when CLOUDLET_ENFORCE_SIGV4 is on (sigv4.py)
    unwrap        the payload as if sent plainly: aws-chunked framing removed, trailers as headers
    parse         operation and params from the botocore model, validated (protocol/)
    authorize     the IAM action and resource ARNs, recorded on ctx.authorization (authorize.py)
    call          the provider method, where its kind says it runs (services/provider.py)
    serialize     the result, or any error raised on the way, in the service's wire format
    observe       the request log line and the metrics (metrics.py)

Each step is a small object whose docstring is its contract; what they share travels on an
`Exchange`. Steps name no service: deviations come from the service's `Quirks`
(protocol/service.py). The identify and authenticate steps also serve data-plane routes (app.py).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import random
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

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
from cloudlet.protocol.validate import validate
from cloudlet.protocol.xmlcodec import escape

from . import sigv4
from .authorize import Authorizer, OperationRule
from .awschunked import AwsChunkedDecoder, ChunkFormatError
from .context import RequestContext
from .detect import ServiceDetector, s3_bucket_from_host
from .identity import Identities
from .limits import body_limit
from .metrics import RequestMetrics

if TYPE_CHECKING:
    from botocore.model import OperationModel

    from cloudlet.config import Settings
    from cloudlet.protocol import Protocol, ServiceSpec
    from cloudlet.services.provider import Provider

log = logging.getLogger("cloudlet.gateway")
request_log = logging.getLogger("cloudlet.request")

# Bodies larger than this are parsed on a worker thread: json.loads of a few MiB takes
# milliseconds the event loop would otherwise spend not serving anyone else.
PARSE_OFF_LOOP = 1024 * 1024
# A gzipped request body (the model's `requestcompression` trait) may inflate to this much.
MAX_INFLATED = 16 * 1024 * 1024


def _request_ids() -> Iterator[str]:
    """UUID4-shaped request ids: a random prefix per process and a counter. Unique is all a
    request id must be (it is not a secret), and this costs a fifth of drawing 128 random bits
    for every request."""
    h = f"{random.getrandbits(80):020x}"
    prefix = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-"
    for n in itertools.count(random.getrandbits(32)):
        yield f"{prefix}{n & 0xFFFFFFFFFFFF:012x}"


new_request_id = functools.partial(next, _request_ids())


class Exchange:
    """One request on its way through the pipeline: what the steps read and leave behind."""

    __slots__ = ("req", "too_large", "rid", "scope", "service", "spec", "protocol", "ctx", "op", "params",
                 "handler")

    # Set by detect before any step reads them: scope, service, spec, protocol; by parse: params.
    scope: sigv4.CredentialScope | None
    service: str
    spec: ServiceSpec
    protocol: Protocol
    params: dict[str, Any]

    def __init__(self, req: HttpRequest, too_large: bool) -> None:
        self.req = req
        self.too_large = too_large
        self.rid = new_request_id()
        self.ctx: RequestContext = None  # type: ignore[assignment]  # set by identify, unless the service is unknown
        self.op: OperationModel | None = None
        self.handler: tuple[Any, str] | None = None  # the provider method and its kind, found by parse


def routing_path(spec: ServiceSpec, req: HttpRequest) -> str:
    """The path the service's routes are matched against: with `quirks.bucket_in_host`, the
    bucket of a virtual-hosted request (`bucket.s3.localhost`) comes first."""
    if spec.quirks.bucket_in_host:
        bucket = s3_bucket_from_host(req.host)
        if bucket:
            return "/" + bucket + (req.path if req.path != "/" else "")
    return req.path


def operation_of(spec: ServiceSpec, protocol: Protocol, req: HttpRequest) -> OperationModel | None:
    """The operation `req` calls, judged from what has arrived (None if that cannot tell),
    without changing the request: for sizing a body before it is read."""
    path = routing_path(spec, req)
    try:
        return protocol.find_operation(spec, req if path == req.path else replace(req, path=path))[0]
    except Exception:
        return None


def not_implemented(service: str, operation: str) -> NotImplementedOperation:
    return NotImplementedOperation(f"cloudlet does not implement the operation {operation} of service {service} yet")


# ---- the steps ------------------------------------------------------------------------------

class Detect:
    """Which service the request is for. Sets `scope` (the SigV4 credential scope, unverified),
    `service`, `spec` and `protocol`; returns the answer itself only when no botocore model
    names the service."""

    def __init__(self, detector: ServiceDetector) -> None:
        self.detector = detector

    def __call__(self, ex: Exchange) -> HttpResponse | None:
        req = ex.req
        ex.scope = scope = sigv4.request_scope(req)
        ex.service = self.detector.detect(req, scope) or "unknown"
        try:
            ex.spec = spec = load_service(ex.service)
        except KeyError:
            return unknown_service_response(ex.service, ex.rid)
        ex.protocol = protocol_for(spec, req)
        return None


class Identify:
    """Who is calling. Builds the RequestContext: the account of the access key (identity.py)
    from the credential scope or a SigV2 request, the region of the scope (else the platform's),
    the account root (or a role session's assumed-role ARN) as principal, the X-Amzn-Trace-Id to pass on."""

    def __init__(self, identities: Identities, settings: Settings) -> None:
        self.identities = identities
        self.region = settings.region

    def __call__(self, ex: Exchange) -> None:
        ex.ctx = self.context(ex.req, ex.scope, ex.rid, ex.service)

    def context(self, req: HttpRequest, scope: sigv4.CredentialScope | None, rid: str, service: str,
                *, anonymous: bool = False) -> RequestContext:
        """The context of `req`; with `anonymous`, a caller without a key has no principal
        (data-plane routes), where the API treats it as the default account's root."""
        access_key = scope.access_key if scope else sigv4.parse_sigv2_access_key(req.headers, req.query) or ""
        account = self.identities.account_for(access_key)
        principal = "" if anonymous and not access_key else self.identities.principal_for(access_key, account)
        return RequestContext(account=account, region=(scope.region if scope and scope.region else self.region),
                              request_id=rid, service=service, access_key=access_key, principal=principal,
                              trace_header=req.headers.get("x-amzn-trace-id", ""), request=req)


class Admit:
    """The body was within bounds. Raises the operation's own "too large" error (limits.py)
    when the HTTP server refused the body. Runs before the signature check, which could not
    hash a body that was discarded."""

    def __init__(self, settings: Settings) -> None:
        self.ceiling = settings.max_body_bytes

    def __call__(self, ex: Exchange) -> None:
        if not ex.too_large:
            return
        op = operation_of(ex.spec, ex.protocol, ex.req)
        limit = body_limit(ex.service, op.name if op is not None else None)
        size = min(limit.size, self.ceiling) if self.ceiling else limit.size
        raise limit.error(op.name if op is not None else None, ex.service, size)


class Authenticate:
    """The request's SigV4 signature (header or presigned), when enforcement is on. Returns
    quietly or raises the error the service's protocol answers with (S3's own codes and
    canonical URI rules when `quirks.s3_signing`)."""

    def __init__(self, identities: Identities, settings: Settings) -> None:
        self.identities = identities
        self.enforce = settings.enforce_sigv4

    def __call__(self, ex: Exchange) -> None:
        if not self.enforce:
            return
        s3 = ex.spec.quirks.s3_signing
        try:
            sigv4.verify_request(ex.req, self.identities.secret_for, s3_style=s3)
            self.check_token(ex.req, ex.scope)
        except sigv4.SignatureError as err:
            code, status = sigv4.aws_error(err.kind, s3=s3, protocol=ex.protocol.name,
                                           presigned=bool(ex.scope and ex.scope.presigned))
            raise ServiceError(err.message, code=code, status=status) from None

    def verified(self, req: HttpRequest, scope: sigv4.CredentialScope | None) -> bool:
        """For data-plane routes: did the caller prove who it is? (A scope is taken at its word
        while enforcement is off.)"""
        if scope is None:
            return False
        if not self.enforce:
            return True
        try:
            sigv4.verify_request(req, self.identities.secret_for, s3_style=False)
            self.check_token(req, scope)
        except sigv4.SignatureError:
            return False
        return True

    def check_token(self, req: HttpRequest, scope: sigv4.CredentialScope | None) -> None:
        """A role session's key signs with its session token (header or presigned query), as AWS
        asks; another token (or none) is "The security token included in the request is invalid"."""
        if scope is None:
            return
        token = req.headers.get("x-amz-security-token") or req.query_value("X-Amz-Security-Token")
        if not self.identities.token_matches(scope.access_key, token):
            raise sigv4.SignatureError("unknown_key", presigned=scope.presigned)


class Unwrap:
    """The payload as if it had been sent plainly. An aws-chunked body (SDK streaming uploads)
    is decoded, its chunk signatures checked when enforcing; a body that streamed to disk was
    decoded on the way (body.py) and only what went wrong is raised here. Afterwards the
    content-encoding no longer says aws-chunked and trailers (x-amz-checksum-*) are headers."""

    def __init__(self, identities: Identities, settings: Settings) -> None:
        self.identities = identities
        self.enforce = settings.enforce_sigv4

    def __call__(self, ex: Exchange) -> None:
        req = ex.req
        if req.body_error is not None:
            raise self.error(ex.spec, req.body_error)
        if not req.headers.get("x-amz-content-sha256", "").startswith("STREAMING-"):
            return
        if isinstance(req.body, bytes):
            decoder = self.decoder(req, ex.scope)
            try:
                body = decoder.feed(req.body)
                decoder.finish()
            except (ChunkFormatError, sigv4.SignatureError) as exc:
                raise self.error(ex.spec, exc) from None
            req.body = body
            self.decoded(req, decoder, len(body))
        self.settle(req)

    def decoder(self, req: HttpRequest, scope: sigv4.CredentialScope | None) -> AwsChunkedDecoder:
        """A decoder for the body of `req`, checking chunk signatures when enforcing."""
        if not (self.enforce and scope is not None and "UNSIGNED" not in req.headers["x-amz-content-sha256"]):
            return AwsChunkedDecoder()
        secret = self.identities.secret_for(scope.access_key) or ""
        return AwsChunkedDecoder(seed_signature=sigv4.seed_signature(req.headers),
                                 signing_key=sigv4.signing_key(secret, scope.date, scope.region, scope.service),
                                 scope=scope.scope, amz_date=req.headers.get("x-amz-date", ""))

    @staticmethod
    def decoded(req: HttpRequest, decoder: AwsChunkedDecoder, size: int) -> None:
        """Once `size` payload bytes were decoded: check the declared length, keep the trailers
        (also called on a worker thread at the end of a spooled body, so it leaves the headers
        alone: the signature check after it reads them as sent)."""
        declared = req.headers.get("x-amz-decoded-content-length")
        if declared is not None and declared.isdigit() and int(declared) != size:
            raise ServiceError("You did not provide the number of bytes specified by the Content-Length HTTP header",
                               code="IncompleteBody", status=400)
        req.trailers = dict(decoder.trailers)

    @staticmethod
    def settle(req: HttpRequest) -> None:
        """Headers as if the payload had been sent plainly: aws-chunked dropped from the
        content-encoding, trailers added."""
        encodings = [e.strip() for e in req.headers.get("content-encoding", "").split(",")
                     if e.strip() and e.strip() != "aws-chunked"]
        if encodings:
            req.headers["content-encoding"] = ",".join(encodings)
        else:
            req.headers.pop("content-encoding", None)
        req.headers.update({f"x-amz-trailer-{k}" if not k.startswith("x-amz-") else k: v
                            for k, v in (req.trailers or {}).items()})

    @staticmethod
    def error(spec: ServiceSpec, exc: Exception) -> ServiceError:
        if isinstance(exc, ServiceError):
            return exc
        if isinstance(exc, sigv4.SignatureError):
            code, status = sigv4.aws_error(exc.kind, s3=spec.quirks.s3_signing, protocol=spec.protocol)
            return ServiceError(exc.message, code=code, status=status)
        if isinstance(exc, ChunkFormatError):
            return ServiceError(f"Invalid aws-chunked body: {exc}", code="IncompleteBody", status=400)
        log.error("request body failed: %r", exc)
        return InternalFailure("An internal error occurred while the request body was received.")


class Parse:
    """Operation and params, from the botocore model. Sets `op`, `params` and ctx.operation;
    raises the protocol's errors (unknown operation, malformed body), NotImplemented (501)
    for an operation no provider serves (before validating input it would not use), and the
    service's validation error. A body over PARSE_OFF_LOOP bytes is parsed on a worker
    thread: then the step returns an awaitable."""

    def __init__(self, executor: Executor, providers: dict[str, Provider]) -> None:
        self.executor = executor
        self.providers = providers

    def __call__(self, ex: Exchange) -> asyncio.Future[None] | None:
        spec, req = ex.spec, ex.req
        if spec.quirks.bucket_in_host:
            req.path = routing_path(spec, req)
        op, state = ex.protocol.find_operation(spec, req)
        ex.op = op
        ex.ctx.operation = op.name
        provider = self.providers.get(spec.name)
        ex.handler = provider.handler(op.name) if provider is not None else None
        served = ex.handler is not None
        body = req.body
        if isinstance(body, bytes) and op.request_compression and "gzip" in req.headers.get("content-encoding", ""):
            req.body = body = self.inflate(body)
        if isinstance(body, bytes) and len(body) > PARSE_OFF_LOOP:
            return asyncio.get_running_loop().run_in_executor(self.executor, self.parse, ex, op, state, served)
        self.parse(ex, op, state, served)
        return None

    @staticmethod
    def inflate(body: bytes) -> bytes:
        """A body the SDK gzipped, as operations with the `requestcompression` trait allow
        (CloudWatch's PutMetricData: botocore compresses bodies of 10 KiB and more)."""
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = inflater.decompress(body, MAX_INFLATED)
        except zlib.error:
            raise SerializationException("The request body is not valid gzip") from None
        if inflater.unconsumed_tail:
            raise RequestEntityTooLarge(f"The request body inflates to more than {MAX_INFLATED} bytes")
        return out

    @staticmethod
    def parse(ex: Exchange, op: OperationModel, state: Any, served: bool = True) -> None:
        """The body decoded (a malformed one is the protocol's error, served or not), then
        NotImplemented for an operation no provider serves (its input's constraints would only
        mislead), else the input validated."""
        spec = ex.spec
        try:
            params = ex.protocol.parse(spec, op, ex.req, state)
            if not served:
                raise not_implemented(spec.name, op.name)
            problems = (validate(op.input_shape, params, spec.quirks.unvalidated, spec.quirks.constraints)
                        if spec.quirks.validate and op.input_shape is not None else [])
        except RecursionError:
            raise SerializationException("The request is nested too deeply") from None
        if problems:
            raise ValidationException(validation_message(problems), code=spec.validation_error_code)
        ex.params = params


class Authorize:
    """The IAM action and the resource ARNs the call acts on, from the service's table
    (authorize.py), recorded on ctx.authorization. Enforces nothing yet."""

    def __init__(self) -> None:
        self.authorizer = Authorizer()
        self._rules: dict[OperationModel, OperationRule] = {}  # the authorizer's, one call closer

    def __call__(self, ex: Exchange) -> None:
        op = ex.op
        assert op is not None
        rule = self._rules.get(op)
        if rule is None:
            rule = self._rules[op] = self.authorizer.rule(ex.service, op)
        ex.ctx.authorization = rule.constant or rule.authorize(ex.ctx, ex.params)


class Call:
    """The provider method parse found for the operation (parse answered NotImplemented where
    there is none), run where its kind says (services/provider.py): inline on the loop, awaited,
    where the store wants it (Platform.run_store: the loop with SQLite, a worker thread with
    PostgreSQL), or on a worker thread."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform

    async def __call__(self, ex: Exchange) -> Any:
        ctx = ex.ctx
        assert ex.handler is not None
        fn, mode = ex.handler
        if mode == "inline":
            return fn(ctx, ex.params)
        if mode == "async":
            return await fn(ctx, ex.params)
        if mode == "store":
            return await self.platform.run_store(fn, ctx, ex.params)
        return await asyncio.get_running_loop().run_in_executor(self.platform.executor, fn, ctx, ex.params)


class Serialize:
    """The result, or an error, in the service's wire format (protocol/). An exception that
    is not a ServiceError is logged and answered as InternalFailure, never a traceback."""

    def __call__(self, ex: Exchange, result: Any) -> HttpResponse:
        assert ex.op is not None
        return ex.protocol.serialize(ex.spec, ex.op, result or {}, ex.rid)

    def error(self, ex: Exchange, err: BaseException) -> HttpResponse:
        if not isinstance(err, ServiceError):
            log.error("internal error in %s.%s (request %s)", ex.service, ex.op.name if ex.op else "?", ex.rid,
                      exc_info=err)
            err = InternalFailure(f"An internal error occurred (request id {ex.rid}).")
        return ex.protocol.serialize_error(ex.spec, ex.op, err, ex.rid)


class Observe:
    """One log line per request at INFO (service, operation, account, status, milliseconds)
    and the request metrics. Traces: the X-Amzn-Trace-Id travels on ctx.trace_header to the
    work a call causes; no segments are recorded (there is no X-Ray yet)."""

    def __init__(self, metrics: RequestMetrics) -> None:
        self.metrics = metrics

    def __call__(self, ex: Exchange, resp: HttpResponse, started: float) -> None:
        seconds = time.perf_counter() - started
        operation = ex.op.name if ex.op is not None else ""
        self.metrics.record(ex.service, operation, resp.status, seconds)
        if request_log.isEnabledFor(logging.INFO):
            account = ex.ctx.account if ex.ctx is not None else ""
            request_log.info("%s %s %s %d %.2fms", ex.service, operation or "-", account, resp.status,
                             seconds * 1000)


# ---- the chain ------------------------------------------------------------------------------

class Pipeline:
    """The AWS API request path (see the module docstring), assembled from the platform."""

    def __init__(self, platform: Any, metrics: RequestMetrics) -> None:
        settings = platform.settings
        self.detect = Detect(platform.detector)
        self.identify = Identify(platform.identities, settings)
        self.admit = Admit(settings)
        self.authenticate = Authenticate(platform.identities, settings)
        self.unwrap = Unwrap(platform.identities, settings)
        self.parse = Parse(platform.executor, platform.providers)
        self.authorize = Authorize()
        self.call = Call(platform)
        self.serialize = Serialize()
        self.observe = Observe(metrics)

    async def handle(self, req: HttpRequest, too_large: bool = False) -> HttpResponse:
        started = time.perf_counter()
        ex = Exchange(req, too_large)
        resp = self.detect(ex)
        if resp is None:
            self.identify(ex)
            try:  # (the conditions skip a call where the step has nothing to do: the hot path)
                if ex.too_large:
                    self.admit(ex)
                if self.authenticate.enforce:
                    self.authenticate(ex)
                if req.body_error is not None or "x-amz-content-sha256" in req.headers:
                    self.unwrap(ex)
                parsing = self.parse(ex)
                if parsing is not None:
                    await parsing
                self.authorize(ex)
                result = await self.call(ex)
                resp = self.serialize(ex, result)
            except Exception as err:
                resp = self.serialize.error(ex, err)
        self.observe(ex, resp, started)
        return resp


def unknown_service_response(service: str, rid: str) -> HttpResponse:
    """No botocore model names this service: answer as the query protocol would."""
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>UnknownService</Code>"
            f"<Message>cloudlet does not know the service '{escape(service)}'</Message></Error>"
            f"<RequestId>{rid}</RequestId></ErrorResponse>").encode("utf-8", "replace")
    return HttpResponse(400, {"Content-Type": "text/xml", "x-amzn-RequestId": rid}, body)
