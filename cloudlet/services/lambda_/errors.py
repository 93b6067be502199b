"""Lambda's error types, named after AWS's error codes.

The modeled ones are generated from the botocore model (status and code from the error shape)
and carry a `Type` member, "User" unless the raiser says otherwise (see Quirks.error_fields).
The few codes Lambda sends that its model does not list are declared by hand below.
"""

from __future__ import annotations

from typing import Any

from cloudlet.protocol.errors import ServiceError, ValidationException, validation_message
from cloudlet.protocol.model_errors import errors_for

__all__ = [
    "AccessDeniedException", "E", "InvalidParameterValueException", "PolicyLengthExceededException",
    "PreconditionFailedException", "REVISION_MISMATCH", "RequestEntityTooLargeException", "ResourceConflictException",
    "ResourceNotFoundException", "ValidationException", "invalid_value", "pattern_error", "validation_text",
]

E = errors_for("lambda")

InvalidParameterValueException = E.InvalidParameterValueException
ResourceNotFoundException = E.ResourceNotFoundException
ResourceConflictException = E.ResourceConflictException
PreconditionFailedException = E.PreconditionFailedException
PolicyLengthExceededException = E.PolicyLengthExceededException


class RequestEntityTooLargeException(ServiceError):
    """Not in Lambda's model (it lists RequestTooLargeException); AWS sends it for oversized code."""

    status = 413


class AccessDeniedException(ServiceError):
    """Not in Lambda's model: IAM's denial, as Lambda sends it for another account's function."""

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
