"""Shared fixtures: a real cloudlet server on a free port, and real clients pointed at it."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("CLOUDLET_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


OPERATOR_TOKEN = "test-operator-token"


class Server:
    """A `cloudlet start` child process."""

    def __init__(self, *, data_dir: Path | None = None, env: dict[str, str] | None = None,
                 args: list[str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        # Store calls that would block the event loop fail loudly in tests (store/postgres.py);
        # functions reach no internet unless a test asks for it.
        self.env = {**os.environ, "CLOUDLET_LOG_LEVEL": "warning", "CLOUDLET_DEBUG_LOOP_BLOCKING": "1",
                    "CLOUDLET_OPERATOR_TOKEN": OPERATOR_TOKEN, "CLOUDLET_LAMBDA_NETWORK": "isolated", **(env or {})}
        self.args = args or []
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self._log_text: str | None = None  # the log, once the server stopped and its file is gone

    def start(self, timeout: float = 20.0) -> Server:
        cmd = [sys.executable, "-m", "cloudlet", "start", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir)] if self.data_dir else ["--ephemeral"]
        cmd += self.args
        self.log_path = Path(tempfile.mkstemp(prefix="cloudlet-server-", suffix=".log")[1])
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"cloudlet exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/_cloudlet/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()  # no server left running behind a failed start
        raise RuntimeError(f"cloudlet did not start in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        if self._log_text is not None:
            return self._log_text
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self, sig: int | None = None, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        if self._log_text is None and self.log_path is not None:
            # Keep the log in memory and remove its file: test runs leave no files behind.
            self._log_text = self.log_path.read_text(errors="replace")
            self.log_path.unlink(missing_ok=True)
        return self.proc.returncode

    def client(self, service: str, *, key: str = "test", secret: str = "test", region: str = "us-east-1",
               protocol: str | None = None, **kw):
        """A boto3 client; with `protocol`, one that speaks it (of those the model lists), as
        another SDK or an older botocore would."""
        import boto3
        from botocore.config import Config

        session = _session_speaking(service, protocol) if protocol else boto3
        return session.client(service, endpoint_url=self.url, region_name=region, aws_access_key_id=key,
                              aws_secret_access_key=secret,
                              config=Config(retries={"max_attempts": 1}, **kw))

    def cli_env(self, key: str = "test", secret: str = "test") -> dict[str, str]:
        env = {**os.environ, "AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": key,
               "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}
        env.pop("AWS_PROFILE", None)
        return env

    def cli(self, *args: str, key: str = "test", secret: str = "test", check: bool = True,
            ) -> subprocess.CompletedProcess:
        """The AWS CLI v1 from PyPI (a test dependency)."""
        return subprocess.run([sys.executable, "-m", "awscli", *args], capture_output=True, text=True,
                              env=self.cli_env(key, secret), check=check, timeout=60)


@functools.cache
def _models_speaking(service: str, protocol: str) -> str:
    """A folder of botocore data holding `service`'s model with `protocol` as its only protocol."""
    import botocore.loaders

    from cloudlet.protocol.models_index import entry_of

    model = botocore.loaders.Loader().load_service_model(service, "service-2")
    assert protocol in entry_of(service, model["metadata"]).protocols, protocol
    model["metadata"].update(protocol=protocol, protocols=[protocol])
    root = Path(tempfile.mkdtemp(prefix=f"cloudlet-models-{service}-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    folder = root / service / model["metadata"]["apiVersion"]
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    return str(root)


def _session_speaking(service: str, protocol: str):
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.get_component("data_loader").search_paths.insert(0, _models_speaking(service, protocol))
    return boto3.session.Session(botocore_session=core)


def parse_as_served(service: str, req):
    """The error the gateway's parse step raises for `req` as if `service` served its operation
    (for protocols no served service speaks yet), written in the service's wire format:
    (the ServiceError, the HttpResponse). Fails the test if parsing raises nothing."""
    from cloudlet.gateway.pipeline import Exchange, Parse
    from cloudlet.protocol import load_service, protocol_for
    from cloudlet.protocol.errors import ServiceError

    ex = Exchange(req, False)
    ex.spec = spec = load_service(service)
    ex.protocol = wire = protocol_for(spec, req)
    op, state = wire.find_operation(spec, req)
    with pytest.raises(ServiceError) as err:
        Parse.parse(ex, op, state)
    return err.value, wire.serialize_error(spec, op, err.value, ex.rid)


def aws_cli_v2() -> str | None:
    """An AWS CLI v2 executable (.ci/run installs Debian's awscli package, which is v2), or None.
    Commands such as `aws logs tail` exist only in v2."""
    for candidate in ("/usr/bin/aws", "/usr/local/bin/aws"):
        if not os.access(candidate, os.X_OK):
            continue
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if (out.stdout + out.stderr).startswith("aws-cli/2"):
            return candidate
    return None


@pytest.fixture(scope="session")
def server():
    srv = Server().start()
    yield srv
    srv.stop()


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def require_postgres() -> None:
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but not reachable at {PG_URL}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
