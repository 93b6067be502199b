"""Function URLs, the data plane: `http://<url-id>.lambda-url.<region>.localhost:<port>/...`.

A request becomes the payload format 2.0 event AWS sends (`build_event`), and the function's
answer becomes the HTTP response as AWS builds it (`to_response`, the one builder every path
uses; https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html):

- a JSON object with `statusCode` is a full response: `headers`, `cookies` (one Set-Cookie
  each), `body` (a string as is, base64-decoded with `isBase64Encoded`, anything else as compact
  JSON), content-type application/json unless the function set one. Payload format 2.0 has no
  `multiValueHeaders`: they are ignored, as API Gateway HTTP APIs ignore them;
- any other JSON value is a 200 application/json whose body is that value as compact JSON
  (`{"a":1}`, `[1,2]`, `3`, `true`), a string as its text (`"hello"` answers `hello`);
- an unhandled function error is 502 `Internal Server Error`.

Answers that are not the function's: an unknown URL id (never created, deleted, or the URL of
an alias that was deleted with it) is 403 `{"Message":null}`, a caller without permission 403
with AWS's "Forbidden. For troubleshooting ..." message, both with x-amzn-ErrorType
AccessDeniedException; a throttled request 429.

With InvokeMode RESPONSE_STREAM a function that streams (awslambda.streamifyResponse, or a custom
runtime in the Runtime API's streaming mode) answers chunk by chunk as it writes, with the
runtime's Content-Type; a stream whose Content-Type is
`application/vnd.awslambda.http-integration-response` starts with a JSON prelude (statusCode,
headers, cookies) and 8 null bytes, which become the status and headers. The status is sent with
the first chunk: a function that fails before writing gets a 502, one that fails later ends the
body early. A function that does not stream is answered as in BUFFERED mode. A function that is
not Active (State Failed: a runtime this host cannot run) is a 502 without running anything.
A URL with a `Cors` configuration answers preflights itself and adds CORS headers (url_cors.py).

Access is checked as on AWS (since October 2025 both actions are needed): with AuthType NONE
the function's resource-based policy must let Principal "*" call lambda:InvokeFunctionUrl and
lambda:InvokeFunction; with AWS_IAM the request must be SigV4-signed (verified when
CLOUDLET_ENFORCE_SIGV4 is on) and a caller from another account needs the same two permissions.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from cloudlet.compute import TooManyRequests
from cloudlet.gateway.routes import Route
from cloudlet.infra import Infra
from cloudlet.protocol import HttpRequest, HttpResponse
from cloudlet.protocol.errors import ServiceError

from . import functions, invoke_stream, policy, url_cors, urls
from .errors import ResourceConflictException
from .names import FunctionRef

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .invoke import Invoker

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
               "application/x-www-form-urlencoded")
# Cookies go to the event's `cookies`; `connection` is hop-by-hop (AWS's recorded events lack it).
_DROPPED_HEADERS = ("cookie", "connection")
HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
PRELUDE_END = b"\0" * 8
FORBIDDEN = ("Forbidden. For troubleshooting Function URL authorization issues, see: "
             "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html")


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _answer(status: int, body: bytes, error_type: str = "") -> HttpResponse:
    """A response of the function URL service itself (not of the function)."""
    headers = {"Content-Type": "application/json"}
    if error_type:
        headers["x-amzn-ErrorType"] = error_type
    return HttpResponse(status, headers, body)


def unknown_url() -> HttpResponse:
    return _answer(403, b'{"Message":null}', "AccessDeniedException")


def forbidden() -> HttpResponse:
    return _answer(403, _compact({"Message": FORBIDDEN}), "AccessDeniedException")


def function_error() -> HttpResponse:
    return _answer(502, b"Internal Server Error")


def throttled() -> HttpResponse:
    return _answer(429, _compact({"Message": "Rate Exceeded."}))


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def build_event(req: HttpRequest, url_id: str, request_id: str, *, trace_header: str = "",
                caller: RequestContext | None = None, owner: str = "") -> dict:
    """The payload format 2.0 event of `req`. `caller`: the authenticated caller of an AWS_IAM
    URL, whose identity goes to requestContext.authorizer.iam (and accountId is then the account
    of the function, `owner`); None for NONE URLs, whose callers are "anonymous"."""
    source_ip = req.peer or "127.0.0.1"
    domain, sep, port = req.host.rpartition(":")
    if not sep or not port.isdigit():
        domain, port = req.host, "80"
    headers = {k: v for k, v in req.headers.items() if k not in _DROPPED_HEADERS}
    headers.update({"x-forwarded-for": source_ip, "x-forwarded-proto": "http", "x-forwarded-port": port,
                    "x-amzn-trace-id": trace_header or _trace_id()})
    content_type = req.headers.get("content-type", "").lower()
    is_text = not req.body or content_type.startswith(_TEXT_TYPES)
    query: dict[str, str] = {}
    for key, value in parse_qsl(req.query_string, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    now = time.time()
    context: dict[str, Any] = {
        "accountId": "anonymous", "apiId": url_id, "domainName": domain, "domainPrefix": url_id,
        "http": {"method": req.method, "path": req.path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                 "userAgent": req.headers.get("user-agent", "")},
        "requestId": request_id, "routeKey": "$default", "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000),
    }
    if caller is not None:
        context["accountId"] = owner
        context["authorizer"] = {"iam": {  # callers are account roots here: their user id is the account
            "accessKey": caller.access_key, "accountId": caller.account, "callerId": caller.account,
            "cognitoIdentity": None, "principalOrgId": None, "userArn": caller.principal, "userId": caller.account}}
    event: dict[str, Any] = {"version": "2.0", "routeKey": "$default", "rawPath": req.path,
                             "rawQueryString": req.query_string, "headers": headers}
    if "cookie" in req.headers:
        event["cookies"] = [c.strip() for c in req.headers["cookie"].split(";") if c.strip()]
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = context
    if req.body:
        event["body"] = req.data.decode("utf-8", "replace") if is_text else base64.b64encode(req.data).decode()
    event["isBase64Encoded"] = not is_text
    return event


def to_response(payload: bytes) -> HttpResponse:
    """The HTTP response AWS builds from a function's result `payload` (see the module docstring)."""
    if not payload:
        return HttpResponse(200, {"Content-Type": "application/json"}, b"")
    try:
        out = json.loads(payload)
    except ValueError:  # not JSON (a custom runtime's raw bytes): passed on as they are
        return HttpResponse(200, {"Content-Type": "application/json"}, payload)
    if not (isinstance(out, dict) and "statusCode" in out):
        body = out.encode() if isinstance(out, str) else _compact(out)
        return HttpResponse(200, {"Content-Type": "application/json"}, body)
    try:
        status = int(out["statusCode"])
        raw = out.get("body")
        if raw is None:
            data = b""
        elif isinstance(raw, str):
            data = base64.b64decode(raw, validate=True) if out.get("isBase64Encoded") else raw.encode()
        else:
            data = _compact(raw)
        headers: dict[str, Any] = {str(k): v if isinstance(v, str) else json.dumps(v)
                                   for k, v in (out.get("headers") or {}).items() if v is not None}
    except (ValueError, TypeError, AttributeError, binascii.Error):
        return function_error()  # a malformed proxy result
    if not 100 <= status <= 599:
        return function_error()
    if not any(k.lower() == "content-type" for k in headers):  # the function's own, in any case
        headers["Content-Type"] = "application/json"
    if out.get("cookies"):
        headers["Set-Cookie"] = [str(c) for c in out["cookies"]]  # one header line each
    return HttpResponse(status, headers, data)


def result_response(function_failed: bool, payload: bytes) -> HttpResponse:
    return function_error() if function_failed else to_response(payload)


async def streamed_response(running: invoke_stream.StreamedInvocation) -> HttpResponse:
    """The HTTP response of a RESPONSE_STREAM URL (see the module docstring)."""
    stream = running.stream
    if not stream.opened:  # the function did not stream: it has finished
        result = await running.task
        return result_response(result.function_error is not None, result.payload)
    chunks = stream.__aiter__()
    head = b""
    try:
        head = await anext(chunks, b"")
        if stream.content_type == HTTP_INTEGRATION:
            while PRELUDE_END not in head and (more := await anext(chunks, None)) is not None:
                head += more
    except BaseException:
        running.detach()
        raise
    status: int | None = 200
    headers = {"Content-Type": stream.content_type or "application/octet-stream"}
    if stream.content_type == HTTP_INTEGRATION:
        prelude, found, head = head.partition(PRELUDE_END)
        status, headers = _prelude(prelude) if found else (None, {})
    if status is None or (not head and stream.closed and (await running.task).function_error):
        running.detach()  # a bad prelude: the function may still be writing
        return function_error()
    return HttpResponse(status, headers, _body(running, head, chunks))


def _prelude(data: bytes) -> tuple[int | None, dict[str, Any]]:
    """Status and headers from an http-integration-response prelude (None: not a valid one)."""
    try:
        prelude = json.loads(data)
        status = int(prelude.get("statusCode", 200))
    except (ValueError, TypeError, AttributeError):
        return None, {}
    headers: dict[str, Any] = {str(k): str(v) for k, v in (prelude.get("headers") or {}).items()}
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/octet-stream"
    if prelude.get("cookies"):
        headers["Set-Cookie"] = [str(c) for c in prelude["cookies"]]
    return status, headers


async def _body(running: invoke_stream.StreamedInvocation, head: bytes,
                chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    finished = False
    try:
        if head:
            yield head
        async for chunk in chunks:
            yield chunk
        await running.task
        finished = True
    finally:
        if not finished:
            running.detach()


class FunctionUrls:
    def __init__(self, infra: Infra, invoker: Invoker) -> None:
        self.infra = infra
        self.invoker = invoker

    def route(self) -> Route:
        """Function URL hosts, with the caller identified and its signature checked by the
        gateway (AWS_IAM URLs need both; NONE URLs ignore them)."""
        return Route("lambda-function-urls", host="{url_id}.lambda-url.{region}.*", identity=True,
                     authenticate=True, handler=self.handle)

    async def handle(self, ctx: RequestContext) -> HttpResponse:
        resp = await self._answer(ctx)
        resp.headers["x-amzn-RequestId"] = ctx.request_id
        return resp

    async def _answer(self, ctx: RequestContext) -> HttpResponse:
        req = ctx.request
        assert req is not None and ctx.route_params is not None
        url_id = ctx.route_params["url_id"]
        run_store = self.infra.run_store
        entry = await run_store(urls.lookup_url, self.infra.store, url_id)
        if entry is None:
            return unknown_url()
        cors = entry.get("Cors")
        if cors is not None and url_cors.is_preflight(req):  # answered for the browser before any authorization
            return url_cors.preflight(cors, req)
        return url_cors.add_headers(cors, req, await self._run(ctx, url_id, entry))

    async def _run(self, ctx: RequestContext, url_id: str, entry: dict) -> HttpResponse:
        req = ctx.request
        assert req is not None
        run_store = self.infra.run_store
        caller = ctx.account if ctx.authenticated else None
        if not await run_store(self._authorized, entry, caller):
            return forbidden()
        iam_caller = ctx if entry.get("AuthType") == "AWS_IAM" else None
        request_id = ctx.request_id
        try:
            resolved = await run_store(functions.resolve, self.infra.store, entry["account"],
                                       entry["region"], entry["function"], entry["qualifier"])
            event = build_event(req, url_id, request_id, trace_header=ctx.trace_header, caller=iam_caller,
                                owner=entry["account"])
            payload = json.dumps(event).encode()
            if entry.get("InvokeMode") == "RESPONSE_STREAM":
                running = await invoke_stream.start(self.invoker, resolved, payload, request_id=request_id)
                return await streamed_response(running)
            result = await self.invoker.run(resolved, payload, request_id=request_id)
            return result_response(result.function_error is not None, result.payload)
        except TooManyRequests:
            return throttled()
        except ResourceConflictException:  # the function is not Active (invoke.check_active)
            return function_error()
        except ServiceError:  # the function went away since the URL was looked up
            return unknown_url()

    def _authorized(self, entry: dict, caller: str | None) -> bool:
        """`caller`: the account of an authenticated caller, None for an anonymous one."""
        auth_type = entry.get("AuthType", "NONE")
        if auth_type == "AWS_IAM":
            if caller is None:
                return False
            if caller == entry["account"]:
                return True  # identity policies are not modelled: the account's own principals may
        else:
            caller = None  # a NONE URL is called anonymously, signed or not
        ref = FunctionRef(entry["account"], entry["region"], entry["function"], entry["qualifier"])
        context = {"lambda:FunctionUrlAuthType": auth_type, "lambda:InvokedViaFunctionUrl": "true"}
        with self.infra.store.transaction(write=False) as tx:
            return all(policy.allows(tx, ref, caller, action, context)
                       for action in ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction"))
