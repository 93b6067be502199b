"""S3's authorization table: IAM actions and resource ARNs per operation (gateway/authorize.py).

From the Service Authorization Reference, "Actions, resources, and condition keys for Amazon S3"
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html). Bucket
ARNs carry no region or account (`arn:aws:s3:::bucket`), objects are `arn:aws:s3:::bucket/key`.
Many API operations are authorized as another action: HeadBucket and ListObjects need
s3:ListBucket, HeadObject needs s3:GetObject, the parts of a multipart upload s3:PutObject.
"""

from __future__ import annotations

from cloudlet.gateway.authorize import IamTable

BUCKET = "arn:{partition}:s3:::{Bucket}"
OBJECT = "arn:{partition}:s3:::{Bucket}/{Key}"

TABLE = IamTable(
    prefix="s3",
    actions={
        "HeadBucket": "ListBucket",
        "ListObjects": "ListBucket",
        "ListObjectsV2": "ListBucket",
        "ListObjectVersions": "ListBucketVersions",
        "ListBuckets": "ListAllMyBuckets",
        "ListMultipartUploads": "ListBucketMultipartUploads",
        "ListParts": "ListMultipartUploadParts",
        "HeadObject": "GetObject",
        "CopyObject": "PutObject",
        "CreateMultipartUpload": "PutObject",
        "UploadPart": "PutObject",
        "UploadPartCopy": "PutObject",
        "CompleteMultipartUpload": "PutObject",
        "DeleteObjects": "DeleteObject",
        "GetBucketNotificationConfiguration": "GetBucketNotification",
        "PutBucketNotificationConfiguration": "PutBucketNotification",
        "GetBucketCors": "GetBucketCORS",
        "PutBucketCors": "PutBucketCORS",
        "DeleteBucketCors": "PutBucketCORS",
        "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
        "DeleteBucketTagging": "PutBucketTagging",
    },
    resources={
        **{op: BUCKET for op in (
            "CreateBucket", "DeleteBucket", "HeadBucket", "ListObjects", "ListObjectsV2", "ListObjectVersions",
            "ListMultipartUploads", "GetBucketLocation", "GetBucketVersioning", "PutBucketVersioning",
            "GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy", "GetBucketTagging", "PutBucketTagging",
            "DeleteBucketTagging", "GetBucketNotificationConfiguration", "PutBucketNotificationConfiguration",
            "GetBucketCors", "PutBucketCors", "DeleteBucketCors", "GetBucketLifecycleConfiguration",
            "PutBucketLifecycleConfiguration", "GetBucketAcl", "PutBucketAcl", "DeleteObjects")},
        **{op: OBJECT for op in (
            "PutObject", "GetObject", "HeadObject", "DeleteObject", "CopyObject", "CreateMultipartUpload",
            "UploadPart", "UploadPartCopy", "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts",
            "GetObjectAttributes", "GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging", "GetObjectAcl", "PutObjectAcl")},
        "ListBuckets": "*",
    },
)
