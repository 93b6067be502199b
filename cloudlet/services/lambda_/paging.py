"""Marker/MaxItems pagination as Lambda's List* operations do it (opaque markers, 50 items a page)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cloudlet.protocol.errors import ServiceError
from cloudlet.services.paging import decode_token, encode_token

from .errors import InvalidParameterValueException

MAX_PAGE = 50

encode_marker = encode_token


def decode_marker(marker: str | None, check: Callable[[Any], bool] | None = None) -> Any:
    """The position of `marker` (None for none); InvalidParameterValueException for a bad one."""
    return decode_token(marker, lambda: invalid_marker(marker), check)


def invalid_marker(marker: str | None) -> ServiceError:
    return InvalidParameterValueException(f"Invalid marker: {marker}")


def page_size(max_items: int | None) -> int:
    return min(max_items or MAX_PAGE, MAX_PAGE)


def paginate(items: Sequence[Any], position: Callable[[Any], Any], marker: str | None, max_items: int | None,
             *, descending: bool = False) -> tuple[list[Any], str | None]:
    """One page of `items` (sorted by `position`, descending if asked) starting at `marker`, and the
    marker of the next page (None on the last). Positions must be JSON values that compare."""
    start = decode_marker(marker)
    if start is not None:
        try:
            items = [it for it in items if (position(it) <= start if descending else position(it) >= start)]
        except TypeError:
            raise invalid_marker(marker) from None
    size = page_size(max_items)
    page = list(items[:size])
    return page, encode_marker(position(items[size])) if len(items) > size else None
