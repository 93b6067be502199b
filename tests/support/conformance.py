"""The AWS SDK protocol compliance cases (botocore's `tests/unit/protocols/`) read from the
server's side: input cases become requests we parse, output cases results we serialize.

Values are compared after `canonical()`, a shape-directed normalization: the case files write
timestamps as epoch numbers, blobs as text and special floats as "NaN"/"Infinity", while the
protocol layer and botocore deal in datetimes, bytes and floats.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import math
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.response import StreamingBody
from urllib3._collections import HTTPHeaderDict

from cloudlet.protocol import HttpRequest, HttpResponse, ServiceSpec
from cloudlet.protocol.values import parse_float, parse_timestamp

_CASES = Path("shared") / "conformance" / "botocore-protocols"
_ROOT = Path(__file__).resolve().parents[2]
# In CI the repository is cloned fresh with `shared/` beside it; a git worktree kept in a
# folder of worktrees finds it one level further up.
CASES_DIR = next((p / _CASES for p in (_ROOT.parent, _ROOT.parent.parent) if (p / _CASES).is_dir()),
                 _ROOT.parent / _CASES)


def cases_dir() -> Path | None:
    """The case directory, or None when it is absent (the tests fail on that in CI)."""
    return CASES_DIR if CASES_DIR.is_dir() else None


@dataclass
class Case:
    protocol: str        # case file stem: "json_1_0", "rest-xml", ...
    kind: str            # "input" or "output"
    suite: dict          # description, metadata, shapes
    case: dict           # given, params/serialized or result/response
    index: int           # position among the file's cases sharing this suite description

    @property
    def id(self) -> str:
        return f"{self.protocol}:{self.kind}:{self.suite['description']}:{self.index}"

    @property
    def name(self) -> str:
        return self.case["given"].get("name", "OperationName")

    @cached_property
    def spec(self) -> ServiceSpec:
        """A one-operation service built from the suite, with the defaults botocore's own
        compliance runner assumes: the operation's name, and for query outputs the
        `<Name>Result` wrapper the smithy-generated cases leave out of the model."""
        given = copy.deepcopy(self.case["given"])
        given.setdefault("name", self.name)
        metadata = dict(self.suite["metadata"])
        if self.kind == "output" and metadata["protocol"] == "query" and "output" in given:
            output = self.suite["shapes"][given["output"]["shape"]]
            if output.get("members"):
                given["output"].setdefault("resultWrapper", f"{self.name}Result")
        model = {"metadata": metadata, "shapes": copy.deepcopy(self.suite["shapes"]),
                 "operations": {self.name: given}}
        return ServiceSpec(self.protocol, ServiceModel(model, service_name=self.protocol))

    @property
    def operation(self) -> OperationModel:
        return self.spec.operations[self.name]


def load_cases(kind: str) -> list[Case]:
    root = cases_dir()
    if root is None:
        return []
    out: list[Case] = []
    for path in sorted((root / kind).glob("*.json")):
        seen: dict[str, int] = {}
        for suite in json.loads(path.read_text(encoding="utf-8")):
            meta = {k: v for k, v in suite.items() if k != "cases"}
            for case in suite["cases"]:
                n = seen.get(suite["description"], 0)
                seen[suite["description"]] = n + 1
                out.append(Case(path.stem, kind, meta, case, n))
    return out


# ---- input: the serialized request as the server receives it ------------------------------

def request_for(case: Case) -> HttpRequest:
    ser = case.case["serialized"]
    url = urlsplit(ser.get("uri", "/"))
    headers = {k.lower(): v for k, v in (ser.get("headers") or {}).items()}
    body = (ser.get("body") or "").encode("utf-8")
    if case.suite["metadata"]["protocol"] == "smithy-rpc-v2-cbor":
        body = base64.b64decode(body)  # binary bodies are written as base64 in the case files
    host = ser.get("host") or "localhost"
    return HttpRequest(ser.get("method", "POST"), url.path or "/", url.query, headers, body, host)


# ---- output: what a botocore client reads from our response ------------------------------

def client_parse(protocol: str, op: OperationModel, resp: HttpResponse) -> dict:
    """Parse `resp` the way botocore's endpoint does, modeled error fields included."""
    body = resp.body if isinstance(resp.body, bytes) else b"".join(resp.body)  # type: ignore[arg-type]
    headers = HTTPHeaderDict(resp.headers)
    wire: Any = body
    if resp.status < 300 and op.has_streaming_output:
        wire = StreamingBody(io.BytesIO(body), len(body))
    response = {"status_code": resp.status, "headers": headers, "body": wire,
                "context": {"operation_name": op.name}}
    parser = create_parser(protocol)
    parsed = parser.parse(response, op.output_shape)
    code = parsed.get("Error", {}).get("Code")
    if resp.status >= 300 and code is not None:
        error_shape = op.service_model.shape_for_error_code(code)
        if error_shape is not None:
            parsed.update(parser.parse({**response, "body": body}, error_shape))
    parsed.pop("ResponseMetadata", None)
    for key, value in parsed.items():
        if hasattr(value, "read"):
            parsed[key] = value.read()
    return parsed


# ---- values -------------------------------------------------------------------------------

def to_python(shape: Shape | None, value: Any) -> Any:
    """A case's JSON value as a provider would hold it: datetimes, bytes and floats."""
    if shape is None or value is None:
        return value
    t = shape.type_name
    if t == "structure" and not shape.is_document_type and isinstance(value, dict):
        return {k: to_python(shape.members.get(k), v) for k, v in value.items()}
    if t == "list" and isinstance(value, list):
        return [to_python(shape.member, v) for v in value]
    if t == "map" and isinstance(value, dict):
        return {k: to_python(shape.value, v) for k, v in value.items()}
    if t == "timestamp":
        return parse_timestamp(value)
    if t == "blob" and isinstance(value, str):
        return value.encode("utf-8")
    if t in ("float", "double"):
        return parse_float(value)
    return value


def canonical(shape: Shape | None, value: Any, drop_empty: bool = False) -> Any:
    """A comparable form: epoch-millisecond timestamps, bytes blobs, special floats as text.

    `drop_empty` drops members holding an empty list, map or structure: most request
    bindings (query strings, headers, EC2 lists, an empty `{}` payload) cannot tell those
    from absent members, and the client cases leave them out of the wire."""
    if value is None:
        return None
    if shape is None:
        return value
    t = shape.type_name
    if t == "structure" and not shape.is_document_type and isinstance(value, dict):
        out = {k: canonical(shape.members.get(k), v, drop_empty) for k, v in value.items() if v is not None}
        return {k: v for k, v in out.items() if not (drop_empty and v in ([], {}))}
    if t == "list" and isinstance(value, list):
        return [canonical(shape.member, v, drop_empty) for v in value]
    if t == "map" and isinstance(value, dict):
        return {k: canonical(shape.value, v, drop_empty) for k, v in value.items()}
    if t == "timestamp":
        ts = value if isinstance(value, datetime) else parse_timestamp(value)
        return ("ts", round(ts.timestamp() * 1000))
    if t == "blob":
        if hasattr(value, "read"):
            value = value.read()
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if t in ("float", "double"):
        f = parse_float(value)
        return "NaN" if math.isnan(f) else ("Infinity" if f == math.inf else ("-Infinity" if f == -math.inf else f))
    return value
