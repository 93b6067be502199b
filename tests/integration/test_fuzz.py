"""Fuzz the gateway: thousands of random and mutated requests over raw keep-alive sockets.

Requests start as what botocore itself would send (its serializer, random inputs, random
operations of the served services and of a few unserved ones) and are then mutated: bytes
flipped, inserted or cut, headers dropped or duplicated, targets, content types, methods,
paths, hosts and credentials replaced, bodies swapped for random bytes, deep JSON, entity
bombs, non-finite numbers, lone surrogates, huge headers. Some requests are random bytes.

Every answer must be a well-formed HTTP response, never 500/502/503 (501 NotImplemented is
fine), never a traceback; every error must be an AWS-shaped error document; nothing may take
longer than 5 s; afterwards the server must still serve.

The test runs once for each of a few fixed seeds (committed, known to pass: a failure there
is a regression) and once for a fresh random seed, which explores. The seed is in the test's
id, printed at its start and repeated in the failure message. `CLOUDLET_FUZZ_SEED=<seed>`
makes the random run use that seed (the printed command reproduces a run); `CLOUDLET_FUZZ_N` sets the
number of requests of each run (default: 5000 in all, split across the runs).
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import string
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import botocore.session
import pytest
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.model import OperationModel, Shape
from botocore.serialize import create_serializer

from cloudlet.services import PROVIDERS, provider_class
from cloudlet.services.provider import snake_case

TIMEOUT = 5.0
DEFAULT_N = 5000  # requests in all, split across the runs below

FIXED_SEEDS = (1917, 424242, 3141592653)
RANDOM_SEED = int(os.environ.get("CLOUDLET_FUZZ_SEED") or int.from_bytes(os.urandom(4), "big"))
RUNS = [pytest.param(seed, id=f"seed-{seed}") for seed in FIXED_SEEDS]
RUNS.append(pytest.param(RANDOM_SEED, id=f"random-seed-{RANDOM_SEED}"))
# Served services and a few unserved ones, with the protocols their clients speak.
SERVICES = {"sts": ("query",), "s3": ("rest-xml",), "lambda": ("rest-json",), "dynamodb": ("json",),
            "sqs": ("json", "query"), "sns": ("query",), "ec2": ("ec2",)}
TARGET_PREFIXES = ["DynamoDB_20120810", "AmazonSQS", "Logs_20140328", "AWSEvents", "AmazonSSM",
                   "AWSStepFunctions", "Kinesis_20131202", "secretsmanager", "DynamoDBStreams_20120810"]
CONTENT_TYPES = ["application/x-amz-json-1.0", "application/x-amz-json-1.1", "application/json",
                 "application/xml", "text/xml", "application/x-www-form-urlencoded",
                 "application/x-www-form-urlencoded; charset=utf-8", "multipart/form-data; boundary=zz",
                 "text/plain", "", "application/cbor", "application/vnd.amazon.eventstream", "\x7f/\x7f",
                 "application/x-www-form-urlencoded; charset=latin-1", "*/*;;;=;"]
METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD"]
WEIRD_TEXT = ["", " ", "..", ".", "/", "%", "%ff", "%00", "<x>", "&amp;", "&lol;", "\u00e9", "\u2603",
              "\U0001f600", "\x00", "\t", "'", '"', "\\", "?", "#", "&", "=", "+", ";", ",", "a" * 300,
              "${jndi}", "]]>", "\ufeff", "\u202e", "-1", "null", "None", "arn:aws:iam::000000000000:role/x"]
POISON_JSON = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 5000, "-0", "0.5",
               "1e18", "1e20", "-1e18", "-1e12", "253402300800", "9" * 30, "true", "null", '"\\ud800"',
               '"ab\\udfff\\ud800cd"', '"\\u0000"', "[]", "{}", '""', '"' + "x" * 70000 + '"', '"1e999"',
               '"NaN"', '"-Infinity"', '{"S": "\\ud83d"}', "[" * 300 + "]" * 300]
POISON_TEXT = ["1e999", "-1e999", "NaN", "Infinity", "1e18", "1e20", "-1e12", "253402300800", "1" + "0" * 5000,
               "-1", "", "true", "maybe", "%ff", "%ed%a0%80", "\u2603", "9999-99-99T99:99:99Z",
               "Mon, 99 Foo 9999 99:99:99 GMT", "0x10", "1_000", "\u0661\u0662", " 1 ", "a" * 5000]


# ---------------------------------------------------------------------------------------
# Requests

@dataclass
class Req:
    method: str
    target: bytes                      # request-target: path and query, as sent
    headers: list[list[bytes]]         # [name, value] pairs; Content-Length is added on render
    body: bytes = b""
    service: str = ""
    op: OperationModel | None = None
    protocol: str = ""
    how: list[str] = field(default_factory=list)
    chunked: bool = False
    http_invalid: bool = False         # not valid HTTP/1.1: the HTTP parser's own 400 is fine

    def copy(self) -> Req:
        return Req(self.method, self.target, [list(h) for h in self.headers], self.body, self.service, self.op,
                   self.protocol, list(self.how), self.chunked, self.http_invalid)

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def set_header(self, name: bytes, value: bytes) -> None:
        self.headers = [h for h in self.headers if h[0].lower() != name.lower()] + [[name, value]]

    def render(self) -> bytes:
        out = [self.method.encode() + b" " + self.target + b" HTTP/1.1\r\n"]
        out += [k + b": " + v + b"\r\n" for k, v in self.headers]
        if self.chunked:
            out.append(b"Transfer-Encoding: chunked\r\n\r\n")
            body, pos, rng = self.body, 0, random.Random(len(self.body))
            while pos < len(body):
                n = rng.randint(1, 4096)
                out.append(b"%x\r\n" % len(body[pos:pos + n]) + body[pos:pos + n] + b"\r\n")
                pos += n
            out.append(b"0\r\n\r\n")
        else:
            out.append(b"Content-Length: %d\r\n\r\n" % len(self.body))
            out.append(self.body)
        return b"".join(out)


def fake_auth(service: str, key: str = "test") -> bytes:
    return (f"AWS4-HMAC-SHA256 Credential={key}/20250101/us-east-1/{service}/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}").encode()


def clean_header(value: str) -> bytes:
    return value.encode("utf-8", "replace").translate(None, b"\r\n\x00")


def rand_text(rng: random.Random, shape: Shape | None = None) -> str:
    if shape is not None and shape.enum and rng.random() < 0.8:
        return rng.choice(shape.enum)
    if rng.random() < 0.85:
        lo = (shape.metadata.get("min", 1) if shape is not None else 1) or 1
        return "".join(rng.choices(string.ascii_letters + string.digits + "-_.", k=rng.randint(lo, max(lo, 20))))
    return "".join(rng.choice(WEIRD_TEXT) for _ in range(rng.randint(1, 3))) or "x"


def rand_value(rng: random.Random, shape: Shape, depth: int = 0):
    """A random Python value a botocore user could pass for `shape` (not always a valid one)."""
    t = shape.type_name
    if t == "structure":
        if shape.is_document_type:
            return rng.choice([{}, {"a": [1, "b"]}, [1, 2], "x", 3])
        members = {n: m for n, m in shape.members.items()
                   if not m.serialization.get("eventstream") and not getattr(m, "event_stream", False)}
        if shape.is_tagged_union and members:
            name = rng.choice(sorted(members))
            return {name: rand_value(rng, members[name], depth + 1)}
        out = {n: rand_value(rng, members[n], depth + 1) for n in shape.required_members if n in members}
        chance = 0.35 if depth < 3 else 0.0
        for name, member in members.items():
            if name not in out and rng.random() < chance:
                out[name] = rand_value(rng, member, depth + 1)
        return out
    if t == "list":
        return [rand_value(rng, shape.member, depth + 1) for _ in range(rng.randint(0, 3 if depth < 3 else 1))]
    if t == "map":
        return {rand_text(rng, shape.key): rand_value(rng, shape.value, depth + 1)
                for _ in range(rng.randint(0, 2 if depth < 3 else 0))}
    if t == "string":
        return rand_text(rng, shape)
    if t in ("integer", "long"):
        return rng.choice([0, 1, 10, -1, rng.randint(-1000, 1000), 2**31 - 1, -(2**31), 2**63 - 1])
    if t in ("float", "double"):
        return rng.choice([0.0, 1.5, -2.25, 1e308, rng.uniform(-1e6, 1e6)])
    if t == "boolean":
        return rng.random() < 0.5
    if t == "blob":
        return rng.randbytes(rng.randint(0, 64))
    if t == "timestamp":
        return datetime.fromtimestamp(rng.randint(0, 4102444800), UTC)
    return None


class Generator:
    """Valid requests as botocore would send them, then mutated."""

    def __init__(self, rng: random.Random, port: int) -> None:
        self.rng = rng
        self.port = port
        self.host = f"127.0.0.1:{port}".encode()
        session = botocore.session.get_session()
        self.models = {s: session.get_service_model(s) for s in SERVICES}
        self.served = {s: sorted(op for op in self.models[s].operation_names
                                 if hasattr(provider_class(s), snake_case(op)))
                       for s in SERVICES if s in PROVIDERS}
        self.bases: list[Req] = []
        while len(self.bases) < 400:
            base = self.botocore_request()
            if base is not None:
                self.bases.append(base)

    def botocore_request(self) -> Req | None:
        rng = self.rng
        service = rng.choice(list(SERVICES))
        model = self.models[service]
        protocol = rng.choice(SERVICES[service])
        if service in self.served and rng.random() < 0.6:
            name = rng.choice(self.served[service])
        else:
            name = rng.choice(model.operation_names)
        op = model.operation_model(name)
        params = rand_value(rng, op.input_shape) if op.input_shape is not None else {}
        try:
            rd = create_serializer(protocol, include_validation=False).serialize_to_request(params, op)
            rd.pop("host_prefix", None)
            prepare_request_dict(rd, endpoint_url=f"http://127.0.0.1:{self.port}")
            prepared = create_request_object(rd).prepare()
        except Exception:
            return None  # botocore cannot write this random input; try another
        url = urllib.parse.urlsplit(prepared.url)
        target = (url.path or "/") + ("?" + url.query if url.query else "")
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, (bytes, bytearray)):
            body = body.read() if hasattr(body, "read") else bytes(body)
        headers = [[b"Host", self.host]]
        headers += [[k.encode("latin-1", "replace"), clean_header(str(v))] for k, v in prepared.headers.items()
                    if k.lower() not in ("content-length", "transfer-encoding", "host")]
        headers += [[b"X-Amz-Date", b"20250101T000000Z"], [b"Authorization", fake_auth(model.signing_name)]]
        if service == "s3":
            headers.append([b"x-amz-content-sha256", b"UNSIGNED-PAYLOAD"])
        return Req(prepared.method, target.encode("latin-1", "replace"), headers, bytes(body), service, op, protocol,
                   [f"{service}:{name}({protocol})"])

    def request(self) -> Req:
        rng = self.rng
        roll = rng.random()
        if roll < 0.08:
            return self.random_bytes_request()
        req = rng.choice(self.bases).copy()
        if roll < 0.25:
            return req
        for _ in range(rng.choices([1, 2, 3], [6, 3, 1])[0]):
            mutate = rng.choices(MUTATIONS, [w for _, w in MUTATIONS])[0][0]
            req.how.append(mutate.__name__)
            mutate(self, req)
        if req.target.partition(b"?")[0].rstrip(b"/") == b"/_cloudlet/reset":
            req.target = b"/_cloudlet/nope"  # never wipe the state other tests share
        return req

    def random_bytes_request(self) -> Req:
        rng = self.rng
        base = rng.choice(self.bases)
        headers = [[b"Host", self.host]]
        if rng.random() < 0.7:
            headers.append([b"Authorization", fake_auth(rng.choice(list(SERVICES) + ["monitoring", "nosuch"]))])
        if rng.random() < 0.5:
            headers.append([b"X-Amz-Target", f"{rng.choice(TARGET_PREFIXES)}.{rand_text(rng)}".encode()])
        if rng.random() < 0.5:
            headers.append([b"Content-Type", clean_header(rng.choice(CONTENT_TYPES))])
        target = rng.choice([b"/", base.target, b"/" + rand_text(rng).encode("utf-8").hex().encode(),
                             b"/2015-03-31/functions/", b"/?Action=GetCallerIdentity"])
        return Req(rng.choice(METHODS), target, headers, rng.randbytes(rng.choice([0, 1, 17, 300, 5000, 70000])),
                   base.service, base.op, base.protocol, ["random-bytes"])


# ---- mutations (each edits a Req in place) ---------------------------------------------

def body_flip(g: Generator, r: Req) -> None:
    body = bytearray(r.body or b"{}")
    for _ in range(g.rng.randint(1, 8)):
        body[g.rng.randrange(len(body))] ^= 1 << g.rng.randrange(8)
    r.body = bytes(body)


def body_insert(g: Generator, r: Req) -> None:
    pos = g.rng.randint(0, len(r.body))
    chunk = g.rng.choice([g.rng.randbytes(g.rng.randint(1, 40)), b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"\x00",
                          b'"', b"{", b"]", b"<", b"&", b"%", b"=", b"&Action=AssumeRole", b"<!--", b"\\u"])
    r.body = r.body[:pos] + chunk + r.body[pos:]


def body_delete(g: Generator, r: Req) -> None:
    if r.body:
        a = g.rng.randrange(len(r.body))
        r.body = r.body[:a] + r.body[a + g.rng.randint(1, 64):]


def body_truncate(g: Generator, r: Req) -> None:
    r.body = r.body[:g.rng.randint(0, max(0, len(r.body) - 1))]


def body_random(g: Generator, r: Req) -> None:
    n = g.rng.choice([len(r.body), 0, 1, 100, 4096])
    r.body = g.rng.randbytes(n)


def header_drop(g: Generator, r: Req) -> None:
    if r.headers:
        del r.headers[g.rng.randrange(len(r.headers))]


def header_dup(g: Generator, r: Req) -> None:
    if r.headers:
        name, value = g.rng.choice(r.headers)
        r.headers.insert(g.rng.randint(0, len(r.headers)),
                         [name, g.rng.choice([value, value[::-1], b"", b"x", b"\xff"])])


def header_huge(g: Generator, r: Req) -> None:
    name = g.rng.choice([b"Authorization", b"X-Amz-Target", b"Content-Type", b"Host", b"X-Amz-Date",
                         b"X-Fuzz", b"x-amz-meta-a", b"Range", b"If-Match", b"x-amz-security-token"])
    fill = g.rng.choice([b"a", b"%", b",", b"\"", b"\xff", b"/aws4_request"])
    r.set_header(name, (fill * (16384 // len(fill) + 1))[:16384])


def target_random(g: Generator, r: Req) -> None:
    rng = g.rng
    model = g.models[rng.choice(["dynamodb", "sqs"])]
    r.set_header(b"X-Amz-Target", clean_header(rng.choice([
        f"{rng.choice(TARGET_PREFIXES)}.{rng.choice(model.operation_names)}",
        f"{rng.choice(TARGET_PREFIXES)}.{rand_text(rng)}", rand_text(rng), "", ".", "..",
        "DynamoDB_20120810.", ".ListTables", "DynamoDB_20120810.ListTables.ListTables", "x" * 3000])))


def content_type_random(g: Generator, r: Req) -> None:
    r.set_header(b"Content-Type", clean_header(g.rng.choice(CONTENT_TYPES)))


def method_random(g: Generator, r: Req) -> None:
    r.method = g.rng.choice(METHODS)


def path_weird(g: Generator, r: Req) -> None:
    rng = g.rng
    path, _, query = r.target.partition(b"?")
    choice = rng.randrange(12)
    if choice == 0:
        path = path + b"/" + rng.choice([b"%00", b"%ff", b"%zz", b"%", b"%2e%2e", b"%2f", b"%c0%ae", b"%ed%a0%80"])
    elif choice == 1:
        path = rng.choice([b"/..", b"/../..", b"/./", b"//", b"/.%2e/"]) + path
    elif choice == 2:
        path = b"/" + b"/".join(rng.choice([b"a", b"..", b"%2e", b"x" * 200]) for _ in range(rng.randint(20, 400)))
    elif choice == 3:
        path = b"/" + b"a" * rng.choice([1024, 8192, 65536])
    elif choice == 4:
        text = rng.choice(["\u2603", "\u00e9t\u00e9", "\U0001f600", "\u202e", "\ufeff"]) * rng.randint(1, 50)
        path = path.rstrip(b"/") + b"/" + urllib.parse.quote(text).encode()
    elif choice == 5:
        path = path + "/\u2603".encode()  # raw UTF-8 in the request line is not HTTP
        r.http_invalid = True
    elif choice == 6:
        path = rng.choice([b"/_cloudlet/health", b"/_cloudlet/reset/..", b"/_cloudlet/%2e%2e", b"/_cloudlet/",
                           b"/_cloudlet/health/../reset", b"/2015-03-31/functions/%ff/invocations",
                           b"/2015-03-31/functions/" + b"f" * 300, b"/2015-03-31/functions/a%2Fb/configuration"])
    elif choice == 7:
        query = query + (b"&" if query else b"") + rng.choice([b"a=%ff", b"=", b"&&&", b"a=1&a=2&a", b"%zz=1",
                                                              b"x-id=" + b"1" * 5000, b"list-type=2&max-keys=1e999"])
    elif choice == 8:
        query = b"&".join(b"k%d=v" % i for i in range(rng.choice([100, 3000])))
    elif choice == 9:
        query = rng.choice([b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F2025%2Fus-east-1%2Fs3%2Faws4_request"
                            b"&X-Amz-Date=20250101T000000Z&X-Amz-Expires=-1&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
                            b"X-Amz-Credential=%ff", b"X-Amz-Credential=", b"X-Amz-Credential=a/b/c/d/e/f/g/h",
                            b"AWSAccessKeyId=test&Signature=x&Expires=1e999"])
    elif choice == 10:
        path = b"*" if rng.random() < 0.5 else b"http://127.0.0.1/" + path.lstrip(b"/")
    else:
        path = path + b"#frag"
        r.http_invalid = True
    r.target = path + (b"?" + query if query else b"")


def json_deep(g: Generator, r: Req) -> None:
    depth = g.rng.choice([10000, 2000, 900, 500])
    opener, closer = g.rng.choice([(b"[", b"]"), (b'{"a":', b"}"), (b'{"L":[', b"]}")])
    deep = opener * depth + b"1" + closer * depth
    if g.rng.random() < 0.5:
        r.body = deep
    else:
        member = g.rng.choice(member_names(r) or ["X"])
        r.body = b'{"' + member.encode() + b'":' + deep + b"}"


def json_poison(g: Generator, r: Req) -> None:
    try:
        doc = json.loads(r.body) if r.body else {}
    except (ValueError, RecursionError):
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    names = member_names(r) or ["X"]
    for _ in range(g.rng.randint(1, 3)):
        doc[g.rng.choice(names)] = f"__POISON{len(doc)}__"
    text = json.dumps(doc)
    for key in list(doc):
        if isinstance(doc[key], str) and doc[key].startswith("__POISON"):
            text = text.replace(json.dumps(doc[key]), g.rng.choice(POISON_JSON))
    r.body = text.encode()


def member_poison(g: Generator, r: Req) -> None:
    """A member of the operation's input, wherever it is bound, set to a troublesome value."""
    rng = g.rng
    shape = r.op.input_shape if r.op is not None else None
    if shape is None or not shape.members:
        return json_poison(g, r)
    name, member = rng.choice(sorted(shape.members.items()))
    wire = member.serialization.get("name", name)
    loc = member.serialization.get("location")
    text = rng.choice(POISON_TEXT)
    if loc == "header":
        r.set_header(clean_header(wire), clean_header(text))
    elif loc == "querystring" or (loc is None and r.protocol in ("query", "ec2")):
        pair = urllib.parse.quote(wire).encode() + b"=" + urllib.parse.quote(text, safe="%").encode()
        if loc is None:
            r.body = r.body + (b"&" if r.body else b"") + pair
        else:
            path, _, query = r.target.partition(b"?")
            r.target = path + b"?" + (query + b"&" if query else b"") + pair
    elif loc == "uri":
        path_weird(g, r)
    else:
        json_poison(g, r)


def xml_attack(g: Generator, r: Req) -> None:
    rng = g.rng
    ns = b' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    lol = b"".join(b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10))
    r.body = rng.choice([
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">' + lol + b"]><CreateBucketConfiguration" + ns
        + b"><LocationConstraint>&lol9;</LocationConstraint></CreateBucketConfiguration>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><CreateBucketConfiguration'
        + ns + b"><LocationConstraint>&xxe;</LocationConstraint></CreateBucketConfiguration>",
        b'<!DOCTYPE x SYSTEM "http://127.0.0.1:1/dtd"><CreateBucketConfiguration/>',
        b"<a>" * 10000 + b"</a>" * 10000,
        b"<CreateBucketConfiguration" + ns + b"><LocationConstraint>" + b"<x>" * 5000 + b"</x>" * 5000
        + b"</LocationConstraint></CreateBucketConfiguration>",
        b'<?xml version="1.0" encoding="latin-1"?><CreateBucketConfiguration><LocationConstraint>\xff\xfe'
        b"</LocationConstraint></CreateBucketConfiguration>",
        b"<CreateBucketConfiguration><LocationConstraint>&#xD800;&#0;</LocationConstraint></CreateBucketConfiguration>",
        b'<?xml version="1.0" encoding="UTF-16"?><a/>', b"\xef\xbb\xbf<a/>", b"<a xmlns:x='u'><x:b x:c='1'/></a>",
        b"<CreateBucketConfiguration" + ns + b"><LocationConstraint>" + b"1e999" + b"</LocationConstraint>"
        b"<Bucket><Type>" + b"A" * 20000 + b"</Type></Bucket></CreateBucketConfiguration>",
    ])
    if rng.random() < 0.5:
        r.set_header(b"Content-Type", b"application/xml")


def non_utf8(g: Generator, r: Req) -> None:
    junk = g.rng.choice([b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80", b"\xf8\x88\x80\x80\x80"])
    where = g.rng.randrange(3)
    if where == 0:
        pos = g.rng.randint(0, len(r.body))
        r.body = r.body[:pos] + junk + r.body[pos:]
    elif where == 1 and r.headers:
        h = g.rng.choice(r.headers)
        h[1] = h[1] + junk
    else:
        path, _, query = r.target.partition(b"?")
        r.target = path + b"?" + query + b"&x=" + urllib.parse.quote_from_bytes(junk).encode()


def auth_mutation(g: Generator, r: Req) -> None:
    rng = g.rng
    r.set_header(b"Authorization", clean_header(rng.choice([
        "", "garbage", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 Credential=", "AWS4-HMAC-SHA256 Credential=a/b",
        fake_auth(rng.choice(list(SERVICES))).decode(), fake_auth("a<b&c>'\"").decode(), fake_auth("..").decode(),
        fake_auth("../../etc/passwd").decode(), fake_auth("").decode(), fake_auth("s3", key="").decode(),
        fake_auth("sts", key="\u2603").decode(), fake_auth("nosuchservice").decode(), fake_auth("monitoring").decode(),
        fake_auth("execute-api").decode(), "AWS test:c2lnbmF0dXJl", "AWS :", "Bearer x",
        "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request,,,,Signature",
        "AWS4-HMAC-SHA256 " + ",".join(["Credential=x"] * 500)])))


def host_mutation(g: Generator, r: Req) -> None:
    r.set_header(b"Host", clean_header(g.rng.choice([
        "bucket.s3.localhost", "fuzz-b.s3.localhost.localstack.cloud:4566", "s3.amazonaws.com",
        "sqs.us-east-1.amazonaws.com", "lambda.us-east-1.localhost", "dynamodb.localhost", "", ":", "[::1]:1",
        "[", "a" * 3000 + ".s3.localhost", "..s3.localhost", "%ff.s3.localhost", "\u2603.s3.localhost",
        "x.y.z.s3-us-east-1.amazonaws.com"])))


def transfer_chunked(g: Generator, r: Req) -> None:
    r.chunked = True


def expect_continue(g: Generator, r: Req) -> None:
    r.set_header(b"Expect", b"100-continue")


def content_encoding(g: Generator, r: Req) -> None:
    rng = g.rng
    r.set_header(b"Content-Encoding", rng.choice([b"gzip", b"aws-chunked", b"aws-chunked,gzip", b"br", b"x"]))
    if rng.random() < 0.6:
        r.set_header(b"x-amz-content-sha256", rng.choice([b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                                          b"STREAMING-UNSIGNED-PAYLOAD-TRAILER", b"zz"]))
        r.set_header(b"x-amz-decoded-content-length", rng.choice([b"5", b"-1", b"1e999", b"x", b"99999999999"]))
        r.body = rng.choice([b"5;chunk-signature=00\r\nhello\r\n0;chunk-signature=00\r\n\r\n", b"zz\r\n", b"ffffffff\r\n",
                             b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n", b"0\r\n", r.body])


def dynamo_deep_item(g: Generator, r: Req) -> None:
    """A DynamoDB item whose attribute value nests lists (L) or maps (M) deeply."""
    depth = g.rng.choice([100, 300, 450, 900])
    kind = g.rng.choice(["L", "M"])
    value = '{"S":"x"}'
    text = ('{"L":[' * depth if kind == "L" else '{"M":{"k":' * depth) + value + ("]}" * depth if kind == "L" else "}}" * depth)
    op = g.rng.choice(["PutItem", "UpdateItem", "BatchWriteItem", "ListTables"])
    body = f'{{"TableName":"fuzz","Item":{{"pk":{text}}},"ExclusiveStartKey":{{"k":{text}}}}}'
    r.set_header(b"X-Amz-Target", f"DynamoDB_20120810.{op}".encode())
    r.set_header(b"Content-Type", b"application/x-amz-json-1.0")
    r.set_header(b"Authorization", fake_auth("dynamodb"))
    r.method, r.target, r.body = "POST", b"/", body.encode()


def query_dotted(g: Generator, r: Req) -> None:
    """Form parameters with many dots and many members."""
    extra = g.rng.choice([b"a." * 2000 + b"b=1", b"&".join(b"P.member.%d=x" % i for i in range(1, 2000)),
                          b"Tags.member.1.Key=k&Tags.member.1.Value=" + b"v" * 2000, b"....=1&.=.&=."])
    r.body = (r.body + b"&" if r.body else b"Action=GetCallerIdentity&Version=2011-06-15&") + extra


def member_names(r: Req) -> list[str]:
    shape = r.op.input_shape if r.op is not None else None
    return [m.serialization.get("name", n) for n, m in shape.members.items()] if shape is not None else []


MUTATIONS = [(body_flip, 6), (body_insert, 6), (body_delete, 4), (body_truncate, 4), (body_random, 4),
             (header_drop, 5), (header_dup, 4), (header_huge, 2), (target_random, 5), (content_type_random, 4),
             (method_random, 5), (path_weird, 8), (json_deep, 2), (json_poison, 6), (member_poison, 8),
             (xml_attack, 2), (non_utf8, 4), (auth_mutation, 5), (host_mutation, 3), (transfer_chunked, 2),
             (expect_continue, 1), (content_encoding, 2), (dynamo_deep_item, 2), (query_dotted, 2)]


# ---------------------------------------------------------------------------------------
# A raw HTTP/1.1 client

class Closed(Exception):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    raw_head: bytes


class Conn:
    """One keep-alive connection; reconnects when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.used = False

    def open(self) -> None:
        self.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.used = False

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        chunk = self.sock.recv(262144)
        if not chunk:
            raise Closed
        self.buf += chunk

    def _until(self, sep: bytes, deadline: float, limit: int = 1 << 20) -> bytes:
        while (i := self.buf.find(sep)) < 0:
            if len(self.buf) > limit:
                raise ValueError("response head too long")
            self._fill(deadline)
        out = bytes(self.buf[:i])
        del self.buf[:i + len(sep)]
        return out

    def _exact(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            self._fill(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def exchange(self, raw: bytes, head_request: bool) -> Response:
        if self.sock is None:
            self.open()
        reused = self.used
        try:
            return self._exchange(raw, head_request)
        except (Closed, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
        self.open()  # the server may close an idle keep-alive connection: retry once, fresh
        return self._exchange(raw, head_request)

    def _exchange(self, raw: bytes, head_request: bool) -> Response:
        deadline = time.monotonic() + TIMEOUT
        self.used = True
        self.sock.settimeout(TIMEOUT)
        self.sock.sendall(raw)
        while True:
            head = self._until(b"\r\n\r\n", deadline)
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ", 2)
            if len(parts) < 2 or parts[0] != b"HTTP/1.1" or not parts[1].isdigit() or len(parts[1]) != 3:
                raise ValueError(f"bad status line {lines[0][:100]!r}")
            status = int(parts[1])
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if not sep or not name or name != name.strip():
                    raise ValueError(f"bad header line {line[:100]!r}")
                key = name.decode("latin-1").lower()
                headers[key] = (headers[key] + "," if key in headers else "") + value.strip().decode("latin-1")
            if status >= 200:
                break
        if head_request or status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", ""):
            chunks = []
            while True:
                size = int(self._until(b"\r\n", deadline).split(b";")[0], 16)
                if size == 0:
                    self._until(b"\r\n", deadline)
                    break
                chunks.append(self._exact(size, deadline))
                self._exact(2, deadline)
            body = b"".join(chunks)
        elif "content-length" in headers:
            body = self._exact(int(headers["content-length"]), deadline)
        else:
            raise ValueError("response has neither Content-Length nor chunked framing")
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body, head)


# ---------------------------------------------------------------------------------------
# Judging answers

def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_CTL = bytes(range(0x20)).replace(b"\t", b"") + b"\x7f"


_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def not_http(req: Req) -> bool:
    """Requests the HTTP parser itself may refuse (its plain-text 400 is then the right answer):
    raw non-ASCII or control bytes in the request line, a header name that is no RFC 9110 token
    (a map member's key may make one, say x-amz-meta-<x>), control bytes in header values, a
    request line longer than the parser takes (64 KiB), or a second framing header (a model
    member bound to Content-Length)."""
    return (req.http_invalid or len(req.target) >= 60000 or any(b > 0x7E or b <= 0x20 for b in req.target)
            or any(not k or not _TCHAR.issuperset(k) or v.translate(None, _CTL) != v
                   or k.lower() in (b"content-length", b"transfer-encoding") for k, v in req.headers))


def check(req: Req, resp: Response) -> str | None:
    """None if the answer is acceptable, else what is wrong with it."""
    status, headers, body = resp.status, resp.headers, resp.body
    if b"Traceback" in body or b'File "' in body:
        return "traceback in body"
    if status == 400 and body.startswith(b"Invalid HTTP request") and not_http(req):
        return None
    if status >= 500 and status != 501:
        return f"status {status}"
    if not 200 <= status < 600:
        return f"status {status}"
    ctype = headers.get("content-type", "").lower()
    if req.method == "HEAD" or not body:
        if status >= 400 and req.method != "HEAD" and "x-amzn-errortype" not in headers:
            return "error without a body or x-amzn-ErrorType"
        return None
    if "json" in ctype:
        try:
            doc = json.loads(body)
        except ValueError:
            return f"unparseable JSON ({ctype})"
        if status >= 400 and not (isinstance(doc, dict) and ({"__type", "message", "Message"} & doc.keys())
                                  or "x-amzn-errortype" in headers):
            return "JSON error without __type/message/x-amzn-ErrorType"
    elif "xml" in ctype:
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return f"unparseable XML ({ctype})"
        if status >= 400 and not (local(root.tag) == "Error" or any(local(e.tag) == "Code" for e in root.iter())):
            return "XML error without <Error>/<Code>"
    elif status >= 400:
        return f"error body of content type {ctype!r}"
    return None


def show(raw: bytes, limit: int = 700) -> str:
    text = repr(raw[:limit])
    return text + (f" ... ({len(raw)} bytes)" if len(raw) > limit else "")


_RECORD = re.compile(r"^\d{4}-\d{2}-\d{2} ", re.M)
_RID = re.compile(r"\(request ([0-9a-f-]{36})\)")


def server_exceptions(log: str) -> tuple[dict[str, str], list[str]]:
    """From the server log: the exception behind each InternalFailure (by request id), and the
    exceptions uvicorn caught from the app itself (in order)."""
    by_rid: dict[str, str] = {}
    unhandled: list[str] = []
    starts = [m.start() for m in _RECORD.finditer(log)] + [len(log)]
    for a, b in zip(starts, starts[1:], strict=False):
        lines = log[a:b].rstrip().splitlines()
        last = next((ln for ln in reversed(lines[1:]) if ln and not ln[0].isspace()), "")
        if "Exception in ASGI application" in lines[0]:
            unhandled.append(last[:160])
        elif m := _RID.search(lines[0]):
            by_rid[m.group(1)] = last[:160]
    return by_rid, unhandled


@pytest.mark.parametrize("seed", RUNS)
def test_fuzz_gateway(server, tmp_path, seed):
    n = int(os.environ.get("CLOUDLET_FUZZ_N") or DEFAULT_N // len(RUNS))
    run = f"random-seed-{seed}" if seed == RANDOM_SEED else f"seed-{seed}"
    reproduce = (f"CLOUDLET_FUZZ_SEED={seed} CLOUDLET_FUZZ_N={n} "
                 f"python -m pytest 'tests/integration/test_fuzz.py::test_fuzz_gateway[{run}]'")
    print(f"fuzz seed {seed}, {n} requests; reproduce: {reproduce}", flush=True)
    rng = random.Random(seed)
    gen = Generator(rng, server.port)
    conn = Conn(server.port)
    statuses: Counter[int] = Counter()
    bad: list[tuple[int, Req, str, Response | None, float]] = []
    log_start = len(server.log())
    started = time.monotonic()
    for i in range(n):
        req = gen.request()
        problem, resp = None, None
        t0 = time.monotonic()
        try:
            resp = conn.exchange(req.render(), req.method == "HEAD")
            statuses[resp.status] += 1
            problem = check(req, resp)
        except TimeoutError:
            problem = f"no answer within {TIMEOUT:.0f} s"
        except Closed:
            problem = "connection closed without a response"
        except (OSError, ValueError) as exc:
            problem = f"malformed response: {exc}"
        if problem is not None:
            conn.close()
            bad.append((i, req, problem, resp, time.monotonic() - t0))
    conn.close()
    elapsed = time.monotonic() - started
    stats = (f"seed={seed} requests={n} in {elapsed:.1f}s ({n / elapsed:.0f}/s); "
             f"statuses={dict(sorted(statuses.items()))}")
    print(stats)

    # The server is still alive and serving.
    alive = server.proc.poll() is None
    with urllib.request.urlopen(server.url + "/_cloudlet/health", timeout=TIMEOUT) as r:
        health = r.status
    identity = server.client("sts").get_caller_identity()["Account"]

    # Group the bad answers by cause: the server-side exception where the log names one,
    # else the error code or the start of the body.
    by_rid, unhandled = server_exceptions(server.log()[log_start:])
    groups: dict[str, list[tuple[int, Req, str, Response | None, float]]] = {}
    for item in bad:
        _, req, problem, resp, _ = item
        cause = ""
        if resp is not None:
            rid = resp.headers.get("x-amzn-requestid", "")
            if rid in by_rid:
                cause = by_rid[rid]
            elif resp.status == 500 and not rid and unhandled:
                cause = "unhandled: " + unhandled.pop(0)
            else:
                cause = resp.body[:100].decode("latin-1")
        groups.setdefault(f"{problem} | {cause}", []).append(item)
    report = []
    for k, (signature, items) in enumerate(groups.items()):
        i, req, _, resp, took = items[0]
        path = tmp_path / f"repro-{k}.http"
        path.write_bytes(req.render())
        answer = show(resp.raw_head + b"\r\n\r\n" + resp.body, 300) if resp is not None else "no response"
        report.append(f"[{len(items)}x] {signature}\n    e.g. request #{i} ({' + '.join(req.how)}), "
                      f"saved to {path}:\n    {show(req.render())}\n    answer after {took:.2f}s: {answer}")
    assert not bad, (f"{stats}\nReproduce: {reproduce}\n"
                     f"{len(bad)} bad answers, {len(groups)} kinds:\n" + "\n".join(report))
    assert alive and health == 200 and identity == "000000000000"
