"""botocore as the oracle for the protocol layer: it writes the requests we must parse and
reads the responses we write."""

from __future__ import annotations

import io
import math
from datetime import datetime
from urllib.parse import urlsplit

from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.model import OperationModel
from botocore.parsers import create_parser
from botocore.response import StreamingBody
from botocore.serialize import create_serializer
from urllib3._collections import HTTPHeaderDict

from cloudlet.protocol import HttpRequest, HttpResponse

ENDPOINT = "http://localhost:4566"


def botocore_request(protocol: str, op: OperationModel, params: dict) -> HttpRequest:
    serializer = create_serializer(protocol, include_validation=False)
    serialized = serializer.serialize_to_request(params, op)
    prepare_request_dict(serialized, ENDPOINT)
    prepared = create_request_object(serialized).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif hasattr(body, "read"):
        body = body.read()
    headers = {}
    for k, v in prepared.headers.items():
        v = v.decode("latin-1") if isinstance(v, bytes) else v
        headers[k.lower()] = v
    return HttpRequest(prepared.method, url.path or "/", url.query, headers, body, url.netloc)


def botocore_parse(protocol: str, op: OperationModel, resp: HttpResponse) -> dict:
    body = resp.body if isinstance(resp.body, bytes) else b"".join(resp.body)  # type: ignore[arg-type]
    parser = create_parser(protocol)
    headers = HTTPHeaderDict(resp.headers)
    shape = op.output_shape
    payload = shape.serialization.get("payload") if shape is not None else None
    if payload and shape.members[payload].type_name in ("blob", "string") and resp.status < 300:
        # As in a real client, a raw payload reaches the parser as a stream.
        body = StreamingBody(io.BytesIO(body), len(body))
    parsed = parser.parse({"status_code": resp.status, "headers": headers, "body": body}, shape)
    if payload and hasattr(parsed.get(payload), "read"):
        data = parsed[payload].read()
        parsed[payload] = data.decode("utf-8") if shape.members[payload].type_name == "string" else data
    return parsed


def normalize(value):
    """Make params comparable across wire formats: empty containers vanish, timestamps are
    instants, floats compared by value."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "ResponseMetadata":
                continue
            nv = normalize(v)
            if nv is None or nv == {} or nv == [] or nv == "" or nv == b"":
                continue
            out[k] = nv
        return out
    if isinstance(value, list):
        items = [normalize(v) for v in value]
        return [v for v in items if v != {}]
    if isinstance(value, datetime):
        return ("ts", round(value.timestamp()))
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("f", float(f"{value:.6g}"))
    if isinstance(value, int) and not isinstance(value, bool):
        return ("f", float(f"{float(value):.6g}")) if abs(value) > 2**53 else value
    return value
