"""aws-chunked decoding: the AWS documentation vector, split anywhere, signed and unsigned."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import zlib

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlet.gateway.awschunked import AwsChunkedDecoder, ChunkFormatError
from cloudlet.gateway.sigv4 import EMPTY_SHA256, SignatureError, signing_key

# AWS S3 API reference, "Signature Calculations for the Authorization Header: Transferring
# Payload in Multiple Chunks", Example: PUT Object (65 KiB of 'a' in 64 KiB chunks).
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_DATE = "20130524T000000Z"
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_SIGS = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
DOC_KEY = signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")
DOC_PAYLOAD = b"a" * 66560


def doc_body() -> bytes:
    return (
        f"10000;chunk-signature={DOC_SIGS[0]}\r\n".encode()
        + b"a" * 65536
        + f"\r\n400;chunk-signature={DOC_SIGS[1]}\r\n".encode()
        + b"a" * 1024
        + f"\r\n0;chunk-signature={DOC_SIGS[2]}\r\n\r\n".encode()
    )


def doc_decoder() -> AwsChunkedDecoder:
    return AwsChunkedDecoder(seed_signature=DOC_SEED, signing_key=DOC_KEY, scope=DOC_SCOPE, amz_date=DOC_DATE)


def _sig(key: bytes, sts: str) -> str:
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def encode_signed(
    payload: bytes,
    chunk_size: int,
    *,
    key: bytes = DOC_KEY,
    seed: str = DOC_SEED,
    trailers: list[tuple[str, str]] | None = None,
) -> bytes:
    """Encode per the documented algorithm (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER])."""
    prev = seed
    out = bytearray()
    chunks = [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)] + [b""]
    for chunk in chunks:
        sts = f"AWS4-HMAC-SHA256-PAYLOAD\n{DOC_DATE}\n{DOC_SCOPE}\n{prev}\n{EMPTY_SHA256}\n{hashlib.sha256(chunk).hexdigest()}"
        prev = _sig(key, sts)
        out += f"{len(chunk):x};chunk-signature={prev}\r\n".encode()
        if chunk:
            out += chunk + b"\r\n"
    if trailers:
        canonical = "".join(f"{n}:{v}\n" for n, v in trailers)
        for n, v in trailers:
            out += f"{n}:{v}\r\n".encode()
        sts = f"AWS4-HMAC-SHA256-TRAILER\n{DOC_DATE}\n{DOC_SCOPE}\n{prev}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        out += f"x-amz-trailer-signature:{_sig(key, sts)}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def encode_unsigned_trailer(payload: bytes, chunk_size: int) -> bytes:
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER framing, produced by botocore's own wrapper."""
    wrapper = AwsChunkedWrapper(
        io.BytesIO(payload),
        checksum_cls=Crc32Checksum,
        checksum_name="x-amz-checksum-crc32",
        chunk_size=chunk_size,
    )
    return wrapper.read()


def decode_in_pieces(decoder: AwsChunkedDecoder, body: bytes, cuts: list[int]) -> bytes:
    out = bytearray()
    prev = 0
    for cut in sorted(set(c % (len(body) + 1) for c in cuts)) + [len(body)]:
        out += decoder.feed(body[prev:cut])
        prev = cut
    decoder.finish()
    return bytes(out)


# --------------------------------------------------------------------------- the documented vector


def test_doc_vector_matches_our_encoder():
    assert encode_signed(DOC_PAYLOAD, 65536) == doc_body()
    assert len(doc_body()) == 66824  # the example's Content-Length


def test_doc_vector_whole():
    d = doc_decoder()
    assert d.feed(doc_body()) == DOC_PAYLOAD
    d.finish()
    assert d.trailers == {}


def test_doc_vector_byte_by_byte_releases_only_verified_chunks():
    d = doc_decoder()
    body = doc_body()
    out = bytearray()
    header_len = len(f"10000;chunk-signature={DOC_SIGS[0]}\r\n")
    for i in range(len(body)):
        out += d.feed(body[i : i + 1])
        if i < header_len + 65536:
            assert not out  # nothing released before the first chunk is verified
    d.finish()
    assert out == DOC_PAYLOAD


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=70000), max_size=12))
def test_doc_vector_random_splits(cuts):
    assert decode_in_pieces(doc_decoder(), doc_body(), cuts) == DOC_PAYLOAD


def test_doc_vector_accepts_memoryview_and_bytearray():
    d = doc_decoder()
    body = doc_body()
    out = d.feed(memoryview(body)[:100]) + d.feed(bytearray(body[100:]))
    d.finish()
    assert out == DOC_PAYLOAD


# --------------------------------------------------------------------------- signed failures


def test_tampered_chunk_data():
    body = bytearray(doc_body())
    body[200] = ord("b")
    with pytest.raises(SignatureError) as e:
        doc_decoder().feed(bytes(body))
    assert e.value.kind == "mismatch"


@pytest.mark.parametrize("which", [0, 1, 2])
def test_tampered_chunk_signature(which):
    body = doc_body().replace(DOC_SIGS[which].encode(), b"0" * 64)
    d = doc_decoder()
    with pytest.raises(SignatureError) as e:
        d.feed(body)
    assert e.value.kind == "mismatch"


def test_wrong_key_or_seed():
    wrong = AwsChunkedDecoder(
        seed_signature=DOC_SEED,
        signing_key=signing_key("other", "20130524", "us-east-1", "s3"),
        scope=DOC_SCOPE,
        amz_date=DOC_DATE,
    )
    with pytest.raises(SignatureError):
        wrong.feed(doc_body())
    reseeded = AwsChunkedDecoder(
        seed_signature="1" * 64, signing_key=DOC_KEY, scope=DOC_SCOPE, amz_date=DOC_DATE
    )
    with pytest.raises(SignatureError):
        reseeded.feed(doc_body())


def test_missing_chunk_signature_when_signed():
    body = encode_unsigned_trailer(b"hello", 8)
    with pytest.raises(SignatureError):
        doc_decoder().feed(body)


def test_reordered_chunks_rejected():
    payload = bytes(range(256)) * 100
    body = encode_signed(payload, 8192)
    first_end = body.index(b"\r\n", body.index(b"\r\n") + 2) + 2
    second_end = body.index(b"\r\n", body.index(b"\r\n", first_end) + 2) + 2
    swapped = body[first_end:second_end] + body[:first_end] + body[second_end:]
    with pytest.raises(SignatureError):
        doc_decoder().feed(swapped)


def test_truncated_final_chunk_is_incomplete():
    body = doc_body()
    d = doc_decoder()
    d.feed(body[: body.rindex(b"0;chunk-signature")])
    with pytest.raises(ChunkFormatError):
        d.finish()


@settings(max_examples=40, deadline=None)
@given(
    payload=st.binary(max_size=5000),
    chunk_size=st.integers(min_value=1, max_value=2048),
    cuts=st.lists(st.integers(min_value=0, max_value=8000), max_size=10),
    with_trailer=st.booleans(),
)
def test_signed_roundtrip_property(payload, chunk_size, cuts, with_trailer):
    trailers = [("x-amz-checksum-crc32", crc32_b64(payload))] if with_trailer else None
    body = encode_signed(payload, chunk_size, trailers=trailers)
    d = doc_decoder()
    assert decode_in_pieces(d, body, cuts) == payload
    assert d.trailers == (dict(trailers) if trailers else {})


# --------------------------------------------------------------------------- signed trailer


def test_signed_trailer_verified():
    payload = b"x" * 10000
    body = encode_signed(payload, 4096, trailers=[("x-amz-checksum-crc32", crc32_b64(payload))])
    d = doc_decoder()
    assert d.feed(body) == payload
    d.finish()
    assert d.trailers == {"x-amz-checksum-crc32": crc32_b64(payload)}


def test_signed_trailer_tampered_value():
    payload = b"x" * 100
    body = encode_signed(payload, 4096, trailers=[("x-amz-checksum-crc32", crc32_b64(payload))])
    body = body.replace(crc32_b64(payload).encode(), b"AAAAAA==")
    with pytest.raises(SignatureError):
        doc_decoder().feed(body)


def test_signed_trailer_without_trailer_signature():
    payload = b"x" * 100
    body = encode_signed(payload, 4096, trailers=[("x-amz-checksum-crc32", crc32_b64(payload))])
    start = body.index(b"x-amz-trailer-signature:")
    body = body[:start] + body[body.index(b"\r\n", start) + 2 :]
    with pytest.raises(SignatureError):
        doc_decoder().feed(body)


# --------------------------------------------------------------------------- unsigned trailer


def test_unsigned_trailer_crc32_from_botocore():
    payload = b"hello, unsigned world! " * 1000
    body = encode_unsigned_trailer(payload, 1024)
    assert body.endswith(f"0\r\nx-amz-checksum-crc32:{crc32_b64(payload)}\r\n\r\n".encode())
    d = AwsChunkedDecoder()
    assert d.feed(body) == payload
    d.finish()
    assert d.trailers == {"x-amz-checksum-crc32": crc32_b64(payload)}


@settings(max_examples=60, deadline=None)
@given(
    payload=st.binary(max_size=6000),
    chunk_size=st.integers(min_value=1, max_value=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=8000), max_size=12),
)
def test_unsigned_trailer_random_splits(payload, chunk_size, cuts):
    body = encode_unsigned_trailer(payload, chunk_size)
    d = AwsChunkedDecoder()
    assert decode_in_pieces(d, body, cuts) == payload
    assert d.trailers == {"x-amz-checksum-crc32": crc32_b64(payload)}


def test_unsigned_streams_without_buffering_chunk():
    d = AwsChunkedDecoder()
    assert d.feed(b"a;ext=1\r\n01234") == b"01234"  # extensions ignored when not verifying
    assert d.feed(b"56789\r\n0\r\n") == b"56789"
    d.finish()  # closing blank line left off with no trailers: tolerated


def test_unsigned_ignores_chunk_signatures():
    d = AwsChunkedDecoder()
    assert d.feed(doc_body()) == DOC_PAYLOAD
    d.finish()


def test_trailer_names_lowercased_values_stripped():
    d = AwsChunkedDecoder()
    d.feed(b"3\r\nabc\r\n0\r\nX-Amz-Checksum-SHA256: abc= \r\nx-other:v\r\n\r\n")
    d.finish()
    assert d.trailers == {"x-amz-checksum-sha256": "abc=", "x-other": "v"}


# --------------------------------------------------------------------------- framing errors


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # bad hex size
        b"\r\nabc\r\n0\r\n\r\n",  # empty size
        b"3\r\nabcd\r\n0\r\n\r\n",  # chunk longer than declared
        b"3\nabc\r\n0\r\n\r\n",  # bare LF
        b"3\r\nabc\r\n0\r\nno-colon\r\n\r\n",  # malformed trailer
        b"3\r\nabc\r\n0\r\n\r\nextra",  # data after the end
        b"11111111111111111\r\n",  # size too many digits
        b"3" * 5000,  # header line never ends
        b"3\r\nabc\r\n0\r\n" + b"x-a:" + b"b" * 5000 + b"\r\n\r\n",  # trailer line too long
    ],
)
def test_framing_errors(body):
    d = AwsChunkedDecoder()
    with pytest.raises(ChunkFormatError):
        d.feed(body)
        d.finish()


@pytest.mark.parametrize("body", [b"", b"3\r\nab", b"3\r\nabc", b"3\r\nabc\r\n", b"3\r\nabc\r\n0\r\nx:y\r\n"])
def test_incomplete_bodies(body):
    d = AwsChunkedDecoder()
    d.feed(body)
    with pytest.raises(ChunkFormatError):
        d.finish()


def test_signed_chunk_too_large():
    d = doc_decoder()
    with pytest.raises(ChunkFormatError):
        d.feed(b"ffffffff;chunk-signature=" + b"0" * 64 + b"\r\n")


def test_partial_signing_arguments_rejected():
    with pytest.raises(TypeError):
        AwsChunkedDecoder(seed_signature=DOC_SEED)


def test_chunk_format_error_is_value_error():
    assert issubclass(ChunkFormatError, ValueError)


@pytest.mark.parametrize("bad", ["é" * 64, "nothex", ""])
def test_non_hex_trailer_signature(bad):
    payload = b"x" * 100
    body = encode_signed(payload, 4096, trailers=[("x-amz-checksum-crc32", crc32_b64(payload))])
    start = body.index(b"x-amz-trailer-signature:") + len(b"x-amz-trailer-signature:")
    body = body[:start] + bad.encode() + body[body.index(b"\r\n", start) :]
    with pytest.raises(SignatureError):
        doc_decoder().feed(body)
