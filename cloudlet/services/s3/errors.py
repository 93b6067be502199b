"""S3's error types, named after its error codes.

The modeled ones are generated from the botocore model (status from the error shape); S3 sends
many codes its model does not list, declared by hand below with their status.
"""

from __future__ import annotations

from cloudlet.protocol.errors import ServiceError
from cloudlet.protocol.model_errors import errors_for

__all__ = [
    "BucketAlreadyExists", "BucketAlreadyOwnedByYou", "BucketNotEmpty", "E", "IllegalLocationConstraintException",
    "InvalidArgument", "InvalidBucketName", "InvalidLocationConstraint", "NoSuchBucket",
]

E = errors_for("s3")

NoSuchBucket = E.NoSuchBucket
BucketAlreadyExists = E.BucketAlreadyExists
BucketAlreadyOwnedByYou = E.BucketAlreadyOwnedByYou


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
