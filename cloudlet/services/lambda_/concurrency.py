"""Reserved concurrency (Put/Get/DeleteFunctionConcurrency) and GetAccountSettings."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .code import CODE_SIZE_LIMITS
from .errors import InvalidParameterValueException, ResourceNotFoundException
from .functions import base, function_key, load_function, provisioned_total, total_reserved
from .layers import layers_code_size
from .names import LATEST, FunctionRef

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .provider import LambdaProvider

DEFAULT_CONCURRENCY_LIMIT = 1000
MIN_UNRESERVED = 100


def concurrency_limit(p: LambdaProvider) -> int:
    """The account's ConcurrentExecutions: the platform's `lambda_concurrency_limit` setting, else 1000."""
    return p.settings.lambda_concurrency_limit or DEFAULT_CONCURRENCY_LIMIT


def put_function_concurrency(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    wanted = params["ReservedConcurrentExecutions"]
    limit = concurrency_limit(p)

    def put(tx: Any) -> dict:
        found = tx.get_json_versioned(function_key(ref.account, ref.region, ref.name))
        if found is None:
            raise ResourceNotFoundException(f"Function not found: {ref.arn(LATEST)}")
        record, stored = found
        provisioned = provisioned_total(tx, ref.account, ref.region, ref.name)
        if wanted < provisioned:
            raise InvalidParameterValueException(
                f" ReservedConcurrentExecutions  {wanted} should not be lower than function's total provisioned "
                f"concurrency [{provisioned}].")
        others = total_reserved(tx, ref.account, ref.region, skip=ref.name)
        if limit - others - wanted < MIN_UNRESERVED:
            raise InvalidParameterValueException(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}].")
        record["reserved_concurrency"] = wanted
        tx.put_json(function_key(ref.account, ref.region, ref.name), record, if_version=stored)
        return {"ReservedConcurrentExecutions": wanted}

    return p.store.transact(put)


def get_function_concurrency(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef) -> dict:
    with p.store.transaction(write=False) as tx:
        record, _ = load_function(tx, ref)
    reserved = record.get("reserved_concurrency")
    return {} if reserved is None else {"ReservedConcurrentExecutions": reserved}


def delete_function_concurrency(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef) -> dict:
    def delete(tx: Any) -> None:
        record, stored = load_function(tx, ref)
        if record.get("reserved_concurrency") is not None:
            record["reserved_concurrency"] = None
            tx.put_json(function_key(ref.account, ref.region, ref.name), record, if_version=stored)

    p.store.transact(delete)
    return {}


def get_account_settings(p: LambdaProvider, ctx: RequestContext) -> dict:
    limit = concurrency_limit(p)
    reserved = count = code_size = 0
    with p.store.transaction(write=False) as tx:
        for _, raw in tx.range(base(ctx.account, ctx.region) + ("function",)):
            record = json.loads(raw)
            count += 1
            reserved += record.get("reserved_concurrency") or 0
            code_size += record["config"].get("CodeSize", 0)
        for _, raw in tx.range(base(ctx.account, ctx.region) + ("version",)):
            code_size += json.loads(raw)["config"].get("CodeSize", 0)
        code_size += layers_code_size(tx, ctx.account, ctx.region)
    return {
        "AccountLimit": {**CODE_SIZE_LIMITS, "ConcurrentExecutions": limit,
                         "UnreservedConcurrentExecutions": limit - reserved},
        "AccountUsage": {"TotalCodeSize": code_size, "FunctionCount": count},
    }
