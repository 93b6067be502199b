"""`cloudlet start` refuses a bad setting at once, naming it and what it may be, without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(("env", "args", "message"), [
    ({"CLOUDLET_PORT": "70000"}, [], "CLOUDLET_PORT (--port) must be a port number from 0 to 65535, not 70000"),
    ({}, ["--port", "-1"], "CLOUDLET_PORT (--port) must be a port number from 0 to 65535, not -1"),
    ({"CLOUDLET_LOG_LEVEL": "loud"}, [], "CLOUDLET_LOG_LEVEL (--log-level) must be one of debug"),
    ({"CLOUDLET_ENFORCE_SIGV4": "maybe"}, [], "CLOUDLET_ENFORCE_SIGV4 (--enforce-sigv4) must be one of 1, true"),
    ({"CLOUDLET_LAMBDA_NETWORK": "wifi"}, [], "CLOUDLET_LAMBDA_NETWORK (--lambda-network) must be one of internet, isolated, host"),
    ({}, ["--lambda-prefork", "-3"], "CLOUDLET_LAMBDA_PREFORK (--lambda-prefork) must be 0 or more, not -3"),
    ({}, ["--worker-threads", "many"], "CLOUDLET_WORKER_THREADS (--worker-threads) must be a whole number, not 'many'"),
])
def test_start_refuses_a_bad_setting(env, args, message):
    run = subprocess.run([sys.executable, "-m", "cloudlet", "start", "--ephemeral", *args], capture_output=True,
                         text=True, timeout=60, env={**os.environ, **env})
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr, run.stderr
