"""Function names, ARNs and qualifiers, parsed the way Lambda parses them.

A FunctionName parameter may be a name (`my-fn`), a name with a qualifier (`my-fn:prod`), a
partial ARN (`123456789012:function:my-fn`) or a full ARN, qualified or not. Qualifiers are
`$LATEST`, a version number, or an alias name (anything else matching the alias pattern).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import (
    AccessDeniedException,
    InvalidParameterValueException,
    ResourceNotFoundException,
    pattern_error,
    validation_text,
)

if TYPE_CHECKING:
    from cloudlet.gateway.context import RequestContext

LATEST = "$LATEST"

_FUNCTION_NAME = re.compile(
    r"(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_.-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?")
_VERSION = re.compile(r"[0-9]+")
_ALIAS = re.compile(r"(?!^[0-9]+$)[a-zA-Z0-9_-]+")
_LAYER_VERSION_ARN = re.compile(
    r"arn:[a-zA-Z0-9-]+:lambda:(?P<region>[a-zA-Z0-9-]+):(?P<account>\d{12}):layer:(?P<name>[a-zA-Z0-9_-]+)"
    r"(?::(?P<version>[0-9]+))?")

# Operations AWS lets callers aim at another account's function (resource-based policies).
CROSS_ACCOUNT_OPERATIONS = frozenset({
    "DeleteFunction", "GetFunction", "GetFunctionConfiguration", "GetPolicy", "Invoke", "ListAliases",
    "ListVersionsByFunction", "PublishVersion", "UpdateFunctionCode", "GetAlias", "CreateAlias", "UpdateAlias",
    "DeleteAlias", "GetFunctionConcurrency", "PutFunctionConcurrency", "DeleteFunctionConcurrency",
    "GetFunctionEventInvokeConfig", "PutFunctionEventInvokeConfig", "DeleteFunctionEventInvokeConfig",
    "UpdateFunctionEventInvokeConfig", "ListFunctionEventInvokeConfigs", "ListTags", "TagResource",
    "UntagResource",
})


def function_arn(account: str, region: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def layer_arn(account: str, region: str, name: str, version: int | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:layer:{name}"
    return f"{arn}:{version}" if version is not None else arn


def is_version(qualifier: str) -> bool:
    return bool(_VERSION.fullmatch(qualifier))


def is_alias(qualifier: str) -> bool:
    return bool(_ALIAS.fullmatch(qualifier))


def parse_layer_arn(arn: str) -> tuple[str, str, str, int | None] | None:
    """`(account, region, layer name, version or None)` of a layer (version) ARN, else None."""
    m = _LAYER_VERSION_ARN.fullmatch(arn)
    if m is None:
        return None
    version = m.group("version")
    return m.group("account"), m.group("region"), m.group("name"), int(version) if version else None


@dataclass(frozen=True, slots=True)
class FunctionRef:
    """Where a FunctionName (+ Qualifier) points: account, region, name and qualifier (None: none given)."""

    account: str
    region: str
    name: str
    qualifier: str | None

    def arn(self, qualifier: str | None = None) -> str:
        return function_arn(self.account, self.region, self.name, qualifier)

    @property
    def qualified_arn(self) -> str:
        """The ARN as addressed: qualified when a qualifier was given."""
        return function_arn(self.account, self.region, self.name, self.qualifier)


def split_function_name(value: str) -> tuple[str, str | None, str | None, str | None] | None:
    """`(name, qualifier, account, region)` of a name or (partial) ARN, or None if it is neither."""
    m = _FUNCTION_NAME.fullmatch(value)
    if m is None:
        return None
    return m.group("name"), m.group("qualifier"), m.group("account"), m.group("region")


@functools.cache
def member_pattern(operation: str, member: str) -> str | None:
    """The regular expression the botocore model gives `operation`'s input member `member`."""
    from cloudlet.protocol import load_service

    op = load_service("lambda").operations.get(operation)
    shape = op.input_shape.members.get(member) if op is not None and op.input_shape is not None else None
    return shape.metadata.get("pattern") if shape is not None else None


def check_member_pattern(operation: str, member: str, value: str, path: str) -> None:
    """ValidationException if `value` does not fully match the model's pattern for the member."""
    pattern = member_pattern(operation, member)
    if pattern is not None and re.fullmatch(pattern, value) is None:
        raise pattern_error(value, path, pattern)


def function_ref(ctx: RequestContext, value: str, qualifier: str | None = None, *,
                 member: str = "FunctionName", path: str = "functionName") -> FunctionRef:
    """Parse a FunctionName parameter (and the Qualifier parameter) like Lambda does.

    Raises ValidationException for a malformed name or qualifier, ResourceNotFoundException for an
    ARN in another region, AccessDeniedException for another account's function (outside the
    operations that allow it), InvalidParameterValueException when the ARN's qualifier and the
    Qualifier parameter disagree.
    """
    op = ctx.operation
    parts = split_function_name(value)
    pattern = member_pattern(op, member)
    if parts is None or (pattern is not None and re.fullmatch(pattern, value) is None):
        raise pattern_error(value, path, pattern or _FUNCTION_NAME.pattern)
    name, arn_qualifier, account, region = parts
    if qualifier is not None:
        check_member_pattern(op, "Qualifier", qualifier, "qualifier")
    if region and region != ctx.region:
        raise ResourceNotFoundException(f"Functions from '{region}' are not reachable in this region "
                                        f"('{ctx.region}')")
    account = account or ctx.account
    if account != ctx.account and op not in CROSS_ACCOUNT_OPERATIONS:
        raise AccessDeniedException(
            f"User: {ctx.principal} is not authorized to perform: lambda:{op} on resource: "
            f"{function_arn(account, ctx.region, name)}")
    if qualifier and arn_qualifier and qualifier != arn_qualifier:
        raise InvalidParameterValueException(
            "The derived qualifier from the function name does not match the specified qualifier.")
    return FunctionRef(account, ctx.region, name, qualifier or arn_qualifier)


def check_name_length_for_create(value: str, name: str) -> None:
    """CreateFunction: a bare name is limited to 64 characters (ARNs to 140, checked by the model)."""
    if value == name and len(name) > 64:
        raise InvalidParameterValueException(validation_text(
            value, "functionName", "Member must have length less than or equal to 64"))
