"""Amazon S3: buckets (create, head, list, delete), objects (put, get, head, copy, delete, list,
attributes) and multipart uploads.

Each object operation is a thin call into its module: upload.py (PutObject), reads.py
(GetObject, HeadObject, GetObjectAttributes), copy.py, deletes.py, listing.py, multipart.py
(uploads in progress and their parts), complete.py (CompleteMultipartUpload); objects.py and
multipart.py document the state layout.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cloudlet.infra import Infra
from cloudlet.services.paging import decode_token, encode_token
from cloudlet.services.provider import Provider, blocking

from . import complete, copy, deletes, listing, multipart, objects, reads, tagging, upload
from .api import S3Api
from .buckets import bucket_key, check_bucket_name, objects_prefix, owned_key, owned_prefix
from .errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    IllegalLocationConstraintException,
    InvalidArgument,
    InvalidLocationConstraint,
    NoSuchBucket,
)


def _invalid_token() -> InvalidArgument:
    return InvalidArgument("The continuation token provided is incorrect", ArgumentName="continuation-token")


def _owner(account: str) -> dict:
    return {"ID": account, "DisplayName": "cloudlet"}


class S3Provider(Provider):
    service = "s3"
    limits = {
        "PutObject": "ACL, storage class, server-side encryption and object lock headers are accepted and not "
                     "stored; XXHASH checksums answer NotImplemented; no versions or notifications yet",
        "GetObject": "the null version only",
        "HeadObject": "the null version only",
        "GetObjectAttributes": "the null version only",
        "CopyObject": "the null version only; storage class and encryption are not stored",
        "CreateMultipartUpload": "ACL, server-side encryption and object lock headers are accepted and not stored",
        "UploadPartCopy": "the range is written as a new blob (read and written once)",
        "PutObjectTagging": "the null version only",
        "GetObjectTagging": "the null version only",
        "DeleteObjectTagging": "the null version only",
        "DeleteObject": "the null version only (no delete markers)",
        "DeleteObjects": "the null version only (no delete markers)",
        "ListObjects": "OptionalObjectAttributes is ignored",
        "ListObjectsV2": "OptionalObjectAttributes is ignored",
    }

    def __init__(self, infra: Infra) -> None:
        super().__init__(infra)
        self.blobs = infra.blobs
        self.api = S3Api(self.store, self.blobs)
        infra.blob_holders.add("s3", objects.held_blobs)

    def _bucket(self, tx, name: str, account: str) -> dict:
        record = tx.get_json(bucket_key(name))
        if record is None or record["account"] != account:
            raise NoSuchBucket("The specified bucket does not exist", BucketName=name)
        return record

    # ---- objects
    async def put_object(self, ctx, params):
        body = params.get("Body")
        small = body is None or (isinstance(body, bytes) and len(body) <= upload.objects.INLINE_MAX)
        run = self.infra.run_store if small else self.infra.off_loop   # blob writes fsync: off the loop
        return await run(upload.put_object, self.store, self.blobs, ctx.account, params, params.get("ContentMD5"))

    def get_object(self, ctx, params):
        return reads.read(self.store, self.blobs, ctx.account, params, head=False)

    def head_object(self, ctx, params):
        return reads.read(self.store, self.blobs, ctx.account, params, head=True)

    def get_object_attributes(self, ctx, params):
        return reads.attributes(self.store, ctx.account, params)

    # ---- multipart uploads
    def create_multipart_upload(self, ctx, params):
        return multipart.create(self.store, ctx.account, params)

    async def upload_part(self, ctx, params):
        body = params.get("Body")
        small = body is None or (isinstance(body, bytes) and len(body) <= upload.objects.INLINE_MAX)
        run = self.infra.run_store if small else self.infra.off_loop   # blob writes fsync: off the loop
        return await run(multipart.upload_part, self.store, self.blobs, ctx.account, params, params.get("ContentMD5"))

    @blocking
    def upload_part_copy(self, ctx, params):
        return multipart.upload_part_copy(self.store, self.blobs, ctx.account, params)

    def complete_multipart_upload(self, ctx, params):
        host = (ctx.request.headers.get("host") if ctx.request is not None else None) or "localhost"
        return complete.complete(self.store, ctx.account, params, host)

    def abort_multipart_upload(self, ctx, params):
        return multipart.abort(self.store, ctx.account, params)

    def list_parts(self, ctx, params):
        return multipart.list_parts(self.store, ctx.account, params, _owner(ctx.account))

    def list_multipart_uploads(self, ctx, params):
        return multipart.list_uploads(self.store, ctx.account, params, _owner(ctx.account))

    @blocking
    def copy_object(self, ctx, params):
        return copy.copy_object(self.store, self.blobs, ctx.account, params)

    def put_object_tagging(self, ctx, params):
        return tagging.put_object_tagging(self.store, ctx.account, params)

    def get_object_tagging(self, ctx, params):
        return tagging.get_object_tagging(self.store, ctx.account, params)

    def delete_object_tagging(self, ctx, params):
        return tagging.delete_object_tagging(self.store, ctx.account, params)

    def put_bucket_tagging(self, ctx, params):
        return tagging.put_bucket_tagging(self.store, ctx.account, params)

    def get_bucket_tagging(self, ctx, params):
        return tagging.get_bucket_tagging(self.store, ctx.account, params)

    def delete_bucket_tagging(self, ctx, params):
        return tagging.delete_bucket_tagging(self.store, ctx.account, params)

    def delete_object(self, ctx, params):
        return deletes.delete_object(self.store, ctx.account, params)

    def delete_objects(self, ctx, params):
        req = ctx.request
        if req is not None:
            deletes.check_integrity(req.headers, req.data, params)
        return deletes.delete_objects(self.store, ctx.account, params)

    def list_objects_v2(self, ctx, params):
        with self.store.transaction(write=False) as tx:
            self._bucket(tx, params["Bucket"], ctx.account)
            return listing.list_v2(tx, params, _owner(ctx.account))

    def list_objects(self, ctx, params):
        with self.store.transaction(write=False) as tx:
            self._bucket(tx, params["Bucket"], ctx.account)
            return listing.list_v1(tx, params, _owner(ctx.account))

    def create_bucket(self, ctx, params):
        name = params["Bucket"]
        check_bucket_name(name)
        constraint = (params.get("CreateBucketConfiguration") or {}).get("LocationConstraint")
        if ctx.region == "us-east-1":
            if constraint and constraint != "us-east-1":
                raise IllegalLocationConstraintException(
                    f"The {constraint} location constraint is incompatible for the region specific "
                    "endpoint this request was sent to.")
            if constraint == "us-east-1":
                raise InvalidLocationConstraint("The specified location-constraint is not valid",
                                                LocationConstraint=constraint)
            region = "us-east-1"
        else:
            if not constraint:
                raise IllegalLocationConstraintException(
                    "The unspecified location constraint is incompatible for the region specific "
                    "endpoint this request was sent to.")
            if constraint != ctx.region:
                raise IllegalLocationConstraintException(
                    f"The {constraint} location constraint is incompatible for the region specific "
                    "endpoint this request was sent to.")
            region = constraint
        with self.store.transaction() as tx:
            existing = tx.get_json(bucket_key(name))
            if existing is not None:
                if existing["account"] != ctx.account:
                    raise BucketAlreadyExists(
                        "The requested bucket name is not available. The bucket namespace is shared by all "
                        "users of the system. Please select a different name and try again.", BucketName=name)
                if existing["region"] == "us-east-1" and region == "us-east-1":
                    return {"Location": f"/{name}"}   # AWS's legacy us-east-1 answer: 200, no change
                raise BucketAlreadyOwnedByYou(
                    "Your previous request to create the named bucket succeeded and you already own it.",
                    BucketName=name)
            created = datetime.now(UTC).isoformat()
            tx.put_json(bucket_key(name), {"account": ctx.account, "region": region, "created": created},
                        if_absent=True)
            tx.put_json(owned_key(ctx.account, name), {"region": region, "created": created})
        location = f"/{name}" if region == "us-east-1" else f"http://{name}.s3.{region}.localhost/"
        return {"Location": location, "BucketArn": f"arn:aws:s3:::{name}"}

    def head_bucket(self, ctx, params):
        with self.store.transaction(write=False) as tx:
            record = self._bucket(tx, params["Bucket"], ctx.account)
        return {"BucketRegion": record["region"], "AccessPointAlias": False}

    def delete_bucket(self, ctx, params):
        name = params["Bucket"]
        with self.store.transaction() as tx:
            self._bucket(tx, name, ctx.account)
            if tx.range(objects_prefix(name), limit=1):
                raise BucketNotEmpty("The bucket you tried to delete is not empty", BucketName=name)
            multipart.drop_bucket(tx, name)   # uploads in progress do not keep a bucket, as on AWS
            tx.delete(bucket_key(name))
            tx.delete(owned_key(ctx.account, name))
        return {}

    def list_buckets(self, ctx, params):
        prefix = params.get("Prefix") or ""
        region_filter = params.get("BucketRegion")
        limit = params.get("MaxBuckets")
        if limit is not None and not 1 <= limit <= 10000:
            raise InvalidArgument("Argument max-buckets must be an integer between 1 and 10000.",
                                  ArgumentName="max-buckets", ArgumentValue=str(limit))
        after = decode_token(params.get("ContinuationToken"), _invalid_token, lambda name: isinstance(name, str))
        last = None if after is None else owned_key(ctx.account, after)
        rows = self.store.range(owned_prefix(ctx.account), after=last)
        buckets = []
        next_token = None
        for key, value in rows:
            name = key[-1]
            record = json.loads(value)
            if not name.startswith(prefix) or (region_filter and record["region"] != region_filter):
                continue
            if limit is not None and len(buckets) == limit:
                next_token = encode_token(buckets[-1]["Name"])
                break
            buckets.append({"Name": name, "CreationDate": record["created"], "BucketRegion": record["region"],
                            "BucketArn": f"arn:aws:s3:::{name}"})
        out = {"Buckets": buckets, "Owner": _owner(ctx.account)}
        if prefix:
            out["Prefix"] = prefix
        if next_token:
            out["ContinuationToken"] = next_token
        return out
