"""Tuple key encoding: round trip, order preservation, prefix ranges."""

from __future__ import annotations

import math
from enum import IntEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlet.store.keys import pack, prefix_range, split_first, unpack

BIG = 1 << 300

ints = st.one_of(
    st.integers(min_value=-(1 << 64), max_value=1 << 64),
    st.integers(min_value=-BIG, max_value=BIG),
    st.sampled_from([0, 1, -1, 255, 256, -255, -256, (1 << 64) - 1, -(1 << 64) + 1]),
)
floats = st.floats(allow_nan=False)
scalars = {
    "none": st.none(),
    "bytes": st.binary(max_size=12),
    "str": st.text(max_size=12),
    "int": ints,
    "float": floats,
    "bool": st.booleans(),
}
elements = st.one_of(*scalars.values())
tuples = st.lists(elements, max_size=6).map(tuple)

TYPE_RANK = {type(None): 0, bytes: 1, str: 2, int: 3, float: 4, bool: 5}


def sort_key(t: tuple) -> tuple:
    """The documented tuple order, as a Python sort key."""
    out = []
    for el in t:
        if isinstance(el, float):
            out.append((TYPE_RANK[float], el, math.copysign(1.0, el)))  # -0.0 < 0.0
        elif el is None:
            out.append((0, 0))
        else:
            out.append((TYPE_RANK[type(el)], el))
    return tuple(out)


@given(tuples)
def test_round_trip(t):
    assert unpack(pack(t)) == t
    assert [type(x) for x in unpack(pack(t))] == [type(x) for x in t]


@st.composite
def same_shape_pairs(draw):
    """Two tuples with the same element type at each shared position."""
    kinds = draw(st.lists(st.sampled_from(list(scalars)), max_size=5))
    a = tuple(draw(scalars[k]) for k in kinds[: draw(st.integers(0, len(kinds)))])
    b = tuple(draw(scalars[k]) for k in kinds[: draw(st.integers(0, len(kinds)))])
    return a, b


@given(same_shape_pairs())
def test_order_preserved_same_types(pair):
    a, b = pair
    ka, kb = sort_key(a), sort_key(b)
    pa, pb = pack(a), pack(b)
    assert (ka < kb) == (pa < pb)
    assert (ka == kb) == (pa == pb)


@given(tuples, tuples)
def test_order_preserved_mixed_types(a, b):
    assert (sort_key(a) < sort_key(b)) == (pack(a) < pack(b))


@given(tuples, tuples)
def test_packing_is_concatenative_and_split_first_splits(a, b):
    """pack(a + b) is pack(a) then pack(b) (put_many's prefix, range_packed's relative keys rely
    on it), and split_first takes one packed element off the front."""
    assert pack(a + b) == pack(a) + pack(b)
    if a:
        first, rest = split_first(pack(a + b))
        assert first == pack(a[:1]) and rest == pack(a[1:] + b)


@given(tuples, tuples)
def test_prefix_range_contains_exactly_extensions(prefix, rest):
    lo, hi = prefix_range(prefix)
    full = pack(prefix + rest)
    assert (lo <= full < hi) == bool(rest)


def test_type_order():
    ordered = [
        (None,),
        (b"",),
        (b"\xff",),
        ("",),
        ("z",),
        (-BIG,),
        (-1,),
        (0,),
        (1,),
        (BIG,),
        (-math.inf,),
        (0.5,),
        (math.inf,),
        (False,),
        (True,),
    ]
    assert sorted(ordered, key=pack) == ordered


def test_prefix_sorts_first_and_escaping():
    assert pack(("a",)) < pack(("a", None)) < pack(("a", 0)) < pack(("a\x00",)) < pack(("ab",))
    assert pack((b"a\x00b",)) == b"\x01a\x00\xffb\x00"
    assert unpack(pack(("\x00\x00", b"\x00"))) == ("\x00\x00", b"\x00")


def test_int_boundaries():
    values = sorted({s * ((1 << (8 * n)) + d) for n in range(0, 12) for d in (-1, 0, 1) for s in (1, -1)})
    packed = [pack((v,)) for v in values]
    assert packed == sorted(packed)
    assert [unpack(p)[0] for p in packed] == values
    with pytest.raises(ValueError):
        pack((1 << (8 * 256),))


def test_subclasses_and_special_floats():
    class Color(IntEnum):
        RED = 3

    assert unpack(pack((Color.RED, True))) == (3, True)
    assert type(unpack(pack((Color.RED,)))[0]) is int
    assert math.isnan(unpack(pack((math.nan,)))[0])
    assert math.copysign(1, unpack(pack((-0.0,)))[0]) == -1
    assert unpack(pack(("\ud800",))) == ("\ud800",)


def test_bad_input():
    with pytest.raises(TypeError):
        pack(((1, 2),))
    with pytest.raises(TypeError):
        pack((object(),))
    for bad in (b"\x02abc", b"\x15", b"\x21\x00", b"\xff", b"\x1d"):
        with pytest.raises(ValueError):
            unpack(bad)
