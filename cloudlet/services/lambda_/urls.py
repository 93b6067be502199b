"""Function URL configs: Create/Get/Update/Delete/ListFunctionUrlConfigs, and `lookup_url`, the
index the function URL data plane uses to find `<url-id>.lambda-url.<region>.localhost`."""

from __future__ import annotations

import json
import secrets
import string
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cloudlet.store.base import Store

from .errors import ResourceConflictException, ResourceNotFoundException
from .functions import child_key, function_key, load_function, url_index_key
from .names import LATEST, FunctionRef
from .paging import paginate

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .provider import LambdaProvider

_ID_ALPHABET = string.ascii_lowercase + string.digits
_NOT_FOUND = "The resource you requested does not exist."
_OUT_FIELDS = ("FunctionArn", "AuthType", "Cors", "CreationTime", "LastModifiedTime", "InvokeMode")


def url_key(ref: FunctionRef, qualifier: str) -> tuple:
    return child_key("url", ref.account, ref.region, ref.name, qualifier)


def new_url_id() -> str:
    """A 32-character lowercase id, like AWS's function URL ids."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))


def lookup_url(store: Store, url_id: str) -> dict | None:
    """What the function URL id `url_id` serves, or None: `{"account", "region", "function",
    "qualifier" ("$LATEST" or an alias), "AuthType", "InvokeMode"? (absent: BUFFERED), "Cors"?}`."""
    with store.transaction(write=False) as tx:
        entry = tx.get_json(url_index_key(url_id))
        if entry is None:
            return None
        ref = FunctionRef(entry["account"], entry["region"], entry["function"], None)
        config = tx.get_json(url_key(ref, entry["qualifier"])) or {}
    return {**entry, **{k: config[k] for k in ("AuthType", "InvokeMode", "Cors") if k in config}}


def function_url(ctx: RequestContext, region: str, url_id: str) -> str:
    """`http://<url-id>.lambda-url.<region>.localhost:<port>/`, the port this request came in on."""
    host = ctx.request.headers.get("host", "") if ctx.request is not None else ""
    port = host.rsplit(":", 1)[1] if ":" in host and not host.endswith("]") else ""
    return f"http://{url_id}.lambda-url.{region}.localhost{':' + port if port.isdigit() else ''}/"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _out(ctx: RequestContext, ref: FunctionRef, record: dict, fields: tuple = _OUT_FIELDS) -> dict:
    out = {"FunctionUrl": function_url(ctx, ref.region, record["url_id"])}
    out.update({k: record[k] for k in fields if k in record})
    return out


def _check_target(tx: Any, ref: FunctionRef) -> str:
    """The qualifier a URL config hangs off ("$LATEST" or an existing alias)."""
    try:
        load_function(tx, ref)
    except ResourceNotFoundException:
        raise ResourceNotFoundException("Function does not exist") from None
    qualifier = ref.qualifier or LATEST
    if qualifier != LATEST and tx.get(child_key("alias", ref.account, ref.region, ref.name, qualifier)) is None:
        raise ResourceNotFoundException("Function does not exist")
    return qualifier


def create_function_url_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    def create(tx: Any) -> dict:
        qualifier = _check_target(tx, ref)
        existing = tx.get_json(url_key(ref, qualifier))
        if existing is not None:
            raise ResourceConflictException(
                f"Failed to create function url config for [functionArn = {existing['FunctionArn']}]. "
                "Error message:  FunctionUrlConfig exists for this Lambda function")
        url_id = new_url_id()
        created = _now()
        record = {"url_id": url_id, "FunctionArn": ref.qualified_arn, "AuthType": params["AuthType"],
                  "CreationTime": created, "LastModifiedTime": created}
        for key in ("Cors", "InvokeMode"):  # echoed only when the caller set them, as AWS does
            if params.get(key) is not None:
                record[key] = params[key]
        tx.put_json(url_key(ref, qualifier), record, if_absent=True)
        tx.put_json(url_index_key(url_id), {"account": ref.account, "region": ref.region, "function": ref.name,
                                            "qualifier": qualifier}, if_absent=True)
        return record

    record = p.store.transact(create)
    return _out(ctx, ref, record, ("FunctionArn", "AuthType", "Cors", "CreationTime", "InvokeMode"))


def _load(tx: Any, ref: FunctionRef) -> tuple[dict, int]:
    if tx.get(function_key(ref.account, ref.region, ref.name)) is None:
        raise ResourceNotFoundException(_NOT_FOUND)
    found = tx.get_json_versioned(url_key(ref, ref.qualifier or LATEST))
    if found is None:
        raise ResourceNotFoundException(_NOT_FOUND)
    return found


def get_function_url_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    with p.store.transaction(write=False) as tx:
        return _out(ctx, ref, _load(tx, ref)[0])


def update_function_url_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    def update(tx: Any) -> dict:
        _check_target(tx, ref)
        record, stored = _load(tx, ref)
        for key in ("AuthType", "Cors", "InvokeMode"):
            if params.get(key) is not None:
                record[key] = params[key]
        record["LastModifiedTime"] = _now()
        tx.put_json(url_key(ref, ref.qualifier or LATEST), record, if_version=stored)
        return record

    return _out(ctx, ref, p.store.transact(update))


def delete_function_url_config(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    def delete(tx: Any) -> None:
        record, stored = _load(tx, ref)
        tx.delete(url_key(ref, ref.qualifier or LATEST), if_version=stored)
        tx.delete(url_index_key(record["url_id"]))

    p.store.transact(delete)
    return {}


def list_function_url_configs(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    with p.store.transaction(write=False) as tx:
        try:
            load_function(tx, ref)
        except ResourceNotFoundException:
            raise ResourceNotFoundException("Function does not exist") from None
        rows = tx.range(child_key("url", ref.account, ref.region, ref.name))
        items = [(key[-1], _out(ctx, ref, json.loads(raw))) for key, raw in rows]
    page, marker = paginate(items, lambda item: item[0], params.get("Marker"), params.get("MaxItems"))
    return {"FunctionUrlConfigs": [config for _, config in page], **({"NextMarker": marker} if marker else {})}
