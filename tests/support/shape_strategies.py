"""Hypothesis strategies that generate valid values for botocore shapes.

Strings avoid what a wire format cannot carry (XML forbids most control characters, HTTP
headers are ASCII); timestamps are whole seconds because botocore itself truncates them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.model import Shape
from hypothesis import strategies as st

TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn"),
                           include_characters="\t\n"),
    min_size=1, max_size=12)
SAFE = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=12)
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
LABEL = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn", "Zs")),
                min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
TIMESTAMPS = st.integers(min_value=0, max_value=4102444800).map(
    lambda s: datetime.fromtimestamp(s, UTC))
JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**31), 2**31) | SAFE
DOCUMENTS = st.recursive(JSON_SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(SAFE, c, max_size=3),
                         max_leaves=6)


def for_shape(shape: Shape, *, text=TEXT, depth: int = 0, keys=SAFE):
    """A strategy of valid Python values for `shape`, as a botocore user would pass them."""
    t = shape.type_name
    if t == "structure":
        if shape.is_document_type:
            return DOCUMENTS
        if depth > 4:
            return st.nothing() if shape.is_tagged_union else st.just({})
        members = {name: m for name, m in shape.members.items()
                   if not m.serialization.get("eventstream") and not getattr(m, "event_stream", False)}
        if shape.is_tagged_union:
            if depth > 4:
                members = {n: m for n, m in members.items() if m.type_name not in ("structure", "list", "map")}
            if not members:
                return st.nothing()  # a union must carry one member: leave it out where optional
            return st.one_of([for_shape(m, text=text, depth=depth + 1).map(lambda v, n=n: {n: v})
                              for n, m in members.items()]).filter(lambda d: all(v not in ([], {}) for v in d.values()))
        required = {n: for_shape(m, text=text, depth=depth + 1) for n, m in members.items()
                    if n in shape.required_members}
        optional = {n: for_shape(m, text=text, depth=depth + 1) for n, m in members.items()
                    if n not in shape.required_members}
        strategy = st.fixed_dictionaries(required, optional=optional)
        # An all-empty structure cannot be told apart from an absent one on most wires.
        return strategy.filter(bool) if depth and members and not required else strategy
    if t == "list":
        if depth > 4:
            return st.just([])
        element = for_shape(shape.member, text=text, depth=depth + 1)
        return st.nothing() if element.is_empty else st.lists(element, min_size=1, max_size=3)
    if t == "map":
        if depth > 4:
            return st.just({})
        value = for_shape(shape.value, text=text, depth=depth + 1)
        return st.nothing() if value.is_empty else st.dictionaries(keys, value, min_size=1, max_size=3)
    if t == "string":
        if shape.enum:
            return st.sampled_from(shape.enum)
        return text
    if t == "integer":
        return st.integers(-(2**31), 2**31 - 1)
    if t == "long":
        return st.integers(-(2**63), 2**63 - 1)
    if t in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if t == "boolean":
        return st.booleans()
    if t == "blob":
        return st.binary(min_size=1, max_size=16)
    if t == "timestamp":
        return TIMESTAMPS
    return text


def for_input(shape: Shape):
    """Inputs: members bound to URI labels, headers and query keys get strings those can carry."""
    members = {}
    for name, m in shape.members.items():
        ser = m.serialization
        loc = ser.get("location")
        if ser.get("hostLabel"):
            continue
        if loc == "uri":
            members[name] = for_shape(m, text=LABEL)
        elif loc == "header":
            members[name] = for_shape(m, text=HEADER_TEXT)
        elif loc == "headers":
            members[name] = st.dictionaries(st.text("abcdefghij0123456789", min_size=1, max_size=8),
                                            HEADER_TEXT, min_size=1, max_size=3)
        elif loc == "querystring" and m.type_name == "map":
            members[name] = for_shape(m, keys=st.text("abcdefghij", min_size=1, max_size=6).map("zz-".__add__))
        else:
            members[name] = for_shape(m)
    required = {n: s for n, s in members.items() if n in shape.required_members}
    optional = {n: s for n, s in members.items() if n not in shape.required_members}
    return st.fixed_dictionaries(required, optional=optional)


def for_output(shape: Shape):
    members = {}
    for name, m in shape.members.items():
        loc = m.serialization.get("location")
        if loc == "header":
            members[name] = for_shape(m, text=HEADER_TEXT)
        elif loc == "headers":
            members[name] = st.dictionaries(st.text("abcdefghij0123456789", min_size=1, max_size=8),
                                            HEADER_TEXT, min_size=1, max_size=3)
        elif loc == "statusCode":
            members[name] = st.integers(200, 299)
        else:
            members[name] = for_shape(m)
    return st.fixed_dictionaries({}, optional=members)


def for_events(stream: Shape):
    """Non-empty lists of events of an event-stream shape, as a provider yields them:
    `{"Name": {...}}` with every member set (few examples per operation: make each count).
    Members bound to event headers get header-safe text; modeled exceptions are not events."""
    choices = []
    for name, event in stream.members.items():
        if event.metadata.get("exception"):
            continue
        members = {}
        for member_name, m in event.members.items():
            text = HEADER_TEXT if m.serialization.get("eventheader") else TEXT
            members[member_name] = for_shape(m, text=text, depth=1)
        choices.append(st.fixed_dictionaries(members).map(lambda v, n=name: {n: v}))
    return st.lists(st.one_of(choices), min_size=1, max_size=4) if choices else st.just([])
