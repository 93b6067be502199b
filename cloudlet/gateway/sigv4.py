"""AWS Signature Version 4 (header and presigned-query forms): parse and verify.

``parse_scope`` is the cheap per-request peek at the credential scope (who is
calling, for which region/service); ``verify`` recomputes the signature the way
botocore builds it and raises :class:`SignatureError` with an AWS-style message.
``aws_error`` maps an error kind to the wire error code and HTTP status each AWS
protocol family uses.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, unquote_to_bytes

if TYPE_CHECKING:
    from cloudlet.protocol.http import HttpRequest

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "CredentialScope",
    "SignatureError",
    "aws_error",
    "parse_scope",
    "parse_sigv2_access_key",
    "seed_signature",
    "signing_key",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
#: ``x-amz-content-sha256`` values that are placeholders, not a body hash.
LITERAL_PAYLOAD_HASHES = frozenset(
    {
        UNSIGNED_PAYLOAD,
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
    }
)
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 604800

_AUTH_PREFIX = ALGORITHM + " "
_TERMINATOR = "aws4_request"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_UNRESERVED = re.compile(r"[A-Za-z0-9\-_.~]*")
_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")
_PRESIGN_REQUIRED = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
)

_MSG_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
_MSG_MISMATCH_S3 = "The request signature we calculated does not match the signature you provided. Check your key and signing method."
_MSG_BAD_CREDENTIAL_S3 = (
    'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
)
_MSG_PRESIGN_PARAMS_S3 = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
    "X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)
_MSG_CONTENT_SHA256_INVALID = (
    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER "
    "or a valid sha256 value."
)
_DEFAULT_MESSAGES = {
    "missing": "Request is missing Authentication Token",
    "malformed": "Authorization header is malformed.",
    "unknown_key": "The security token included in the request is invalid.",
    "mismatch": _MSG_MISMATCH,
    "expired": "Request has expired",
    "not_yet_valid": "Request is not yet valid",
    "content_sha256_mismatch": "The provided 'x-amz-content-sha256' header does not match what was computed.",
    "content_sha256_invalid": _MSG_CONTENT_SHA256_INVALID,
}


@dataclass(frozen=True, slots=True)
class CredentialScope:
    """The ``Credential=AKID/date/region/service/aws4_request`` of a SigV4 request."""

    access_key: str
    date: str
    region: str
    service: str
    presigned: bool

    @property
    def scope(self) -> str:
        """``date/region/service/aws4_request`` (the string-to-sign's scope line)."""
        return f"{self.date}/{self.region}/{self.service}/{_TERMINATOR}"


class SignatureError(Exception):
    """A request failed SigV4 authentication.

    ``kind`` is one of ``missing``, ``malformed``, ``unknown_key``, ``mismatch``,
    ``expired``, ``not_yet_valid``, ``content_sha256_mismatch`` and (S3 only)
    ``content_sha256_invalid``; ``message`` is AWS's wording. ``presigned`` tells
    whether the query-string form was used (S3 maps some kinds differently) and
    ``details`` holds extra fields S3 puts in its error document (e.g.
    ``StringToSign``/``CanonicalRequest`` on a mismatch).
    """

    def __init__(
        self,
        kind: str,
        message: str | None = None,
        *,
        presigned: bool = False,
        details: Mapping[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.message = message if message is not None else _DEFAULT_MESSAGES.get(kind, kind)
        self.presigned = presigned
        self.details: dict[str, str] = dict(details or {})
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"SignatureError({self.kind!r}, {self.message!r})"


# --------------------------------------------------------------------------- fast path


_SCOPE_CACHE: dict[tuple[str, bool], CredentialScope] = {}
_SCOPE_CACHE_MAX = 4096


def _split_credential(cred: str, presigned: bool) -> CredentialScope | None:
    # Scopes are immutable and callers repeat them: memoise (bounded) to skip the dataclass build.
    hit = _SCOPE_CACHE.get((cred, presigned))
    if hit is not None:
        return hit
    parts = cred.split("/")
    if len(parts) != 5 or parts[4] != _TERMINATOR or not parts[0] or len(parts[1]) != 8:
        return None
    scope = CredentialScope(parts[0], parts[1], parts[2], parts[3], presigned)
    if len(_SCOPE_CACHE) >= _SCOPE_CACHE_MAX:
        _SCOPE_CACHE.clear()
    _SCOPE_CACHE[(cred, presigned)] = scope
    return scope


def parse_scope(headers: Mapping[str, str], query: Mapping[str, list[str]] | None) -> CredentialScope | None:
    """Credential scope of a SigV4 request, or None (unsigned, SigV2 or malformed). Never raises.

    ``headers`` must have lower-cased names; ``query`` is the decoded query
    (``parse_qs`` shape). Nothing is verified here.
    """
    auth = headers.get("authorization")
    if auth and auth.startswith(_AUTH_PREFIX):
        i = auth.find("Credential=", 17)
        if i < 0:
            return None
        i += 11
        end = len(auth)
        j = auth.find(",", i)
        if 0 <= j < end:
            end = j
        j = auth.find(" ", i)
        if 0 <= j < end:
            end = j
        return _split_credential(auth[i:end], False)
    if query:
        cred = query.get("X-Amz-Credential")
        if cred and query.get("X-Amz-Algorithm") == [ALGORITHM]:
            return _split_credential(cred[0], True)
    return None


def request_scope(req: HttpRequest) -> CredentialScope | None:
    """parse_scope of a request (its query decoded only when it carries a credential); None for
    anything it cannot read."""
    try:
        return parse_scope(req.headers, req.query if "X-Amz-Credential" in req.query_string else None)
    except Exception:
        return None


def verify_request(req: HttpRequest, secret_for: Callable[[str], str | None], *, s3_style: bool) -> CredentialScope:
    """verify() a request as received, now. A body spooled to disk was hashed as it arrived."""
    body = req.body
    if isinstance(body, bytes):
        return verify(method=req.method, raw_path=req.path, query_string=req.query_string, headers=req.headers,
                      payload_hash=None, body=body, secret_for=secret_for, now=datetime.now(UTC), s3_style=s3_style)
    return verify(method=req.method, raw_path=req.path, query_string=req.query_string, headers=req.headers,
                  payload_hash=body.sha256, body=None, secret_for=secret_for, now=datetime.now(UTC),
                  s3_style=s3_style)


def parse_sigv2_access_key(
    headers: Mapping[str, str], query: Mapping[str, list[str]] | None = None
) -> str | None:
    """Access key of a legacy SigV2 request (``Authorization: AWS AKID:sig`` or ``?AWSAccessKeyId=``).

    For identifying the caller only; SigV2 signatures are never verified here.
    """
    auth = headers.get("authorization")
    if auth and auth.startswith("AWS "):
        akid, sep, sig = auth[4:].strip().partition(":")
        return akid if sep and akid and sig else None
    if query:
        vals = query.get("AWSAccessKeyId")
        if vals and vals[0] and query.get("Signature"):
            return vals[0]
    return None


def seed_signature(headers: Mapping[str, str]) -> str | None:
    """The ``Signature=`` of a SigV4 Authorization header (the seed of aws-chunked chunk signatures)."""
    auth = headers.get("authorization")
    if not auth or not auth.startswith(_AUTH_PREFIX):
        return None
    try:
        return _parse_auth_header(auth, False).get("Signature")
    except SignatureError:
        return None


# --------------------------------------------------------------------------- crypto


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


@lru_cache(maxsize=512)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived SigV4 signing key (cached: four HMACs per distinct scope)."""
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, _TERMINATOR)


# --------------------------------------------------------------------------- canonicalisation


def _encode_component(raw: str, plus_is_space: bool = False) -> str:
    """Re-encode one raw query key or value the SigV4 way (RFC 3986 unreserved kept)."""
    if _UNRESERVED.fullmatch(raw):
        return raw
    if plus_is_space:
        raw = raw.replace("+", " ")
    return quote(unquote_to_bytes(raw), safe="")


def _canonical_query(query_string: str, drop_signature: bool, plus_is_space: bool = False) -> str:
    if not query_string:
        return ""
    pairs = []
    for part in query_string.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        key = _encode_component(key, plus_is_space)
        if drop_signature and key == "X-Amz-Signature":
            continue
        pairs.append((key, _encode_component(value, plus_is_space)))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal that also collapses ``//`` (what AWS SDKs do for non-S3)."""
    if not path:
        return "/"
    out: list[str] = []
    for seg in path.split("/"):
        if not seg or seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
        else:
            out.append(seg)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return first + "/".join(out) + last


def _canonical_uris(raw_path: str, s3_style: bool) -> list[str]:
    """Canonical URI candidates: exactly what botocore signs first, then a decode/re-encode variant
    for clients whose wire encoding differs from the encoding they signed."""
    path = raw_path or "/"
    if s3_style:
        exact = path
        normal = quote(unquote_to_bytes(path), safe="/")
    else:
        exact = quote(_remove_dot_segments(path), safe="/~")
        normal = quote(quote(unquote_to_bytes(_remove_dot_segments(path)), safe="/"), safe="/")
    return [exact] if normal == exact else [exact, normal]


def _canonical_headers(signed: list[str], headers: Mapping[str, str]) -> str:
    lines = []
    for name in signed:
        value = headers.get(name)
        lines.append(f"{name}:{' '.join(value.split()) if value else ''}\n")
    return "".join(lines)


# --------------------------------------------------------------------------- parsing helpers


def _fmt_amz(dt: datetime) -> str:
    return dt.strftime("%Y%m%dT%H%M%SZ")


def _parse_amz_date(value: str) -> datetime | None:
    m = _AMZ_DATE.fullmatch(value)
    if not m:
        return None
    try:
        year, month, day, hour, minute, second = map(int, m.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None


def _parse_auth_header(auth: str, s3: bool) -> dict[str, str]:
    """``Credential``/``SignedHeaders``/``Signature`` of a SigV4 Authorization header."""
    rest = auth[len(_AUTH_PREFIX) :]
    fields: dict[str, str] = {}
    for item in rest.split(","):
        item = item.strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            msg = (
                f"'{item}' not a valid key=value pair (missing equal-sign) in Authorization header: '{auth}'."
            )
            if s3:
                msg = f"The authorization header is malformed; {msg}"
            raise SignatureError("malformed", msg)
        fields.setdefault(key.strip(), value.strip())
    return fields


def _incomplete_message(absent: Iterable[str], auth: str, headers: Mapping[str, str]) -> str:
    """AWS's IncompleteSignature wording for missing Authorization components."""
    parts = [f"Authorization header requires '{f}' parameter." for f in absent]
    if "x-amz-date" not in headers and "date" not in headers:
        parts.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    return " ".join(parts) + f" Authorization={auth}"


def _query_params(query_string: str) -> dict[str, str]:
    """First value of each query parameter, percent-decoded ('+' kept literal)."""
    params: dict[str, str] = {}
    if not query_string:
        return params
    for part in query_string.split("&"):
        if part:
            key, _, value = part.partition("=")
            params.setdefault(unquote(key), unquote(value))
    return params


def _as_utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now.astimezone(UTC)


# --------------------------------------------------------------------------- verify


def verify(
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    payload_hash: str | None,
    body: bytes | None,
    secret_for: Callable[[str], str | None],
    now: datetime,
    s3_style: bool,
) -> CredentialScope:
    """Verify a SigV4-signed request (Authorization header or presigned query); return its scope.

    ``raw_path``/``query_string`` are as sent on the wire; ``headers`` have
    lower-cased names (repeated headers joined with ``,``). ``payload_hash`` is
    the hex sha256 of the body if the caller already has it, else ``body`` is
    hashed (neither: empty body). ``s3_style`` selects S3's canonical URI (no
    normalisation or double encoding) and S3's error wording. Raises
    :class:`SignatureError`.
    """
    auth = headers.get("authorization")
    params = _query_params(query_string) if "X-Amz-" in query_string else {}
    presigned = "X-Amz-Credential" in params or "X-Amz-Algorithm" in params or "X-Amz-Signature" in params
    if auth and presigned:
        raise SignatureError(
            "malformed",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
            "parameter or the Authorization header should be specified",
        )
    if presigned:
        return _verify(
            method, raw_path, query_string, headers, payload_hash, body, secret_for, now, s3_style, params
        )
    if not auth:
        raise SignatureError("missing")
    if not auth.startswith(_AUTH_PREFIX):
        # What AWS answers for e.g. "Authorization: Bearer x" (S3: InvalidArgument wording).
        msg = (
            "Unsupported Authorization Type"
            if s3_style
            else _incomplete_message(("Credential", "Signature", "SignedHeaders"), auth, headers)
        )
        raise SignatureError("malformed", msg)
    return _verify(
        method, raw_path, query_string, headers, payload_hash, body, secret_for, now, s3_style, None
    )


def _verify(
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    payload_hash: str | None,
    body: bytes | None,
    secret_for: Callable[[str], str | None],
    now: datetime,
    s3: bool,
    params: dict[str, str] | None,
) -> CredentialScope:
    presigned = params is not None

    def fail(kind: str, message: str | None = None, **details: str) -> SignatureError:
        return SignatureError(kind, message, presigned=presigned, details=details)

    # ---- 1. pull the signature fields out of the header or the query
    if params is not None:
        missing = [p for p in _PRESIGN_REQUIRED if not params.get(p)]
        if s3 and "X-Amz-Expires" not in params:
            missing.append("X-Amz-Expires")
        if missing:
            raise fail(
                "malformed",
                _MSG_PRESIGN_PARAMS_S3
                if s3
                else "AWS query-string parameters must include " + ", ".join(f"'{p}'" for p in missing) + ".",
            )
        if params["X-Amz-Algorithm"] != ALGORITHM:
            raise fail(
                "malformed",
                'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"'
                if s3
                else f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm']}'.",
            )
        credential = params["X-Amz-Credential"]
        signed_headers_raw = params["X-Amz-SignedHeaders"]
        provided = params["X-Amz-Signature"]
        date_value = params["X-Amz-Date"]
    else:
        auth = headers["authorization"]
        fields = _parse_auth_header(auth, s3)
        absent = [f for f in ("Credential", "Signature", "SignedHeaders") if not fields.get(f)]
        if absent:
            msg = _incomplete_message(absent, auth, headers)
            if s3:
                msg = "The authorization header is malformed; " + msg
            raise fail("malformed", msg)
        credential = fields["Credential"]
        signed_headers_raw = fields["SignedHeaders"]
        provided = fields["Signature"]
        date_value = headers.get("x-amz-date") or ""

    scope = _split_credential(credential, presigned)
    if scope is None:
        if s3:
            prefix = (
                "Error parsing the X-Amz-Credential parameter; "
                if presigned
                else "The authorization header is malformed; "
            )
            raise fail("malformed", prefix + _MSG_BAD_CREDENTIAL_S3)
        if credential.count("/") == 4:
            akid, date, _, _, tail = credential.split("/")
            if tail != _TERMINATOR:
                raise fail(
                    "malformed",
                    f"Credential should be scoped with a valid terminator: 'aws4_request', not '{tail}'.",
                )
            if akid:
                raise fail("malformed", f"Invalid credential date '{date}'. Date must be in YYYYMMDD format.")
        raise fail(
            "malformed",
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{credential}'",
        )

    signed_headers = signed_headers_raw.split(";")
    if "host" not in signed_headers and ":authority" not in signed_headers:
        raise fail(
            "malformed",
            _MSG_PRESIGN_PARAMS_S3
            if s3 and presigned
            else "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        )

    # ---- 2. request timestamp
    if params is None and not date_value:
        http_date = headers.get("date")
        if not http_date:
            raise fail(
                "malformed",
                "AWS authentication requires a valid Date or x-amz-date header"
                if s3
                else "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
                f"Authorization={headers['authorization']}",
            )
        from email.utils import parsedate_to_datetime  # (a Date header without x-amz-date is rare)

        try:
            request_time = _as_utc(parsedate_to_datetime(http_date))
        except (TypeError, ValueError, IndexError):
            raise fail("malformed", "AWS authentication requires a valid Date or x-amz-date header") from None
        date_value = _fmt_amz(request_time)
    else:
        parsed = _parse_amz_date(date_value)
        if parsed is None:
            if s3 and presigned:
                msg = "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
            elif s3:
                msg = "AWS authentication requires a valid Date or x-amz-date header"
            else:
                msg = f"Date must be in ISO-8601 'basic format'. Got '{date_value}'. See http://en.wikipedia.org/wiki/ISO_8601"
            raise fail("malformed", msg)
        request_time = parsed

    if scope.date != date_value[:8]:
        if s3 and presigned:
            raise fail(
                "malformed",
                f'Invalid credential date "{scope.date}". This date is not the same as X-Amz-Date: "{date_value[:8]}".',
            )
        if s3:
            raise fail(
                "malformed",
                "The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date.",
            )
        raise fail(
            "mismatch",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope.date}' != '{date_value[:8]}', from '{date_value}'.",
        )

    # ---- 3. key lookup
    secret = secret_for(scope.access_key)
    if secret is None:
        if s3:
            raise fail(
                "unknown_key",
                "The AWS Access Key Id you provided does not exist in our records.",
                AWSAccessKeyId=scope.access_key,
            )
        raise fail("unknown_key")

    # ---- 4. time window
    now = _as_utc(now)
    if presigned:
        expires_raw = params.get("X-Amz-Expires") if params is not None else None
        if expires_raw is not None:
            try:
                expires = int(expires_raw)
            except ValueError:
                raise fail("malformed", "X-Amz-Expires should be a number") from None
            if expires < 0:
                raise fail("malformed", "X-Amz-Expires must be non-negative")
            if expires > MAX_PRESIGN_EXPIRES:
                raise fail("malformed", "X-Amz-Expires must be less than a week (in seconds) that is; 604800")
            if now > request_time + timedelta(seconds=expires):
                raise fail(
                    "expired",
                    "Request has expired",
                    **{
                        "X-Amz-Expires": str(expires),
                        "Expires": (request_time + timedelta(seconds=expires)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                )
            if request_time > now + MAX_SKEW:
                raise fail("not_yet_valid", "Request is not yet valid")
        else:
            _check_skew(request_time, date_value, now, s3, fail)
    else:
        _check_skew(request_time, date_value, now, s3, fail)

    # ---- 5. payload hash
    if presigned:
        declared = params.get("X-Amz-Content-Sha256") if params is not None else None
        if declared is None and "x-amz-content-sha256" in signed_headers:
            declared = headers.get("x-amz-content-sha256")
    else:
        declared = headers.get("x-amz-content-sha256")
    body_hashes: list[str] = []
    if declared is not None:
        if declared in LITERAL_PAYLOAD_HASHES:
            body_hashes.append(declared)
        elif _HEX64.fullmatch(declared):
            actual = payload_hash or (hashlib.sha256(body).hexdigest() if body is not None else None)
            if actual is not None and not hmac.compare_digest(actual.lower(), declared.lower()):
                raise fail(
                    "content_sha256_mismatch" if s3 else "mismatch",
                    None if s3 else _MSG_MISMATCH,
                    ClientComputedContentSHA256=declared,
                    S3ComputedContentSHA256=actual,
                )
            body_hashes.append(declared)
        elif s3:
            raise fail("content_sha256_invalid")
        else:
            body_hashes.append(declared)
    elif presigned and s3:
        body_hashes.append(UNSIGNED_PAYLOAD)
    else:
        body_hashes.append(payload_hash or (hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256))
        if presigned:
            body_hashes.append(UNSIGNED_PAYLOAD)

    # ---- 6. signature
    key = signing_key(secret, scope.date, scope.region, scope.service)
    cscope = scope.scope
    header_block = _canonical_headers(signed_headers, headers)
    query_variants = [_canonical_query(query_string, presigned)]
    if "+" in query_string:
        query_variants.append(_canonical_query(query_string, presigned, plus_is_space=True))
    provided = provided.lower() if _HEX64.fullmatch(provided) else ""  # compare_digest needs ASCII
    first: tuple[str, str] | None = None
    for uri in _canonical_uris(raw_path, s3):
        for cquery in query_variants:
            for bhash in body_hashes:
                creq = f"{method.upper()}\n{uri}\n{cquery}\n{header_block}\n{signed_headers_raw}\n{bhash}"
                sts = (
                    f"{ALGORITHM}\n{date_value}\n{cscope}\n{hashlib.sha256(creq.encode('utf-8')).hexdigest()}"
                )
                expected = hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()
                if hmac.compare_digest(expected, provided):
                    return scope
                if first is None:
                    first = (creq, sts)
    assert first is not None
    raise fail(
        "mismatch",
        _MSG_MISMATCH_S3 if s3 else _MSG_MISMATCH,
        AWSAccessKeyId=scope.access_key,
        StringToSign=first[1],
        SignatureProvided=provided,
        CanonicalRequest=first[0],
    )


def _check_skew(
    request_time: datetime, amz_date: str, now: datetime, s3: bool, fail: Callable[..., SignatureError]
) -> None:
    if now - request_time > MAX_SKEW:
        kind = "expired"
        msg = f"Signature expired: {amz_date} is now earlier than {_fmt_amz(now - MAX_SKEW)} ({_fmt_amz(now)} - 15 min.)"
    elif request_time - now > MAX_SKEW:
        kind = "not_yet_valid"
        msg = (
            f"Signature not yet current: {amz_date} is still later than {_fmt_amz(now + MAX_SKEW)} "
            f"({_fmt_amz(now)} + 15 min.)"
        )
    else:
        return
    if s3:
        raise fail(
            kind,
            "The difference between the request time and the current time is too large.",
            RequestTime=amz_date,
            ServerTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            MaxAllowedSkewMilliseconds="900000",
        )
    raise fail(kind, msg)


# --------------------------------------------------------------------------- AWS error mapping

# Non-S3 services, keyed by botocore protocol name. Sources: AWS error reports for
# STS/IAM (query), DynamoDB/Kinesis/Logs/Cognito (json, always HTTP 400) and
# Lambda/API Gateway (rest-json, HTTP 403). EC2 answers AuthFailure / RequestExpired.
_QUERY = {
    "missing": ("MissingAuthenticationToken", 403),
    "malformed": ("IncompleteSignature", 400),
    "unknown_key": ("InvalidClientTokenId", 403),
    "mismatch": ("SignatureDoesNotMatch", 403),
    "expired": ("SignatureDoesNotMatch", 403),
    "not_yet_valid": ("SignatureDoesNotMatch", 403),
}
_JSON = {
    "missing": ("MissingAuthenticationTokenException", 400),
    "malformed": ("IncompleteSignatureException", 400),
    "unknown_key": ("UnrecognizedClientException", 400),
    "mismatch": ("InvalidSignatureException", 400),
    "expired": ("InvalidSignatureException", 400),
    "not_yet_valid": ("InvalidSignatureException", 400),
}
_REST_JSON = {kind: (code, 403) for kind, (code, _) in _JSON.items()}  # json's codes, always HTTP 403
_EC2 = {
    "missing": ("MissingAuthenticationToken", 401),
    "malformed": ("IncompleteSignature", 400),
    "unknown_key": ("AuthFailure", 401),
    "mismatch": ("SignatureDoesNotMatch", 403),
    "expired": ("RequestExpired", 400),
    "not_yet_valid": ("RequestExpired", 400),
}
_BY_PROTOCOL = {
    "query": _QUERY,
    "ec2": _EC2,
    "json": _JSON,
    "smithy-rpc-v2-cbor": _JSON,
    "rest-json": _REST_JSON,
    "rest-xml": _REST_JSON,
}
_S3 = {
    "missing": ("AccessDenied", 403),
    "malformed": ("AuthorizationHeaderMalformed", 400),
    "unknown_key": ("InvalidAccessKeyId", 403),
    "mismatch": ("SignatureDoesNotMatch", 403),
    "expired": ("RequestTimeTooSkewed", 403),
    "not_yet_valid": ("RequestTimeTooSkewed", 403),
    "content_sha256_mismatch": ("XAmzContentSHA256Mismatch", 400),
    "content_sha256_invalid": ("InvalidArgument", 400),
}
_S3_PRESIGNED = {
    **_S3,
    "malformed": ("AuthorizationQueryParametersError", 400),
    "expired": ("AccessDenied", 403),
    "not_yet_valid": ("AccessDenied", 403),
}


def aws_error(kind: str, *, s3: bool, protocol: str, presigned: bool = False) -> tuple[str, int]:
    """``(error code, HTTP status)`` AWS answers for a :class:`SignatureError` kind.

    ``protocol`` is botocore's protocol name (``query``, ``ec2``, ``json``,
    ``rest-json``, ``rest-xml``...); unknown ones fall back to ``query``.
    ``presigned`` matters for S3 only (``exc.presigned``).
    """
    if s3:
        table = _S3_PRESIGNED if presigned else _S3
        return table.get(kind, ("AccessDenied", 403))
    table = _BY_PROTOCOL.get(protocol, _QUERY)
    if kind in ("content_sha256_mismatch", "content_sha256_invalid"):
        kind = "mismatch"
    return table.get(kind, table["mismatch"])
