"""Two servers on one PostgreSQL schema behave as one platform: each Event invocation runs once,
a control-plane change on one is seen by the next invoke on the other, and the account's
concurrency limit holds across both."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.conftest import PG_URL, Server, require_postgres
from tests.integration.test_lambda_invoke import create, make_zip

pytestmark = pytest.mark.postgres


def two_servers(tmp_path, **env: str):
    require_postgres()
    schema = f"r_{uuid.uuid4().hex[:12]}"
    shared = {"CLOUDLET_DATABASE_URL": PG_URL, "CLOUDLET_POSTGRES_SCHEMA": schema,
              "CLOUDLET_BLOB_DIR": str(tmp_path / "blobs"), **env}
    servers = [Server(env=shared).start(), Server(env=shared).start()]
    yield servers
    for srv in servers:
        srv.stop()
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def replicas(tmp_path):
    yield from two_servers(tmp_path)


@pytest.fixture
def replicas_of_four(tmp_path):
    yield from two_servers(tmp_path, CLOUDLET_LAMBDA_CONCURRENCY_LIMIT="4")


RAN = '''
import time
def handler(event, context):
    print("ran", event["n"])
    time.sleep(event.get("sleep", 0))
    return event["n"]
'''


def _ran(logs, name: str, odd: list[str]) -> Counter[int]:
    """How many times each event ran, by the function's log; other lines with "ran" go to `odd`."""
    counts: Counter[int] = Counter()
    odd.clear()
    kwargs = {"logGroupName": f"/aws/lambda/{name}", "filterPattern": '"ran"'}
    while True:
        try:
            page = logs.filter_log_events(**kwargs)
        except ClientError:
            return counts
        for event in page["events"]:
            words = event["message"].split()
            if words[:1] == ["ran"] and len(words) == 2:
                counts[int(words[1])] += 1
            else:
                odd.append(event["message"])
        if not page.get("nextToken"):
            return counts
        kwargs["nextToken"] = page["nextToken"]


def test_event_invocations_through_two_replicas_each_run_once(replicas):
    a, b = replicas
    # A long timeout: a thousand environments at once on a small machine may take seconds to get
    # the CPU, and a timed-out run is retried (rightly) and would count twice.
    name = create(a.client("lambda"), files={"app.py": RAN}, Timeout=120)
    clients = [a.client("lambda"), b.client("lambda")]

    def send(n: int) -> None:
        assert clients[n % 2].invoke(FunctionName=name, InvocationType="Event",
                                     Payload=json.dumps({"n": n}).encode())["StatusCode"] == 202

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(1000)))
    logs = a.client("logs")
    deadline = time.monotonic() + 180
    odd: list[str] = []
    counts = _ran(logs, name, odd)
    while len(counts) < 1000 and time.monotonic() < deadline:
        time.sleep(1)
        counts = _ran(logs, name, odd)
    assert not odd, f"unexpected log lines: {odd[:5]}"
    assert set(counts) == set(range(1000)), f"{1000 - len(counts)} never ran"
    duplicated = {n: c for n, c in counts.items() if c > 1}
    assert not duplicated, (f"{len(duplicated)} ran more than once\n"
                            + "\n".join(line for srv in replicas for line in srv.log().splitlines()
                                         if "WARNING" in line or "ERROR" in line)[-4000:])


VERSIONED = '''
import os
def handler(event, context):
    return {"code": "CODE", "setting": os.environ.get("SETTING")}
'''


def test_a_change_on_one_replica_is_seen_by_the_next_invoke_on_the_other(replicas):
    a, b = replicas
    lam_a, lam_b = a.client("lambda"), b.client("lambda")
    name = create(lam_a, files={"app.py": VERSIONED.replace("CODE", "one")})

    def on_b() -> dict:
        return json.loads(lam_b.invoke(FunctionName=name)["Payload"].read())

    assert on_b() == {"code": "one", "setting": None}
    for i, code in enumerate(("two", "three", "four")):
        lam_a.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": VERSIONED.replace("CODE", code)}))
        lam_a.get_waiter("function_updated_v2").wait(FunctionName=name)
        assert on_b()["code"] == code
        lam_a.update_function_configuration(FunctionName=name, Environment={"Variables": {"SETTING": str(i)}})
        lam_a.get_waiter("function_updated_v2").wait(FunctionName=name)
        assert on_b() == {"code": code, "setting": str(i)}


def test_the_account_concurrency_limit_holds_across_replicas(replicas_of_four):
    a, b = replicas_of_four
    name = create(a.client("lambda"), files={"app.py": RAN}, Timeout=30)
    clients = [a.client("lambda"), b.client("lambda")]
    results: list[str] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        try:
            clients[n % 2].invoke(FunctionName=name, Payload=json.dumps({"n": n, "sleep": 2}).encode())
            outcome = "ran"
        except ClientError as err:
            outcome = err.response["Error"]["Code"]
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["TooManyRequestsException"] * 2 + ["ran"] * 4
    time.sleep(2.5)  # both replicas give their idle slots back within about a second
    one(6)
    one(7)
    assert results[-2:] == ["ran", "ran"]
