"""psycopg is the `postgres` extra: `cloudlet start` runs on SQLite without it, and refuses a
PostgreSQL URL saying what to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.conftest import ROOT, Server


def _without_psycopg(tmp_path: Path) -> dict[str, str]:
    """An environment in which `import psycopg` (and psycopg_pool) fails, as in an install
    without the extra: stand-ins that raise ImportError come first on the path."""
    for name in ("psycopg", "psycopg_pool"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f'raise ImportError("no module named {name} (a test stand-in)")\n')
    return {"PYTHONPATH": str(tmp_path)}


def test_sqlite_default_runs_without_psycopg(tmp_path):
    srv = Server(env=_without_psycopg(tmp_path)).start()
    try:
        with urllib.request.urlopen(srv.url + "/_cloudlet/health", timeout=10) as r:
            health = json.load(r)
        assert health["store"] == "sqlite"
        identity = srv.client("sts").get_caller_identity()
        assert identity["Account"] == "000000000000"
    finally:
        srv.stop()


def test_postgres_url_without_psycopg_says_what_to_install(tmp_path):
    env = {**os.environ, **_without_psycopg(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "cloudlet", "start", "--ephemeral", "--port", "0",
                           "--database-url", "postgresql://postgres@127.0.0.1:5432/test"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "install cloudlet[postgres]" in proc.stdout + proc.stderr
