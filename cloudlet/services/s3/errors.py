"""S3's error types, named after its error codes.

The modeled ones are generated from the botocore model (status from the error shape); S3 sends
many codes its model does not list, declared by hand below with their status.
"""

from __future__ import annotations

from cloudlet.protocol.errors import ServiceError
from cloudlet.protocol.model_errors import errors_for

__all__ = [
    "BadDigest", "BadRequest", "BucketAlreadyExists", "BucketAlreadyOwnedByYou", "BucketNotEmpty", "E", "EntityTooSmall",
    "IllegalLocationConstraintException", "InvalidArgument", "InvalidBucketName", "InvalidDigest",
    "InvalidLocationConstraint", "InvalidPart", "InvalidPartNumber", "InvalidPartOrder", "InvalidRange",
    "InvalidRequest", "InvalidTag", "KeyTooLongError", "MalformedXML", "MissingContentLength", "NoSuchBucket",
    "NoSuchKey", "NoSuchTagSet", "NoSuchUpload", "NotImplementedHeader", "NotModified", "PreconditionFailed",
]

E = errors_for("s3")

NoSuchBucket = E.NoSuchBucket
BucketAlreadyExists = E.BucketAlreadyExists
BucketAlreadyOwnedByYou = E.BucketAlreadyOwnedByYou
NoSuchKey = E.NoSuchKey
InvalidRequest = E.InvalidRequest
NoSuchUpload = E.NoSuchUpload


# Not in the model:

class BucketNotEmpty(ServiceError):
    status = 409


class InvalidBucketName(ServiceError):
    status = 400


class InvalidLocationConstraint(ServiceError):
    status = 400


class IllegalLocationConstraintException(ServiceError):
    status = 400


class InvalidArgument(ServiceError):
    status = 400


class InvalidDigest(ServiceError):
    status = 400


class BadDigest(ServiceError):
    status = 400


class PreconditionFailed(ServiceError):
    status = 412


class NotModified(ServiceError):
    """304: sent without a body (gateway/http11.py), with the object's ETag and Last-Modified."""
    status = 304


class InvalidRange(ServiceError):
    status = 416


class InvalidPartNumber(ServiceError):
    status = 416


class MalformedXML(ServiceError):
    status = 400


class KeyTooLongError(ServiceError):
    status = 400


class MissingContentLength(ServiceError):
    status = 411


class NotImplementedHeader(ServiceError):
    """A header that asks for what S3 does not implement (AWS's 501 NotImplemented)."""
    code = "NotImplemented"
    status = 501


class InvalidPart(ServiceError):
    status = 400


class InvalidPartOrder(ServiceError):
    status = 400


class EntityTooSmall(ServiceError):
    status = 400


class BadRequest(ServiceError):
    status = 400


class InvalidTag(ServiceError):
    status = 400


class NoSuchTagSet(ServiceError):
    status = 404
