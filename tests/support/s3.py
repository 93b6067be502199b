"""S3 test helpers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator


def fresh_bucket(s3, prefix: str) -> Iterator[str]:
    """For a fixture: a new bucket's name; emptied and deleted after the test."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        if page.get("Contents"):
            s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": o["Key"]} for o in page["Contents"]]})
    s3.delete_bucket(Bucket=name)
