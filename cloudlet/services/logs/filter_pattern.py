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
  `[]` names no field and matches every message.

Metric filters also need what a match extracts: `extractor(matcher)` gives `message ->
Extracted | None`, whose `values` are TestMetricFilter's extractedValues (`$.latency` for the
selectors of a JSON pattern; `$ip` for named and `$3` for other space-delimited fields) and whose
`lookup(selector)` reads a metric value or dimension (`$.a.b`, `$size`, `$2`).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Sequence
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
    selectors: dict[str, list] = {}
    expr = _bool_expr(lex, lambda inner: _json_atom(inner, selectors))
    lex.expect("}")
    if not lex.at_end():
        raise FilterPatternError(f"Unexpected text after '}}' at position {lex.i}")

    def document(message: str) -> Any:
        if not message.lstrip().startswith(("{", "[")):
            return _MISSING
        try:
            return json.loads(message)
        except ValueError:
            return _MISSING

    def matches(message: str) -> bool:
        doc = document(message)
        return doc is not _MISSING and bool(expr(doc))

    def extract(message: str) -> Extracted | None:
        doc = document(message)
        if doc is _MISSING or not expr(doc):
            return None
        values = {}
        for text, steps in selectors.items():
            found = _scalar_text(_select(doc, steps))
            if found is not None:
                values[text] = found
        return Extracted(values, doc)

    matches.extract = extract  # type: ignore[attr-defined]
    matches.kind = "json"  # type: ignore[attr-defined]
    return matches


_SELECTOR_STEP = re.compile(r"\.([^\s.\[\]=!<>()&|{}\"]+)|\[(\d+|\*)\]")


def _json_atom(lex: _Lexer, selectors: dict[str, list]) -> Callable[[Any], bool]:
    if lex.take("("):
        inner = _bool_expr(lex, lambda nested: _json_atom(nested, selectors))
        lex.expect(")")
        return inner
    lex.ws()
    start = lex.i
    if not lex.take("$"):
        raise FilterPatternError(f"Expected a selector starting with '$' at position {lex.i}")
    steps = _selector_steps(lex)
    if not steps:
        raise FilterPatternError(f"Incomplete selector at position {lex.i}")
    selectors.setdefault(lex.s[start:lex.i], steps)
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


def _selector_steps(lex: _Lexer) -> list[str | int]:
    """The steps of a selector whose `$` was just taken (`.name`, `[0]`, `[*]`)."""
    steps: list[str | int] = []
    while True:
        m = _SELECTOR_STEP.match(lex.s, lex.i)
        if not m:
            return steps
        lex.i = m.end()
        if m.group(1) is not None:
            steps.append(m.group(1))
        else:
            steps.append("*" if m.group(2) == "*" else int(m.group(2)))


def _select(doc: Any, steps: Sequence[str | int]) -> list:
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
    while not lex.peek("]"):
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
    if not fields:
        fields = [_ELLIPSIS]   # `[]` names no field: every message matches (as on AWS)

    def matches(message: str) -> bool:
        return _align(fields, 0, split_fields(message), 0, {}, conditions)

    def extract(message: str) -> Extracted | None:
        """Named fields as `$name`, the others by position (`$1` is the first), as
        TestMetricFilter gives them."""
        values = split_fields(message)
        env: dict[str, str] = {}
        at: dict[str, int] = {}
        if not _align(fields, 0, values, 0, env, conditions, at):
            return None
        named = {index: name for name, index in at.items()}
        return Extracted({f"${named.get(i, i + 1)}": value for i, value in enumerate(values)})

    matches.extract = extract  # type: ignore[attr-defined]
    matches.kind = "delimited"  # type: ignore[attr-defined]
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


def _align(fields: list, fi: int, values: list[str], vi: int, env: dict, conditions: list,
           at: dict | None = None) -> bool:
    """Do `values[vi:]` fit `fields[fi:]` with every condition true? Fills `env` (name ->
    value) and, when given, `at` (name -> index of its value) along the way."""
    if fi == len(fields):
        return vi == len(values) and all(cond(env) for cond in conditions)
    field = fields[fi]
    if field is _ELLIPSIS:
        return any(_align(fields, fi + 1, values, k, env, conditions, at) for k in range(vi, len(values) + 1))
    if vi == len(values):
        return False
    env[field] = values[vi]
    if at is not None:
        at[field] = vi
    return _align(fields, fi + 1, values, vi + 1, env, conditions, at)


# ---- extraction (metric filters) ----

class Extracted:
    """What a matching message yields to a metric filter: `values` as TestMetricFilter lists
    them (`$.latency` for a JSON pattern's selectors; `$name` and `$3` for space-delimited
    fields), and the parsed message of a JSON pattern, for selectors the pattern does not use."""

    __slots__ = ("values", "doc")

    def __init__(self, values: dict[str, str], doc: Any = _MISSING) -> None:
        self.values = values
        self.doc = doc

    def lookup(self, selector: str) -> str | None:
        """The text of `$.a.b` (JSON) or `$field` / `$2` (space-delimited); None if absent."""
        if self.doc is not _MISSING and selector.startswith(("$.", "$[")):
            steps = parse_selector(selector)
            return None if steps is None else _scalar_text(_select(self.doc, steps))
        return self.values.get(selector)


_NOTHING_EXTRACTED = Extracted({})
Extractor = Callable[[str], "Extracted | None"]


def _scalar_text(found: list) -> str | None:
    """The first scalar of selected values as text (JSON's spelling for true/false)."""
    for value in found:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return value if isinstance(value, str) else json.dumps(value)
    return None


@functools.lru_cache(maxsize=256)
def parse_selector(text: str) -> tuple[str | int, ...] | None:
    """The steps of a JSON selector (`$.a.b[0]`), or None if `text` is not one."""
    lex = _Lexer(text)
    if not lex.take("$"):
        return None
    steps = _selector_steps(lex)
    return tuple(steps) if steps and lex.i == len(text) else None


def pattern_kind(matcher: Matcher | None) -> str:
    """"json", "delimited", or "text" (terms, regex, the empty pattern): what fields it names."""
    return getattr(matcher, "kind", "text")


def extractor(matcher: Matcher | None) -> Extractor:
    """`message -> Extracted | None` (None: no match) for a compiled pattern."""
    found = getattr(matcher, "extract", None)
    if found is not None:
        return found
    if matcher is None:
        return lambda message: _NOTHING_EXTRACTED
    test = matcher
    return lambda message: _NOTHING_EXTRACTED if test(message) else None
