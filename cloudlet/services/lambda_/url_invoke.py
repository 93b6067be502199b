"""Function URLs, the data plane: `http://<url-id>.lambda-url.<region>.localhost:<port>/...`.

A request becomes the payload format 2.0 event AWS sends; the function's answer is mapped
back the way AWS does: a dict with `statusCode` is a full response (headers, cookies, body,
isBase64Encoded), anything else is a 200 JSON body. A function error is a 502.

With InvokeMode RESPONSE_STREAM a function that streams (awslambda.streamifyResponse, or a custom
runtime in the Runtime API's streaming mode) answers chunk by chunk as it writes, with the
runtime's Content-Type; a stream whose Content-Type is
`application/vnd.awslambda.http-integration-response` starts with a JSON prelude (statusCode,
headers, cookies) and 8 null bytes, which become the status and headers. The status is sent with
the first chunk: a function that fails before writing gets a 502, one that fails later ends the
body early. A function that does not stream is answered as in BUFFERED mode. A function that is
not Active (State Failed: a runtime this host cannot run) is a 502 without running anything.

Access is checked as on AWS (since October 2025 both actions are needed): with AuthType NONE
the function's resource-based policy must let Principal "*" call lambda:InvokeFunctionUrl and
lambda:InvokeFunction; with AWS_IAM the request must be SigV4-signed (verified when
CLOUDLET_ENFORCE_SIGV4 is on) and a caller from another account needs the same two permissions.
Anything else is 403 {"Message": "Forbidden"}.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from cloudlet.compute import TooManyRequests
from cloudlet.gateway.routes import Route
from cloudlet.infra import Infra
from cloudlet.protocol import HttpRequest, HttpResponse
from cloudlet.protocol.errors import ServiceError

from . import functions, invoke_stream, policy, urls
from .errors import ResourceConflictException
from .names import FunctionRef

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .invoke import Invoker

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
               "application/x-www-form-urlencoded")
HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
PRELUDE_END = b"\0" * 8


def _json(status: int, message: str) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps({"Message": message}).encode())


def build_event(req: HttpRequest, url_id: str, account: str, request_id: str) -> dict:
    headers = {k: v for k, v in req.headers.items() if k not in ("cookie",)}
    content_type = req.headers.get("content-type", "")
    is_text = not req.body or content_type.startswith(_TEXT_TYPES)
    query: dict[str, str] = {}
    for key, value in parse_qsl(req.query_string, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": "$default", "rawPath": req.path, "rawQueryString": req.query_string,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous", "apiId": url_id, "domainName": req.host.split(":")[0],
            "domainPrefix": url_id,
            "http": {"method": req.method, "path": req.path, "protocol": "HTTP/1.1",
                     "sourceIp": req.headers.get("x-forwarded-for", "127.0.0.1").split(",")[0].strip(),
                     "userAgent": req.headers.get("user-agent", "")},
            "requestId": request_id, "routeKey": "$default", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if "cookie" in req.headers:
        event["cookies"] = [c.strip() for c in req.headers["cookie"].split(";") if c.strip()]
    if query:
        event["queryStringParameters"] = query
    if req.body:
        event["body"] = req.data.decode("utf-8", "replace") if is_text else base64.b64encode(req.data).decode()
    return event


def to_response(payload: bytes) -> HttpResponse:
    try:
        out = json.loads(payload) if payload else None
    except ValueError:
        return HttpResponse(200, {"Content-Type": "application/json"}, payload)
    if isinstance(out, dict) and "statusCode" in out:
        headers: dict[str, Any] = {str(k): str(v) for k, v in (out.get("headers") or {}).items()}
        body = out.get("body") or ""
        data = base64.b64decode(body) if out.get("isBase64Encoded") else str(body).encode()
        if not any(k.lower() == "content-type" for k in headers):  # the function's own, in any case
            headers["Content-Type"] = "application/json"
        if out.get("cookies"):
            headers["Set-Cookie"] = [str(c) for c in out["cookies"]]  # one header line each
        return HttpResponse(int(out["statusCode"]), headers, data)
    return HttpResponse(200, {"Content-Type": "application/json"}, payload if payload else b"")


async def streamed_response(running: invoke_stream.StreamedInvocation) -> HttpResponse:
    """The HTTP response of a RESPONSE_STREAM URL (see the module docstring)."""
    stream = running.stream
    if not stream.opened:  # the function did not stream: it has finished
        result = await running.task
        return _json(502, "Internal Server Error") if result.function_error else to_response(result.payload)
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
        return _json(502, "Internal Server Error")
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
        req = ctx.request
        assert req is not None and ctx.route_params is not None
        url_id = ctx.route_params["url_id"]
        run_store = self.infra.run_store
        entry = await run_store(urls.lookup_url, self.infra.store, url_id)
        if entry is None:
            return _json(404, "Not Found")
        caller = ctx.account if ctx.authenticated else None
        if not await run_store(self._authorized, entry, caller):
            return _json(403, "Forbidden")
        request_id = ctx.request_id
        try:
            resolved = await run_store(functions.resolve, self.infra.store, entry["account"],
                                       entry["region"], entry["function"], entry["qualifier"])
            payload = json.dumps(build_event(req, url_id, entry["account"], request_id)).encode()
            if entry.get("InvokeMode") == "RESPONSE_STREAM":
                running = await invoke_stream.start(self.invoker, resolved, payload, request_id=request_id)
                resp = await streamed_response(running)
            else:
                result = await self.invoker.run(resolved, payload, request_id=request_id)
                resp = _json(502, "Internal Server Error") if result.function_error else to_response(result.payload)
        except TooManyRequests:
            return _json(429, "Rate Exceeded.")
        except ResourceConflictException:  # the function is not Active (invoke.check_active)
            return _json(502, "Internal Server Error")
        except ServiceError:
            return _json(404, "Not Found")
        resp.headers["x-amzn-RequestId"] = request_id
        return resp

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
