"""Lambda's error types, named after AWS's error codes.

Lambda errors carry a `Type` member ("User" for the caller's mistakes); the HTTP status comes
from the botocore model's error shape unless a class sets one (codes the model does not list).
"""

from __future__ import annotations

from typing import Any

from cloudlet.protocol.errors import ServiceError, ValidationException, validation_message

__all__ = [
    "AccessDeniedException", "InvalidParameterValueException", "LambdaError", "PolicyLengthExceededException",
    "PreconditionFailedException", "REVISION_MISMATCH", "RequestEntityTooLargeException", "ResourceConflictException",
    "ResourceNotFoundException", "ValidationException", "invalid_value", "pattern_error", "validation_text",
]


class LambdaError(ServiceError):
    """A modeled Lambda error; `Type` defaults to "User" as AWS sends it."""

    def __init__(self, message: str = "", **fields: Any) -> None:
        fields.setdefault("Type", "User")
        super().__init__(message, **fields)


class InvalidParameterValueException(LambdaError):
    pass


class ResourceNotFoundException(LambdaError):
    pass


class ResourceConflictException(LambdaError):
    pass


class PreconditionFailedException(LambdaError):
    pass


class PolicyLengthExceededException(LambdaError):
    pass


class RequestEntityTooLargeException(ServiceError):
    status = 413


class AccessDeniedException(ServiceError):
    status = 403


REVISION_MISMATCH = ("The Revision Id provided does not match the latest Revision Id. "
                     "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")


def validation_text(value: Any, path: str, constraint: str) -> str:
    """AWS's one-problem validation message: `1 validation error detected: Value 'x' at 'path' ...`."""
    shown = "null" if value is None else f"'{value}'"
    return validation_message([f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"])


def invalid_value(value: Any, path: str, constraint: str) -> ValidationException:
    return ValidationException(validation_text(value, path, constraint))


def pattern_error(value: Any, path: str, pattern: str) -> ValidationException:
    return invalid_value(value, path, f"Member must satisfy regular expression pattern: {pattern}")
