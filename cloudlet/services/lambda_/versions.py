"""Published versions: PublishVersion (also Publish=True on create/update), ListVersionsByFunction,
and deleting one version (DeleteFunction with a Qualifier)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import states
from .errors import (
    REVISION_MISMATCH,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
)
from .functions import (
    child_key,
    function_key,
    load_function,
    new_revision,
    now_epoch,
    provisioned_key,
    render,
    version_key,
)
from .names import LATEST, FunctionRef
from .paging import paginate

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .provider import LambdaProvider


def publish_in(tx: Any, ref: FunctionRef, record: dict, *, description: str | None = None) -> dict:
    """Publish `record`'s $LATEST as the next version, or return the last published version if
    $LATEST has not changed since. Mutates `record` (next version, $LATEST RevisionId); the caller
    writes it back."""
    last = record.get("last_published")
    if last is not None:
        previous = tx.get_json(version_key(ref.account, ref.region, ref.name, int(last)))
        if previous is not None and previous.get("revision") == record["revision"]:
            return previous
    number = record["next_version"]
    config = dict(record["config"])
    states.publish(config, record["config"])
    config.update(Version=str(number), FunctionArn=ref.arn(str(number)), RevisionId=new_revision())
    if description is not None:
        config["Description"] = description
    if config.get("SnapStart", {}).get("ApplyOn") == "PublishedVersions":
        config["SnapStart"] = {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    version = {"config": config, "code": record["code"], "layers": record.get("layers", []),
               "revision": record["revision"], "created": now_epoch()}
    tx.put_json(version_key(ref.account, ref.region, ref.name, number), version, if_absent=True)
    record["next_version"] = number + 1
    record["last_published"] = str(number)
    record["config"] = {**record["config"], "RevisionId": new_revision()}   # AWS bumps $LATEST's too
    return version


def publish_version(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    def publish(tx: Any) -> dict:
        record, stored = load_function(tx, ref)
        latest = record["config"]
        if params.get("RevisionId") and params["RevisionId"] != latest["RevisionId"]:
            raise PreconditionFailedException(REVISION_MISMATCH)
        states.check_changeable(ref, latest)
        if params.get("CodeSha256") and params["CodeSha256"] != latest["CodeSha256"]:
            raise InvalidParameterValueException(
                f"CodeSHA256 ({params['CodeSha256']}) is different from current CodeSHA256 in $LATEST "
                f"({latest['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST.")
        version = publish_in(tx, ref, record, description=params.get("Description"))
        tx.put_json(function_key(ref.account, ref.region, ref.name), record, if_version=stored)
        return render(version["config"])

    return p.store.transact(publish)


def list_versions_by_function(p: LambdaProvider, ctx: RequestContext, ref: FunctionRef, params: dict) -> dict:
    with p.store.transaction(write=False) as tx:
        record, _ = load_function(tx, ref)
        items = [([0, 0], render(record["config"], arn=ref.arn(LATEST), listing=True))]
        for key, raw in tx.range(child_key("version", ref.account, ref.region, ref.name)):
            items.append(([1, key[-1]], render(json.loads(raw)["config"], listing=True)))
    page, marker = paginate(items, lambda item: item[0], params.get("Marker"), params.get("MaxItems"))
    return {"Versions": [config for _, config in page], **({"NextMarker": marker} if marker else {})}


def delete_version_in(tx: Any, ref: FunctionRef, version: str) -> None:
    """Delete published `version`, unless an alias still routes to it. A version that does not
    exist is deleted already: AWS answers DeleteFunction for it 204, as for one it deletes."""
    key = version_key(ref.account, ref.region, ref.name, int(version))
    if tx.get(key) is None:
        return
    users = []
    for _, raw in tx.range(child_key("alias", ref.account, ref.region, ref.name)):
        alias = json.loads(raw)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        if alias["FunctionVersion"] == version or version in weights:
            users.append(alias["Name"])
    if users:
        raise ResourceConflictException(
            f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]")
    tx.delete(key)
    for kind in ("policy", "invoke-config"):
        tx.delete(child_key(kind, ref.account, ref.region, ref.name, version))
    tx.delete(provisioned_key(ref.account, ref.region, ref.name, version))
