"""Where Lambda keeps its state, and `resolve`: from a FunctionName + Qualifier to what runs.

Store layout (see cloudlet/store/keyspace.py; every key starts with `(account, region, "lambda")`,
written here as `L`):

  L + ("function", name)             the function: {"config": $LATEST FunctionConfiguration as AWS
                                     returns it (unqualified FunctionArn), "code": {"digest", "size"} or
                                     {"image_uri"}, "layers": [{"arn", "digest", "size"}], "tags",
                                     "reserved_concurrency", "next_version", "revision" (changes with
                                     code/configuration; published versions remember theirs), "created",
                                     "previous": the code and configuration invocations run while an
                                     update is prepared (states.py)}
  L + ("version", name, n)           published version n (int): the same fields, immutable except for
                                     its RevisionId (bumped by permission changes) and its State (ready
                                     with the preparation of the change it was published with)
  L + ("alias", name, alias)         {"Name", "FunctionVersion", "Description", "RoutingConfig"?, "RevisionId"}
  L + ("policy", name, qualifier)    {"statements": [...]} for "$LATEST", a version or an alias
  L + ("invoke-config", name, q)     event invoke config of qualifier q ("$LATEST", version or alias)
  L + ("url", name, q)               function URL config of "$LATEST" or an alias
  L + ("layer", layer)               {"next_version"} of a layer name
  L + ("layer-version", layer, n)    a published layer version (content in the blob store)
  ("global", "lambda", "url", id)    url id -> {"account", "region", "function", "qualifier"}
  ("global", "lambda", "provisioned", account, region, name, q)
                                     provisioned concurrency config of alias or version q
                                     (provisioned.py); global so that one range finds every account's

Code packages live in the blob store under their SHA-256 (hex); AWS's CodeSha256 is its base64.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudlet.protocol.errors import ServiceError
from cloudlet.store.base import Store
from cloudlet.store.keyspace import global_key, resource_key, resource_prefix, scopes

from .errors import InvalidParameterValueException, ResourceNotFoundException, pattern_error
from .names import LATEST, FunctionRef, is_version, member_pattern, split_function_name
from .states import as_invoked

__all__ = ["LATEST", "ResolvedFunction", "resolve", "choose_version"]

# Fields AWS leaves out of ListFunctions / ListVersionsByFunction items.
_LIST_OMITTED = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus", "LastUpdateStatusReason",
                 "LastUpdateStatusReasonCode", "RuntimeVersionConfig")


# ---- keys -------------------------------------------------------------------------------------

def base(account: str, region: str) -> tuple:
    return resource_prefix(account, region, "lambda")


def function_key(account: str, region: str, name: str) -> tuple:
    return resource_key(account, region, "lambda", "function", name)


def version_key(account: str, region: str, name: str, version: int) -> tuple:
    return resource_key(account, region, "lambda", "version", name, version)


def child_key(kind: str, account: str, region: str, name: str, *rest: Any) -> tuple:
    """Keys of a function's dependants: kind is "version", "alias", "policy", "invoke-config" or "url"."""
    return resource_key(account, region, "lambda", kind, name, *rest)


FUNCTION_CHILDREN = ("version", "alias", "policy", "invoke-config", "url")


def url_index_key(url_id: str) -> tuple:
    return global_key("lambda", "url", url_id)


PROVISIONED = global_key("lambda", "provisioned")  # every provisioned concurrency config


def held_blobs(tx: Any) -> Iterator[str]:
    """Every blob a function, a published version or a layer version names (blob_gc.py): code
    packages, and the layers' (a function keeps using a layer version deleted after it was added)."""
    for account, region in scopes(tx):
        prefix = base(account, region)
        for kind in ("function", "version"):
            for _, raw in tx.range(prefix + (kind,)):
                record = json.loads(raw)
                digest = (record.get("code") or {}).get("digest")
                if digest:
                    yield digest
                yield from (layer["digest"] for layer in record.get("layers") or () if layer.get("digest"))
        for _, raw in tx.range(prefix + ("layer-version",)):
            digest = json.loads(raw).get("digest")
            if digest:
                yield digest


def provisioned_key(account: str, region: str, *name_and_qualifier: str) -> tuple:
    """A provisioned concurrency config (with a name and no qualifier: the prefix of a function's)."""
    return (*PROVISIONED, account, region, *name_and_qualifier)


def provisioned_total(tx: Any, account: str, region: str, name: str, skip: str | None = None) -> int:
    """The provisioned concurrency a function's configs ask for (but the one of qualifier `skip`)."""
    return sum(json.loads(raw)["requested"] for key, raw in tx.range(provisioned_key(account, region, name))
               if key[-1] != skip)


# ---- small values -----------------------------------------------------------------------------

def now_epoch() -> float:
    return datetime.now(UTC).timestamp()


def lambda_date(epoch: float | None = None) -> str:
    """AWS Lambda's LastModified format: `2024-01-01T00:00:00.000+0000`."""
    dt = datetime.fromtimestamp(now_epoch() if epoch is None else epoch, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def new_revision() -> str:
    import uuid  # (on first use: with the `platform` module it loads, ~4 ms of start-up)

    return str(uuid.uuid4())


def code_sha256(hex_digest: str) -> str:
    """AWS's CodeSha256: the base64 of the package's SHA-256."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


# ---- records ----------------------------------------------------------------------------------

def not_found(ref: FunctionRef, qualifier: str | None = None) -> ServiceError:
    return ResourceNotFoundException(f"Function not found: {ref.arn(qualifier)}")


def load_function(tx: Any, ref: FunctionRef, qualifier: str | None = None) -> tuple[dict, int]:
    """The function record and its store version, or ResourceNotFoundException naming `qualifier`."""
    found = tx.get_json_versioned(function_key(ref.account, ref.region, ref.name))
    if found is None:
        raise not_found(ref, qualifier)
    return found


def load_version(tx: Any, ref: FunctionRef, version: str) -> tuple[dict, int]:
    found = tx.get_json_versioned(version_key(ref.account, ref.region, ref.name, int(version)))
    if found is None:
        raise not_found(ref, version)
    return found


def render(config: dict, *, arn: str | None = None, listing: bool = False) -> dict:
    """A stored FunctionConfiguration as an operation returns it (optionally another FunctionArn)."""
    out = dict(config)
    if arn is not None:
        out["FunctionArn"] = arn
    if listing:
        for key in _LIST_OMITTED:
            out.pop(key, None)
    return out


def total_reserved(tx: Any, account: str, region: str, *, skip: str | None = None) -> int:
    """Sum of the reserved concurrency of the account's functions in the region (but `skip`)."""
    total = 0
    for key, raw in tx.range(base(account, region) + ("function",)):
        if key[-1] == skip:
            continue
        reserved = json.loads(raw).get("reserved_concurrency")
        total += reserved or 0
    return total


# ---- resolve: the seam Invoke uses ------------------------------------------------------------

@dataclass(frozen=True)
class ResolvedFunction:
    """What a FunctionName + Qualifier points at, ready to run.

    `arn` is the ARN as addressed (unqualified, or qualified by the version or alias); `version` is
    "$LATEST" or the published version number the alias or qualifier selects; `configuration` is
    that version's FunctionConfiguration; `routing` an alias's AdditionalVersionWeights;
    `revision` changes whenever the version's code or configuration does (a warm environment
    built for another revision is stale), unlike RevisionId it ignores tag and policy changes.
    """

    account: str
    region: str
    name: str
    arn: str
    version: str
    alias: str | None
    configuration: dict
    code_digest: str | None               # blob store SHA-256 (hex) of the zip; None for images
    layer_digests: list[str] = field(default_factory=list)
    routing: dict[str, float] | None = None
    reserved_concurrency: int | None = None
    image_uri: str | None = None
    revision: str = ""


def choose_version(resolved: ResolvedFunction, roll: float) -> str:
    """The version an alias invocation runs: an additional version with its weight's probability
    (`roll` is uniform in [0, 1)), else the alias's primary version."""
    for version, weight in (resolved.routing or {}).items():
        if roll < weight:
            return version
        roll -= weight
    return resolved.version


def resolve(store: Store, account: str, region: str, function_name_or_arn: str,
            qualifier: str | None = None) -> ResolvedFunction:
    """Resolve a FunctionName (name, `name:qualifier`, partial or full ARN) and Qualifier.

    An ARN's account and region win over `account`/`region` (authorizing cross-account calls is
    the caller's business). Raises ResourceNotFoundException with AWS's message ("Function not
    found: arn:...") for unknown functions, versions and aliases, InvalidParameterValueException
    when the ARN's qualifier and `qualifier` disagree.
    """
    parts = split_function_name(function_name_or_arn)
    if parts is None:
        raise pattern_error(function_name_or_arn, "functionName", member_pattern("Invoke", "FunctionName") or "")
    name, arn_qualifier, arn_account, arn_region = parts
    if qualifier and arn_qualifier and qualifier != arn_qualifier:
        raise InvalidParameterValueException(
            "The derived qualifier from the function name does not match the specified qualifier.")
    ref = FunctionRef(arn_account or account, arn_region or region, name, qualifier or arn_qualifier)
    with store.transaction(write=False) as tx:
        record, _ = load_function(tx, ref, ref.qualifier or LATEST)  # (unqualified: AWS names $LATEST)
        return resolve_in(tx, ref, as_invoked(record))  # during an update: the previous code


def resolve_in(tx: Any, ref: FunctionRef, record: dict) -> ResolvedFunction:
    """`resolve` given the loaded function record (inside an open transaction)."""
    q = ref.qualifier
    alias = None
    routing = None
    version = LATEST if q in (None, LATEST) else q
    if q is not None and q != LATEST and not is_version(q):
        alias_rec = tx.get_json(child_key("alias", ref.account, ref.region, ref.name, q))
        if alias_rec is None:
            raise not_found(ref, q)
        alias, version = q, alias_rec["FunctionVersion"]
        routing = (alias_rec.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or None
    target = record if version == LATEST else load_version(tx, ref, version)[0]
    code = target.get("code") or {}
    return ResolvedFunction(
        account=ref.account, region=ref.region, name=ref.name, arn=ref.qualified_arn, version=version,
        alias=alias, configuration=target["config"], code_digest=code.get("digest"),
        layer_digests=[layer["digest"] for layer in target.get("layers", [])], routing=routing,
        reserved_concurrency=record.get("reserved_concurrency"), image_uri=code.get("image_uri"),
        revision=target.get("revision", ""))
