"""CloudWatch Logs export tasks to S3 with boto3 and the AWS CLI against a real server: the objects
they write, their states, the one-active-task limit, AWS's errors, and a restart mid-export."""

from __future__ import annotations

import gzip
import json
import signal
import time
import uuid
from datetime import UTC, datetime

import boto3
import pytest
from botocore.config import Config

from tests.conftest import Server
from tests.support.aws import aws_error

HOUR = 3_600_000


def now() -> int:
    return int(time.time() * 1000)


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts % 1000:03d}Z"


class Account:
    """Clients of an account of their own (an access key nobody configured gets one), so the
    one-active-task limit and the task listing are this test's alone."""

    def __init__(self, server: Server, key: str | None = None) -> None:
        self.key = key or f"AKIA{uuid.uuid4().hex[:16].upper()}"
        self.logs = server.client("logs", key=self.key)
        # One attempt only: botocore takes LimitExceededException for throttling and would retry it.
        self.logs_once = boto3.client("logs", endpoint_url=server.url, region_name="us-east-1",
                                      aws_access_key_id=self.key, aws_secret_access_key="test",
                                      config=Config(retries={"total_max_attempts": 1}))
        self.s3 = server.client("s3", key=self.key)

    def bucket(self) -> str:
        name = f"export-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=name)
        return name

    def group(self, streams: dict[str, list[tuple[int, str]]]) -> str:
        group = f"/test/export/{uuid.uuid4().hex[:12]}"
        self.logs.create_log_group(logGroupName=group)
        for stream, events in streams.items():
            self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
            for i in range(0, len(events), 10_000):
                self.logs.put_log_events(logGroupName=group, logStreamName=stream,
                                         logEvents=[{"timestamp": t, "message": m} for t, m in events[i:i + 10_000]])
        return group

    def wait(self, task_id: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            [task] = self.logs.describe_export_tasks(taskId=task_id)["exportTasks"]
            if task["status"]["code"] not in ("PENDING", "RUNNING"):
                return task
            assert time.monotonic() < deadline, task
            time.sleep(0.05)

    def objects(self, bucket: str) -> dict[str, bytes]:
        listed = self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {o["Key"]: self.s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


@pytest.fixture
def account(server) -> Account:
    return Account(server)


def lines(data: bytes) -> list[str]:
    return gzip.decompress(data).decode().splitlines()


BIG = 60_000   # events that take the export a noticeable while (to catch it PENDING or RUNNING)


def big_streams(base: int) -> dict[str, list[tuple[int, str]]]:
    return {"big": [(base + i // 10, f"event {i:06d} " + "x" * 60) for i in range(BIG)]}


# ---- what lands in S3 ----

def test_export_writes_each_streams_events_in_the_range(account):
    base = now() - HOUR
    group = account.group({
        "app/one": [(base + 999, "before"), (base + 1000, "first"), (base + 1000, "same ms"),
                    (base + 2000, "héllo wörld"), (base + 3000, "last, inclusive"), (base + 3001, "after")],
        "two": [(base + 1500, "two-a"), (base + 2500, '{"json": true}')],
        "quiet": [(base + 5000, "out of range")],
        "empty": [],
    })
    bucket = account.bucket()
    task_id = account.logs.create_export_task(taskName="nightly", logGroupName=group, fromTime=base + 1000,
                                              to=base + 3000, destination=bucket, destinationPrefix="exp/2024")["taskId"]
    assert str(uuid.UUID(task_id)) == task_id
    task = account.wait(task_id)
    assert list(task) == ["taskId", "taskName", "logGroupName", "from", "to", "destination", "destinationPrefix",
                          "status", "executionInfo"]
    assert task["status"] == {"code": "COMPLETED", "message": "Completed successfully"}
    assert (task["taskName"], task["logGroupName"], task["from"], task["to"], task["destination"],
            task["destinationPrefix"]) == ("nightly", group, base + 1000, base + 3000, bucket, "exp/2024")
    info = task["executionInfo"]
    assert abs(info["creationTime"] - now()) < 60_000 and info["creationTime"] <= info["completionTime"]

    objects = account.objects(bucket)
    assert sorted(objects) == sorted(["exp/2024/aws-logs-write-test", f"exp/2024/{task_id}/app/one/000000.gz",
                                      f"exp/2024/{task_id}/two/000000.gz"])
    assert objects["exp/2024/aws-logs-write-test"] == b"Permission Check Successful"
    assert lines(objects[f"exp/2024/{task_id}/app/one/000000.gz"]) == [
        f"{iso(base + 1000)} first", f"{iso(base + 1000)} same ms", f"{iso(base + 2000)} héllo wörld",
        f"{iso(base + 3000)} last, inclusive"]
    assert lines(objects[f"exp/2024/{task_id}/two/000000.gz"]) == [
        f"{iso(base + 1500)} two-a", f"{iso(base + 2500)} {{\"json\": true}}"]
    head = account.s3.head_object(Bucket=bucket, Key=f"exp/2024/{task_id}/two/000000.gz")
    assert head["ETag"].strip('"') and head["ContentLength"] == len(objects[f"exp/2024/{task_id}/two/000000.gz"])


def test_default_prefix_and_stream_name_prefix(account):
    base = now() - HOUR
    group = account.group({"web-1": [(base, "a")], "web-2": [(base + 1, "b")], "worker": [(base, "c")]})
    bucket = account.bucket()
    task_id = account.logs.create_export_task(logGroupName=group, logStreamNamePrefix="web-", fromTime=base,
                                              to=base + 10, destination=bucket)["taskId"]
    task = account.wait(task_id)
    assert task["destinationPrefix"] == "exportedlogs" and "taskName" not in task
    objects = account.objects(bucket)
    # Without a destinationPrefix the write test lands at the bucket's root, as on AWS.
    assert sorted(objects) == ["aws-logs-write-test", f"exportedlogs/{task_id}/web-1/000000.gz",
                               f"exportedlogs/{task_id}/web-2/000000.gz"]
    assert lines(objects[f"exportedlogs/{task_id}/web-2/000000.gz"]) == [f"{iso(base + 1)} b"]


def test_a_range_without_events_writes_only_the_write_test(account):
    base = now() - HOUR
    group = account.group({"s": [(base, "a")]})
    bucket = account.bucket()
    task_id = account.logs.create_export_task(logGroupName=group, fromTime=base + 1, to=base + 1,
                                              destination=bucket)["taskId"]
    assert account.wait(task_id)["status"]["code"] == "COMPLETED"
    assert list(account.objects(bucket)) == ["aws-logs-write-test"]


# ---- errors ----

def test_create_export_task_errors(account, server):
    base = now() - HOUR
    group = account.group({"s": [(base, "a")]})
    bucket = account.bucket()

    def invalid(message: str) -> dict:
        return {"code": "InvalidParameterException", "message": message, "status": 400, "type": None}

    assert aws_error(account.logs.create_export_task, logGroupName=group, fromTime=base + 1, to=base,
                     destination=bucket) == invalid(
        f"Specified time range of '{base + 1}' and '{base}' is not valid. Please make sure the values are within "
        "the retention period of the log group and from value is less than the to value")
    assert aws_error(account.logs.create_export_task, logGroupName=group + "-missing", fromTime=base, to=base,
                     destination=bucket) == {"code": "ResourceNotFoundException", "status": 400, "type": None,
                                             "message": "The specified log group does not exist."}
    assert aws_error(account.logs.create_export_task, logGroupName=group, fromTime=base, to=base,
                     destination=f"no-such-{uuid.uuid4().hex[:8]}") == invalid(
        "The given bucket does not exist. Please make sure the bucket is valid.")
    bad = aws_error(account.logs.create_export_task, logGroupName="bad name", fromTime=base, to=base,
                    destination=bucket)
    assert bad["code"] == "InvalidParameterException" and "logGroupName" in bad["message"]
    bad = aws_error(account.logs.create_export_task, logGroupName=group, logStreamNamePrefix="a:b", fromTime=base,
                    to=base, destination=bucket)
    assert bad["code"] == "InvalidParameterException" and "logStreamNamePrefix" in bad["message"]

    # Another account's bucket: nothing grants CloudWatch Logs a write there.
    other = Account(server)
    theirs = other.bucket()
    assert aws_error(account.logs.create_export_task, logGroupName=group, fromTime=base, to=base,
                     destination=theirs) == invalid(
        "GetBucketAcl call on the given bucket failed. Please check if CloudWatch Logs has been granted permission "
        "to perform this operation.")
    assert other.objects(theirs) == {}
    # A bucket of another region.
    eu = server.client("s3", key=account.key, region="eu-west-1")
    far = f"export-eu-{uuid.uuid4().hex[:8]}"
    eu.create_bucket(Bucket=far, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert aws_error(account.logs.create_export_task, logGroupName=group, fromTime=base, to=base,
                     destination=far) == invalid("The given bucket is not in the same region as the log group.")
    # None of these made a task.
    assert account.logs.describe_export_tasks()["exportTasks"] == []


def test_describe_and_cancel_unknown_tasks(account):
    assert account.logs.describe_export_tasks(taskId=str(uuid.uuid4()))["exportTasks"] == []
    assert account.logs.describe_export_tasks(statusCode="RUNNING")["exportTasks"] == []
    assert aws_error(account.logs.cancel_export_task, taskId="abc") == {
        "code": "ResourceNotFoundException", "message": "The specified export task does not exist.", "status": 400,
        "type": None}
    bad = aws_error(account.logs.describe_export_tasks, nextToken="not-a-token")
    assert (bad["code"], bad["message"]) == ("InvalidParameterException", "The specified nextToken is invalid.")


# ---- states, the limit, listing ----

def test_one_active_task_at_a_time_and_cancelling(account):
    base = now() - HOUR
    group = account.group(big_streams(base))
    bucket = account.bucket()
    first = account.logs.create_export_task(logGroupName=group, fromTime=base, to=now(), destination=bucket)["taskId"]
    assert aws_error(account.logs_once.create_export_task, logGroupName=group, fromTime=base, to=now(),
                     destination=bucket) == {"code": "LimitExceededException", "message": "Resource limit exceeded.",
                                             "status": 400, "type": None}
    [task] = account.logs.describe_export_tasks(taskId=first)["exportTasks"]
    assert task["status"]["code"] in ("PENDING", "RUNNING") and "completionTime" not in task["executionInfo"]
    account.logs.cancel_export_task(taskId=first)
    task = account.wait(first)
    assert task["status"] == {"code": "CANCELLED", "message": "Cancelled by user"}
    assert task["executionInfo"]["completionTime"] >= task["executionInfo"]["creationTime"]
    finished = {"code": "InvalidOperationException", "message": "The specified export task has already finished",
                "status": 400, "type": None}
    assert aws_error(account.logs.cancel_export_task, taskId=first) == finished
    time.sleep(0.5)
    assert account.wait(first)["status"]["code"] == "CANCELLED"   # the export stopped, and left it so

    # The slot is free again: the next task runs to completion, and is then finished too.
    second = account.logs.create_export_task(logGroupName=group, fromTime=base, to=now(),
                                             destination=bucket)["taskId"]
    assert account.wait(second, timeout=120)["status"]["code"] == "COMPLETED"
    assert aws_error(account.logs.cancel_export_task, taskId=second) == finished
    exported = [k for k in account.objects(bucket) if k.startswith(f"exportedlogs/{second}/")]
    assert exported == [f"exportedlogs/{second}/big/000000.gz"]
    got = lines(account.s3.get_object(Bucket=bucket, Key=exported[0])["Body"].read())
    assert len(got) == BIG and got[0] == f"{iso(base)} event 000000 " + "x" * 60

    listed = account.logs.describe_export_tasks()["exportTasks"]
    assert [t["taskId"] for t in listed] == [second, first]   # newest first
    assert [t["taskId"] for t in account.logs.describe_export_tasks(statusCode="CANCELLED")["exportTasks"]] == [first]
    page = account.logs.describe_export_tasks(limit=1)
    assert [t["taskId"] for t in page["exportTasks"]] == [second]
    rest = account.logs.describe_export_tasks(limit=1, nextToken=page["nextToken"])
    assert [t["taskId"] for t in rest["exportTasks"]] == [first] and "nextToken" not in rest


def test_a_deleted_bucket_fails_the_task(account):
    base = now() - HOUR
    group = account.group(big_streams(base))
    bucket = account.bucket()
    task_id = account.logs.create_export_task(logGroupName=group, fromTime=base, to=now(), destination=bucket,
                                              destinationPrefix="p")["taskId"]
    account.s3.delete_object(Bucket=bucket, Key="p/aws-logs-write-test")
    account.s3.delete_bucket(Bucket=bucket)   # before the export wrote anything (it is still reading)
    task = account.wait(task_id, timeout=120)
    if task["status"]["code"] == "COMPLETED":
        pytest.skip("the export finished before the bucket went")
    assert task["status"] == {"code": "FAILED",
                              "message": "The given bucket does not exist. Please make sure the bucket is valid."}
    assert "completionTime" in task["executionInfo"]


# ---- the AWS CLI ----

def test_aws_cli_create_export_task(account, server):
    base = now() - HOUR
    group = account.group({"cli": [(base, "from the cli")]})
    bucket = account.bucket()
    out = server.cli("logs", "create-export-task", "--log-group-name", group, "--from", str(base), "--to",
                     str(base + 1), "--destination", bucket, "--destination-prefix", "cli", key=account.key)
    task_id = json.loads(out.stdout)["taskId"]
    assert account.wait(task_id)["status"]["code"] == "COMPLETED"
    done = json.loads(server.cli("logs", "describe-export-tasks", "--task-id", task_id, key=account.key).stdout)
    assert done["exportTasks"][0]["destinationPrefix"] == "cli"
    assert lines(account.objects(bucket)[f"cli/{task_id}/cli/000000.gz"]) == [f"{iso(base)} from the cli"]


# ---- durability ----

def test_a_server_restarted_mid_export_finishes_the_task(tmp_path):
    srv = Server(data_dir=tmp_path).start()
    try:
        account = Account(srv)
        base = now() - HOUR
        group = account.group(big_streams(base))
        bucket = account.bucket()
        task_id = account.logs.create_export_task(logGroupName=group, fromTime=base, to=now(),
                                                  destination=bucket)["taskId"]
    finally:
        srv.stop(signal.SIGKILL)   # while the task is PENDING or RUNNING
    again = Server(data_dir=tmp_path).start()
    try:
        account = Account(again, account.key)
        task = account.wait(task_id, timeout=120)
        assert task["status"]["code"] == "COMPLETED", again.log()
        got = lines(account.objects(bucket)[f"exportedlogs/{task_id}/big/000000.gz"])
        assert len(got) == BIG and got[-1] == f"{iso(base + (BIG - 1) // 10)} event {BIG - 1:06d} " + "x" * 60
    finally:
        again.stop()
