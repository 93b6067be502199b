"""AWS Lambda. The control plane and invoke arrive with the Lambda issue; listing works now."""

from __future__ import annotations

import json

from cloudlet.protocol.errors import ServiceError
from cloudlet.services.provider import Provider


class InvalidParameterValueException(ServiceError):
    status = 400


def functions_prefix(ctx) -> tuple:
    return (ctx.account, ctx.region, "lambda", "function")


class LambdaProvider(Provider):
    service = "lambda"

    def list_functions(self, ctx, params):
        limit = params.get("MaxItems") or 50
        marker = params.get("Marker")
        start = None
        if marker:
            start = functions_prefix(ctx) + (marker,)
        rows = self.store.range(functions_prefix(ctx), start=start, limit=limit + 1)
        functions = [json.loads(value)["configuration"] for _, value in rows[:limit]]
        out: dict = {"Functions": functions}
        if len(rows) > limit:
            out["NextMarker"] = rows[limit][0][-1]
        return out
