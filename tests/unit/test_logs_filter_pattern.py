"""The CloudWatch Logs filter pattern parser and matcher."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlet.services.logs.filter_pattern import FilterPatternError, compile_pattern, split_fields


def match(pattern: str, message: str) -> bool:
    matcher = compile_pattern(pattern)
    return True if matcher is None else matcher(message)


@pytest.mark.parametrize("pattern", ["", "   ", "\t\n"])
def test_empty_pattern_matches_everything(pattern):
    assert compile_pattern(pattern) is None


@pytest.mark.parametrize("pattern,message,expected", [
    # a single term: case-sensitive substring (AWS's own examples)
    ("ERROR", "[ERROR] A fatal exception has occurred", True),
    ("ERROR", "Exiting with ERRORCODE: -1", True),
    ("ERROR", "error: lowercase", False),
    # all plain terms must match
    ("ERROR Exception", "[ERROR] Caught IllegalArgumentException", True),
    ("ERROR Exception", "[ERROR] Unhandled Exception", True),
    ("ERROR Exception", "[ERROR] no exc", False),
    ("ERROR   Exception", "Exception ERROR", True),
    # quoted phrases
    ('"ERROR 401"', "[ERROR 401] UNAUTHORIZED", True),
    ('"ERROR 401"', "ERROR 400 401", False),
    ('"Connection refused" host', "db host: Connection refused", True),
    ('"say \\"hi\\""', 'they say "hi" to you', True),
    # ?term: any of them
    ("?ERROR ?WARN", "WARN disk low", True),
    ("?ERROR ?WARN", "ERROR boom", True),
    ("?ERROR ?WARN", "INFO fine", False),
    ('?"bad thing" ?oops', "a bad thing", True),
    # -term: none of them
    ("-DEBUG", "INFO x", True),
    ("-DEBUG", "DEBUG x", False),
    ("ERROR -Exiting", "[ERROR] boom", True),
    ("ERROR -Exiting", "[ERROR] Exiting now", False),
    ('ERROR -"not really"', "ERROR not really", False),
    # mixed: required AND (any optional) AND NOT excluded
    ("REPORT ?Init ?Billed -timeout", "REPORT Billed Duration: 5 ms", True),
    ("REPORT ?Init ?Billed -timeout", "REPORT Duration", False),
    # terms with punctuation and a lone operator character are literals
    ("user-42", "login user-42 ok", True),
    ("-", "a - b", True),
    ("RequestId:", "START RequestId: abc", True),
])
def test_terms(pattern, message, expected):
    assert match(pattern, message) is expected


@pytest.mark.parametrize("pattern,message,expected", [
    ("%AUTHORIZED%", "[ERROR 401] UNAUTHORIZED REQUEST", True),
    ("%AUTHORIZED%", "[SUCCESS 200] AUTHORIZED REQUEST", True),
    ("%colou?r%", "favourite colour", True),
    ("%colou?r%", "color", True),
    ("%^START%", "START RequestId", True),
    ("%^START%", "x START", False),
    ("%[0-9]{3} ms$%", "took 123 ms", True),
    ("%gray|grey%", "greyhound", True),
])
def test_regex(pattern, message, expected):
    assert match(pattern, message) is expected


DOC = json.dumps({
    "eventType": "UpdateTrail", "sourceIPAddress": "123.123.1.9", "latency": 120, "ratio": 0.5, "error": True,
    "ok": False, "nothing": None, "code": "200", "user": {"id": 1, "name": "Jane Doe"},
    "users": [{"email": "a@example.com"}, {"email": "john.doe@example.com"}], "tags": ["x", "y"],
})


@pytest.mark.parametrize("pattern,expected", [
    ('{ $.eventType = "UpdateTrail" }', True),
    ("{ $.eventType = UpdateTrail }", True),
    ('{$.eventType="UpdateTrail"}', True),
    ('{ $.eventType = "Update*" }', True),
    ('{ $.eventType = "*Trail" }', True),
    ('{ $.eventType = "Delete*" }', False),
    ('{ $.eventType != "DeleteTrail" }', True),
    ("{ $.sourceIPAddress != 123.123.* }", False),
    ("{ $.sourceIPAddress = 123.123.* }", True),
    ("{ $.latency > 100 }", True),
    ("{ $.latency >= 120 }", True),
    ("{ $.latency < 120 }", False),
    ("{ $.latency <= 120 }", True),
    ("{ $.latency = 120 }", True),
    ("{ $.latency != 120 }", False),
    ("{ $.ratio < 1 }", True),
    ("{ $.ratio = 0.5 }", True),
    ("{ $.ratio > -1e3 }", True),
    ("{ $.code = 200 }", True),
    ('{ $.code = "200" }', True),
    ("{ $.user.id = 1 }", True),
    ('{ $.user.name = "Jane Doe" }', True),
    ('{ $.users[1].email = "john.doe@example.com" }', True),
    ('{ $.users[0].email = "john.doe@example.com" }', False),
    ('{ $.users[5].email = "x" }', False),
    ('{ $.users[*].email = "john.*" }', True),
    ('{ $.tags[*] = "y" }', True),
    ("{ $.error IS TRUE }", True),
    ("{ $.error IS FALSE }", False),
    ("{ $.ok IS FALSE }", True),
    ("{ $.nothing IS NULL }", True),
    ("{ $.latency IS NULL }", False),
    ("{ $.missing NOT EXISTS }", True),
    ("{ $.latency NOT EXISTS }", False),
    ("{ $.missing = 1 }", False),
    ('{ $.missing != "x" }', False),
    ("{ $.user = 1 }", False),
    ("{ $.eventType = %Update[A-Z]%  }", True),
    ("{ $.eventType != %^Delete% }", True),
    # && binds tighter than ||; parentheses group
    ('{ $.eventType = "UpdateTrail" && $.latency > 500 }', False),
    ('{ $.eventType = "UpdateTrail" && $.latency > 500 || $.error IS TRUE }', True),
    ('{ $.eventType = "X" || $.latency > 100 && $.ratio > 0.4 }', True),
    ('{ ($.eventType = "X" || $.latency > 100) && $.ratio > 0.9 }', False),
    ('{ (($.user.id = 1) && ($.users[1].email = "john.doe@example.com")) }', True),
])
def test_json(pattern, expected):
    assert match(pattern, DOC) is expected


def test_json_pattern_does_not_match_other_messages():
    assert not match('{ $.a = "b" }', "plain text a b")
    assert not match('{ $.a = "b" }', "{ not json")
    assert not match('{ $.a = "b" }', "")
    assert match('{ $.a = "b" }', '  {"a": "b"}')


APACHE = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534'


def test_split_fields():
    assert split_fields(APACHE) == ["127.0.0.1", "-", "frank", "10/Oct/2000:13:25:15 -0700",
                                    "GET /apache_pb.gif HTTP/1.0", "200", "1534"]
    assert split_fields("  a   b ") == ["a", "b"]
    assert split_fields('a "unterminated b') == ["a", '"unterminated', "b"]
    assert split_fields('{"level": "error", "ms": 12}') == ['{"level":', '"error",', '"ms":', "12}"]
    assert split_fields('"a b" [x] y [1 2]') == ["a b", "x", "y", "1 2"]
    assert split_fields("[x]y z") == ["[x]y", "z"]


@pytest.mark.parametrize("pattern,expected", [
    ("[ip, user, username, timestamp, request, status_code, bytes]", True),
    ("[ip, user, username, timestamp, request, status_code]", False),          # one field short
    ("[ip, user, username, timestamp, request, status_code, bytes, extra]", False),
    ("[ip, user, username, timestamp, request, status_code = 200, bytes]", True),
    ("[ip, user, username, timestamp, request, status_code = 2*, bytes]", True),
    ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", False),
    ("[ip, user, username, timestamp, request, status_code != 404, bytes > 1000]", True),
    ("[ip, user, username, timestamp, request, status_code, bytes < 1000]", False),
    ('[ip, user, username = "frank", ...]', True),
    ("[ip, user=-, username=frank, ...]", True),
    ("[ip = 127.0.0.*, ...]", True),
    ("[..., status_code = 200, bytes]", True),
    ("[..., bytes = 1534]", True),
    ("[..., status_code = 404 || status_code = 200, bytes]", True),
    ("[..., status_code >= 400 && status_code < 500, bytes]", False),
    ("[ip, ..., request = *gif*, ...]", True),
    ("[ip, ..., request = *png*, ...]", False),
    ("[ip, ..., request = %GET /apache%, ...]", True),
    ("[...]", True),
])
def test_space_delimited(pattern, expected):
    assert match(pattern, APACHE) is expected


def test_space_delimited_short_message():
    assert match("[w1=ERROR, w2]", "ERROR boom")
    assert not match("[w1=ERROR, w2]", "ERROR")
    assert not match("[w1=ERROR, w2]", "WARN boom")
    assert match("[]", "")


@pytest.mark.parametrize("pattern", [
    '"unterminated',
    "{ $.a = 1",
    "{ a = 1 }",
    "{ $ = 1 }",
    "{ $.a }",
    "{ $.a > abc }",
    "{ $.a IS MAYBE }",
    "{ $.a = 1 } trailing",
    "{ $.a = }",
    "[a, b",
    "[a, a]",
    "[a > x]",
    "[a = 1 && b = 2, c]",
    "[1bad]",
    "%(group)%",
    "%[%",
])
def test_syntax_errors(pattern):
    with pytest.raises(FilterPatternError):
        compile_pattern(pattern)


def test_compiled_patterns_are_cached():
    assert compile_pattern("ERROR") is compile_pattern("ERROR")


_words = st.sampled_from(["ERROR", "error", "é", "x y", "日本", "-", "a"])


@given(st.lists(_words, max_size=6).map(" ".join), st.lists(st.sampled_from(["ERROR", "?é", "-a", '"x y"', "日本"]),
                                                             min_size=1, max_size=3).map(" ".join))
def test_term_patterns_match_the_same_on_stored_bytes(message, pattern):
    """A scan tests term patterns on the stored UTF-8 (after the 8-byte ingestion time) instead
    of decoding every event: the answer must be the one on the text."""
    matches = compile_pattern(pattern)
    raw = b"\x00" * 8 + message.encode("utf-8")
    assert matches.on_bytes(raw, 8) == matches(message)
