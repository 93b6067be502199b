"""CloudWatch Logs' authorization table (gateway/authorize.py), from the Service Authorization
Reference, "Actions, resources, and condition keys for Amazon CloudWatch Logs"
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html).
A log group is `arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}`, a stream
`...:log-group:${LogGroupName}:log-stream:${LogStreamName}`. Operations that take a
logGroupIdentifier accept a name or an ARN (the service refuses the `:*` suffix DescribeLogGroups
prints; the table tolerates it).
"""

from __future__ import annotations

from collections.abc import Mapping

from cloudlet.gateway.authorize import IamTable, arn_fields

GROUP = "arn:{partition}:logs:{region}:{account}:log-group:{logGroupName}"
STREAM = GROUP + ":log-stream:{logStreamName}"
DESTINATION = "arn:{partition}:logs:{region}:{account}:destination:{destinationName}"


def group_identifier(value: str, variables: Mapping[str, str]) -> Mapping[str, str] | None:
    """logGroupIdentifier (a name or a log group ARN) -> the {logGroupName} of the templates."""
    found = arn_fields(value, "log-group:")
    if found is None:
        return {"logGroupName": value}
    name = found.pop("rest")
    return {**found, "logGroupName": name[:-2] if name.endswith(":*") else name}


TABLE = IamTable(
    prefix="logs",
    resources={
        **{op: GROUP for op in (
            "CreateLogGroup", "DeleteLogGroup", "PutRetentionPolicy", "DeleteRetentionPolicy",
            "PutLogGroupDeletionProtection", "TagLogGroup", "UntagLogGroup", "ListTagsLogGroup",
            "DescribeLogStreams", "FilterLogEvents", "DescribeSubscriptionFilters", "PutSubscriptionFilter",
            "DeleteSubscriptionFilter", "DescribeMetricFilters", "PutMetricFilter", "DeleteMetricFilter",
            "AssociateKmsKey", "DisassociateKmsKey", "PutDataProtectionPolicy", "GetDataProtectionPolicy",
            "DeleteDataProtectionPolicy", "CreateExportTask")},
        **{op: STREAM for op in ("CreateLogStream", "DeleteLogStream", "PutLogEvents", "GetLogEvents")},
        "DescribeLogGroups": "arn:{partition}:logs:{region}:{account}:log-group:*",
        "ListLogGroups": "arn:{partition}:logs:{region}:{account}:log-group:*",
        "TagResource": "{resourceArn}",
        "UntagResource": "{resourceArn}",
        "ListTagsForResource": "{resourceArn}",
        **{op: DESTINATION for op in ("PutDestination", "PutDestinationPolicy", "DeleteDestination")},
        **{op: "*" for op in ("DescribeDestinations", "PutResourcePolicy", "DescribeResourcePolicies",
                              "DeleteResourcePolicy")},
        "TestMetricFilter": "*",
        **{op: "*" for op in (
            "GetQueryResults", "DescribeQueries", "StopQuery", "PutQueryDefinition", "DescribeQueryDefinitions",
            "DeleteQueryDefinition", "PutAccountPolicy", "DescribeAccountPolicies", "DeleteAccountPolicy",
            "DescribeExportTasks", "CancelExportTask", "DescribeDeliveries", "DescribeDeliverySources",
            "DescribeDeliveryDestinations", "ListLogAnomalyDetectors")},
    },
    members={"logGroupIdentifier": group_identifier},
)
