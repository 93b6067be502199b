"""CloudWatch Logs filter patterns: parsed once, then matched against many messages.

`compile_pattern(text)` returns a predicate `message -> bool`, or None for the empty pattern
(every event matches); a malformed pattern raises :class:`FilterPatternError`. Four forms,
chosen by the first character:

* terms (unstructured): `ERROR Exception` (all terms), `?ERROR ?WARN` (any of these),
  `-DEBUG` (none of these), `"exact phrase"`; matching is case-sensitive substring search
  (AWS's own example: `ERROR Exception` matches `[ERROR] Caught IllegalArgumentException`).
* regex: `%colou?r%` (searched anywhere in the message; `(` and `)` are not supported, as on AWS).
* JSON: `{ $.level = "ERROR" && ($.latency > 100 || $.retry IS TRUE) }` against messages that
  are JSON. Selectors `$.a.b`, `$.a[0]`, `$.a[*]`; operators `= != < <= > >=`, `IS NULL`,
  `IS TRUE`, `IS FALSE`, `NOT EXISTS`; string values quoted or bare, with `*` wildcards; values
  `%regex%`; `&&` binds tighter than `||`; parentheses group.
* space-delimited: `[ip, user, ..., status = 4*, bytes > 1000]` against messages split on
  spaces (a `"quoted"` or `[bracketed]` run is one field). `...` stands for any number of
  fields; a field may carry conditions joined with `&&`/`||` (`status >= 400 && status < 500`).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from typing import Any

Matcher = Callable[[str], bool]

_MISSING = object()
_ORDER_OPS = ("<=", ">=", "<", ">")
_OPS = ("!=", "<=", ">=", "=", "<", ">")
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


class FilterPatternError(ValueError):
    """The pattern is not valid filter pattern syntax."""


@functools.lru_cache(maxsize=512)
def compile_pattern(text: str) -> Matcher | None:
    """A predicate for `text`, or None when the pattern is empty (matches everything)."""
    s = text.strip()
    if not s:
        return None
    if s[0] == "{":
        return _compile_json(s)
    if s[0] == "[":
        return _compile_delimited(s)
    if len(s) >= 2 and s[0] == "%" and s[-1] == "%":
        rx = _regex(s[1:-1])
        return lambda message: rx.search(message) is not None
    return _compile_terms(s)


def _regex(body: str) -> re.Pattern:
    if "(" in body.replace("\\(", "") or ")" in body.replace("\\)", ""):
        raise FilterPatternError("Parentheses are not supported in regular expressions")
    if not body:
        raise FilterPatternError("Empty regular expression")
    try:
        return re.compile(body)
    except re.error as exc:
        raise FilterPatternError(f"Invalid regular expression: {exc}") from None


# ---- terms ----

def _compile_terms(s: str) -> Matcher:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    i, n = 0, len(s)
    while i < n:
        if s[i].isspace():
            i += 1
            continue
        target = required
        if s[i] in "?-" and i + 1 < n and not s[i + 1].isspace():
            target = optional if s[i] == "?" else excluded
            i += 1
        if s[i] == '"':
            term, i = _quoted(s, i)
        else:
            j = i
            while j < n and not s[j].isspace():
                j += 1
            term, i = s[i:j], j
        if term:
            target.append(term)

    def matches(message: str) -> bool:
        for term in required:
            if term not in message:
                return False
        for term in excluded:
            if term in message:
                return False
        if optional:
            return any(term in message for term in optional)
        return True

    # The same test on a stored event's UTF-8 bytes from `start` on (a substring of UTF-8 text
    # is one of its bytes): a scan decodes only the events that match.
    required_b, optional_b, excluded_b = ([t.encode("utf-8", "surrogatepass") for t in terms]
                                          for terms in (required, optional, excluded))

    def on_bytes(raw: bytes, start: int) -> bool:
        for term in required_b:
            if raw.find(term, start) < 0:
                return False
        for term in excluded_b:
            if raw.find(term, start) >= 0:
                return False
        if optional_b:
            return any(raw.find(term, start) >= 0 for term in optional_b)
        return True

    matches.on_bytes = on_bytes  # type: ignore[attr-defined]
    return matches


def _quoted(s: str, i: int) -> tuple[str, int]:
    """The string literal starting at s[i] == '"' (with \\" and \\\\ escapes) and the index after it."""
    out = []
    j = i + 1
    n = len(s)
    while j < n:
        c = s[j]
        if c == "\\" and j + 1 < n and s[j + 1] in '"\\':
            out.append(s[j + 1])
            j += 2
            continue
        if c == '"':
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise FilterPatternError("Unterminated quoted string")


# ---- a small lexer for the JSON and space-delimited forms ----

class _Lexer:
    def __init__(self, text: str, pos: int = 0) -> None:
        self.s = text
        self.i = pos

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def peek(self, token: str) -> bool:
        self.ws()
        return self.s.startswith(token, self.i)

    def take(self, token: str) -> bool:
        if self.peek(token):
            self.i += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.take(token):
            raise FilterPatternError(f"Expected '{token}' at position {self.i}")

    def at_end(self) -> bool:
        self.ws()
        return self.i >= len(self.s)

    def word(self) -> str:
        self.ws()
        m = re.compile(r"[A-Za-z]+").match(self.s, self.i)
        return m.group(0) if m else ""

    def op(self) -> str | None:
        self.ws()
        for op in _OPS:
            if self.s.startswith(op, self.i):
                self.i += len(op)
                return op
        return None

    def value(self, stops: str) -> tuple:
        """A literal: ("str", text) quoted or bare, ("num", float, text), or ("regex", pattern)."""
        self.ws()
        s = self.s
        if self.i >= len(s):
            raise FilterPatternError("Expected a value")
        if s[self.i] == '"':
            text, self.i = _quoted(s, self.i)
            return ("str", text)
        if s[self.i] == "%":
            end = s.find("%", self.i + 1)
            if end == -1:
                raise FilterPatternError("Unterminated regular expression")
            rx = _regex(s[self.i + 1:end])
            self.i = end + 1
            return ("regex", rx)
        j = self.i
        while j < len(s) and not s[j].isspace() and s[j] not in stops and not s.startswith(("&&", "||"), j):
            j += 1
        text = s[self.i:j]
        if not text:
            raise FilterPatternError(f"Expected a value at position {self.i}")
        self.i = j
        if _NUMBER.fullmatch(text):
            return ("num", float(text), text)
        return ("str", text)


def _bool_expr(lex: _Lexer, atom: Callable[[_Lexer], Callable[[Any], bool]]) -> Callable[[Any], bool]:
    """`atom (&& atom)* (|| ...)*` with && binding tighter; `atom` parses one comparison."""
    ors: list[Callable[[Any], bool]] = []
    while True:
        ands = [atom(lex)]
        while lex.take("&&"):
            ands.append(atom(lex))
        ors.append(ands[0] if len(ands) == 1 else _all_of(ands))
        if not lex.take("||"):
            break
    return ors[0] if len(ors) == 1 else _any_of(ors)


def _all_of(tests: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    return lambda env: all(t(env) for t in tests)


def _any_of(tests: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    return lambda env: any(t(env) for t in tests)


def _glob(text: str) -> re.Pattern | None:
    """`*` matches any run of characters; everything else is literal."""
    return re.compile(".*".join(re.escape(part) for part in text.split("*")), re.S) if "*" in text else None


def _compare(op: str, literal: tuple, value: Any) -> bool:
    """Does a field `value` (JSON scalar or delimited string) satisfy `op literal`?"""
    kind = literal[0]
    if op in _ORDER_OPS:
        number = _as_number(value)
        if number is None:
            return False
        bound = literal[1]
        return {"<": number < bound, "<=": number <= bound, ">": number > bound, ">=": number >= bound}[op]
    if kind == "regex":
        hit = isinstance(value, str) and literal[1].search(value) is not None
    elif kind == "num":
        number = _as_number(value)
        if number is not None:
            hit = number == literal[1]
        else:
            hit = isinstance(value, str) and value == literal[2]
    else:
        text = literal[1]
        if isinstance(value, bool):
            hit = text == ("true" if value else "false")
        elif value is None:
            hit = text == "null"
        elif isinstance(value, (int, float)):
            number = _as_number(text)
            hit = number is not None and number == value
        elif isinstance(value, str):
            rx = literal[2] if len(literal) > 2 else None
            hit = rx.fullmatch(value) is not None if rx is not None else value == text
        else:
            return False
    return hit if op == "=" else not hit


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        number = float(value)
        return None if math.isnan(number) else number
    return None


def _with_glob(literal: tuple) -> tuple:
    if literal[0] == "str":
        rx = _glob(literal[1])
        if rx is not None:
            return ("str", literal[1], rx)
    return literal


# ---- JSON ----

def _compile_json(s: str) -> Matcher:
    lex = _Lexer(s)
    lex.expect("{")
    expr = _bool_expr(lex, _json_atom)
    lex.expect("}")
    if not lex.at_end():
        raise FilterPatternError(f"Unexpected text after '}}' at position {lex.i}")

    def matches(message: str) -> bool:
        if not message.lstrip().startswith(("{", "[")):
            return False
        try:
            doc = json.loads(message)
        except ValueError:
            return False
        return bool(expr(doc))

    return matches


_SELECTOR_STEP = re.compile(r"\.([^\s.\[\]=!<>()&|{}\"]+)|\[(\d+|\*)\]")


def _json_atom(lex: _Lexer) -> Callable[[Any], bool]:
    if lex.take("("):
        inner = _bool_expr(lex, _json_atom)
        lex.expect(")")
        return inner
    lex.ws()
    if not lex.take("$"):
        raise FilterPatternError(f"Expected a selector starting with '$' at position {lex.i}")
    steps: list[str | int] = []
    while True:
        m = _SELECTOR_STEP.match(lex.s, lex.i)
        if not m:
            break
        lex.i = m.end()
        if m.group(1) is not None:
            steps.append(m.group(1))
        else:
            steps.append("*" if m.group(2) == "*" else int(m.group(2)))
    if not steps:
        raise FilterPatternError(f"Incomplete selector at position {lex.i}")
    word = lex.word()
    if word == "IS":
        lex.expect("IS")
        what = lex.word()
        if what not in ("NULL", "TRUE", "FALSE"):
            raise FilterPatternError("Expected NULL, TRUE or FALSE after IS")
        lex.expect(what)
        wanted = {"NULL": None, "TRUE": True, "FALSE": False}[what]
        return lambda doc: any(v is wanted for v in _select(doc, steps))
    if word == "NOT":
        lex.expect("NOT")
        lex.expect("EXISTS")
        return lambda doc: not _select(doc, steps)
    op = lex.op()
    if op is None:
        raise FilterPatternError(f"Expected a comparison operator at position {lex.i}")
    literal = _with_glob(lex.value(")}"))
    if op in _ORDER_OPS and literal[0] != "num":
        raise FilterPatternError(f"Operator {op} needs a numeric value")
    return lambda doc: any(_compare(op, literal, v) for v in _select(doc, steps)
                           if not isinstance(v, (dict, list)))


def _select(doc: Any, steps: list) -> list:
    """Values at the selector path (several with `[*]`); empty when the path does not exist."""
    current = [doc]
    for step in steps:
        following = []
        for node in current:
            if step == "*":
                if isinstance(node, list):
                    following.extend(node)
                elif isinstance(node, dict):
                    following.extend(node.values())
            elif isinstance(step, int):
                if isinstance(node, list) and step < len(node):
                    following.append(node[step])
            elif isinstance(node, dict) and step in node:
                following.append(node[step])
        current = following
        if not current:
            break
    return current


# ---- space-delimited ----

_ELLIPSIS = object()


def _compile_delimited(s: str) -> Matcher:
    lex = _Lexer(s)
    lex.expect("[")
    fields: list = []
    names: set[str] = set()
    conditions = []
    referenced: set[str] = set()
    if not lex.peek("]"):
        while True:
            if lex.take("..."):
                fields.append(_ELLIPSIS)
            else:
                name = _field_name(lex)
                if name in names:
                    raise FilterPatternError(f"Duplicate field name '{name}'")
                names.add(name)
                fields.append(name)
                lex.ws()
                if lex.s.startswith(_OPS, lex.i):
                    conditions.append(_bool_expr(lex, _delimited_atom(name, referenced)))
            if not lex.take(","):
                break
    lex.expect("]")
    if not lex.at_end():
        raise FilterPatternError(f"Unexpected text after ']' at position {lex.i}")
    unknown = referenced - names
    if unknown:
        raise FilterPatternError(f"Unknown field name(s) in condition: {', '.join(sorted(unknown))}")

    def matches(message: str) -> bool:
        return _align(fields, 0, split_fields(message), 0, {}, conditions)

    return matches


def _field_name(lex: _Lexer) -> str:
    lex.ws()
    m = re.compile(r"[A-Za-z_$@][\w$@.\-]*").match(lex.s, lex.i)
    if not m:
        raise FilterPatternError(f"Expected a field name at position {lex.i}")
    lex.i = m.end()
    return m.group(0)


def _delimited_atom(own: str, referenced: set[str]) -> Callable[[_Lexer], Callable[[dict], bool]]:
    """Parses one `name op value` of field `own`'s condition; the first omits the name."""
    first = [True]

    def atom(lex: _Lexer) -> Callable[[dict], bool]:
        if first[0]:
            first[0] = False
            name = own
        else:
            name = _field_name(lex)
        referenced.add(name)
        op = lex.op()
        if op is None:
            raise FilterPatternError(f"Expected a comparison operator at position {lex.i}")
        literal = _with_glob(lex.value(",]"))
        if op in _ORDER_OPS and literal[0] != "num":
            raise FilterPatternError(f"Operator {op} needs a numeric value")
        return lambda env: name in env and _compare(op, literal, env[name])

    return atom


def split_fields(message: str) -> list[str]:
    """Fields of a space-delimited message. A field that starts with `"` or `[` runs to the
    matching `"` or `]` followed by a space (or the end) and loses those delimiters; any
    other field is a run of non-space characters."""
    out = []
    i, n = 0, len(message)
    while i < n:
        c = message[i]
        if c.isspace():
            i += 1
            continue
        if c in '"[':
            close = '"' if c == '"' else "]"
            j = message.find(close, i + 1)
            while j != -1 and j + 1 < n and not message[j + 1].isspace():
                j = message.find(close, j + 1)
            if j != -1:
                out.append(message[i + 1:j])
                i = j + 1
                continue
        j = i
        while j < n and not message[j].isspace():
            j += 1
        out.append(message[i:j])
        i = j
    return out


def _align(fields: list, fi: int, values: list[str], vi: int, env: dict, conditions: list) -> bool:
    if fi == len(fields):
        return vi == len(values) and all(cond(env) for cond in conditions)
    field = fields[fi]
    if field is _ELLIPSIS:
        return any(_align(fields, fi + 1, values, k, env, conditions) for k in range(vi, len(values) + 1))
    if vi == len(values):
        return False
    env[field] = values[vi]
    return _align(fields, fi + 1, values, vi + 1, env, conditions)
