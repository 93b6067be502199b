"""How large a request body may be, per operation, with AWS's own limits and error wording.

The HTTP server asks (through the gateway) before it reads a body over 1 MiB (body.py), so an
oversized upload is refused from its headers; the pipeline answers with the error below. Limits
under 1 MiB, and those a provider checks with more context (Lambda's Event invocations and
InvokeAsync, CloudWatch Logs' batch size), stay in the provider. CLOUDLET_MAX_BODY_BYTES, when
set, is a lower ceiling over all of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudlet.protocol.errors import ServiceError

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """At most `size` bytes of body (of payload, for aws-chunked uploads); over it, the error
    `code`/`status` with `message` (`{size}` and `{operation}` filled in)."""

    size: int
    code: str = "RequestEntityTooLarge"
    status: int = 413
    message: str = "Request must be smaller than {size} bytes for the {operation} operation"
    operation: str = ""  # the operation name AWS's message uses, when it is not the API's
    fields: dict[str, Any] = field(default_factory=dict)  # members of the modeled error shape

    def error(self, operation: str | None, service: str, size: int | None = None) -> ServiceError:
        name = self.operation or operation or f"{service} API"
        text = self.message.format(size=self.size if size is None else size, operation=name)
        return ServiceError(text, code=self.code, status=self.status, **self.fields)


# AWS's front ends refuse bodies over 10 MB unless a service documents otherwise (API Gateway's
# "Request size exceeded 10485760 bytes"; https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
DEFAULT = BodyLimit(10 * MiB)

# Lambda: Invoke answers RequestTooLargeException "Request must be smaller than 6291456 bytes for
# the InvokeFunction operation" (6 MB synchronous payload, https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html;
# Event invocations' smaller limit is the provider's check). Direct code uploads: AWS refuses a JSON body
# over 70167211 bytes with "Request must be smaller than 70167211 bytes for the CreateFunction operation"
# (as users record it for CreateFunction, UpdateFunctionCode and PublishLayerVersion), a little more than
# the base64 of a 50 MB zip; a zip over 50 MB in a body under it is the provider's 413 "Zipped size must be
# smaller than 52428800 bytes" (code.py; https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
_LAMBDA_CODE = BodyLimit(70167211, code="RequestEntityTooLargeException")

# S3: a single PUT carries at most 5 GB, a part of a multipart upload 5 GiB; over it S3 answers
# 400 EntityTooLarge "Your proposed upload exceeds the maximum allowed size"
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html,
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
_S3_UPLOAD = BodyLimit(5 * GiB, code="EntityTooLarge", status=400,
                       message="Your proposed upload exceeds the maximum allowed size")

LIMITS: dict[str, dict[str, BodyLimit]] = {
    "lambda": {
        "Invoke": BodyLimit(6 * MiB, code="RequestTooLargeException", operation="InvokeFunction",
                            fields={"Type": "User"}),
        "CreateFunction": _LAMBDA_CODE,
        "UpdateFunctionCode": _LAMBDA_CODE,
        "PublishLayerVersion": _LAMBDA_CODE,
    },
    "s3": {"PutObject": _S3_UPLOAD, "UploadPart": _S3_UPLOAD},
    # DynamoDB: "The total request size exceeds 16 MB" is BatchWriteItem's ceiling, the largest
    # request any operation takes (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html).
    "dynamodb": {"*": BodyLimit(16 * MiB)},
}


def body_limit(service: str, operation: str | None) -> BodyLimit:
    """The limit of `operation` of `service` (None: not known yet, the service's default)."""
    table = LIMITS.get(service)
    if table is None:
        return DEFAULT
    if operation is not None:
        found = table.get(operation)
        if found is not None:
            return found
    return table.get("*", DEFAULT)

