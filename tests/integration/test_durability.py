"""Acknowledged writes survive kill -9; shutdown is orderly; state can live in PostgreSQL."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

from tests.conftest import PG_URL, Server, require_postgres


def _bucket_names(srv: Server) -> list[str]:
    return [b["Name"] for b in srv.client("s3").list_buckets()["Buckets"]]


def test_acknowledged_writes_survive_kill_9(tmp_path):
    srv = Server(data_dir=tmp_path).start()
    names = [f"durable-{i}-{uuid.uuid4().hex[:8]}" for i in range(20)]
    s3 = srv.client("s3")
    for name in names:
        s3.create_bucket(Bucket=name)
    srv.stop(signal.SIGKILL)
    assert srv.proc.returncode == -signal.SIGKILL
    again = Server(data_dir=tmp_path).start()
    try:
        assert set(names) <= set(_bucket_names(again))
    finally:
        again.stop()


def test_sigterm_and_sigint_exit_cleanly(tmp_path):
    for sig in (signal.SIGTERM, signal.SIGINT):
        srv = Server(data_dir=tmp_path).start()
        srv.client("s3").create_bucket(Bucket=f"clean-{sig.value}-{uuid.uuid4().hex[:8]}")
        assert srv.stop(sig) == 0, srv.log()
    assert len(_bucket_names_after_restart(tmp_path)) == 2


def _bucket_names_after_restart(data_dir: Path) -> list[str]:
    srv = Server(data_dir=data_dir).start()
    try:
        return _bucket_names(srv)
    finally:
        srv.stop()


def test_ephemeral_state_is_removed_at_exit():
    srv = Server().start()
    srv.client("s3").create_bucket(Bucket=f"eph-{uuid.uuid4().hex[:8]}")
    out = srv.log()
    data_dir = out.split("data: ")[1].split(")")[0]
    assert os.path.isdir(data_dir)
    assert srv.stop() == 0
    assert not os.path.exists(data_dir)


def test_postgresql_backend_keeps_state_across_restarts(tmp_path):
    require_postgres()
    import psycopg

    schema = f"cloudlet_it_{uuid.uuid4().hex[:10]}"
    env = {"CLOUDLET_DATABASE_URL": PG_URL, "CLOUDLET_POSTGRES_SCHEMA": schema}
    try:
        srv = Server(data_dir=tmp_path, env=env).start()
        name = f"pg-{uuid.uuid4().hex[:8]}"
        srv.client("s3").create_bucket(Bucket=name)
        srv.stop(signal.SIGKILL)
        again = Server(data_dir=tmp_path, env=env).start()
        try:
            import json
            import urllib.request

            with urllib.request.urlopen(again.url + "/_cloudlet/health") as r:
                assert json.load(r)["store"] == "postgresql"
            assert name in _bucket_names(again)
        finally:
            again.stop()
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _health(srv: Server) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(srv.url + "/_cloudlet/health", timeout=5) as r:
        return json.loads(r.read())


SLOW_BUCKET = '''
import time, boto3
def handler(event, context):
    print("marker", event["marker"])
    time.sleep(event.get("sleep", 0))
    if event.get("bucket"):
        boto3.client("s3").create_bucket(Bucket=event["bucket"])
'''


def test_function_logs_survive_kill_9(tmp_path):
    import json

    from tests.integration.test_lambda_invoke import create

    srv = Server(data_dir=tmp_path).start()
    lam = srv.client("lambda")
    name = create(lam, files={"app.py": SLOW_BUCKET})
    marker = uuid.uuid4().hex
    for _ in range(5):
        lam.invoke(FunctionName=name, Payload=json.dumps({"marker": marker}).encode())
    srv.stop(signal.SIGKILL)  # right after the last answer
    again = Server(data_dir=tmp_path).start()
    try:
        events = again.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}",
                                                        filterPattern=f'"{marker}"')["events"]
        assert len(events) == 5
    finally:
        again.stop()


def test_an_event_invocation_cut_off_by_kill_9_runs_again_soon_after_restart(tmp_path):
    import json
    import time

    from tests.integration.test_lambda_invoke import create

    srv = Server(data_dir=tmp_path).start()
    lam = srv.client("lambda")
    name = create(lam, files={"app.py": SLOW_BUCKET}, Timeout=30)
    bucket = f"rerun-{uuid.uuid4().hex[:8]}"
    lam.invoke(FunctionName=name, InvocationType="Event",
               Payload=json.dumps({"marker": "m", "sleep": 3, "bucket": bucket}).encode())
    deadline = time.monotonic() + 20
    while _health(srv)["outbox"]["running"] == 0:  # the invocation is running (leased)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    srv.stop(signal.SIGKILL)  # before it could make the bucket
    again = Server(data_dir=tmp_path).start()
    restarted = time.monotonic()
    try:
        while bucket not in _bucket_names(again):
            # It runs again as soon as the dead server's lease is taken over (its process is
            # gone, so at once), then sleeps 3 s: well under the 16 minutes a lease once held it.
            assert time.monotonic() - restarted < 20, again.log()
            time.sleep(0.2)
        assert _health(again)["outbox"]["reclaimed"] == 1
    finally:
        again.stop()
