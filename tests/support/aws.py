"""Helpers the integration tests share for what AWS answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError


def aws_error(call, *args, **kwargs) -> dict:
    """The error `call(*args, **kwargs)` must raise: code, message, HTTP status and Lambda's Type."""
    with pytest.raises(ClientError) as exc:
        call(*args, **kwargs)
    resp = exc.value.response
    return {"code": resp["Error"]["Code"], "message": resp["Error"]["Message"],
            "status": resp["ResponseMetadata"]["HTTPStatusCode"], "type": resp.get("Type")}


def created_functions(lam) -> Iterator[list[str]]:
    """For a fixture: the names of the functions a test creates, deleted after it."""
    created: list[str] = []
    yield created
    for name in created:
        try:
            lam.delete_function(FunctionName=name)
        except ClientError:
            pass
