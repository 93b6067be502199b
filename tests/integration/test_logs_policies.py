"""CloudWatch Logs data protection and account policies, query definitions, log group classes,
and the resources that cannot exist here yet (anomaly detectors, deliveries); export tasks are in
test_logs_export.py."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support.aws import aws_error

POLICY = json.dumps({
    "Name": "data-protection-policy", "Description": "", "Version": "2021-06-01",
    "Statement": [
        {"Sid": "audit-policy", "DataIdentifier": ["arn:aws:dataprotection::aws:data-identifier/EmailAddress"],
         "Operation": {"Audit": {"FindingsDestination": {}}}},
        {"Sid": "redact-policy", "DataIdentifier": ["arn:aws:dataprotection::aws:data-identifier/EmailAddress"],
         "Operation": {"Deidentify": {"MaskConfig": {}}}},
    ]})


@pytest.fixture(scope="module")
def logs(server):
    return server.client("logs")


def group_name() -> str:
    return f"/test/policies/{uuid.uuid4().hex[:12]}"


def not_found(message: str) -> dict:
    return {"code": "ResourceNotFoundException", "message": message, "status": 400, "type": None}


# ---- data protection policies ----

def test_data_protection_policy_lifecycle(logs):
    group = group_name()
    logs.create_log_group(logGroupName=group)
    assert logs.get_data_protection_policy(logGroupIdentifier=group)["logGroupIdentifier"] == group
    assert "policyDocument" not in logs.get_data_protection_policy(logGroupIdentifier=group)
    put = logs.put_data_protection_policy(logGroupIdentifier=group, policyDocument=POLICY)
    assert put["logGroupIdentifier"] == group and put["policyDocument"] == POLICY and put["lastUpdatedTime"] > 0
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    got = logs.get_data_protection_policy(logGroupIdentifier=arn)
    assert got["policyDocument"] == POLICY and got["lastUpdatedTime"] == put["lastUpdatedTime"]
    assert got["logGroupIdentifier"] == arn
    logs.delete_data_protection_policy(logGroupIdentifier=group)
    assert "policyDocument" not in logs.get_data_protection_policy(logGroupIdentifier=group)
    assert aws_error(logs.delete_data_protection_policy, logGroupIdentifier=group) == not_found(
        "The specified data protection policy does not exist.")
    # the policy goes with its group
    logs.put_data_protection_policy(logGroupIdentifier=group, policyDocument=POLICY)
    logs.delete_log_group(logGroupName=group)
    logs.create_log_group(logGroupName=group)
    assert "policyDocument" not in logs.get_data_protection_policy(logGroupIdentifier=group)
    logs.delete_log_group(logGroupName=group)


def test_data_protection_policy_errors(logs):
    missing = not_found("The specified log group does not exist.")
    assert aws_error(logs.put_data_protection_policy, logGroupIdentifier=group_name(), policyDocument=POLICY) == missing
    assert aws_error(logs.get_data_protection_policy, logGroupIdentifier=group_name()) == missing
    assert aws_error(logs.delete_data_protection_policy, logGroupIdentifier=group_name()) == missing
    group = group_name()
    logs.create_log_group(logGroupName=group)
    for bad in ("not json", "[1, 2]", json.dumps({"Name": "p", "Statement": []}),
                json.dumps({"Statement": [{"Operation": {"Deidentify": {}}, "DataIdentifier": ["a"]},
                                          {"Operation": {"Audit": {}}, "DataIdentifier": ["a"]}]})):
        err = aws_error(logs.put_data_protection_policy, logGroupIdentifier=group, policyDocument=bad)
        assert err["code"] == "InvalidParameterException" and err["status"] == 400, (bad, err)
    assert "policyDocument" not in logs.get_data_protection_policy(logGroupIdentifier=group)
    logs.delete_log_group(logGroupName=group)


# ---- account policies ----

def test_account_policies(logs):
    name = f"p-{uuid.uuid4().hex[:8]}"
    doc = json.dumps({"DestinationArn": "arn:aws:lambda:us-east-1:000000000000:function:f", "FilterPattern": ""})
    put = logs.put_account_policy(policyName=name, policyDocument=doc, policyType="SUBSCRIPTION_FILTER_POLICY",
                                  scope="ALL", selectionCriteria='LogGroupName NOT IN ["/skip"]')["accountPolicy"]
    assert put["policyName"] == name and put["policyType"] == "SUBSCRIPTION_FILTER_POLICY" and put["scope"] == "ALL"
    assert put["accountId"] == "000000000000" and put["selectionCriteria"] == 'LogGroupName NOT IN ["/skip"]'
    listed = logs.describe_account_policies(policyType="SUBSCRIPTION_FILTER_POLICY")["accountPolicies"]
    assert [p for p in listed if p["policyName"] == name] == [put]
    assert logs.describe_account_policies(policyType="DATA_PROTECTION_POLICY", policyName=name)["accountPolicies"] == []
    assert logs.describe_account_policies(policyType="SUBSCRIPTION_FILTER_POLICY", policyName=name,
                                          accountIdentifiers=["111111111111"])["accountPolicies"] == []
    dp = logs.put_account_policy(policyName=name, policyDocument=POLICY, policyType="DATA_PROTECTION_POLICY")
    assert dp["accountPolicy"]["policyType"] == "DATA_PROTECTION_POLICY"
    logs.delete_account_policy(policyName=name, policyType="SUBSCRIPTION_FILTER_POLICY")
    assert logs.describe_account_policies(policyType="SUBSCRIPTION_FILTER_POLICY",
                                          policyName=name)["accountPolicies"] == []
    assert aws_error(logs.delete_account_policy, policyName=name, policyType="SUBSCRIPTION_FILTER_POLICY") == \
        not_found(f"Policy with name [{name}] does not exist")
    logs.delete_account_policy(policyName=name, policyType="DATA_PROTECTION_POLICY")


def test_account_policy_errors(logs):
    bad = aws_error(logs.put_account_policy, policyName="p", policyDocument="{", policyType="SUBSCRIPTION_FILTER_POLICY")
    assert bad["code"] == "InvalidParameterException"
    criteria = aws_error(logs.put_account_policy, policyName="p", policyDocument=POLICY,
                         policyType="DATA_PROTECTION_POLICY", selectionCriteria="LogGroupName NOT IN []")
    assert criteria["code"] == "InvalidParameterException"
    enum = aws_error(logs.describe_account_policies, policyType="NOPE")
    assert enum["status"] == 400 and "policyType" in enum["message"]


# ---- query definitions and queries ----

def test_query_definitions(logs):
    prefix = f"q-{uuid.uuid4().hex[:8]}"
    first = logs.put_query_definition(name=f"{prefix}/errors", queryString="fields @message | filter @message like /ERROR/",
                                      logGroupNames=["/aws/lambda/f"])["queryDefinitionId"]
    second = logs.put_query_definition(name=f"{prefix}/all", queryString="fields @timestamp",
                                       queryLanguage="CWLI")["queryDefinitionId"]
    assert first != second
    found = logs.describe_query_definitions(queryDefinitionNamePrefix=prefix)["queryDefinitions"]
    assert [d["name"] for d in found] == [f"{prefix}/all", f"{prefix}/errors"]
    errors = found[1]
    assert errors["queryDefinitionId"] == first and errors["logGroupNames"] == ["/aws/lambda/f"]
    assert errors["queryString"].startswith("fields @message") and errors["lastModified"] > 0
    assert errors["queryLanguage"] == "CWLI"
    # paging
    page = logs.describe_query_definitions(queryDefinitionNamePrefix=prefix, maxResults=1)
    assert [d["name"] for d in page["queryDefinitions"]] == [f"{prefix}/all"]
    rest = logs.describe_query_definitions(queryDefinitionNamePrefix=prefix, maxResults=1, nextToken=page["nextToken"])
    assert [d["name"] for d in rest["queryDefinitions"]] == [f"{prefix}/errors"] and "nextToken" not in rest
    # an update keeps the id
    same = logs.put_query_definition(queryDefinitionId=first, name=f"{prefix}/errors", queryString="fields @log")
    assert same["queryDefinitionId"] == first
    [updated] = [d for d in logs.describe_query_definitions(queryDefinitionNamePrefix=f"{prefix}/errors")[
        "queryDefinitions"]]
    assert updated["queryString"] == "fields @log" and "logGroupNames" not in updated
    assert logs.delete_query_definition(queryDefinitionId=first)["success"] is True
    assert logs.delete_query_definition(queryDefinitionId=second)["success"] is True
    assert logs.describe_query_definitions(queryDefinitionNamePrefix=prefix)["queryDefinitions"] == []
    assert aws_error(logs.delete_query_definition, queryDefinitionId=first) == not_found(
        f"Query definition with id [{first}] does not exist.")
    assert aws_error(logs.put_query_definition, queryDefinitionId=first, name="x", queryString="fields @m") == \
        not_found(f"Query definition with id [{first}] does not exist.")
    bad = aws_error(logs.describe_query_definitions, nextToken="garbage")
    assert bad["code"] == "InvalidParameterException"


def test_queries_cannot_exist(logs):
    query_id = str(uuid.uuid4())
    missing = not_found("The specified query does not exist.")
    assert aws_error(logs.get_query_results, queryId=query_id) == missing
    assert aws_error(logs.stop_query, queryId=query_id) == missing
    assert logs.describe_queries()["queries"] == []
    assert logs.describe_queries(status="Running")["queries"] == []


# ---- what cannot exist here yet ----

def test_anomaly_detectors(logs):
    arn = "arn:aws:logs:us-east-1:000000000000:anomaly-detector:abc"
    assert logs.list_log_anomaly_detectors()["anomalyDetectors"] == []
    missing = not_found("The specified anomaly detector does not exist.")
    assert aws_error(logs.get_log_anomaly_detector, anomalyDetectorArn=arn) == missing
    assert aws_error(logs.update_log_anomaly_detector, anomalyDetectorArn=arn, enabled=False) == missing
    assert aws_error(logs.delete_log_anomaly_detector, anomalyDetectorArn=arn) == missing


def test_deliveries(logs):
    assert logs.describe_deliveries()["deliveries"] == []
    assert logs.describe_delivery_sources()["deliverySources"] == []
    assert logs.describe_delivery_destinations()["deliveryDestinations"] == []
    delivery = not_found("Requested Delivery does not exist in this account.")
    source = not_found("Requested Delivery Source does not exist in this account.")
    destination = not_found("Requested Delivery Destination does not exist in this account.")
    assert aws_error(logs.get_delivery, id="abc") == delivery
    assert aws_error(logs.delete_delivery, id="abc") == delivery
    assert aws_error(logs.get_delivery_source, name="abc") == source
    assert aws_error(logs.delete_delivery_source, name="abc") == source
    assert aws_error(logs.get_delivery_destination, name="abc") == destination
    assert aws_error(logs.delete_delivery_destination, name="abc") == destination
    assert aws_error(logs.get_delivery_destination_policy, deliveryDestinationName="abc") == destination
    assert aws_error(logs.delete_delivery_destination_policy, deliveryDestinationName="abc") == destination


# ---- log group classes ----

@pytest.mark.parametrize("group_class", ["STANDARD", "INFREQUENT_ACCESS", "DELIVERY"])
def test_log_group_class_is_stored_and_filtered(logs, group_class):
    group = group_name()
    logs.create_log_group(logGroupName=group, logGroupClass=group_class)
    [described] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["logGroupClass"] == group_class
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=group,
                                                                logGroupClass=group_class)["logGroups"]] == [group]
    other = "STANDARD" if group_class != "STANDARD" else "INFREQUENT_ACCESS"
    assert logs.describe_log_groups(logGroupNamePrefix=group, logGroupClass=other)["logGroups"] == []
    logs.delete_log_group(logGroupName=group)
