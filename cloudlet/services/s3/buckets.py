"""S3 bucket naming rules and state keys.

State layout (see cloudlet/store/keyspace.py for why two kinds of key are not regional):

    ("global", "s3", "bucket", name)        {"account", "region", "created"}: bucket names are one
                                            namespace for every account and region
    (account, "s3", "owned", name)          {"region", "created"}: ListBuckets' index of an account's
                                            buckets, of every region
    ("global", "s3", "object", name, ...)   the bucket's objects (objects.py documents their layout)
"""

from __future__ import annotations

import re

from cloudlet.store.keyspace import account_key, global_key

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
    return global_key("s3", "bucket", name)


def owned_prefix(account: str) -> tuple:
    """Index of an account's buckets in every region, for ListBuckets."""
    return account_key(account, "s3", "owned")


def owned_key(account: str, name: str) -> tuple:
    return owned_prefix(account) + (name,)


def objects_prefix(name: str) -> tuple:
    return global_key("s3", "object", name)
