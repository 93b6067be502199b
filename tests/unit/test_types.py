"""mypy passes over the package with the configuration in pyproject.toml: default checking
everywhere, the strict flags for the modules listed there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_is_clean():
    # Incremental: the cache (.mypy_cache, see [tool.mypy]) keeps later runs to a second or two.
    proc = subprocess.run([sys.executable, "-m", "mypy", "cloudlet"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert "No module named mypy" not in proc.stderr, "mypy is a test dependency: pip install -e '.[test]'"
    assert proc.returncode == 0, proc.stdout + proc.stderr
