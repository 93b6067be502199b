"""The request context every provider method receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudlet.protocol import HttpRequest


@dataclass(slots=True)
class RequestContext:
    account: str
    region: str
    request_id: str
    service: str
    operation: str = ""
    access_key: str = ""
    principal: str = ""              # ARN of the caller
    trace_header: str = ""           # X-Amzn-Trace-Id, passed on to triggered work
    request: HttpRequest | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def partition(self) -> str:
        return "aws"

    def arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        """`arn:aws:<service>:<region>:<account>:<resource>` in this caller's scope."""
        r = self.region if region is None else region
        a = self.account if account is None else account
        return f"arn:{self.partition}:{service}:{r}:{a}:{resource}"
