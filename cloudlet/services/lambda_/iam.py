"""Lambda's authorization table: IAM actions and resource ARNs per operation (gateway/authorize.py).

From the Service Authorization Reference, "Actions, resources, and condition keys for AWS Lambda"
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html): the
function resource is `arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}` with
an optional `:${Qualifier}`; layers are `...:layer:${LayerName}[:${LayerVersion}]`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cloudlet.gateway.authorize import IamTable, Normalizer, name_or_arn

FUNCTION = "arn:{partition}:lambda:{region}:{account}:function:{FunctionName}"
QUALIFIED = FUNCTION + "{:Qualifier}"
LAYER = "arn:{partition}:lambda:{region}:{account}:layer:{LayerName}"
LAYER_VERSION = LAYER + ":{VersionNumber}"
CODE_SIGNING_CONFIG = "{CodeSigningConfigArn}"

# A FunctionName may be `name`, `name:qualifier`, `123456789012:function:name[:qualifier]` or the
# full ARN (Invoke's documented "Name formats").
_FUNCTION = re.compile(
    r"(?:arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z0-9-]+):)?"
    r"(?:(?P<account>\d{12}):function:)?(?P<name>[^:]+(?::[^:]+)?)")


def function_name(member: str) -> Normalizer:
    """A FunctionName in any of its forms -> the name (with its qualifier) and the ARN's account
    and region when given."""

    def normalize(value: str, variables: Mapping[str, str]) -> Mapping[str, str] | None:
        if ":" not in value:
            return None  # a plain name, by far the most common form
        m = _FUNCTION.fullmatch(value)
        if m is None:
            return None
        out = {k: v for k, v in m.groupdict().items() if v and k != "name"}
        out[member] = m.group("name")
        return out
    return normalize


_OWN_QUALIFIED = ("AddPermission", "RemovePermission", "GetPolicy", "DeleteFunction", "GetFunction",
                  "GetFunctionConfiguration", "Invoke", "InvokeWithResponseStream",
                  "CreateFunctionUrlConfig", "GetFunctionUrlConfig", "UpdateFunctionUrlConfig",
                  "DeleteFunctionUrlConfig", "PutFunctionEventInvokeConfig", "UpdateFunctionEventInvokeConfig",
                  "GetFunctionEventInvokeConfig", "DeleteFunctionEventInvokeConfig",
                  "PutProvisionedConcurrencyConfig", "GetProvisionedConcurrencyConfig",
                  "DeleteProvisionedConcurrencyConfig", "GetRuntimeManagementConfig",
                  "PutRuntimeManagementConfig")
_OWN_UNQUALIFIED = ("CreateFunction", "UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion",
                    "ListVersionsByFunction", "CreateAlias", "GetAlias", "UpdateAlias", "DeleteAlias",
                    "ListAliases", "PutFunctionConcurrency", "GetFunctionConcurrency", "DeleteFunctionConcurrency",
                    "ListFunctionEventInvokeConfigs", "ListFunctionUrlConfigs", "ListProvisionedConcurrencyConfigs",
                    "InvokeAsync", "GetFunctionCodeSigningConfig", "PutFunctionCodeSigningConfig",
                    "DeleteFunctionCodeSigningConfig", "GetFunctionRecursionConfig",
                    "PutFunctionRecursionConfig", "GetFunctionScalingConfig", "PutFunctionScalingConfig")

TABLE = IamTable(
    prefix="lambda",
    actions={
        "Invoke": "InvokeFunction",
        "GetLayerVersionByArn": "GetLayerVersion",
    },
    resources={
        **{op: QUALIFIED for op in _OWN_QUALIFIED},
        **{op: FUNCTION for op in _OWN_UNQUALIFIED},
        "ListTags": "arn:{partition}:lambda:{region}:{account}:function:{Resource}",
        "TagResource": "arn:{partition}:lambda:{region}:{account}:function:{Resource}",
        "UntagResource": "arn:{partition}:lambda:{region}:{account}:function:{Resource}",
        "PublishLayerVersion": LAYER,
        "GetLayerVersion": LAYER_VERSION,
        "DeleteLayerVersion": LAYER_VERSION,
        "AddLayerVersionPermission": LAYER_VERSION,
        "RemoveLayerVersionPermission": LAYER_VERSION,
        "GetLayerVersionPolicy": LAYER_VERSION,
        "GetLayerVersionByArn": "{Arn}",
        "GetCodeSigningConfig": CODE_SIGNING_CONFIG,
        "UpdateCodeSigningConfig": CODE_SIGNING_CONFIG,
        "DeleteCodeSigningConfig": CODE_SIGNING_CONFIG,
        "ListFunctionsByCodeSigningConfig": CODE_SIGNING_CONFIG,
        # No resource-level permissions (the reference lists no resource type for these):
        "ListFunctions": "*",
        "ListLayers": "*",
        "ListLayerVersions": "*",
        "GetAccountSettings": "*",
        "CreateCodeSigningConfig": "*",
        "ListCodeSigningConfigs": "*",
    },
    members={
        "FunctionName": function_name("FunctionName"),
        "Resource": function_name("Resource"),
        "LayerName": name_or_arn("LayerName", "layer:"),
    },
)
