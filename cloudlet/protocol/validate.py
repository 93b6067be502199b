"""Input constraint checks (required, enum, length, range) with AWS's validation wording.

AWS services validate requests server-side and answer, e.g. for DynamoDB:
  1 validation error detected: Value null at 'tableName' failed to satisfy constraint:
  Member must not be null
Paths use lowerCamelCase member names and 1-based `.N.member` steps for list items.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.model import Shape


MAX_PROBLEMS = 10


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (bytes, bytearray)):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, (list, dict)):
        return "'" + str(value)[:128] + "'"
    return f"'{value}'"


# Where a value sits, as its checks pass it down: a member's camel name at the top, then
# `(parent, step)` pairs (a member name, or a list item's 1-based index), spelled out
# (`a.b.3.member.c`) only for a problem: a valid request builds no path strings.
Where = str | tuple


def _step(path: Where, step: str | int) -> Where:
    return (path, step) if path else step  # type: ignore[return-value]  # (a top-level step is a name)


def _spelled(path: Where) -> str:
    steps = []
    while isinstance(path, tuple):
        path, step = path
        steps.append(f".{step}.member" if isinstance(step, int) else f".{step}")
    return path + "".join(reversed(steps))


def _problem(value: Any, path: Where, constraint: str) -> str:
    return f"Value {_show(value)} at '{_spelled(path)}' failed to satisfy constraint: Member must {constraint}"


def validate(shape: Shape, params: dict, skip: frozenset[str] = frozenset(),
             constraints: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """Return AWS-worded problems for `params` against input `shape` (empty when valid).
    Top-level members named in `skip` are left to the provider (which words them its own way).
    `constraints` (a service's Quirks.constraints, by shape name) are those the service enforces
    beyond its model: another `min`/`max`, `"pattern": True` to check the model's pattern."""
    if constraints:
        _constraints.setdefault(shape._shape_resolver, constraints)
    problems: list[str] = []
    _structure_check(shape, skip)(params, "", problems)
    return problems[:MAX_PROBLEMS]


# Each shape's check is built once (shapes live as long as their cached service model; the
# tables hold them, so they are never freed under us) as a closure over what can fail: a member
# that nothing constrains costs nothing, and paths are put together only for members that are
# checked. The few thousand log events of one PutLogEvents are checked in a fraction of the
# time a walk asking each shape for its constraints took.
Check = Callable[[Any, Where, list], None]
# Keyed by a shape's model (its resolver) and name: botocore makes a new Shape object each time
# a member is reached, also when a shape contains itself (DynamoDB's AttributeValue).
_structures: dict[tuple[Any, str, frozenset[str]], Check] = {}
_values: dict[tuple[Any, str], Check | None] = {}
_constraints: dict[Any, Mapping[str, Mapping[str, Any]]] = {}  # a model's (resolver's) own constraints


def _key(shape: Shape) -> tuple[Any, str]:
    return shape._shape_resolver, shape.name


def _structure_check(shape: Shape, skip: frozenset[str] = frozenset()) -> Check:
    found = _structures.get((*_key(shape), skip))
    if found is not None:
        return found
    required = [(name, _camel(name)) for name in shape.required_members]
    members: dict[str, tuple[str, Check]] = {}

    def check_structure(value: Any, path: Where, problems: list[str]) -> None:
        if not isinstance(value, dict):
            return
        for name, camel in required:
            if value.get(name) is None:
                problems.append(_problem(None, _step(path, camel), "not be null"))
        for name, v in value.items():  # (in the request's order, as the problems are listed)
            found = members.get(name)
            if found is not None and v is not None:
                found[1](v, _step(path, found[0]), problems)

    _structures[(*_key(shape), skip)] = check_structure  # (before its members: a shape may contain itself)
    members.update((name, (_camel(name), check)) for name, member in shape.members.items()
                   if name not in skip and (check := _check_of(member)) is not None)
    return check_structure


def _check_of(shape: Shape) -> Check | None:
    """The check of a value of `shape` (None: every value passes)."""
    key = _key(shape)
    if key not in _values:
        _values[key] = _build(shape)
    return _values[key]


def _build(shape: Shape) -> Check | None:
    t = shape.type_name
    meta = shape.metadata
    own = _constraints.get(shape._shape_resolver, {}).get(shape.name)
    if own:
        meta = {**meta, **{k: v for k, v in own.items() if k != "pattern"}}
        if own.get("pattern") and meta.get("pattern"):
            return _with_pattern(_length_check(meta), meta["pattern"])
    if t == "structure":
        return None if shape.is_document_type else _structure_check(shape)
    if t == "string":
        enum = shape.enum
        if enum:
            allowed, text = frozenset(enum), f"satisfy enum value set: [{', '.join(enum)}]"

            def check_enum(value: Any, path: Where, problems: list[str]) -> None:
                if value not in allowed:
                    problems.append(_problem(value, path, text))
            return check_enum
        return _length_check(meta)
    if t in ("list", "map", "blob"):
        length = _length_check(meta)
        item = _check_of(shape.member) if t == "list" else _check_of(shape.value) if t == "map" else None
        if item is None:
            return length
        is_list = t == "list"

        def check_items(value: Any, path: Where, problems: list[str]) -> None:
            if length is not None:
                length(value, path, problems)
            if is_list:
                for i, v in enumerate(value, 1):
                    if v is not None:
                        item(v, (path, i), problems)
            else:
                for k, v in value.items():
                    if v is not None:
                        item(v, (path, str(k)), problems)
        return check_items
    if t in ("integer", "long", "float", "double") and ("min" in meta or "max" in meta):
        low, high = meta.get("min"), meta.get("max")

        def check_range(value: Any, path: Where, problems: list[str]) -> None:
            if low is not None and value < low:
                problems.append(_problem(value, path, f"have value greater than or equal to {low}"))
            if high is not None and value > high:
                problems.append(_problem(value, path, f"have value less than or equal to {high}"))
        return check_range
    return None


def _with_pattern(length: Check | None, pattern: str) -> Check:
    compiled, text = re.compile(pattern), f"satisfy regular expression pattern: {pattern}"

    def check_pattern(value: Any, path: Where, problems: list[str]) -> None:
        if length is not None:
            length(value, path, problems)
        if isinstance(value, str) and compiled.fullmatch(value) is None:
            problems.append(_problem(value, path, text))
    return check_pattern


def _length_check(meta: dict) -> Check | None:
    low, high = meta.get("min"), meta.get("max")
    if low is None and high is None:
        return None

    def check_length(value: Any, path: Where, problems: list[str]) -> None:
        n = len(value)
        if low is not None and n < low:
            problems.append(_problem(value, path, f"have length greater than or equal to {low}"))
        if high is not None and n > high:
            problems.append(_problem(value, path, f"have length less than or equal to {high}"))
    return check_length
