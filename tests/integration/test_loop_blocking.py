"""No PostgreSQL store call runs on the event loop thread.

With PostgreSQL every store call is a network round trip; made on the event loop it stalls every
request in flight. The test suite runs servers with CLOUDLET_DEBUG_LOOP_BLOCKING=1 (conftest), which
turns such a call into an error; this test runs a PostgreSQL-backed server through the gateway's
paths (API calls of each service, synchronous and Event invokes, a function URL, a code download)
and requires none of them to have hit it.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.request
import uuid
import zipfile

import pytest

from tests.conftest import PG_URL, Server, require_postgres

HANDLER = "def handler(event, context):\n    print('hello', event)\n    return {'statusCode': 200, 'body': 'ok'}\n"


def test_guard_refuses_calls_on_the_loop_thread():
    require_postgres()
    from cloudlet.store.postgres import LoopBlockingError, PostgresStore

    schema = f"cloudlet_guard_{uuid.uuid4().hex[:8]}"
    store = PostgresStore(PG_URL, schema=schema, guard_loop=True)
    try:
        store.put(("k",), b"v")  # no loop running here: allowed

        async def on_loop():
            with pytest.raises(LoopBlockingError):
                store.get(("k",))
            with pytest.raises(LoopBlockingError):
                with store.transaction(write=False) as tx:
                    tx.get(("k",))
            return await asyncio.to_thread(store.get, ("k",))  # a worker thread is fine
        assert asyncio.run(on_loop()) == b"v"
    finally:
        store.reset()
        store.close()
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_postgresql_server_keeps_store_calls_off_the_loop(tmp_path):
    require_postgres()
    import psycopg

    schema = f"cloudlet_loop_{uuid.uuid4().hex[:8]}"
    srv = Server(data_dir=tmp_path, env={"CLOUDLET_DATABASE_URL": PG_URL, "CLOUDLET_POSTGRES_SCHEMA": schema,
                                         "CLOUDLET_DEBUG_LOOP_BLOCKING": "1", "CLOUDLET_LOG_LEVEL": "info"}).start()
    try:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("app.py", HANDLER)
        lam = srv.client("lambda")
        lam.create_function(FunctionName="loop", Runtime="python3.11", Handler="app.handler",
                            Role="arn:aws:iam::000000000000:role/r", Code={"ZipFile": buf.getvalue()})
        lam.get_waiter("function_active_v2").wait(FunctionName="loop")
        assert lam.invoke(FunctionName="loop", Payload=b"{}")["StatusCode"] == 200
        assert lam.invoke(FunctionName="loop", InvocationType="Event", Payload=b'{"async": 1}')["StatusCode"] == 202
        with urllib.request.urlopen(lam.get_function(FunctionName="loop")["Code"]["Location"], timeout=30) as r:
            assert r.read()[:2] == b"PK"
        url = lam.create_function_url_config(FunctionName="loop", AuthType="NONE")["FunctionUrl"]
        lam.add_permission(FunctionName="loop", StatementId="url", Action="lambda:InvokeFunctionUrl",
                           Principal="*", FunctionUrlAuthType="NONE")
        lam.add_permission(FunctionName="loop", StatementId="invoke", Action="lambda:InvokeFunction", Principal="*")
        host = url.split("//")[1].rstrip("/")
        req = urllib.request.Request(srv.url + "/", headers={"Host": host})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.read() == b"ok"
        srv.client("s3").create_bucket(Bucket=f"loop-{uuid.uuid4().hex[:8]}")
        assert srv.client("s3").list_buckets()["Buckets"]
        assert srv.client("dynamodb").list_tables()["TableNames"] == []
        srv.client("sts").get_caller_identity()
        logs = srv.client("logs")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the Event invocation ran (and logged) through the queue
            events = logs.filter_log_events(logGroupName="/aws/lambda/loop")["events"]
            if any("'async': 1" in e["message"] for e in events):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the Event invocation did not run")
        with urllib.request.urlopen(srv.url + "/_cloudlet/metrics", timeout=10) as r:
            metrics = json.load(r)["requests"]
        assert all(op["server_errors"] == 0 for service in metrics.values() for op in service.values()), metrics
    finally:
        srv.stop()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert "event loop thread" not in srv.log(), srv.log()
