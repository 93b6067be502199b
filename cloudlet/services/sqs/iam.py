"""SQS's authorization table (gateway/authorize.py), from the Service Authorization Reference,
"Actions, resources, and condition keys for Amazon SQS"
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html).
A queue is `arn:${Partition}:sqs:${Region}:${Account}:${QueueName}`; operations name it by its
QueueUrl (`http://<host>/<account>/<name>`), by name (CreateQueue, GetQueueUrl) or by ARN (move
tasks). The Batch operations are authorized as their single forms, as AWS does.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloudlet.gateway.authorize import IamTable

QUEUE = "arn:{partition}:sqs:{region}:{account}:{QueueName}"


def queue_url(value: str, variables: Mapping[str, str]) -> Mapping[str, str] | None:
    """QueueUrl -> the {account} and {QueueName} of the template (its last two path segments)."""
    segments = [s for s in value.split("?")[0].split("/") if s]
    if len(segments) >= 2 and segments[-2].isdigit():
        return {"account": segments[-2], "QueueName": segments[-1]}
    return {"QueueName": segments[-1] if segments else value}


BY_URL = {op: "arn:{partition}:sqs:{region}:{account}:{QueueUrl}" for op in (
    "AddPermission", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch", "DeleteMessage",
    "DeleteMessageBatch", "DeleteQueue", "GetQueueAttributes", "ListDeadLetterSourceQueues", "ListQueueTags",
    "PurgeQueue", "ReceiveMessage", "RemovePermission", "SendMessage", "SendMessageBatch", "SetQueueAttributes",
    "TagQueue", "UntagQueue")}

TABLE = IamTable(
    prefix="sqs",
    resources={
        **BY_URL,
        "CreateQueue": QUEUE,
        "GetQueueUrl": QUEUE,
        "ListQueues": "*",
        "StartMessageMoveTask": ("{SourceArn}", "{DestinationArn}"),  # (a full ARN each)
        "ListMessageMoveTasks": "{SourceArn}",
        "CancelMessageMoveTask": "*",
    },
    actions={"ChangeMessageVisibilityBatch": "ChangeMessageVisibility", "DeleteMessageBatch": "DeleteMessage",
             "SendMessageBatch": "SendMessage"},
    members={"QueueUrl": lambda value, variables: _url_name(value),
             "QueueOwnerAWSAccountId": lambda value, variables: {"account": value}},
)


def _url_name(value: str) -> Mapping[str, str]:
    found = queue_url(value, {})
    assert found is not None
    return {**found, "QueueUrl": found["QueueName"]}
