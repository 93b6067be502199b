"""The services cloudlet serves: botocore service name -> provider class (module:Class).

A service listed here answers every operation of its model; operations without a provider
method answer HTTP 501 NotImplemented naming the operation.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloudlet.infra import Infra
    from cloudlet.services.provider import Provider

PROVIDERS: dict[str, str] = {
    "cloudwatch": "cloudlet.services.cloudwatch.provider:CloudWatchProvider",
    "dynamodb": "cloudlet.services.dynamodb.provider:DynamoDBProvider",
    "lambda": "cloudlet.services.lambda_.provider:LambdaProvider",
    "logs": "cloudlet.services.logs.provider:LogsProvider",
    "s3": "cloudlet.services.s3.provider:S3Provider",
    "sqs": "cloudlet.services.sqs.provider:SqsProvider",
    "sts": "cloudlet.services.sts.provider:StsProvider",
}


# The internal APIs each provider is given, by the services whose APIs they are.
USES: dict[str, tuple[str, ...]] = {
    "lambda": ("logs", "s3"),
    "logs": ("cloudwatch", "s3"),
}


def provider_class(service: str) -> type[Provider]:
    module, _, cls = PROVIDERS[service].partition(":")
    found: type[Provider] = getattr(importlib.import_module(module), cls)
    return found


def build_providers(infra: Infra) -> dict[str, Provider]:
    """Every provider, each given the internal APIs it uses (built before it)."""
    built: dict[str, Provider] = {}

    def build(name: str, path: tuple[str, ...] = ()) -> Provider:
        if name in path:
            raise RuntimeError(f"services use each other in a cycle: {' -> '.join((*path, name))}")
        if name not in built:
            apis = {used: build(used, (*path, name)).api for used in USES.get(name, ())}
            built[name] = provider_class(name)(infra, **apis)
        return built[name]

    for name in PROVIDERS:
        build(name)
    return {name: built[name] for name in PROVIDERS}
