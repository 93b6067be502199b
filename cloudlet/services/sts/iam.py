"""STS's authorization table (gateway/authorize.py), from the Service Authorization Reference,
"Actions, resources, and condition keys for AWS Security Token Service"
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html).
AssumeRole acts on the role it assumes; GetCallerIdentity needs no permission at all and names
no resource.
"""

from __future__ import annotations

from cloudlet.gateway.authorize import IamTable

TABLE = IamTable(
    prefix="sts",
    resources={
        "GetCallerIdentity": "*",
        "AssumeRole": "{RoleArn}",
        "AssumeRoleWithWebIdentity": "{RoleArn}",
        "AssumeRoleWithSAML": "{RoleArn}",
        "GetSessionToken": "*",
        "GetFederationToken": "arn:{partition}:sts::{account}:federated-user/{Name}",
        "GetAccessKeyInfo": "*",
        "DecodeAuthorizationMessage": "*",
    },
)
