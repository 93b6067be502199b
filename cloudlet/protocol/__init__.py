"""The model-driven protocol layer: botocore service models decide how requests are parsed
and how results and errors are written; no service writes wire framing by hand."""

from __future__ import annotations

from .awsjson import JsonProtocol
from .base import Protocol
from .cbor import SMITHY_PROTOCOL, RpcV2CborProtocol
from .errors import ServiceError
from .http import HttpRequest, HttpResponse
from .query import Ec2Protocol, QueryProtocol
from .rest import RestJsonProtocol, RestXmlProtocol
from .service import ServiceSpec, load_service

PROTOCOLS: dict[str, Protocol] = {
    p.name: p for p in (QueryProtocol(), Ec2Protocol(), JsonProtocol(), RestJsonProtocol(), RestXmlProtocol(),
                        RpcV2CborProtocol())
}


def protocol_for(spec: ServiceSpec, req: HttpRequest | None = None) -> Protocol:
    """The protocol a request speaks. Services whose model lists several (cloudwatch:
    smithy-rpc-v2-cbor, json and query) are told apart by the request: a `smithy-protocol:
    rpc-v2-cbor` header means CBOR, an X-Amz-Target header JSON, anything else (a form body,
    an Action in the query string) query. Without a request: the first listed that we serve."""
    protocols = spec.protocols
    if req is not None and len(protocols) > 1:
        headers = req.headers
        if "smithy-rpc-v2-cbor" in protocols and headers.get("smithy-protocol") == SMITHY_PROTOCOL:
            return PROTOCOLS["smithy-rpc-v2-cbor"]
        if "json" in protocols and "x-amz-target" in headers:
            return PROTOCOLS["json"]
        if "query" in protocols and "x-amz-target" not in headers and "smithy-protocol" not in headers:
            return PROTOCOLS["query"]
    for name in protocols:
        if name in PROTOCOLS:
            return PROTOCOLS[name]
    return PROTOCOLS[spec.protocol] if spec.protocol in PROTOCOLS else PROTOCOLS["json"]


__all__ = ["HttpRequest", "HttpResponse", "PROTOCOLS", "Protocol", "ServiceError", "ServiceSpec",
           "load_service", "protocol_for"]
