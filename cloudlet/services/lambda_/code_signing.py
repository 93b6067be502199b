"""Code signing configurations: Create/Get/Update/Delete/ListCodeSigningConfigs,
ListFunctionsByCodeSigningConfig, and attaching one to a function (Put/Get/Delete
FunctionCodeSigningConfig).

Configs live at `L + ("code-signing-config", id)`; a function's attachment is the
`"code_signing_config_arn"` of its record (it goes with the function). Signatures are NOT verified:
there is no AWS Signer here and no signed artifact to check, so a config with
`UntrustedArtifactOnDeployment: Enforce` does not reject unsigned code. The configs are stored,
returned and attached as on AWS, and a config in use cannot be deleted.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import TYPE_CHECKING, Any

from .errors import E, InvalidParameterValueException, ResourceConflictException, ResourceNotFoundException
from .functions import base, function_key, lambda_date, load_function
from .names import FunctionRef, check_member_pattern
from .paging import paginate

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .provider import LambdaProvider

CodeSigningConfigNotFoundException = E.CodeSigningConfigNotFoundException

_ARN = re.compile(r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):code-signing-config:"
                  r"(?P<id>csc-[a-z0-9]{17})")
_FIELDS = ("CodeSigningConfigId", "CodeSigningConfigArn", "Description", "AllowedPublishers", "CodeSigningPolicies",
           "LastModified")
_IMAGE = "Code signing is not supported for functions created with container images."


def config_key(account: str, region: str, config_id: str) -> tuple:
    return base(account, region) + ("code-signing-config", config_id)


def _not_found(arn: str) -> Exception:
    return ResourceNotFoundException(f"The Lambda code signing configuration {arn} can not be found.")


def _locate(ctx: RequestContext, arn: str) -> tuple:
    """The store key of a CodeSigningConfigArn parameter (checked against the model's pattern);
    another account's or region's config is not found."""
    check_member_pattern(ctx.operation, "CodeSigningConfigArn", arn, "codeSigningConfigArn")
    m = _ARN.fullmatch(arn)
    if m is None or (m.group("account"), m.group("region")) != (ctx.account, ctx.region):
        raise _not_found(arn)
    return config_key(ctx.account, ctx.region, m.group("id"))


def _out(record: dict) -> dict:
    return {k: record[k] for k in _FIELDS if k in record}


def create_code_signing_config(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    config_id = "csc-" + secrets.token_hex(9)[:17]
    record = {
        "CodeSigningConfigId": config_id,
        "CodeSigningConfigArn": f"arn:aws:lambda:{ctx.region}:{ctx.account}:code-signing-config:{config_id}",
        "Description": params.get("Description", ""),
        "AllowedPublishers": {"SigningProfileVersionArns": list(params["AllowedPublishers"]["SigningProfileVersionArns"])},
        "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": "Warn", **(params.get("CodeSigningPolicies") or {})},
        "LastModified": lambda_date(),
        "Tags": params.get("Tags") or {},
    }
    p.store.transact(lambda tx: tx.put_json(config_key(ctx.account, ctx.region, config_id), record, if_absent=True))
    return {"CodeSigningConfig": _out(record)}


def get_code_signing_config(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    arn = params["CodeSigningConfigArn"]
    record = p.store.get_json(_locate(ctx, arn))
    if record is None:
        raise _not_found(arn)
    return {"CodeSigningConfig": _out(record)}


def update_code_signing_config(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    arn = params["CodeSigningConfigArn"]
    key = _locate(ctx, arn)

    def update(tx: Any) -> dict:
        found = tx.get_json_versioned(key)
        if found is None:
            raise _not_found(arn)
        record, stored = found
        if "Description" in params:
            record["Description"] = params["Description"]
        if "AllowedPublishers" in params:
            record["AllowedPublishers"] = {
                "SigningProfileVersionArns": list(params["AllowedPublishers"]["SigningProfileVersionArns"])}
        if "CodeSigningPolicies" in params:
            record["CodeSigningPolicies"] = {**record["CodeSigningPolicies"], **params["CodeSigningPolicies"]}
        record["LastModified"] = lambda_date()
        tx.put_json(key, record, if_version=stored)
        return record

    return {"CodeSigningConfig": _out(p.store.transact(update))}


def _users(tx: Any, account: str, region: str, arn: str) -> list[str]:
    """ARNs of the functions a config is attached to, by name."""
    records = (json.loads(raw) for _, raw in tx.range(base(account, region) + ("function",)))
    return [record["config"]["FunctionArn"] for record in records if record.get("code_signing_config_arn") == arn]


def delete_code_signing_config(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    arn = params["CodeSigningConfigArn"]
    key = _locate(ctx, arn)

    def delete(tx: Any) -> None:
        found = tx.get_json_versioned(key)
        if found is None:
            raise _not_found(arn)
        if _users(tx, ctx.account, ctx.region, arn):
            raise ResourceConflictException(
                f"The code signing configuration {arn} cannot be deleted because it is used by one or more "
                "functions. Remove it from those functions first.")
        tx.delete(key, if_version=found[1])

    p.store.transact(delete)
    return {}


def list_code_signing_configs(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    with p.store.transaction(write=False) as tx:
        items = [_out(json.loads(raw)) for _, raw in tx.range(base(ctx.account, ctx.region) + ("code-signing-config",))]
    page, marker = paginate(items, lambda item: item["CodeSigningConfigId"], params.get("Marker"),
                            params.get("MaxItems"))
    return {"CodeSigningConfigs": page, **({"NextMarker": marker} if marker else {})}


def list_functions_by_code_signing_config(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    arn = params["CodeSigningConfigArn"]
    key = _locate(ctx, arn)
    with p.store.transaction(write=False) as tx:
        if tx.get(key) is None:
            raise _not_found(arn)
        arns = _users(tx, ctx.account, ctx.region, arn)
    page, marker = paginate(arns, lambda item: item, params.get("Marker"), params.get("MaxItems"))
    return {"FunctionArns": page, **({"NextMarker": marker} if marker else {})}


def _check_zip(record: dict) -> None:
    if record["config"].get("PackageType") == "Image":
        raise InvalidParameterValueException(_IMAGE)


def attach(tx: Any, ctx: RequestContext, arn: str, record: dict) -> None:
    """Attach config `arn` to the function `record` (CreateFunction's CodeSigningConfigArn,
    PutFunctionCodeSigningConfig): it must exist in the caller's account and region."""
    check_member_pattern(ctx.operation, "CodeSigningConfigArn", arn, "codeSigningConfigArn")
    m = _ARN.fullmatch(arn)
    if m is None or (m.group("account"), m.group("region")) != (ctx.account, ctx.region) or \
            tx.get(config_key(ctx.account, ctx.region, m.group("id"))) is None:
        raise CodeSigningConfigNotFoundException(
            "The code signing configuration cannot be found. Check that the provided configuration is not "
            f"deleted: {arn}.")
    _check_zip(record)
    record["code_signing_config_arn"] = arn


def put_function_code_signing_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    arn = params["CodeSigningConfigArn"]

    def put(tx: Any) -> dict:
        record, stored = load_function(tx, ref)
        attach(tx, ctx, arn, record)
        tx.put_json(function_key(ref.account, ref.region, ref.name), record, if_version=stored)
        return {"CodeSigningConfigArn": arn, "FunctionName": ref.name}

    return p.store.transact(put)


def get_function_code_signing_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef) -> dict:
    with p.store.transaction(write=False) as tx:
        record, _ = load_function(tx, ref)
    _check_zip(record)
    arn = record.get("code_signing_config_arn")
    return {"CodeSigningConfigArn": arn, "FunctionName": ref.name} if arn else {}


def delete_function_code_signing_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef) -> dict:
    def delete(tx: Any) -> None:
        record, stored = load_function(tx, ref)
        if record.pop("code_signing_config_arn", None) is not None:
            tx.put_json(function_key(ref.account, ref.region, ref.name), record, if_version=stored)

    p.store.transact(delete)
    return {}
