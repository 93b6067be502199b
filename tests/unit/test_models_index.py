"""The index of botocore's models (cloudlet/protocol/models_index.json) matches the installed
botocore: after a bump, `cloudlet coverage --write` regenerates it."""

from __future__ import annotations

import botocore

from cloudlet.protocol import models_index


def test_index_matches_installed_botocore():
    committed = models_index.INDEX_FILE.read_text()
    assert models_index.indexed_version() == botocore.__version__, \
        "botocore was bumped: run `cloudlet coverage --write`"
    assert committed == models_index.render(models_index.build()), \
        "cloudlet/protocol/models_index.json is stale: run `cloudlet coverage --write`"


def test_query_compatible_services_list_query():
    index = models_index.load()
    assert index["sqs"].protocols == ("json", "query")
    assert index["sqs"].target == "AmazonSQS"
    assert index["apigatewayv2"].signing == "apigateway"
    assert index["dynamodb"].protocols == ("json",)
