"""SigV4 verification, with botocore's own signers as the oracle."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from unittest import mock
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlet.gateway.sigv4 import (
    CredentialScope,
    SignatureError,
    aws_error,
    parse_scope,
    parse_sigv2_access_key,
    seed_signature,
    signing_key,
    verify,
)

AKID = "AKIDCLOUDLETTEST"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYsecret"
ENDPOINT = "http://localhost:4566"
KEYS = {AKID: SECRET}


# --------------------------------------------------------------------------- helpers


class Wire:
    """A request as the gateway sees it on the wire."""

    def __init__(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        parts = urlsplit(url)
        self.method = method
        self.raw_path = parts.path
        self.query_string = parts.query
        self.headers = headers
        self.headers.setdefault("host", parts.netloc)
        self.body = body

    def verify(
        self, *, s3: bool, now: datetime | None = None, secret_for=KEYS.get, **overrides
    ) -> CredentialScope:
        kwargs = dict(
            method=self.method,
            raw_path=self.raw_path,
            query_string=self.query_string,
            headers=self.headers,
            payload_hash=None,
            body=self.body,
            secret_for=secret_for,
            now=now or datetime.now(UTC),
            s3_style=s3,
        )
        kwargs.update(overrides)
        return verify(**kwargs)


def _str(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _body(body) -> bytes:
    if body is None:
        return b""
    if hasattr(body, "read"):
        pos = body.tell()
        data = body.read()
        body.seek(pos)
        return data
    return body.encode() if isinstance(body, str) else bytes(body)


def wire_from_prepared(prepared) -> Wire:
    headers = {k.lower(): _str(v) for k, v in prepared.headers.items()}
    return Wire(prepared.method, prepared.url, headers, _body(prepared.body))


class _Captured(Exception):
    def __init__(self, request) -> None:
        super().__init__("captured")
        self.request = request


def capture(service: str, operation: str, **params) -> Wire:
    """Run a real boto3 client call and grab the signed request instead of sending it."""
    client = boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 1}),
    )

    def grab(request, **_):
        raise _Captured(request)

    client.meta.events.register("before-send.*", grab)
    with pytest.raises(_Captured) as info:
        getattr(client, operation)(**params)
    return wire_from_prepared(info.value.request)


def presign(service: str, operation: str, params: dict, expires: int = 3600, method: str = "GET") -> Wire:
    # boto3 presigns S3 with legacy SigV2 unless told otherwise (see test_s3_default_presign_is_sigv2)
    client = boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4") if service == "s3" else None,
    )
    url = client.generate_presigned_url(operation, Params=params, ExpiresIn=expires, HttpMethod=method)
    return Wire(method, url, {}, b"")


def sign_raw(
    signer_cls,
    method: str,
    url: str,
    *,
    service: str,
    data: bytes | dict = b"",
    headers: dict | None = None,
    params: dict | None = None,
    secret: str = SECRET,
    **signer_kw,
) -> Wire:
    """Sign with a botocore auth class directly (AWSRequest → add_auth → prepare)."""
    request = AWSRequest(method=method, url=url, data=data, headers=headers or {}, params=params or {})
    signer_cls(Credentials(AKID, secret), service, "us-east-1", **signer_kw).add_auth(request)
    return wire_from_prepared(request.prepare())


def _kind(excinfo) -> str:
    return excinfo.value.kind


# --------------------------------------------------------------------------- happy paths through real clients


def test_sts_query_post():
    w = capture("sts", "get_caller_identity")
    assert w.method == "POST" and b"Action=GetCallerIdentity" in w.body
    scope = w.verify(s3=False)
    assert scope == CredentialScope(AKID, scope.date, "us-east-1", "sts", False)
    assert parse_scope(w.headers, None) == scope


def test_dynamodb_json():
    w = capture("dynamodb", "put_item", TableName="tbl", Item={"pk": {"S": "välue with spaces"}})
    assert w.headers["x-amz-target"] == "DynamoDB_20120810.PutItem"
    assert w.verify(s3=False).service == "dynamodb"


def test_lambda_rest_json_path_needing_encoding():
    w = capture("lambda", "invoke", FunctionName="my func:prod", Payload=b'{"a": 1}')
    assert w.raw_path == "/2015-03-31/functions/my%20func%3Aprod/invocations"
    assert w.verify(s3=False).service == "lambda"


def test_lambda_query_parameters_needing_encoding():
    w = capture("lambda", "list_functions", Marker="a b+c/=d&é", MaxItems=5)
    assert "Marker=" in w.query_string
    w.verify(s3=False)


@pytest.mark.parametrize(
    "key", ["plain.txt", "dir/a b+c/ünï©ode~!.txt", "sp ace", "a+b", "x/../y/./z", "a//b", "%41"]
)
def test_s3_put_object_keys(key):
    w = capture("s3", "put_object", Bucket="bkt", Key=key, Body=b"hello world")
    assert w.headers["x-amz-content-sha256"] != "UNSIGNED-PAYLOAD"
    scope = w.verify(s3=True)
    assert scope.service == "s3" and not scope.presigned


def test_s3_list_objects_query():
    w = capture("s3", "list_objects_v2", Bucket="bkt", Prefix="a b/ü+", Delimiter="/", MaxKeys=10)
    w.verify(s3=True)


def test_s3_payload_hash_given_by_caller():
    w = capture("s3", "put_object", Bucket="bkt", Key="k", Body=b"data")
    w.verify(s3=True, body=None, payload_hash=hashlib.sha256(b"data").hexdigest())
    w.verify(s3=True, body=None)  # nothing to compare the declared hash with: signature still checked


def test_s3_presigned_get_and_put():
    for method, op in (("GET", "get_object"), ("PUT", "put_object")):
        w = presign("s3", op, {"Bucket": "bkt", "Key": "dir/a b+c/ünï©ode.txt"}, method=method)
        scope = w.verify(s3=True)
        assert scope.presigned and scope.service == "s3"
        query = parse_qs(w.query_string)
        assert parse_scope(w.headers, query) == scope


def test_s3_default_presign_is_sigv2():
    """boto3's default S3 presigned URL is SigV2 query auth: no SigV4 scope, but the key is identifiable."""
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
    )
    url = client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    query = parse_qs(urlsplit(url).query)
    if "X-Amz-Credential" in query:  # a botocore that switched the default to SigV4
        assert parse_scope({}, query) is not None
    else:
        assert parse_scope({}, query) is None
        assert parse_sigv2_access_key({}, query) == AKID


def test_sts_presigned_url():
    w = presign("sts", "get_caller_identity", {}, expires=60)
    scope = w.verify(s3=False)
    assert scope.presigned and scope.service == "sts"


# --------------------------------------------------------------------------- direct signer use


def test_sigv4auth_with_params_plus_as_space():
    # botocore signs params with %20 but urlencodes them with '+' on the wire
    w = sign_raw(
        SigV4Auth,
        "GET",
        f"{ENDPOINT}/path with space/x",
        service="execute-api",
        params={"q": "a b+c", "empty": ""},
    )
    assert "q=a+b%2Bc" in w.query_string
    w.verify(s3=False)


def test_sigv4auth_date_header_form():
    w = sign_raw(SigV4Auth, "POST", f"{ENDPOINT}/", service="sts", data=b"Action=X", headers={"Date": "x"})
    assert "x-amz-date" not in w.headers and w.headers["date"].startswith(
        ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    )
    w.verify(s3=False)


def test_headers_whitespace_is_collapsed():
    w = sign_raw(SigV4Auth, "GET", f"{ENDPOINT}/", service="sts", headers={"X-Custom": "  a   b  c "})
    assert "x-custom" in w.headers["authorization"]
    w.verify(s3=False)


def test_s3_direct_signers():
    w = sign_raw(S3SigV4Auth, "PUT", f"{ENDPOINT}/bkt/a%20b", service="s3", data=b"xyz")
    w.verify(s3=True)
    w = sign_raw(S3SigV4QueryAuth, "GET", f"{ENDPOINT}/bkt/a%20b", service="s3", expires=300)
    assert w.verify(s3=True).presigned


def test_sigv4_query_auth_non_s3():
    w = sign_raw(
        SigV4QueryAuth, "GET", f"{ENDPOINT}/?Action=GetCallerIdentity&Version=2011-06-15", service="sts"
    )
    assert w.verify(s3=False).presigned


@settings(max_examples=60, deadline=None)
@given(
    segments=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4),
    query=st.dictionaries(st.text(min_size=1, max_size=6), st.text(max_size=6), max_size=4),
    s3=st.booleans(),
)
def test_property_random_paths_and_queries(segments, query, s3):
    path = "/" + "/".join(quote(seg.encode("utf-8", "surrogatepass"), safe="~") for seg in segments)
    qs = percent_encode_sequence(
        {k.encode("utf-8", "surrogatepass"): v.encode("utf-8", "surrogatepass") for k, v in query.items()}
    )
    url = f"{ENDPOINT}{path}" + (f"?{qs}" if qs else "")
    signer = S3SigV4Auth if s3 else SigV4Auth
    w = sign_raw(signer, "GET", url, service="s3" if s3 else "lambda")
    w.verify(s3=s3)


# --------------------------------------------------------------------------- failures


@pytest.fixture
def sts() -> Wire:
    return capture("sts", "get_caller_identity")


@pytest.fixture
def s3put() -> Wire:
    return capture("s3", "put_object", Bucket="bkt", Key="a b", Body=b"payload")


def _with_header(w: Wire, name: str, value: str | None) -> Wire:
    headers = dict(w.headers)
    if value is None:
        headers.pop(name, None)
    else:
        headers[name] = value
    return Wire(
        w.method, ENDPOINT + w.raw_path + ("?" + w.query_string if w.query_string else ""), headers, w.body
    )


def test_tampered_signature(sts, s3put):
    for w, s3 in ((sts, False), (s3put, True)):
        auth = w.headers["authorization"]
        bad = auth[:-1] + ("0" if auth[-1] != "0" else "1")
        with pytest.raises(SignatureError) as e:
            _with_header(w, "authorization", bad).verify(s3=s3)
        assert _kind(e) == "mismatch"
        assert e.value.message.startswith("The request signature we calculated does not match")
        assert "CanonicalRequest" in e.value.details


def test_mismatch_messages(sts, s3put):
    with pytest.raises(SignatureError) as e:
        sts.verify(s3=False, secret_for=lambda k: "other")
    assert e.value.message.endswith("Consult the service documentation for details.")
    with pytest.raises(SignatureError) as e:
        s3put.verify(s3=True, secret_for=lambda k: "other")
    assert e.value.message.endswith("Check your key and signing method.")


def test_tampered_path_query_header_method(sts, s3put):
    for w in (
        Wire(s3put.method, ENDPOINT + "/bkt/a%20c", s3put.headers, s3put.body),
        Wire(s3put.method, ENDPOINT + s3put.raw_path + "?acl", s3put.headers, s3put.body),
        Wire("POST", ENDPOINT + s3put.raw_path, s3put.headers, s3put.body),
        _with_header(s3put, "x-amz-checksum-crc32", "AAAAAA=="),
    ):
        with pytest.raises(SignatureError) as e:
            w.verify(s3=True)
        assert _kind(e) == "mismatch"


def test_unknown_key(sts, s3put):
    with pytest.raises(SignatureError) as e:
        sts.verify(s3=False, secret_for=lambda k: None)
    assert _kind(e) == "unknown_key"
    assert e.value.message == "The security token included in the request is invalid."
    with pytest.raises(SignatureError) as e:
        s3put.verify(s3=True, secret_for=lambda k: None)
    assert e.value.message == "The AWS Access Key Id you provided does not exist in our records."
    assert e.value.details["AWSAccessKeyId"] == AKID


def test_skewed_clock(sts, s3put):
    amz = sts.headers["x-amz-date"]
    signed_at = datetime.strptime(amz, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    now = signed_at + timedelta(minutes=20)
    with pytest.raises(SignatureError) as e:
        sts.verify(s3=False, now=now)
    assert _kind(e) == "expired"
    earliest = (now - timedelta(minutes=15)).strftime("%Y%m%dT%H%M%SZ")
    assert e.value.message == (
        f"Signature expired: {amz} is now earlier than {earliest} ({now.strftime('%Y%m%dT%H%M%SZ')} - 15 min.)"
    )
    now = signed_at - timedelta(minutes=20)
    with pytest.raises(SignatureError) as e:
        sts.verify(s3=False, now=now)
    assert _kind(e) == "not_yet_valid"
    assert e.value.message.startswith(f"Signature not yet current: {amz} is still later than ")
    assert e.value.message.endswith(" + 15 min.)")
    # 14 minutes is within the window
    sts.verify(s3=False, now=signed_at + timedelta(minutes=14))
    with pytest.raises(SignatureError) as e:
        s3put.verify(s3=True, now=datetime.now(UTC) + timedelta(minutes=20))
    assert _kind(e) == "expired" and aws_error("expired", s3=True, protocol="rest-xml") == (
        "RequestTimeTooSkewed",
        403,
    )
    assert e.value.details["MaxAllowedSkewMilliseconds"] == "900000"


def test_naive_now_is_utc(sts):
    sts.verify(s3=False, now=datetime.now(UTC).replace(tzinfo=None))


def test_expired_presigned_url():
    w = presign("s3", "get_object", {"Bucket": "b", "Key": "k"}, expires=60)
    w.verify(s3=True, now=datetime.now(UTC) + timedelta(seconds=30))
    with pytest.raises(SignatureError) as e:
        w.verify(s3=True, now=datetime.now(UTC) + timedelta(seconds=120))
    assert _kind(e) == "expired" and e.value.presigned
    assert e.value.message == "Request has expired"
    assert aws_error(e.value.kind, s3=True, protocol="rest-xml", presigned=True) == ("AccessDenied", 403)
    with pytest.raises(SignatureError) as e:
        w.verify(s3=True, now=datetime.now(UTC) - timedelta(hours=1))
    assert _kind(e) == "not_yet_valid"


def test_presigned_expires_too_long():
    w = sign_raw(S3SigV4QueryAuth, "GET", f"{ENDPOINT}/b/k", service="s3", expires=604801)
    with pytest.raises(SignatureError) as e:
        w.verify(s3=True)
    assert _kind(e) == "malformed"
    assert aws_error("malformed", s3=True, protocol="rest-xml", presigned=True) == (
        "AuthorizationQueryParametersError",
        400,
    )


def test_presigned_tampered_and_missing_params():
    w = presign("s3", "get_object", {"Bucket": "b", "Key": "k"})
    bad = Wire(
        "GET",
        f"{ENDPOINT}{w.raw_path}?{w.query_string.replace('X-Amz-Expires=3600', 'X-Amz-Expires=3601')}",
        {},
        b"",
    )
    with pytest.raises(SignatureError) as e:
        bad.verify(s3=True)
    assert _kind(e) == "mismatch"
    parts = [p for p in w.query_string.split("&") if not p.startswith("X-Amz-Signature=")]
    with pytest.raises(SignatureError) as e:
        Wire("GET", f"{ENDPOINT}{w.raw_path}?{'&'.join(parts)}", {}, b"").verify(s3=True)
    assert _kind(e) == "malformed" and e.value.presigned


def test_missing_signature_parameter(sts):
    auth = sts.headers["authorization"]
    stripped = auth[: auth.index(", Signature=")]
    with pytest.raises(SignatureError) as e:
        _with_header(sts, "authorization", stripped).verify(s3=False)
    assert _kind(e) == "malformed"
    assert e.value.message.startswith(
        "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC"
    )
    assert aws_error("malformed", s3=False, protocol="query") == ("IncompleteSignature", 400)


def test_missing_equal_sign(sts):
    auth = sts.headers["authorization"].replace("SignedHeaders=", "SignedHeaders")
    with pytest.raises(SignatureError) as e:
        _with_header(sts, "authorization", auth).verify(s3=False)
    assert _kind(e) == "malformed" and "not a valid key=value pair (missing equal-sign)" in e.value.message


def test_no_auth_at_all(sts):
    with pytest.raises(SignatureError) as e:
        _with_header(sts, "authorization", None).verify(s3=False)
    assert _kind(e) == "missing"


def test_sigv2_header_is_not_sigv4(sts):
    with pytest.raises(SignatureError) as e:
        _with_header(sts, "authorization", "AWS AKID:c2lnbmF0dXJl").verify(s3=True)
    assert _kind(e) == "malformed"


def test_host_must_be_signed():
    w = sign_raw(SigV4Auth, "GET", f"{ENDPOINT}/", service="sts")
    auth = w.headers["authorization"].replace("SignedHeaders=host;", "SignedHeaders=")
    with pytest.raises(SignatureError) as e:
        _with_header(w, "authorization", auth).verify(s3=False)
    assert _kind(e) == "malformed"


def test_credential_date_must_match(sts):
    auth = sts.headers["authorization"]
    date = sts.headers["x-amz-date"][:8]
    with pytest.raises(SignatureError) as e:
        _with_header(sts, "authorization", auth.replace(f"/{date}/", "/20000101/")).verify(s3=False)
    assert _kind(e) == "mismatch" and "Date in Credential scope does not match" in e.value.message


def test_bad_credential_terminator(sts):
    auth = sts.headers["authorization"].replace("/aws4_request", "/aws5_request")
    with pytest.raises(SignatureError) as e:
        _with_header(sts, "authorization", auth).verify(s3=False)
    assert _kind(e) == "malformed" and "valid terminator" in e.value.message


def test_tampered_body_non_s3():
    w = capture("dynamodb", "put_item", TableName="tbl", Item={"pk": {"S": "v"}})
    with pytest.raises(SignatureError) as e:
        w.verify(s3=False, body=w.body.replace(b'"v"', b'"w"'))
    assert _kind(e) == "mismatch"


def test_tampered_body_s3(s3put):
    with pytest.raises(SignatureError) as e:
        s3put.verify(s3=True, body=b"PAYLOAD")
    assert _kind(e) == "content_sha256_mismatch"
    assert aws_error(e.value.kind, s3=True, protocol="rest-xml") == ("XAmzContentSHA256Mismatch", 400)


def test_unsigned_and_streaming_payload_literals():
    """A literal x-amz-content-sha256 is the payload hash; the body is not hashed."""
    for literal in (
        "UNSIGNED-PAYLOAD",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    ):
        # S3SigV4Auth overwrites the header with the body hash, so sign the literal with SigV4Auth
        headers = {"X-Amz-Content-SHA256": literal}
        request = AWSRequest(method="PUT", url=f"{ENDPOINT}/b/k", data=b"x", headers=headers)
        SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(request)
        w = wire_from_prepared(request.prepare())
        assert w.headers["x-amz-content-sha256"] == literal
        w.verify(s3=True, body=b"raw chunked bytes, not hashed")


def test_invalid_content_sha256_value_s3():
    request = AWSRequest(
        method="PUT", url=f"{ENDPOINT}/b/k", data=b"x", headers={"X-Amz-Content-SHA256": "bogus"}
    )
    SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(request)
    w = wire_from_prepared(request.prepare())
    with pytest.raises(SignatureError) as e:
        w.verify(s3=True)
    assert _kind(e) == "content_sha256_invalid"
    w.verify(s3=False)  # other services just sign the header value


def test_aws_chunked_seed_vector():
    """The AWS S3 docs' chunked-upload example: its seed signature verifies."""
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class,"
        "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "content-length": "66824",
    }
    scope = verify(
        method="PUT",
        raw_path="/examplebucket/chunkObject.txt",
        query_string="",
        headers=headers,
        payload_hash=None,
        body=None,
        secret_for={"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}.get,
        now=datetime(2013, 5, 24, 0, 5, tzinfo=UTC),
        s3_style=True,
    )
    assert scope.scope == "20130524/us-east-1/s3/aws4_request"
    assert seed_signature(headers) == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"


# --------------------------------------------------------------------------- parse_scope


def test_parse_scope_forms():
    h = {
        "authorization": "AWS4-HMAC-SHA256 Credential=AK/20240101/eu-west-1/sqs/aws4_request, SignedHeaders=host, Signature=ab"
    }
    assert parse_scope(h, None) == CredentialScope("AK", "20240101", "eu-west-1", "sqs", False)
    h = {
        "authorization": "AWS4-HMAC-SHA256 Credential=AK/20240101/eu-west-1/sqs/aws4_request,SignedHeaders=host"
    }
    assert parse_scope(h, {}) == CredentialScope("AK", "20240101", "eu-west-1", "sqs", False)
    q = {
        "X-Amz-Algorithm": ["AWS4-HMAC-SHA256"],
        "X-Amz-Credential": ["AK/20240101/us-east-1/s3/aws4_request"],
    }
    assert parse_scope({}, q) == CredentialScope("AK", "20240101", "us-east-1", "s3", True)


@pytest.mark.parametrize(
    "auth",
    [
        "AWS AKID:signature",
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3",
        "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/aws5_request",
        "AWS4-HMAC-SHA256 Credential=/20240101/us-east-1/s3/aws4_request",
        "AWS4-HMAC-SHA256 Credential=",
        "Bearer xyz",
        "",
    ],
)
def test_parse_scope_rejects(auth):
    assert parse_scope({"authorization": auth}, None) is None


def test_parse_scope_none_and_query_without_algorithm():
    assert parse_scope({}, None) is None
    assert parse_scope({}, {"X-Amz-Credential": ["AK/20240101/us-east-1/s3/aws4_request"]}) is None


def test_parse_scope_is_fast():
    h = {
        "authorization": "AWS4-HMAC-SHA256 Credential=AK/20240101/eu-west-1/sqs/aws4_request, SignedHeaders=host, Signature=ab"
    }
    n = 20000
    start = time.perf_counter()
    for _ in range(n):
        parse_scope(h, None)
    per_call = (time.perf_counter() - start) / n
    assert per_call < 20e-6  # a few microseconds; generous bound for slow CI


def test_parse_sigv2_access_key():
    assert parse_sigv2_access_key({"authorization": "AWS AKIDV2:c2ln"}) == "AKIDV2"
    assert parse_sigv2_access_key({"authorization": "AWS4-HMAC-SHA256 Credential=x"}) is None
    assert parse_sigv2_access_key({"authorization": "AWS nocolon"}) is None
    assert parse_sigv2_access_key({}, {"AWSAccessKeyId": ["AK2"], "Signature": ["s"]}) == "AK2"
    assert parse_sigv2_access_key({}) is None


# --------------------------------------------------------------------------- misc


def test_signing_key_matches_botocore_and_is_cached():
    signing_key.cache_clear()
    req = AWSRequest(method="GET", url=f"{ENDPOINT}/")
    signer = SigV4Auth(Credentials(AKID, SECRET), "sts", "us-east-1")
    with mock.patch("botocore.auth.get_current_datetime", return_value=datetime(2024, 1, 2, 3, 4, 5)):
        signer.add_auth(req)
    key = signing_key(SECRET, "20240102", "us-east-1", "sts")
    sts = signer.string_to_sign(req, signer.canonical_request(req))
    assert hmac.new(key, sts.encode(), hashlib.sha256).hexdigest() == signer.signature(sts, req)
    signing_key(SECRET, "20240102", "us-east-1", "sts")
    assert signing_key.cache_info().hits >= 1


def test_aws_error_table():
    assert aws_error("unknown_key", s3=False, protocol="query") == ("InvalidClientTokenId", 403)
    assert aws_error("unknown_key", s3=False, protocol="json") == ("UnrecognizedClientException", 400)
    assert aws_error("unknown_key", s3=False, protocol="rest-json") == ("UnrecognizedClientException", 403)
    assert aws_error("mismatch", s3=False, protocol="query") == ("SignatureDoesNotMatch", 403)
    assert aws_error("mismatch", s3=False, protocol="json") == ("InvalidSignatureException", 400)
    assert aws_error("mismatch", s3=False, protocol="rest-json") == ("InvalidSignatureException", 403)
    assert aws_error("expired", s3=False, protocol="query") == ("SignatureDoesNotMatch", 403)
    assert aws_error("expired", s3=False, protocol="json") == ("InvalidSignatureException", 400)
    assert aws_error("malformed", s3=False, protocol="json") == ("IncompleteSignatureException", 400)
    assert aws_error("missing", s3=False, protocol="query") == ("MissingAuthenticationToken", 403)
    assert aws_error("content_sha256_mismatch", s3=False, protocol="json") == (
        "InvalidSignatureException",
        400,
    )
    assert aws_error("mismatch", s3=False, protocol="unknown-proto") == ("SignatureDoesNotMatch", 403)
    assert aws_error("unknown_key", s3=True, protocol="rest-xml") == ("InvalidAccessKeyId", 403)
    assert aws_error("mismatch", s3=True, protocol="rest-xml") == ("SignatureDoesNotMatch", 403)
    assert aws_error("malformed", s3=True, protocol="rest-xml") == ("AuthorizationHeaderMalformed", 400)
    assert aws_error("missing", s3=True, protocol="rest-xml") == ("AccessDenied", 403)
    assert aws_error("not_yet_valid", s3=True, protocol="rest-xml", presigned=True) == ("AccessDenied", 403)


def test_signature_error_defaults():
    e = SignatureError("mismatch")
    assert e.kind == "mismatch" and "does not match" in e.message and str(e) == e.message
    assert not e.presigned and e.details == {}


def test_non_ascii_or_non_hex_signature_is_a_mismatch(sts):
    auth = sts.headers["authorization"]
    for bad_sig in ("é" * 64, "zz", ""):
        bad = auth[: auth.index("Signature=") + 10] + bad_sig
        with pytest.raises(SignatureError) as e:
            _with_header(sts, "authorization", bad).verify(s3=False)
        assert _kind(e) in ("mismatch", "malformed")
