"""Marker/MaxItems pagination as Lambda's List* operations do it (opaque markers, 50 items a page)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

from .errors import InvalidParameterValueException

MAX_PAGE = 50


def encode_marker(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()


def decode_marker(marker: str | None) -> Any:
    if not marker:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(marker.encode() + b"=" * (-len(marker) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise InvalidParameterValueException(f"Invalid marker: {marker}") from None


def page_size(max_items: int | None) -> int:
    return min(max_items or MAX_PAGE, MAX_PAGE)


def paginate(items: Sequence[Any], position: Callable[[Any], Any], marker: str | None, max_items: int | None,
             *, descending: bool = False) -> tuple[list, str | None]:
    """One page of `items` (sorted by `position`, descending if asked) starting at `marker`, and the
    marker of the next page (None on the last). Positions must be JSON values that compare."""
    start = decode_marker(marker)
    if start is not None:
        try:
            items = [it for it in items if (position(it) <= start if descending else position(it) >= start)]
        except TypeError:
            raise InvalidParameterValueException(f"Invalid marker: {marker}") from None
    size = page_size(max_items)
    page = list(items[:size])
    return page, encode_marker(position(items[size])) if len(items) > size else None
