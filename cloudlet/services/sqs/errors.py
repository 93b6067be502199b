"""SQS's errors, in AWS's words.

The modeled ones come from the botocore model (`errors_for("sqs")`); their query-era codes and
statuses (`AWS.SimpleQueueService.NonExistentQueue`, 403 for PurgeQueueInProgress, ...) are in the
`sqs` row of the protocol quirks table (protocol/service.py), so a JSON client reads the shape's
name in `__type` and the query code in `x-amzn-query-error`, as botocore expects. The two AWS
returns without a shape (InvalidParameterValue, MissingParameter) are declared here.
"""

from __future__ import annotations

from cloudlet.protocol.errors import ServiceError
from cloudlet.protocol.model_errors import errors_for

E = errors_for("sqs")
QueueDoesNotExist = E.QueueDoesNotExist
QueueNameExists = E.QueueNameExists
QueueDeletedRecently = E.QueueDeletedRecently
PurgeQueueInProgress = E.PurgeQueueInProgress
InvalidAttributeName = E.InvalidAttributeName
InvalidAttributeValue = E.InvalidAttributeValue
ReceiptHandleIsInvalid = E.ReceiptHandleIsInvalid
MessageNotInflight = E.MessageNotInflight
TooManyEntriesInBatchRequest = E.TooManyEntriesInBatchRequest
EmptyBatchRequest = E.EmptyBatchRequest
BatchEntryIdsNotDistinct = E.BatchEntryIdsNotDistinct
BatchRequestTooLong = E.BatchRequestTooLong
InvalidBatchEntryId = E.InvalidBatchEntryId
InvalidMessageContents = E.InvalidMessageContents
OverLimit = E.OverLimit
ResourceNotFoundException = E.ResourceNotFoundException
UnsupportedOperation = E.UnsupportedOperation


class InvalidParameterValueException(ServiceError):
    """Not in the model: `InvalidParameterValue` on the wire (query code; `__type` in JSON is the
    class name, as AWS sends it)."""
    status = 400


class MissingParameterException(ServiceError):
    """Not in the model: `MissingParameter` on the wire."""
    status = 400


def invalid_value(value: object, parameter: str, reason: str) -> InvalidParameterValueException:
    """AWS's usual wording: `Value X for parameter P is invalid. Reason: R`."""
    return InvalidParameterValueException(f"Value {value} for parameter {parameter} is invalid. Reason: {reason}")


def queue_not_found(query: bool) -> ServiceError:
    """QueueDoesNotExist as each protocol words it (query clients get the WSDL-era sentence)."""
    if query:
        return QueueDoesNotExist("The specified queue does not exist for this wsdl version.")
    return QueueDoesNotExist("The specified queue does not exist.")


def missing(parameter: str) -> MissingParameterException:
    return MissingParameterException(f"The request must contain the parameter {parameter}.")
