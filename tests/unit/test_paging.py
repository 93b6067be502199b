"""Opaque paging tokens shared by the services."""

from __future__ import annotations

import pytest

from cloudlet.protocol.errors import ServiceError
from cloudlet.services.paging import decode_token, encode_token


class BadToken(ServiceError):
    pass


def bad() -> ServiceError:
    return BadToken("bad token")


@pytest.mark.parametrize("position", ["name", ["fn", 1, 2], [1700000000000, "stream", 7], "ü/+?"])
def test_round_trip(position):
    token = encode_token(position)
    assert token.isascii() and "/" not in token and "+" not in token
    assert decode_token(token, bad) == position
    assert decode_token(token.rstrip("="), bad) == position    # padding is optional


def test_no_token_is_no_position():
    assert decode_token(None, bad) is None and decode_token("", bad) is None


@pytest.mark.parametrize("token", ["%%%", "bm90IGpzb24", "////", "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tb" * 200])
def test_bad_tokens_raise_the_services_error(token):
    with pytest.raises(BadToken, match="bad token"):
        decode_token(token, bad)


def test_check_rejects_positions_of_another_shape():
    with pytest.raises(BadToken):
        decode_token(encode_token([1, 2]), bad, lambda p: isinstance(p, str))
    assert decode_token(encode_token("a"), bad, lambda p: isinstance(p, str)) == "a"
