"""The request context every provider method (and every data-plane route) receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloudlet.call import CallContext
from cloudlet.protocol import HttpRequest

if TYPE_CHECKING:
    from .authorize import Authorization


@dataclass(slots=True)
class RequestContext(CallContext):
    """A CallContext (account, region, principal, trace header, ...) plus the request itself."""

    service: str = ""
    operation: str = ""
    access_key: str = ""
    request: HttpRequest | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    # The IAM action and resource ARNs the request acts on (the pipeline's authorize step);
    # recorded, not enforced yet.
    authorization: Authorization | None = None
    # True when the caller proved who it is: a SigV4 signature that verified (or, with
    # CLOUDLET_ENFORCE_SIGV4 off, any credential scope). Data-plane routes that asked for
    # authentication read it; False means anonymous.
    authenticated: bool = False
    # What a data-plane route's host pattern captured (`{url_id}` of a function URL host).
    route_params: dict[str, str] | None = None
