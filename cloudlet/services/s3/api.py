"""What other services may ask of S3: read an object (Lambda code packages, later CloudFormation
templates and SAM artifacts); write one (CloudWatch Logs export tasks)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cloudlet.call import CallContext
from cloudlet.protocol.errors import ServiceError
from cloudlet.store import BlobStore, Store

from . import objects, reads, upload
from .buckets import bucket_key


class S3ReadError(ServiceError):
    """An S3 error code and message, as GetObject (or, for put_object, PutObject) would answer them."""


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

    def put_object(self, call: CallContext, bucket: str, key: str, body: bytes | Iterable[bytes], *,
                   content_type: str | None = None, content_encoding: str | None = None,
                   bucket_region: str | None = None) -> str:
        """Store `body` (bytes, or chunks streamed to a blob without holding them all) at
        `bucket`/`key` exactly as PutObject would (ETag, CRC64NVME checksum, content headers),
        writing as the call's account; returns the quoted ETag. Must not be called with a store
        transaction open. S3ReadError as S3 would refuse the writer: NoSuchBucket, AccessDenied
        (403) for a bucket of another account (no bucket policies here grant a writer), and with
        `bucket_region`, PermanentRedirect (301) for a bucket of another region."""
        with self.store.transaction(write=False) as tx:
            record = tx.get_json(bucket_key(bucket))
        if record is not None and record["account"] != call.account:
            raise S3ReadError("Access Denied", code="AccessDenied", status=403)
        if record is not None and bucket_region is not None and record["region"] != bucket_region:
            raise S3ReadError("The bucket you are attempting to access must be addressed using the specified "
                              "endpoint. Please send all future requests to this endpoint.",
                              code="PermanentRedirect", status=301)
        params: dict[str, Any] = {"Bucket": bucket, "Key": key, "ContentType": content_type,
                                  "ContentEncoding": content_encoding}
        try:
            if isinstance(body, (bytes, bytearray)):
                params["Body"] = bytes(body)
                out = upload.put_object(self.store, self.blobs, call.account, params, None)
            else:
                with self.blobs.writer(("md5", upload.ALGORITHMS[upload.DEFAULT_CHECKSUM])) as writer:
                    for chunk in body:
                        writer.write(chunk)
                    spooled = writer.finish_temp()
                with spooled:  # removed unless PutObject kept it
                    params["Body"] = spooled
                    out = upload.put_object(self.store, self.blobs, call.account, params, None)
        except ServiceError as err:
            raise S3ReadError(err.message, code=err.code, status=err.status) from None
        etag: str = out["ETag"]
        return etag
