"""AWS STS: who the caller is."""

from __future__ import annotations

from cloudlet.gateway.identity import role_id
from cloudlet.services.provider import Provider, inline


class StsProvider(Provider):
    service = "sts"

    @inline
    def get_caller_identity(self, ctx, params):
        # A role session (a function's credentials) is its assumed role, as on AWS:
        # UserId "<role id>:<session name>", Arn "arn:aws:sts::<account>:assumed-role/<role>/<session>".
        # Other access keys are not tied to IAM users yet, so every other caller is its account's root.
        _, sep, rest = ctx.principal.partition(":assumed-role/")
        if sep:
            role, _, session_name = rest.partition("/")
            return {"UserId": f"{role_id(ctx.account, role)}:{session_name}", "Account": ctx.account,
                    "Arn": ctx.principal}
        return {"UserId": ctx.account, "Account": ctx.account, "Arn": f"arn:aws:iam::{ctx.account}:root"}
