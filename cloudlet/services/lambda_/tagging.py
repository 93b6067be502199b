"""What TagResource, UntagResource and ListTags address: a function, an event source mapping or a
code signing config (capacity providers and network connectors in newer models), each told by
its ARN, each missing one answered with the ResourceNotFoundException wording of its type.

Functions are tagged by lifecycle.py, code signing configs here (their record's "Tags",
code_signing.py). This platform keeps no event source mappings, capacity providers or network
connectors yet, so an ARN of one names a resource that does not exist. The wording of a missing
resource is AWS's for its type: "Function not found: ARN" (lifecycle.py), "The Lambda code
signing configuration ARN can not be found." (GetCodeSigningConfig's, as LocalStack records it),
"The resource you requested does not exist." (GetEventSourceMapping's).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .code_signing import _locate as code_signing_config_key
from .code_signing import _not_found as code_signing_config_not_found
from .errors import InvalidParameterValueException, ResourceNotFoundException
from .names import check_member_pattern
from .validation import check_tags

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

    from .provider import LambdaProvider

_KIND = re.compile(r"arn:[^:]*:lambda:[^:]*:\d{12}:(?P<kind>[a-z-]+):")
_MISSING = "The resource you requested does not exist."


def resource_kind(arn: str) -> str:
    """"function", "event-source-mapping", "code-signing-config", ... (the ARN's resource type)."""
    m = _KIND.match(arn)
    return m.group("kind") if m is not None else "function"


def is_function(arn: str) -> bool:
    return resource_kind(arn) == "function"


def _key(ctx: RequestContext, arn: str) -> tuple:
    """The store key of a taggable resource other than a function, or its ResourceNotFoundException."""
    check_member_pattern(ctx.operation, "Resource", arn, "resource")
    if resource_kind(arn) == "code-signing-config":
        return code_signing_config_key(ctx, arn)
    raise ResourceNotFoundException(_MISSING)


def _load(tx: Any, key: tuple, arn: str) -> tuple[dict, int]:
    found = tx.get_json_versioned(key)
    if found is None:
        raise code_signing_config_not_found(arn)
    return found


def _retag(p: LambdaProvider, ctx: RequestContext, arn: str, change: Any) -> None:
    key = _key(ctx, arn)

    def retag(tx: Any) -> None:
        record, stored = _load(tx, key, arn)
        tags = change(dict(record.get("Tags") or {}))
        check_tags(tags)
        record["Tags"] = tags
        tx.put_json(key, record, if_version=stored)

    p.store.transact(retag)


def tag_resource(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    if not params.get("Tags"):
        raise InvalidParameterValueException("An error occurred and the request cannot be processed.")
    _retag(p, ctx, params["Resource"], lambda tags: {**tags, **params["Tags"]})
    return {}


def untag_resource(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    keys = set(params.get("TagKeys") or [])
    _retag(p, ctx, params["Resource"], lambda tags: {k: v for k, v in tags.items() if k not in keys})
    return {}


def list_tags(p: LambdaProvider, ctx: RequestContext, params: dict) -> dict:
    key = _key(ctx, params["Resource"])
    with p.store.transaction(write=False) as tx:
        record, _ = _load(tx, key, params["Resource"])
    return {"Tags": record.get("Tags") or {}}
