"""The model-driven protocol layer: botocore service models decide how requests are parsed
and how results and errors are written; no service writes wire framing by hand."""

from __future__ import annotations

from .awsjson import JsonProtocol
from .base import Protocol
from .errors import ServiceError
from .http import HttpRequest, HttpResponse
from .query import Ec2Protocol, QueryProtocol
from .rest import RestJsonProtocol, RestXmlProtocol
from .service import ServiceSpec, load_service

PROTOCOLS: dict[str, Protocol] = {
    p.name: p for p in (QueryProtocol(), Ec2Protocol(), JsonProtocol(), RestJsonProtocol(), RestXmlProtocol())
}


def protocol_for(spec: ServiceSpec, req: HttpRequest | None = None) -> Protocol:
    """The protocol a request speaks. Services whose model lists several (sqs: json and query)
    are told apart by the request: an X-Amz-Target header means JSON, a form body means query."""
    protocols = spec.protocols
    if req is not None and len(protocols) > 1:
        if "json" in protocols and "x-amz-target" in req.headers:
            return PROTOCOLS["json"]
        if "query" in protocols and "x-amz-target" not in req.headers:
            return PROTOCOLS["query"]
    for name in protocols:
        if name in PROTOCOLS:
            return PROTOCOLS[name]
    return PROTOCOLS[spec.protocol] if spec.protocol in PROTOCOLS else PROTOCOLS["json"]


__all__ = ["HttpRequest", "HttpResponse", "PROTOCOLS", "Protocol", "ServiceError", "ServiceSpec",
           "load_service", "protocol_for"]
