"""A function's life: CreateFunction, GetFunction(Configuration), ListFunctions,
UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction, and its tags."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from . import code_signing, states
from .code import Package, package_of
from .configuration import check_create, check_update, new_configuration, touch, updated_configuration
from .errors import (
    REVISION_MISMATCH,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    pattern_error,
)
from .functions import (
    FUNCTION_CHILDREN,
    base,
    child_key,
    function_key,
    load_function,
    new_revision,
    not_found,
    now_epoch,
    provisioned_key,
    render,
    resolve_in,
    url_index_key,
    version_key,
)
from .layers import function_layers
from .names import (
    LATEST,
    FunctionRef,
    check_name_length_for_create,
    function_arn,
    function_ref,
    is_version,
    member_pattern,
)
from .paging import decode_marker, encode_marker, page_size
from .validation import check_tags
from .versions import delete_version_in, publish_in

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .provider import LambdaProvider


def create_function(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    value = params["FunctionName"]
    ref = function_ref(ctx, value)
    if ref.qualifier is not None:
        raise pattern_error(value, "functionName", member_pattern("CreateFunction", "FunctionName") or "")
    check_name_length_for_create(value, ref.name)
    check_create(params)
    tags = params.get("Tags") or {}
    check_tags(tags)
    key = function_key(ref.account, ref.region, ref.name)
    exists = ResourceConflictException(f"Function already exist: {ref.name}")
    if p.store.get(key) is not None:
        raise exists
    image_uri = (params.get("Code") or {}).get("ImageUri") if params.get("PackageType") == "Image" else None
    package = None if image_uri else package_of(p.infra.blobs, p.s3, ctx, params.get("Code") or {})

    def create(tx: Any) -> dict:
        if tx.get(key) is not None:
            raise exists
        layers = function_layers(tx, ctx, params.get("Layers") or [])
        config = new_configuration(ref.account, ref.region, ref.name, ref.arn(), params, package, layers)
        record = {"config": config, "code": package.record() if package else {"image_uri": image_uri},
                  "layers": layers, "tags": tags, "reserved_concurrency": None, "next_version": 1,
                  "revision": new_revision(), "created": now_epoch()}
        if params.get("CodeSigningConfigArn"):
            code_signing.attach(tx, ctx, params["CodeSigningConfigArn"], record)
        states.created(tx, ref, record)
        result = config
        if params.get("Publish"):
            result = render(publish_in(tx, ref, record)["config"], arn=ref.arn())
        tx.put_json(key, record, if_absent=True)
        return result

    return p.store.transact(create)


def _code(p: LambdaProvider, ctx: RequestContext, record: dict) -> dict:
    code = record.get("code") or {}
    if code.get("image_uri"):
        return {"RepositoryType": "ECR", "ImageUri": code["image_uri"], "ResolvedImageUri": code["image_uri"]}
    return {"RepositoryType": "S3", "Location": p.code_urls.location(ctx, code["digest"])}


def _version_record(tx: Any, ref: FunctionRef, record: dict, version: str) -> dict:
    if version == LATEST:
        return record
    return tx.get_json(version_key(ref.account, ref.region, ref.name, int(version)))


def get_function(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, *, configuration_only: bool = False) -> dict:
    with p.store.transaction(write=False) as tx:
        record, _ = load_function(tx, ref, ref.qualifier)
        resolved = resolve_in(tx, ref, record)
        target = _version_record(tx, ref, record, resolved.version) if not configuration_only else None
    config = render(resolved.configuration, arn=ref.qualified_arn)
    if target is None:  # configuration_only
        return config
    out: dict = {"Configuration": config, "Code": _code(p, ctx, target)}
    if record.get("tags"):
        out["Tags"] = record["tags"]
    if record.get("reserved_concurrency") is not None:
        out["Concurrency"] = {"ReservedConcurrentExecutions": record["reserved_concurrency"]}
    return out


def list_functions(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    every_version = params.get("FunctionVersion") == "ALL"
    start = decode_marker(params.get("Marker"),
                          lambda at: isinstance(at, list) and len(at) == 3 and isinstance(at[0], str))
    size = page_size(params.get("MaxItems"))
    prefix = base(ctx.account, ctx.region) + ("function",)
    items: list[tuple[list, dict]] = []
    with p.store.transaction(write=False) as tx:
        begin = function_key(ctx.account, ctx.region, start[0]) if start else None
        for key, raw in tx.range(prefix, start=begin, limit=size + 2):
            name = key[-1]
            ref = FunctionRef(ctx.account, ctx.region, name, None)
            config = json.loads(raw)["config"]
            candidates = [([name, 0, 0], render(config, arn=ref.arn(LATEST) if every_version else None, listing=True))]
            if every_version:
                for vkey, vraw in tx.range(child_key("version", ctx.account, ctx.region, name)):
                    candidates.append(([name, 1, vkey[-1]], render(json.loads(vraw)["config"], listing=True)))
            items += [c for c in candidates if start is None or c[0] >= start]
            if len(items) > size:
                break
    out: dict = {"Functions": [config for _, config in items[:size]]}
    if len(items) > size:
        out["NextMarker"] = encode_marker(items[size][0])
    return out


def update_function_code(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    with p.store.transaction(write=False) as tx:
        record, _ = load_function(tx, ref)
    image = record["config"].get("PackageType") == "Image"
    if image and (params.get("ZipFile") is not None or params.get("S3Bucket")):
        raise InvalidParameterValueException(
            "Please provide ImageUri when updating a function with packageType Image.")
    if not image and params.get("ImageUri"):
        raise InvalidParameterValueException(
            "Please don't provide ImageUri when updating a function with packageType Zip.")
    if params.get("RevisionId") and params["RevisionId"] != record["config"]["RevisionId"]:
        raise PreconditionFailedException(REVISION_MISMATCH)
    if image and not params.get("ImageUri"):
        raise InvalidParameterValueException("Please provide a source for function code.")
    states.check_changeable(ref, record["config"])
    dry_run = bool(params.get("DryRun"))
    package: Package | None = None if image else package_of(p.infra.blobs, p.s3, ctx, params, store=not dry_run)

    def update(tx: Any) -> tuple[dict, bool]:
        record, stored = load_function(tx, ref)
        previous = dict(record)
        config = dict(record["config"])
        if params.get("RevisionId") and params["RevisionId"] != config["RevisionId"]:
            raise PreconditionFailedException(REVISION_MISMATCH)
        states.check_changeable(ref, config)
        if package is None:
            config["CodeSha256"] = hashlib.sha256(params["ImageUri"].encode()).hexdigest()
            record["code"] = {"image_uri": params["ImageUri"]}
        else:
            config["CodeSha256"], config["CodeSize"] = package.sha256, package.size
            record["code"] = package.record()
        if params.get("Architectures"):
            config["Architectures"] = params["Architectures"]
        touch(config)
        if dry_run:
            return render(config), True
        record["config"], record["revision"] = config, new_revision()
        preparing = states.changed(tx, ref, record, previous)
        result = config
        if params.get("Publish"):
            result = publish_in(tx, ref, record)["config"]
        tx.put_json(function_key(ref.account, ref.region, ref.name), record, if_version=stored)
        return render(result), preparing

    result, preparing = p.store.transact(update)
    if not preparing:
        retire_latest(p, ref)
    return result


def retire_latest(p: LambdaProvider, ref: FunctionRef) -> None:
    """$LATEST changed at once (to a runtime this host cannot run): its environments stop now
    (busy ones when their invocation ends), not at their next invoke or idle timeout; published
    versions' stay. An update that is prepared retires them when it settles (preparation.py)."""
    p.invoker.retire(function_arn(ref.account, ref.region, ref.name), LATEST)


def update_function_configuration(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    def update(tx: Any) -> tuple[dict, bool]:
        record, stored = load_function(tx, ref)
        previous = dict(record)
        if params.get("RevisionId") and params["RevisionId"] != record["config"]["RevisionId"]:
            raise PreconditionFailedException(REVISION_MISMATCH)
        check_update(record["config"], params)
        states.check_changeable(ref, record["config"])
        layers = function_layers(tx, ctx, params["Layers"] or []) if "Layers" in params else None
        record["config"] = updated_configuration(record["config"], ref.region, params, layers)
        if layers is not None:
            record["layers"] = layers
        record["revision"] = new_revision()
        preparing = states.changed(tx, ref, record, previous)
        tx.put_json(function_key(ref.account, ref.region, ref.name), record, if_version=stored)
        return render(record["config"]), preparing

    result, preparing = p.store.transact(update)
    if not preparing:
        retire_latest(p, ref)
    return result


def delete_function(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef) -> dict:
    q = ref.qualifier
    if q == LATEST:
        raise InvalidParameterValueException("$LATEST version cannot be deleted without deleting the function.")

    def delete(tx: Any) -> None:
        load_function(tx, ref)
        if q is not None:
            if not is_version(q):
                raise not_found(ref, q)
            delete_version_in(tx, ref, q)
            return
        for _, raw in tx.range(child_key("url", ref.account, ref.region, ref.name)):
            tx.delete(url_index_key(json.loads(raw)["url_id"]))
        for kind in FUNCTION_CHILDREN:
            tx.delete_range(child_key(kind, ref.account, ref.region, ref.name))
        tx.delete_range(provisioned_key(ref.account, ref.region, ref.name))
        tx.delete(function_key(ref.account, ref.region, ref.name))

    p.store.transact(delete)
    if q is None:  # its environments go now, not at their idle timeout (a version's: lazily)
        p.invoker.retire(function_arn(ref.account, ref.region, ref.name))
    return {"StatusCode": 204}


# ---- tags (on the function; versions and aliases have none) -------------------------------------

def _retag(p: LambdaProvider, ref: FunctionRef, change: Any) -> None:
    def retag(tx: Any) -> None:
        record, stored = load_function(tx, ref)
        tags = change(dict(record.get("tags") or {}))
        check_tags(tags)
        record["tags"] = tags
        record["config"] = {**record["config"], "RevisionId": new_revision()}
        tx.put_json(function_key(ref.account, ref.region, ref.name), record, if_version=stored)

    p.store.transact(retag)


def tag_resource(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    if not params.get("Tags"):
        raise InvalidParameterValueException("An error occurred and the request cannot be processed.")
    _retag(p, ref, lambda tags: {**tags, **params["Tags"]})
    return {}


def untag_resource(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    keys = set(params.get("TagKeys") or [])
    _retag(p, ref, lambda tags: {k: v for k, v in tags.items() if k not in keys})
    return {}


def list_tags(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef) -> dict:
    with p.store.transaction(write=False) as tx:
        record, _ = load_function(tx, ref)
    return {"Tags": record.get("tags") or {}}
