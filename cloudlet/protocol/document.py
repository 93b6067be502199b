"""Decoded documents <-> Python values, driven by botocore shapes.

A document is what a JSON or CBOR decoder gives: dicts, lists and scalars. Walking it
against a shape is the same for both wire formats (member names, nulls, lists, maps, type
checks); they differ only in how blobs, timestamps and floats travel, which a subclass
supplies (`jsoncodec.JsonShapes`, `cbor.CborShapes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import SerializationException
from .values import parse_float, parse_timestamp

if TYPE_CHECKING:
    from botocore.model import Shape


def mismatch(shape: Shape, value: Any, path: str) -> SerializationException:
    kind = type(value).__name__
    return SerializationException(
        f"Unexpected value type in payload: expected {shape.type_name} at '{path or '$'}', got {kind}"
    )


# Structures whose members are all strings, integers or booleans under their own names are
# decoded by a plan made once per shape (its model's resolver and its name: botocore makes a
# new Shape object each time a member is reached): the generic walk costs a few microseconds
# per record, which thousands of records in one request (PutLogEvents) add up.
_FLAT_KINDS = {"string": (str,), "integer": (int,), "long": (int,), "boolean": (bool,)}
FlatPlan = tuple[tuple[str, tuple[type, ...]], ...]
_flat_plans: dict[tuple[Any, str], FlatPlan | None] = {}


def _flat_plan(shape: Shape) -> FlatPlan | None:
    key = (shape._shape_resolver, shape.name)
    if key not in _flat_plans:
        plan = [(name, _FLAT_KINDS.get(member.type_name)) for name, member in shape.members.items()
                if "name" not in member.serialization]
        flat = len(plan) == len(shape.members) and not shape.is_document_type
        _flat_plans[key] = tuple((n, k) for n, k in plan if k is not None) if flat and all(
            k is not None for _, k in plan) else None
    return _flat_plans[key]


def _decode_flat(plan: FlatPlan, value: dict[str, Any]) -> dict[str, Any] | None:
    """The record by `plan`, or None when a value is not plainly of its type (the generic walk
    then converts it, or words the error)."""
    out = {}
    for name, kinds in plan:
        v = value.get(name)
        if v is None:
            continue
        if type(v) not in kinds:  # (exact types: a bool is no integer; 1.0 goes the long way)
            return None
        out[name] = v
    return out


class ShapeCodec:
    """Walk a document against a shape, both ways; subclasses write the wire's own scalars."""

    # ---- decoding (wire -> params) ------------------------------------------------------

    def decode(self, shape: Shape, value: Any, path: str = "") -> Any:
        """Convert a decoded document value to the Python value botocore users pass for `shape`."""
        if value is None:
            return None
        t = shape.type_name
        if t == "structure":
            if shape.is_document_type:
                return value
            if not isinstance(value, dict):
                raise mismatch(shape, value, path)
            flat = _flat_plan(shape)
            if flat is not None:
                found = _decode_flat(flat, value)
                if found is not None:
                    return found
            out = {}
            for name, member in shape.members.items():
                wire = member.serialization.get("name", name)
                if wire in value and value[wire] is not None:
                    out[name] = self.decode(member, value[wire], f"{path}.{name}" if path else name)
            return out
        if t == "list":
            if not isinstance(value, list):
                raise mismatch(shape, value, path)
            member = shape.member
            flat = _flat_plan(member) if member.type_name == "structure" else None
            if flat is not None:  # (a list of plain records: PutLogEvents' events)
                items = [_decode_flat(flat, v) if isinstance(v, dict) else None for v in value]
                if None not in items:
                    return items
            return [self.decode(member, v, f"{path}[{i}]") for i, v in enumerate(value)]
        if t == "map":
            if not isinstance(value, dict):
                raise mismatch(shape, value, path)
            vshape = shape.value
            out_map = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise mismatch(shape.key, k, f"{path} key")
                out_map[k] = self.decode(vshape, v, f"{path}.{k}")
            return out_map
        if t == "string":
            if not isinstance(value, str):
                raise mismatch(shape, value, path)
            return value
        if t in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                    isinstance(value, float) and not value.is_integer()):
                raise mismatch(shape, value, path)
            return int(value)
        if t in ("float", "double"):
            try:
                return parse_float(value)
            except (TypeError, ValueError):
                raise mismatch(shape, value, path) from None
        if t == "boolean":
            if not isinstance(value, bool):
                raise mismatch(shape, value, path)
            return value
        if t == "blob":
            return self.decode_blob(shape, value, path)
        if t == "timestamp":
            try:
                return parse_timestamp(value)
            except (TypeError, ValueError, OverflowError):
                raise SerializationException(f"Invalid timestamp at '{path}'") from None
        return value

    def decode_blob(self, shape: Shape, value: Any, path: str) -> bytes:
        raise NotImplementedError

    # ---- encoding (result -> wire) ------------------------------------------------------

    def encode(self, shape: Shape, value: Any) -> Any:
        """Convert a provider's Python value for `shape` to a document value for the wire."""
        t = shape.type_name
        if t == "structure":
            if shape.is_document_type:
                return value
            out = {}
            members = shape.members
            for name, v in value.items():
                if v is None:
                    continue
                member = members.get(name)
                if member is None:
                    continue  # providers may keep private keys; never leak them
                out[member.serialization.get("name", name)] = self.encode(member, v)
            return out
        if t == "list":
            member = shape.member
            return [self.encode(member, v) for v in value]
        if t == "map":
            vshape = shape.value
            return {k: self.encode(vshape, v) for k, v in value.items()}
        if t == "blob":
            return self.encode_blob(value)
        if t == "timestamp":
            return self.encode_timestamp(shape, value)
        if t in ("float", "double"):
            return self.encode_float(float(value))
        return value

    def encode_blob(self, value: Any) -> Any:
        raise NotImplementedError

    def encode_timestamp(self, shape: Shape, value: Any) -> Any:
        raise NotImplementedError

    def encode_float(self, value: float) -> Any:
        raise NotImplementedError
