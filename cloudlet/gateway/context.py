"""The request context every provider method receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudlet.call import CallContext
from cloudlet.protocol import HttpRequest


@dataclass(slots=True)
class RequestContext(CallContext):
    """A CallContext (account, region, principal, trace header, ...) plus the request itself."""

    service: str = ""
    operation: str = ""
    access_key: str = ""
    request: HttpRequest | None = None
    extras: dict[str, Any] = field(default_factory=dict)
