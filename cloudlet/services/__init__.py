"""The services cloudlet serves: botocore service name -> provider class (module:Class).

A service listed here answers every operation of its model; operations without a provider
method answer HTTP 501 NotImplemented naming the operation.
"""

from __future__ import annotations

import importlib

PROVIDERS: dict[str, str] = {
    "dynamodb": "cloudlet.services.dynamodb.provider:DynamoDBProvider",
    "lambda": "cloudlet.services.lambda_.provider:LambdaProvider",
    "logs": "cloudlet.services.logs.provider:LogsProvider",
    "s3": "cloudlet.services.s3.provider:S3Provider",
    "sts": "cloudlet.services.sts.provider:StsProvider",
}


def provider_class(service: str) -> type:
    module, _, cls = PROVIDERS[service].partition(":")
    return getattr(importlib.import_module(module), cls)
