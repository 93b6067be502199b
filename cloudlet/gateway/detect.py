"""Which service a request is for.

Rules, first match wins:
 1. `X-Amz-Target: <prefix>.<op>` names a JSON-protocol service by its target prefix; so does
    the path of a Smithy RPC v2 request (`smithy-protocol` header, `/service/<prefix>/operation/<op>`).
 2. The SigV4 credential scope (Authorization header or presigned `X-Amz-Credential`) names
    the signing service. Signing names shared by several services are told apart by path
    (`apigateway` signs API Gateway v1 and v2; v2 paths start with /v2/).
 3. The host: `<bucket>.s3.<domain>` and `s3.<domain>` are S3; `<svc>.<region>.<domain>` names
    a service by endpoint prefix.
 4. Unsigned query-protocol requests (`Action=...`): the served query service with that action.
 5. Unsigned REST requests whose path starts like one service's routes (`/2015-03-31/functions`).
 6. Anything else is S3, as on AWS, where plain `GET /bucket/key` is an S3 request.
Domains accepted: localhost, localhost.localstack.cloud, amazonaws.com, and IP addresses.
"""

from __future__ import annotations

import re
from functools import cached_property

from cloudlet.protocol import HttpRequest, load_service
from cloudlet.protocol.cbor import route as rpc_v2_route
from cloudlet.protocol.query import form_params
from cloudlet.protocol.service import known_services

from .sigv4 import CredentialScope

# Signing or endpoint names that differ from botocore's service name.
ALIASES = {
    "monitoring": "cloudwatch", "states": "stepfunctions", "email": "ses", "execute-api": "apigateway",
    "elasticloadbalancing": "elbv2", "tagging": "resourcegroupstaggingapi", "streams.dynamodb": "dynamodbstreams",
    "events": "events", "awslambda": "lambda", "sso-oauth": "sso-oidc",
}

# Services that share a signing name, with the path prefix that picks each (checked in order).
SHARED_SIGNING = {
    "apigateway": (("/v2/", "apigatewayv2"), ("", "apigateway")),
}

_S3_HOST = re.compile(r"^(?:(?P<bucket>.+)\.)?s3(?:[.-](?:[a-z0-9-]+))?\.(?:localhost(?:\.localstack\.cloud)?|amazonaws\.com)$")
_SERVICE_HOST = re.compile(r"^(?P<svc>[a-z0-9-]+)\.(?:[a-z]{2}(?:-[a-z]+)+-\d\.)?(?:localhost(?:\.localstack\.cloud)?|amazonaws\.com)$")


def strip_port(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if ":" in host else host


def s3_bucket_from_host(host: str) -> str | None:
    """The bucket of a virtual-hosted S3 request (`bucket.s3.localhost`), else None."""
    m = _S3_HOST.match(strip_port(host).lower())
    return m.group("bucket") if m else None


class ServiceDetector:
    def __init__(self, served: list[str]) -> None:
        self.served = list(served)

    @cached_property
    def _known(self) -> set[str]:
        return set(known_services())

    @cached_property
    def _by_target(self) -> dict[str, str]:
        return {load_service(s).target_prefix: s for s in self.served if load_service(s).target_prefix}

    @cached_property
    def _by_signing(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for s in self.served:
            out.setdefault(load_service(s).signing_name, []).append(s)
        return out

    @cached_property
    def _query_actions(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for s in self.served:
            spec = load_service(s)
            if "query" in spec.protocols:
                for op in spec.operations:
                    out.setdefault(op, s)
        return out

    @cached_property
    def _path_prefixes(self) -> list[tuple[str, str]]:
        """First literal path segment of each REST service's routes, where it is unique."""
        owners: dict[str, set[str]] = {}
        for s in self.served:
            spec = load_service(s)
            if spec.protocol not in ("rest-json", "rest-xml"):
                continue
            for op in spec.operations.values():
                first = op.http.get("requestUri", "/").split("?")[0].split("/")[1:2]
                if first and first[0] and "{" not in first[0]:
                    owners.setdefault("/" + first[0], set()).add(s)
        return sorted(((p, next(iter(o))) for p, o in owners.items() if len(o) == 1), key=lambda x: -len(x[0]))

    def warm(self) -> None:
        """Build every index now rather than on the first request that needs it."""
        _ = self._known, self._by_target, self._by_signing, self._query_actions, self._path_prefixes

    def resolve_name(self, name: str) -> str | None:
        """A botocore service name for a signing/endpoint name, served or merely known."""
        if name in self._by_signing:
            return self._by_signing[name][0]
        name = ALIASES.get(name, name)
        return name if name in self._known else None

    def detect(self, req: HttpRequest, scope: CredentialScope | None) -> str | None:
        target = req.headers.get("x-amz-target")
        if target:
            prefix = target.rpartition(".")[0]
            svc = self._by_target.get(prefix)
            if svc:
                return svc
        if "smithy-protocol" in req.headers:
            names = rpc_v2_route(req.path)
            svc = self._by_target.get(names[0]) if names is not None else None
            if svc:
                return svc
        if scope is not None and scope.service:
            choices = SHARED_SIGNING.get(scope.service)
            if choices:
                for path_prefix, svc in choices:
                    if req.path.startswith(path_prefix) and svc in self.served:
                        return svc
            found = self.resolve_name(scope.service)
            if found:
                return found
            return scope.service
        host = strip_port(req.host).lower()
        if host and not host[0].isdigit():
            if _S3_HOST.match(host):
                return "s3"
            m = _SERVICE_HOST.match(host)
            if m:
                found = self.resolve_name(m.group("svc"))
                if found:
                    return found
        if req.method == "POST" and "x-www-form-urlencoded" in req.headers.get("content-type", "") or (
                "Action=" in req.query_string and req.path == "/"):
            try:
                action = form_params(req).get("Action")
            except Exception:
                action = None
            if action and action in self._query_actions:
                return self._query_actions[action]
        for prefix, svc in self._path_prefixes:
            if req.path.startswith(prefix) and (len(req.path) == len(prefix) or req.path[len(prefix)] in "/?"):
                return svc
        return "s3"
