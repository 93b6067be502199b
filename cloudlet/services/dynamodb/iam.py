"""DynamoDB's authorization table (gateway/authorize.py), from the Service Authorization Reference,
"Actions, resources, and condition keys for Amazon DynamoDB"
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html).
A table is `arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}`; TableName may also
be given as the table's ARN. Batch and transaction calls name their tables inside the request
and are left to the IAM work (their table maps are not a single member).
"""

from __future__ import annotations

from cloudlet.gateway.authorize import IamTable, name_or_arn

TABLE_ARN = "arn:{partition}:dynamodb:{region}:{account}:table/{TableName}"

TABLE = IamTable(
    prefix="dynamodb",
    resources={
        **{op: TABLE_ARN for op in (
            "CreateTable", "DeleteTable", "DescribeTable", "UpdateTable", "GetItem", "PutItem", "UpdateItem",
            "DeleteItem", "Query", "Scan", "DescribeTimeToLive", "UpdateTimeToLive",
            "DescribeContinuousBackups", "UpdateContinuousBackups")},
        "ListTables": "*",
        "DescribeLimits": "*",
        "DescribeEndpoints": "*",
        "TagResource": "{ResourceArn}",
        "UntagResource": "{ResourceArn}",
        "ListTagsOfResource": "{ResourceArn}",
    },
    members={"TableName": name_or_arn("TableName", "table/")},
)
