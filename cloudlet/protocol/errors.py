"""AWS error types.

Providers raise a `ServiceError` (or a subclass named after the AWS error code); the
protocol layer serializes it in the service's wire format. `sender_fault` picks the
`Sender`/`Receiver` type that query-style errors carry.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error AWS would return: a code, an HTTP status and a message.

    Subclasses set `code` (defaults to the class name) and `status`. Extra members of the
    modeled error shape (e.g. Lambda's `Type`, `Reason`) are passed as keyword `fields`.
    """

    code: str = ""
    status: int = 400
    sender_fault: bool = True

    def __init__(self, message: str = "", *, code: str | None = None, status: int | None = None,
                 sender_fault: bool | None = None, headers: dict[str, str] | None = None,
                 **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        elif not self.code:
            self.code = type(self).__name__
        if status is not None:
            self.status = status
        if sender_fault is not None:
            self.sender_fault = sender_fault
        elif self.status >= 500:
            self.sender_fault = False
        self.headers = headers or {}
        self.fields = fields

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.status}, {self.message!r})"


class CommonServiceError(ServiceError):
    """Base for errors the platform itself raises for any service."""


class ValidationException(CommonServiceError):
    status = 400


class SerializationException(CommonServiceError):
    status = 400


class NotImplementedOperation(CommonServiceError):
    code = "NotImplemented"
    status = 501


class UnknownOperationException(CommonServiceError):
    status = 400


class InternalFailure(CommonServiceError):
    code = "InternalFailure"
    status = 500


class RequestEntityTooLarge(CommonServiceError):
    code = "RequestEntityTooLarge"
    status = 413


class AccessDenied(CommonServiceError):
    code = "AccessDenied"
    status = 403


def validation_message(problems: list[str]) -> str:
    """AWS's coral-style validation message: 'N validation error(s) detected: a; b'."""
    n = len(problems)
    noun = "error" if n == 1 else "errors"
    return f"{n} validation {noun} detected: " + "; ".join(problems)
