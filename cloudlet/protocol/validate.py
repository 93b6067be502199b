"""Input constraint checks (required, enum, length, range) with AWS's validation wording.

AWS services validate requests server-side and answer, e.g. for DynamoDB:
  1 validation error detected: Value null at 'tableName' failed to satisfy constraint:
  Member must not be null
Paths use lowerCamelCase member names and 1-based `.N.member` steps for list items.
"""

from __future__ import annotations

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


def _problem(value: Any, path: str, constraint: str) -> str:
    return f"Value {_show(value)} at '{path}' failed to satisfy constraint: Member must {constraint}"


def validate(shape: Shape, params: dict, skip: frozenset[str] = frozenset()) -> list[str]:
    """Return AWS-worded problems for `params` against input `shape` (empty when valid).
    Top-level members named in `skip` are left to the provider (which words them its own way)."""
    problems: list[str] = []
    _check_structure(shape, params, "", problems, skip)
    return problems[:MAX_PROBLEMS]


def _check_structure(shape: Shape, value: dict, path: str, problems: list[str],
                     skip: frozenset[str] = frozenset()) -> None:
    members = shape.members
    for name in shape.required_members:
        if value.get(name) is None:
            problems.append(_problem(None, _join(path, name), "not be null"))
    for name, v in value.items():
        member = members.get(name)
        if member is not None and v is not None and name not in skip:
            _check(member, v, _join(path, name), problems)


def _join(path: str, name: str) -> str:
    return f"{path}.{_camel(name)}" if path else _camel(name)


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        if not shape.is_document_type and isinstance(value, dict):
            _check_structure(shape, value, path, problems)
        return
    if t == "string":
        if shape.enum and value not in shape.enum:
            problems.append(_problem(value, path, f"satisfy enum value set: [{', '.join(shape.enum)}]"))
            return
        _check_length(value, len(value), meta, path, problems)
    elif t in ("list", "map", "blob"):
        _check_length(value, len(value), meta, path, problems)
        if t == "list":
            for i, item in enumerate(value, 1):
                if item is not None:
                    _check(shape.member, item, f"{path}.{i}.member", problems)
        elif t == "map":
            for k, item in value.items():
                if item is not None:
                    _check(shape.value, item, f"{path}.{k}", problems)
    elif t in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            problems.append(_problem(value, path, f"have value greater than or equal to {meta['min']}"))
        if "max" in meta and value > meta["max"]:
            problems.append(_problem(value, path, f"have value less than or equal to {meta['max']}"))


def _check_length(value: Any, length: int, meta: dict, path: str, problems: list[str]) -> None:
    if "min" in meta and length < meta["min"]:
        problems.append(_problem(value, path, f"have length greater than or equal to {meta['min']}"))
    if "max" in meta and length > meta["max"]:
        problems.append(_problem(value, path, f"have length less than or equal to {meta['max']}"))
