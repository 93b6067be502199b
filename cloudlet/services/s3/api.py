"""What other services may ask of S3: read an object (Lambda code packages, later CloudFormation
templates and SAM artifacts).

Objects are not stored yet: every key of an existing bucket is missing, and a missing bucket is
told apart from a missing key as S3 does.
"""

from __future__ import annotations

from cloudlet.call import CallContext
from cloudlet.protocol.errors import ServiceError
from cloudlet.store import Store

from .buckets import bucket_key


class S3ReadError(ServiceError):
    """An S3 error code and message, as GetObject would answer them."""


class S3Api:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get_object(self, call: CallContext, bucket: str, key: str, version: str | None = None) -> bytes:
        """The bytes of `bucket`/`key` (at `version`), read as the call's account; S3ReadError with
        S3's code (NoSuchBucket, NoSuchKey) otherwise."""
        record = self.store.get_json(bucket_key(bucket))
        if record is None or record["account"] != call.account:
            raise S3ReadError("The specified bucket does not exist", code="NoSuchBucket", status=404)
        raise S3ReadError("The specified key does not exist.", code="NoSuchKey", status=404)
