"""Every public provider method names a real operation of its service's model."""

from __future__ import annotations

import inspect

import pytest

from cloudlet.protocol import load_service
from cloudlet.services import PROVIDERS, provider_class
from cloudlet.services.provider import Provider, snake_case

BASE = {name for name, _ in inspect.getmembers(Provider)}


@pytest.mark.parametrize("service", sorted(PROVIDERS))
def test_public_methods_are_operations(service):
    cls = provider_class(service)
    assert cls.service == service
    operations = {snake_case(op) for op in load_service(service).operations}
    public = {name for name, member in inspect.getmembers(cls, inspect.isfunction)
              if not name.startswith("_") and name not in BASE}
    assert public <= operations, f"not operations of {service}: {sorted(public - operations)}"


def test_snake_case():
    assert snake_case("GetCallerIdentity") == "get_caller_identity"
    assert snake_case("ListBucketsV2") == "list_buckets_v2"
    assert snake_case("PutBucketACL") == "put_bucket_acl"
    assert snake_case("GetFunctionUrlConfig") == "get_function_url_config"
    assert snake_case("DescribeDBClusters") == "describe_db_clusters"
