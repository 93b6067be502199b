"""Lambda layers: PublishLayerVersion, GetLayerVersion(ByArn), ListLayers, ListLayerVersions,
DeleteLayerVersion, and resolving the Layers a function references."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .code import package_of
from .errors import (
    AccessDeniedException,
    InvalidParameterValueException,
    ResourceNotFoundException,
    pattern_error,
)
from .functions import base, lambda_date
from .names import layer_arn, parse_layer_arn
from .paging import paginate
from .validation import check_layer_list

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .provider import LambdaProvider

_NOT_FOUND = "The resource you requested does not exist."
_LAYER_VERSION_ARN_PATTERN = "arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+"
_OUT_FIELDS = ("LayerVersionArn", "Version", "Description", "CreatedDate", "CompatibleRuntimes", "LicenseInfo",
               "CompatibleArchitectures")


def layer_key(account: str, region: str, name: str) -> tuple:
    return base(account, region) + ("layer", name)


def layer_version_key(account: str, region: str, name: str, version: int) -> tuple:
    return base(account, region) + ("layer-version", name, version)


def layer_policy_key(account: str, region: str, name: str, version: int) -> tuple:
    """A layer version's resource policy (layer_policy.py): {"statements": [...], "RevisionId"}."""
    return base(account, region) + ("layer-policy", name, version)


def check_layer_access(tx: Any, ctx: RequestContext, account: str, region: str, name: str, version: int) -> None:
    """AccessDeniedException unless the caller owns the layer or its version's policy lets the
    caller's account (or "*") call lambda:GetLayerVersion. A statement conditioned on an
    organization (aws:PrincipalOrgID) never matches: accounts here belong to no organization."""
    if account == ctx.account:
        return
    policy = tx.get_json(layer_policy_key(account, region, name, version)) or {"statements": []}
    for s in policy["statements"]:
        who = s.get("Principal")
        who = who if who == "*" else (who or {}).get("AWS")
        if who in ("*", ctx.account, f"arn:aws:iam::{ctx.account}:root") and not s.get("Condition"):
            return
    raise _denied(ctx, "lambda:GetLayerVersion", layer_arn(account, region, name, version))


def _denied(ctx: RequestContext, action: str, resource: str) -> AccessDeniedException:
    return AccessDeniedException(f"User: {ctx.principal} is not authorized to perform: {action} on resource: "
                                 f"{resource} because no resource-based policy allows the {action} action")


def locate_layer(ctx: RequestContext, layer_name: str) -> tuple[str, str, str]:
    """`(account, region, name)` of a LayerName parameter (a name or a layer ARN)."""
    if layer_name.startswith("arn:"):
        parts = parse_layer_arn(layer_name)
        if parts is None:
            raise pattern_error(layer_name, "layerName", "(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:"
                                "[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+")
        return parts[0], parts[1], parts[2]
    return ctx.account, ctx.region, layer_name


def _out(p: LambdaProvider, ctx: RequestContext, record: dict) -> dict:
    out = {k: record[k] for k in ("LayerArn", *_OUT_FIELDS) if k in record}
    out["Content"] = {"Location": p.code_urls.location(ctx, record["digest"]), "CodeSha256": record["CodeSha256"],
                      "CodeSize": record["size"]}
    return out


def _list_item(record: dict) -> dict:
    return {k: record[k] for k in _OUT_FIELDS if k in record}


def publish_layer_version(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    account, region, name = locate_layer(ctx, params["LayerName"])
    if (account, region) != (ctx.account, ctx.region):
        raise InvalidParameterValueException("Layers can only be published in the caller's account and region.")
    package = package_of(p.infra.blobs, p.s3, ctx, params.get("Content") or {})

    def publish(tx: Any) -> dict:
        found = tx.get_json_versioned(layer_key(account, region, name))
        version = found[0]["next_version"] if found else 1
        if found:
            tx.put_json(layer_key(account, region, name), {"next_version": version + 1}, if_version=found[1])
        else:
            tx.put_json(layer_key(account, region, name), {"next_version": 2}, if_absent=True)
        record = {"LayerArn": layer_arn(account, region, name), "LayerVersionArn": layer_arn(account, region, name, version),
                  "Version": version, "Description": params.get("Description", ""), "CreatedDate": lambda_date(),
                  "CodeSha256": package.sha256, "digest": package.digest, "size": package.size}
        for key in ("CompatibleRuntimes", "LicenseInfo", "CompatibleArchitectures"):
            if params.get(key):
                record[key] = params[key]
        tx.put_json(layer_version_key(account, region, name, version), record, if_absent=True)
        return record

    return _out(p, ctx, p.store.transact(publish))


def _get(p: LambdaProvider, ctx: RequestContext, account: str, region: str, name: str, version: int) -> dict:
    with p.store.transaction(write=False) as tx:
        check_layer_access(tx, ctx, account, region, name, version)
        record = tx.get_json(layer_version_key(account, region, name, version))
    if record is None:
        raise ResourceNotFoundException(_NOT_FOUND)
    return record


def get_layer_version(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    account, region, name = locate_layer(ctx, params["LayerName"])
    if params["VersionNumber"] < 1:
        raise InvalidParameterValueException("Layer Version Cannot be less than 1")
    return _out(p, ctx, _get(p, ctx, account, region, name, params["VersionNumber"]))


def get_layer_version_by_arn(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    parts = parse_layer_arn(params["Arn"])
    if parts is None or parts[3] is None:
        raise pattern_error(params["Arn"], "arn", _LAYER_VERSION_ARN_PATTERN)
    return _out(p, ctx, _get(p, ctx, parts[0], parts[1], parts[2], parts[3]))


def delete_layer_version(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    account, region, name = locate_layer(ctx, params["LayerName"])
    if params["VersionNumber"] < 1:
        raise InvalidParameterValueException("Layer Version Cannot be less than 1")
    if account != ctx.account:
        raise AccessDeniedException(
            f"User: {ctx.principal} is not authorized to perform: lambda:DeleteLayerVersion on resource: "
            f"{layer_arn(account, region, name, params['VersionNumber'])}")
    # Functions that use the version keep its content: their records hold the blob digest.

    def delete(tx: Any) -> None:
        tx.delete(layer_version_key(account, region, name, params["VersionNumber"]))
        tx.delete(layer_policy_key(account, region, name, params["VersionNumber"]))

    p.store.transact(delete)
    return {}


def _matches(record: dict, params: dict) -> bool:
    runtime, arch = params.get("CompatibleRuntime"), params.get("CompatibleArchitecture")
    return ((runtime is None or runtime in record.get("CompatibleRuntimes", []))
            and (arch is None or arch in record.get("CompatibleArchitectures", [])))


def _versions(tx: Any, account: str, region: str, name: str) -> list[dict]:
    """A layer's versions, newest first."""
    rows = tx.range(base(account, region) + ("layer-version", name), reverse=True)
    return [json.loads(raw) for _, raw in rows]


def list_layers(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    items = []
    with p.store.transaction(write=False) as tx:
        for key, _ in tx.range(base(ctx.account, ctx.region) + ("layer",)):
            latest = next((r for r in _versions(tx, ctx.account, ctx.region, key[-1]) if _matches(r, params)), None)
            if latest is not None:
                items.append({"LayerName": key[-1], "LayerArn": latest["LayerArn"],
                              "LatestMatchingVersion": _list_item(latest)})
    page, marker = paginate(items, lambda item: item["LayerName"], params.get("Marker"), params.get("MaxItems"))
    return {"Layers": page, **({"NextMarker": marker} if marker else {})}


def list_layer_versions(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    account, region, name = locate_layer(ctx, params["LayerName"])
    if account != ctx.account:  # a layer version policy can grant lambda:GetLayerVersion only
        raise _denied(ctx, "lambda:ListLayerVersions", layer_arn(account, region, name))
    with p.store.transaction(write=False) as tx:
        items = [_list_item(r) for r in _versions(tx, account, region, name) if _matches(r, params)]
    page, marker = paginate(items, lambda item: item["Version"], params.get("Marker"), params.get("MaxItems"),
                            descending=True)
    return {"LayerVersions": page, **({"NextMarker": marker} if marker else {})}


def function_layers(tx: Any, ctx: RequestContext, arns: list[str]) -> list[dict]:
    """The Layers a function references, checked: `[{"arn", "digest", "size"}]` in order."""
    out = []
    for arn, (account, region, name, version) in zip(arns, check_layer_list(arns), strict=True):
        if region != ctx.region:
            raise InvalidParameterValueException(
                f"Layers are not in the same region as the function. Layers are expected to be in region {ctx.region}.")
        check_layer_access(tx, ctx, account, region, name, version)
        record = tx.get_json(layer_version_key(account, region, name, version))
        if record is None:
            raise InvalidParameterValueException(f"Layer version {arn} does not exist.")
        out.append({"arn": arn, "digest": record["digest"], "size": record["size"]})
    return out


def layers_code_size(tx: Any, account: str, region: str) -> int:
    return sum(json.loads(raw)["size"] for _, raw in tx.range(base(account, region) + ("layer-version",)))
