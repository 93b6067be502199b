"""ruff (pinned in the test extra, configured in pyproject.toml) finds nothing in the code,
the tests or the benchmarks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_is_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "cloudlet", "tests", "bench"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "No module named ruff" not in proc.stderr, "ruff is a test dependency: pip install -e '.[test]'"
    assert proc.returncode == 0, proc.stdout + proc.stderr
