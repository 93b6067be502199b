"""CORS of function URLs: what the URL's `Cors` configuration adds to its answers.

With a `Cors` configuration the function URL service answers a browser's preflight itself (an
OPTIONS request with `Origin` and `Access-Control-Request-Method`): the function is not invoked,
and an allowed origin gets the configured Access-Control-Allow-* headers and Max-Age. Other
requests from an allowed origin run the function and get Access-Control-Allow-Origin,
-Allow-Credentials and -Expose-Headers added to the function's own headers; a CORS header the
function also sets is sent twice, as AWS does (the configuration takes precedence only for
preflights). An origin the configuration does not allow gets no CORS headers (the browser then
refuses the response). Without a `Cors` configuration nothing is added and an OPTIONS request
runs the function like any other.
"""

from __future__ import annotations

from typing import Any

from cloudlet.protocol import HttpRequest, HttpResponse


def _allowed_origin(cors: dict, origin: str) -> str | None:
    """The Access-Control-Allow-Origin value for `origin`, None when it is not allowed."""
    allowed = cors.get("AllowOrigins") or []
    if "*" in allowed:
        return origin if cors.get("AllowCredentials") else "*"  # browsers refuse "*" with credentials
    wanted = origin.lower()
    return origin if any(o.lower() == wanted for o in allowed) else None


def is_preflight(req: HttpRequest) -> bool:
    return req.method == "OPTIONS" and "origin" in req.headers and "access-control-request-method" in req.headers


def preflight(cors: dict, req: HttpRequest) -> HttpResponse:
    """The answer to a preflight request (see is_preflight), without running the function."""
    headers: dict[str, Any] = {"Content-Type": "application/json"}
    origin = _allowed_origin(cors, req.headers["origin"])
    if origin is not None:
        headers["Access-Control-Allow-Origin"] = origin
        if cors.get("AllowMethods"):
            headers["Access-Control-Allow-Methods"] = ",".join(cors["AllowMethods"])
        if cors.get("AllowHeaders"):
            headers["Access-Control-Allow-Headers"] = ",".join(cors["AllowHeaders"])
        if cors.get("AllowCredentials"):
            headers["Access-Control-Allow-Credentials"] = "true"
        if cors.get("MaxAge"):
            headers["Access-Control-Max-Age"] = str(cors["MaxAge"])
        if origin != "*":
            headers["Vary"] = "Origin"
    return HttpResponse(200, headers, b"")


def add_headers(cors: dict | None, req: HttpRequest, resp: HttpResponse) -> HttpResponse:
    """Add the CORS headers of an actual (not preflight) request from an allowed origin."""
    if cors is None or "origin" not in req.headers:
        return resp
    origin = _allowed_origin(cors, req.headers["origin"])
    if origin is None:
        return resp
    added = {"Access-Control-Allow-Origin": origin}
    if cors.get("AllowCredentials"):
        added["Access-Control-Allow-Credentials"] = "true"
    if cors.get("ExposeHeaders"):
        added["Access-Control-Expose-Headers"] = ",".join(cors["ExposeHeaders"])
    if origin != "*":
        added["Vary"] = "Origin"
    for name, value in added.items():
        _append(resp.headers, name, value)
    return resp


def _append(headers: dict[str, Any], name: str, value: str) -> None:
    """Add a header line, keeping a line of the same name the function sent (in any case)."""
    existing = next((k for k in headers if k.lower() == name.lower()), None)
    if existing is None:
        headers[name] = value
        return
    old = headers[existing]
    headers[existing] = [*(old if isinstance(old, list) else [old]), value]
