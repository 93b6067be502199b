"""The `cloudlet` command against a running platform, and when none runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import free_port


def cloudlet(*args: str, endpoint: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"CLOUDLET_ENDPOINT": endpoint, **(extra_env or {})})
    return subprocess.run([sys.executable, "-m", "cloudlet", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_cloudlet_aws_runs_the_aws_cli_against_cloudlet(server):
    """`cloudlet aws ...` is `aws ...` with the endpoint, test credentials and a region set."""
    run = cloudlet("aws", "sts", "get-caller-identity", "--output", "json", endpoint=server.url)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["Account"] == "000000000000"
    run = cloudlet("aws", "lambda", "list-functions", "--output", "json", endpoint=server.url,
                   extra_env={"AWS_ACCESS_KEY_ID": "AKIAOTHERACCOUNT1"})  # the environment's key wins
    assert run.returncode == 0 and json.loads(run.stdout) == {"Functions": []}, run.stderr


def test_commands_say_when_nothing_answers():
    nowhere = f"http://127.0.0.1:{free_port()}"
    for args in (("invoke", "fn"), ("logs", "fn")):
        run = cloudlet(*args, endpoint=nowhere)
        assert run.returncode == 1
        assert "is cloudlet running? Start it with `cloudlet start`" in run.stderr, run.stderr
        assert "Traceback" not in run.stderr


def test_logs_explains_an_empty_window_and_a_missing_group(server):
    lam = server.client("lambda")
    from tests.integration.test_lambda_invoke import create

    name = create(lam)
    run = cloudlet("logs", name, endpoint=server.url)
    assert run.returncode == 1 and "does not exist" in run.stderr and "when the function first runs" in run.stderr
    lam.invoke(FunctionName=name, Payload=b"{}")
    run = cloudlet("logs", name, "--since", "600", endpoint=server.url)
    assert run.returncode == 0 and "START RequestId" in run.stdout, run.stderr
    logs = server.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/quiet")
    run = cloudlet("logs", "quiet", endpoint=server.url)
    assert run.returncode == 0 and "no log events in /aws/lambda/quiet in the last 600 seconds" in run.stderr
