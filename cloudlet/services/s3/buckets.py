"""S3 bucket naming rules and state keys."""

from __future__ import annotations

import re

from .errors import InvalidBucketName

_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def check_bucket_name(name: str) -> None:
    """AWS's general-purpose bucket naming rules."""
    if (not _NAME.match(name) or ".." in name or _IP.match(name) or ".-" in name or "-." in name
            or name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
            or name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))):
        raise InvalidBucketName("The specified bucket is not valid.", BucketName=name)


def bucket_key(name: str) -> tuple:
    """Bucket names are global across accounts and regions, as on AWS."""
    return ("global", "s3", "bucket", name)


def owned_key(account: str, name: str) -> tuple:
    """Index of an account's buckets, for ListBuckets."""
    return (account, "s3", "owned", name)


def objects_prefix(name: str) -> tuple:
    return ("global", "s3", "object", name)
