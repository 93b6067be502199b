"""AWS STS: who the caller is."""

from __future__ import annotations

from cloudlet.services.provider import Provider, inline


class StsProvider(Provider):
    service = "sts"

    @inline
    def get_caller_identity(self, ctx, params):
        # Access keys are not tied to IAM users yet, so every caller is its account's root.
        return {"UserId": ctx.account, "Account": ctx.account, "Arn": f"arn:aws:iam::{ctx.account}:root"}
