"""What other services may ask of S3: read an object (Lambda code packages, later CloudFormation
templates and SAM artifacts)."""

from __future__ import annotations

from cloudlet.call import CallContext
from cloudlet.protocol.errors import ServiceError
from cloudlet.store import BlobStore, Store

from . import objects, reads


class S3ReadError(ServiceError):
    """An S3 error code and message, as GetObject would answer them."""


class S3Api:
    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self.store = store
        self.blobs = blobs

    def get_object(self, call: CallContext, bucket: str, key: str, version: str | None = None) -> bytes:
        """The bytes of `bucket`/`key` (at `version`), read as the call's account, in memory (for
        packages of bounded size); S3ReadError with S3's code and message (NoSuchBucket,
        NoSuchKey, InvalidArgument for a version that does not exist) otherwise."""
        try:
            with self.store.transaction(write=False) as tx:
                objects.bucket_of(tx, bucket, call.account)
                record = objects.load_existing(tx, bucket, key)
                if version is not None:
                    reads.check_version({"VersionId": version}, record)
                return objects.read_all(tx, self.blobs, bucket, key, record)
        except ServiceError as err:
            raise S3ReadError(err.message, code=err.code, status=err.status) from None
