"""Opaque paging tokens (Lambda's Marker, Logs' nextToken, S3's ContinuationToken).

A token is the URL-safe base64 of a compact JSON position (a name, a list of sort keys), so
it survives restarts and replicas and means nothing to the client. Each service raises its own
error, in its own wording, for a token it did not make.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from cloudlet.protocol.errors import ServiceError

__all__ = ["decode_token", "encode_token"]


def encode_token(position: Any) -> str:
    """The token of a JSON-serializable `position`."""
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()


def decode_token(token: str | None, error: Callable[[], ServiceError],
                 check: Callable[[Any], bool] | None = None) -> Any:
    """The position `token` was made from (None for no token); raises `error()` for a token
    `encode_token` did not make, or whose position fails `check`."""
    if not token:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
    except (ValueError, RecursionError):      # bad base64, UTF-8 or JSON; absurd nesting
        raise error() from None
    if check is not None and not check(position):
        raise error()
    return position
