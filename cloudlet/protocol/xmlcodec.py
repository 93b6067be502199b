"""XML documents <-> Python values, driven by botocore shapes (query and rest-xml protocols).

Decoding reads an ElementTree element (parsed with defusedxml, so no entity bombs);
encoding writes text directly into a list of strings, which is several times faster
than building an ElementTree for the small documents AWS APIs exchange.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import SerializationException
from .values import (
    b64decode,
    b64encode,
    float_text,
    format_timestamp,
    parse_bool,
    parse_float,
    parse_timestamp,
)

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from botocore.model import Shape


class MalformedXML(SerializationException):
    code = "MalformedXML"


def parse_document(body: bytes) -> Element:
    # The parser loads with the first XML body (most requests have none): ~5 ms of start-up.
    from xml.etree.ElementTree import ParseError

    from defusedxml import ElementTree as SafeET
    from defusedxml.common import DefusedXmlException

    try:
        return SafeET.fromstring(body)
    except (ParseError, DefusedXmlException, ValueError):
        raise MalformedXML(
            "The XML you provided was not well-formed or did not validate against our published schema"
        ) from None


def local_name(tag: str) -> str:
    return tag[tag.index("}") + 1:] if tag[:1] == "{" else tag


def children_by_name(elem: Element) -> dict[str, list[Element]]:
    out: dict[str, list[Element]] = {}
    for child in elem:
        out.setdefault(local_name(child.tag), []).append(child)
    return out


def flattened_names(member: Shape, name: str) -> tuple[str, ...]:
    """Element names a flattened list member may use inside its structure."""
    own = member.serialization.get("name", name)
    if member.type_name == "list":
        item = member.member.serialization.get("name")
        if item and item != own:
            return (item, own)
    return (own,)


# ---- decoding ----------------------------------------------------------------------------

def _bad(shape: Shape, text: str, path: str) -> SerializationException:
    return SerializationException(f"Invalid {shape.type_name} value '{text[:64]}' at '{path}'")


def decode_scalar(shape: Shape, text: str, path: str = "") -> Any:
    """Convert the text of a scalar (also used for headers, query strings and URI labels)."""
    t = shape.type_name
    try:
        if t == "string":
            return text
        if t in ("integer", "long"):
            return int(text)
        if t in ("float", "double"):
            return parse_float(text)
        if t == "boolean":
            return parse_bool(text)
        if t == "blob":
            return b64decode(text, path)
        if t == "timestamp":
            return parse_timestamp(text)
    except (ValueError, OverflowError):
        raise _bad(shape, text, path) from None
    return text


def decode(shape: Shape, elem: Element, path: str = "") -> Any:
    t = shape.type_name
    if t == "structure":
        return decode_structure(shape, elem, path)
    if t == "list":
        item_name = shape.member.serialization.get("name", "member")
        return [decode(shape.member, c, f"{path}[{i}]")
                for i, c in enumerate(c for c in elem if local_name(c.tag) == item_name)]
    if t == "map":
        return _decode_entries(shape, [c for c in elem if local_name(c.tag) == "entry"], path)
    return decode_scalar(shape, elem.text or "", path)


def _decode_entries(shape: Shape, entries: list[Element], path: str) -> dict:
    kname = shape.key.serialization.get("name", "key")
    vname = shape.value.serialization.get("name", "value")
    out = {}
    for entry in entries:
        parts = children_by_name(entry)
        if kname not in parts:
            continue
        key = decode_scalar(shape.key, parts[kname][0].text or "", path)
        out[key] = decode(shape.value, parts[vname][0], f"{path}.{key}") if vname in parts else None
    return out


def _attribute(elem: Element, wire: str) -> str | None:
    if wire in elem.attrib:
        return elem.attrib[wire]
    local = wire.split(":")[-1]
    for key, value in elem.attrib.items():
        if local_name(key) == local:
            return value
    return None


def decode_structure(shape: Shape, elem: Element, path: str = "") -> dict:
    kids = children_by_name(elem)
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        ser = member.serialization
        if "location" in ser:
            continue
        sub = f"{path}.{name}" if path else name
        if ser.get("xmlAttribute"):
            value = _attribute(elem, ser.get("name", name))
            if value is not None:
                out[name] = decode_scalar(member, value, sub)
            continue
        if ser.get("flattened") and member.type_name in ("list", "map"):
            for wire in flattened_names(member, name):
                if wire in kids:
                    if member.type_name == "list":
                        out[name] = [decode(member.member, e, sub) for e in kids[wire]]
                    else:
                        out[name] = _decode_entries(member, kids[wire], sub)
                    break
            continue
        found = kids.get(ser.get("name", name))
        if found:
            out[name] = decode(member, found[0], sub)
    return out


# ---- encoding ----------------------------------------------------------------------------

# Characters XML 1.0 cannot carry at all (not even as references) become U+FFFD.
_ILLEGAL = {c: "\ufffd" for c in [*range(0x20), 0xFFFE, 0xFFFF, *range(0xD800, 0xE000)] if c not in (9, 10, 13)}
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;", **_ILLEGAL})
_ATTR_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#xD;",
                               "\n": "&#xA;", "\t": "&#x9;", **_ILLEGAL})


# Response members carried outside the body. URI and query-string bindings mean nothing in a
# response, so members that have them are written in the body like unbound ones.
OUTSIDE_BODY = frozenset({"header", "headers", "statusCode"})


def escape(text: str) -> str:
    return text.translate(_TEXT_ESCAPES)


def namespace_attr(shape: Shape) -> str:
    ns = shape.serialization.get("xmlNamespace")
    if not ns:
        return ""
    if isinstance(ns, dict):
        prefix = ns.get("prefix")
        return f' xmlns{":" + prefix if prefix else ""}="{ns["uri"]}"'
    return f' xmlns="{ns}"'


def scalar_text(shape: Shape, value: Any, default_ts: str = "iso8601") -> str:
    t = shape.type_name
    if t == "boolean":
        return "true" if value else "false"
    if t == "blob":
        return b64encode(value)
    if t == "timestamp":
        return str(format_timestamp(value, shape.serialization.get("timestampFormat", default_ts)))
    if t in ("float", "double"):
        return float_text(value)
    return str(value)


def encode(shape: Shape, value: Any, name: str, out: list[str], xmlns: str | None = None) -> None:
    """Append `<name>value</name>` for `value` of `shape` to `out`.

    `xmlns` is the namespace attribute text to put on the element; None means the shape's own.
    """
    t = shape.type_name
    if t == "structure":
        encode_structure(shape, value, name, out, xmlns)
        return
    ns = namespace_attr(shape) if xmlns is None else xmlns
    if t == "list":
        item = shape.member.serialization.get("name", "member")
        out.append(f"<{name}{ns}>")
        for v in value:
            encode(shape.member, v, item, out)
        out.append(f"</{name}>")
    elif t == "map":
        out.append(f"<{name}{ns}>")
        _encode_entries(shape, value, "entry", out)
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}{ns}>{escape(scalar_text(shape, value))}</{name}>")


def _encode_entries(shape: Shape, value: dict, entry: str, out: list[str]) -> None:
    kname = shape.key.serialization.get("name", "key")
    vname = shape.value.serialization.get("name", "value")
    for k, v in value.items():
        out.append(f"<{entry}><{kname}>{escape(str(k))}</{kname}>")
        if v is not None:
            encode(shape.value, v, vname, out)
        out.append(f"</{entry}>")


def encode_structure(shape: Shape, value: dict, name: str, out: list[str], xmlns: str | None = None) -> None:
    body: list[str] = []
    attrs = encode_members(shape, value, body)
    out.append(f"<{name}{namespace_attr(shape) if xmlns is None else xmlns}{attrs}>")
    out.extend(body)
    out.append(f"</{name}>")


def encode_members(shape: Shape, value: dict, out: list[str]) -> str:
    """Append the member elements of a structure; return its attribute text (xmlAttribute members)."""
    members = shape.members
    attrs: list[str] = []
    for key, v in value.items():
        member = members.get(key)
        if v is None or member is None:
            continue
        ser = member.serialization
        if ser.get("location") in OUTSIDE_BODY:
            continue
        wire = ser.get("name", key)
        if ser.get("xmlAttribute"):
            attrs.append(f' {wire}="{scalar_text(member, v).translate(_ATTR_ESCAPES)}"')
        elif ser.get("flattened") and member.type_name == "list":
            item = flattened_names(member, key)[0]
            for x in v:
                encode(member.member, x, item, out)
        elif ser.get("flattened") and member.type_name == "map":
            _encode_entries(member, v, wire, out)
        else:
            encode(member, v, wire, out)
    return "".join(attrs)
