"""The call context: who is calling, in which account and region, on whose behalf.

Every internal call between services (`services/<svc>/api.py`) takes a `CallContext`, and so does
every durable record that carries work from one service to another (outbox records store it with
`to_dict` and restore it with `from_dict`). IAM authorization and tracing hang on it: a service
principal's call names the service and the ARN and account of the resource that caused it, as
AWS's `aws:SourceArn` / `aws:SourceAccount` condition keys do.

A request served by the gateway has a `RequestContext` (gateway/context.py), which is a
CallContext with the request's own details added; `CallContext.of(ctx)` narrows one down.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(slots=True)
class CallContext:
    account: str                 # the account whose resources the call acts on
    region: str
    request_id: str = ""
    principal: str = ""          # ARN of the caller, or a service principal ("lambda.amazonaws.com")
    source_arn: str = ""         # for service principals: the resource on whose behalf they call
    source_account: str = ""
    trace_header: str = ""       # X-Amzn-Trace-Id, passed on to the work a call causes

    @property
    def partition(self) -> str:
        return "aws"

    def arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        """`arn:aws:<service>:<region>:<account>:<resource>` in this caller's scope."""
        r = self.region if region is None else region
        a = self.account if account is None else account
        return f"arn:{self.partition}:{service}:{r}:{a}:{resource}"

    def as_service(self, service_principal: str, source_arn: str, **changes: Any) -> CallContext:
        """The context a service uses to act on its own behalf for the resource `source_arn`
        (an S3 bucket notifying, a function delivering to its destination), keeping the trace."""
        parts = source_arn.split(":")
        source_account = parts[4] if len(parts) > 4 else ""
        base = CallContext.of(self)
        return replace(base, principal=service_principal, source_arn=source_arn,
                       source_account=source_account or base.account, **changes)

    @classmethod
    def of(cls, ctx: CallContext) -> CallContext:
        """Just the call context of `ctx` (a RequestContext carries more)."""
        if type(ctx) is cls:
            return ctx
        return cls(**{name: getattr(ctx, name) for name in _FIELDS})

    def to_dict(self) -> dict[str, str]:
        """For durable records: only the fields that are set."""
        return {name: value for name in _FIELDS if (value := getattr(self, name))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallContext:
        return cls(**{k: v for k, v in data.items() if k in _FIELDS})


_FIELDS = frozenset(f.name for f in fields(CallContext))
