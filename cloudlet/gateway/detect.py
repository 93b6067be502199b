"""Which service a request is for, among every service botocore has a model for (served or
not: an operation cloudlet does not serve answers 501 naming it, in its protocol's shape).

Rules, first match wins:
 1. `X-Amz-Target: <prefix>.<op>` names a JSON-protocol service by its target prefix; so does
    the path of a Smithy RPC v2 request (`smithy-protocol` header, `/service/<prefix>/operation/<op>`).
 2. The SigV4 credential scope (Authorization header or presigned `X-Amz-Credential`) names
    the signing service. A signing name several services share is told apart by the request:
    a path prefix first (`apigateway` signs API Gateway v1 and v2; v2 paths start with /v2/),
    then the operation the request names (an action, a target) or the route it matches,
    served services first.
 3. The host: `<bucket>.s3.<domain>` and `s3.<domain>` are S3; `<svc>.<region>.<domain>` names
    a service by endpoint prefix.
 4. Unsigned query-protocol requests (`Action=...`): the served query service with that action.
 5. Unsigned REST requests whose path starts like one service's routes (`/2015-03-31/functions`).
 6. Anything else is S3, as on AWS, where plain `GET /bucket/key` is an S3 request.
Domains accepted: localhost, localhost.localstack.cloud, amazonaws.com, and IP addresses.
The names come from protocol/models_index.py, so no model is loaded to tell services apart
unless they share a name.
"""

from __future__ import annotations

import re
from functools import cached_property

from cloudlet.protocol import HttpRequest, load_service
from cloudlet.protocol.cbor import route as rpc_v2_route
from cloudlet.protocol.models_index import ModelEntry
from cloudlet.protocol.models_index import load as load_index
from cloudlet.protocol.query import form_params

from .sigv4 import CredentialScope

# Signing names whose services are told apart by a path prefix and a header (checked in
# order) before anything else: their routes overlap (S3's `/{Bucket}` matches S3 Control's
# paths, whose requests all carry the account id).
SHARED_SIGNING = {
    "apigateway": (("/v2/", "", "apigatewayv2"), ("", "", "apigateway")),
    "s3": (("/v20180820/", "x-amz-account-id", "s3control"), ("", "", "s3")),
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
        self._segments: dict[str, frozenset[str]] = {}

    @cached_property
    def _index(self) -> dict[str, ModelEntry]:
        return load_index()

    def _names(self, key: str) -> dict[str, list[str]]:
        """Services by one of their names (`signing`, `endpoint`, `target`), served first."""
        out: dict[str, list[str]] = {}
        for entry in sorted(self._index.values(), key=lambda e: e.service not in self.served):
            name = getattr(entry, key)
            if name:
                out.setdefault(name, []).append(entry.service)
        return out

    @cached_property
    def _by_target(self) -> dict[str, list[str]]:
        return self._names("target")

    @cached_property
    def _by_signing(self) -> dict[str, list[str]]:
        return self._names("signing")

    @cached_property
    def _by_endpoint(self) -> dict[str, list[str]]:
        return self._names("endpoint")

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
        _ = self._by_target, self._by_signing, self._by_endpoint, self._query_actions, self._path_prefixes
        for svc in self.served:  # the services sharing a signing name with a served one
            for other in self._by_signing.get(self._index[svc].signing, ()):
                self._first_segments(other)

    def resolve_name(self, name: str, req: HttpRequest | None = None) -> str | None:
        """The botocore service a signing or endpoint name stands for, served or merely known;
        told apart by `req` where several share the name."""
        for prefix, header, svc in SHARED_SIGNING.get(name, ()):
            if req is None or req.path.startswith(prefix) and (not header or header in req.headers):
                return svc
        choices = self._by_signing.get(name) or self._by_endpoint.get(name)
        if not choices:
            return None
        if len(choices) == 1 or req is None:
            return choices[0]
        return self._pick(choices, req)

    def _pick(self, choices: list[str], req: HttpRequest) -> str:
        """Of services sharing a name (served first), the one whose model has the operation
        `req` calls: by its target or action, else by the route it matches."""
        headers = req.headers
        target = headers.get("x-amz-target")
        if target:
            return self._with_operation(choices, target.rpartition(".")[2])
        if "x-www-form-urlencoded" in headers.get("content-type", "") or "Action=" in req.query_string:
            try:
                action = form_params(req).get("Action")
            except Exception:
                action = None
            if action:
                return self._with_operation(choices, action)
        first = req.path.split("/", 2)[1] if req.path.startswith("/") else ""
        owners = [svc for svc in choices if first in self._first_segments(svc)]
        if len(owners) == 1:  # (the common case, without matching a route: lambda's /2015-03-31)
            return owners[0]
        for svc in owners or choices:
            spec = load_service(svc)
            if spec.protocol.startswith("rest") and spec.router.match(req.method, req.path, req.query, headers):
                return svc
        return choices[0]

    def _first_segments(self, service: str) -> frozenset[str]:
        """The literal first path segments of a REST service's routes."""
        found = self._segments.get(service)
        if found is None:
            spec = load_service(service)
            uris = [op.http.get("requestUri", "/") for op in spec.operations.values()] \
                if spec.protocol.startswith("rest") else []
            found = self._segments[service] = frozenset(
                seg for seg in (u.split("?")[0].split("/")[1] if u.startswith("/") else "" for u in uris)
                if seg and "{" not in seg)
        return found

    @staticmethod
    def _with_operation(choices: list[str], operation: str) -> str:
        if len(choices) > 1:
            for svc in choices:
                if operation in load_service(svc).operations:
                    return svc
        return choices[0]

    def detect(self, req: HttpRequest, scope: CredentialScope | None) -> str | None:
        target = req.headers.get("x-amz-target")
        if target:
            prefix, _, operation = target.rpartition(".")
            choices = self._by_target.get(prefix)
            if choices:
                return self._with_operation(choices, operation)
        if "smithy-protocol" in req.headers:
            names = rpc_v2_route(req.path)
            choices = self._by_target.get(names[0]) if names is not None else None
            if choices:
                return self._with_operation(choices, names[1] if names is not None else "")
        if scope is not None and scope.service:
            return self.resolve_name(scope.service, req) or scope.service
        host = strip_port(req.host).lower()
        if host and not host[0].isdigit():
            if _S3_HOST.match(host):
                return "s3"
            m = _SERVICE_HOST.match(host)
            if m:
                found = self.resolve_name(m.group("svc"), req)
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
