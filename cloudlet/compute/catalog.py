"""Which runtimes exist and where their executables are on this host.

Python runtimes run in the matching interpreter, found by absolute path: the highest
/root/.pyenv/versions/3.X.*/bin/python3.X, else `python3.X` on PATH (pyenv shims are skipped:
a shim re-resolves the version per directory and costs ~40 ms). Node runtimes all run on the
`node` found on PATH (one version serves nodejs18.x..22.x). Custom runtimes exec the function's
`bootstrap` (code directory first, then /opt from the layers).

An unknown runtime, or one whose executable this host lacks, raises RuntimeUnavailable with a
sentence naming what is missing. Lambda's control plane asks `check` when a function's
configuration changes and stores a function it cannot run with State Failed and that reason
(services/lambda_/configuration.py), so Invoke never starts one; the manager still turns it into
an invocation error of type Runtime.InvalidRuntime should the host lose an interpreter later.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

PYENV_ROOT = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv"))
RUNTIMES_DIR = Path(__file__).resolve().parent / "runtimes"

PYTHON_RE = re.compile(r"^python3\.(\d+)$")
NODE_RE = re.compile(r"^nodejs(\d+)\.x$")
PROVIDED = ("provided", "provided.al2", "provided.al2023")


# Languages cloudlet has no runtime for, by identifier prefix (a Lambda runtime it knows of).
_LANGUAGES = (("java", "Java"), ("dotnet", ".NET"), ("ruby", "Ruby"), ("go", "Go"), ("custom", "customer-managed"))
_RUNS = "it runs python3.8 and later, nodejsNN.x and provided runtimes"


class RuntimeUnavailable(Exception):
    """The function's runtime cannot run on this host."""


def _unsupported(runtime: str) -> RuntimeUnavailable:
    for prefix, language in _LANGUAGES:
        if runtime.startswith(prefix):
            return RuntimeUnavailable(f"cloudlet cannot run {runtime}: it has no {language} runtime ({_RUNS})")
    return RuntimeUnavailable(f"cloudlet cannot run {runtime}: {_RUNS}")


@dataclass(frozen=True)
class Runtime:
    name: str  # "python3.12"
    kind: str  # "python" | "node" | "provided"
    executable: str | None  # interpreter / node; None for provided
    version: str  # "3.12.1", "20.20.2" or ""

    @property
    def execution_env(self) -> str | None:
        return None if self.kind == "provided" else f"AWS_Lambda_{self.name}"


def _version_key(path: str) -> tuple[int, ...]:
    m = re.search(r"/versions/(\d+)\.(\d+)\.(\d+)", path)
    return tuple(int(x) for x in m.groups()) if m else (0,)


@functools.lru_cache(maxsize=64)
def find_python(minor: int) -> str | None:
    exe = f"python3.{minor}"
    found = sorted(glob.glob(str(PYENV_ROOT / "versions" / f"3.{minor}.*" / "bin" / exe)), key=_version_key)
    found = [p for p in found if re.search(rf"/versions/3\.{minor}\.\d+/", p) and os.access(p, os.X_OK)]
    if found:
        return found[-1]
    for directory in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/local/bin", "/usr/bin", "/bin"]:
        if not directory or "shims" in Path(directory).parts:
            continue
        candidate = Path(directory) / exe
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate.resolve())
    return None


@functools.lru_cache(maxsize=8)
def find_node() -> str | None:
    node = shutil.which("node")
    return str(Path(node).resolve()) if node else None


@functools.lru_cache(maxsize=64)
def resolve(runtime: str) -> Runtime:
    """The runtime named `runtime`, or RuntimeUnavailable with a message naming what is missing."""
    m = PYTHON_RE.match(runtime)
    if m:
        minor = int(m.group(1))
        if minor < 8:
            raise _unsupported(runtime)
        exe = find_python(minor)
        if exe is None:
            raise RuntimeUnavailable(
                f"cloudlet cannot run {runtime} on this host: interpreter python3.{minor} is not installed "
                f"(looked for {PYENV_ROOT}/versions/3.{minor}.*/bin/python3.{minor} and python3.{minor} on PATH)")
        m2 = re.search(r"/versions/(\d+\.\d+\.\d+)/", exe)
        return Runtime(runtime, "python", exe, m2.group(1) if m2 else f"3.{minor}")
    m = NODE_RE.match(runtime)
    if m:
        node = find_node()
        if node is None:
            raise RuntimeUnavailable(f"cloudlet cannot run {runtime} on this host: Node.js is not installed "
                                     "(`node` not found on PATH)")
        return Runtime(runtime, "node", node, "")
    if runtime in PROVIDED:
        return Runtime(runtime, "provided", None, "")
    raise _unsupported(runtime)


def check(runtime: str) -> str | None:
    """None when `runtime` can run here, else the reason (a function's StateReason)."""
    try:
        resolve(runtime)
    except RuntimeUnavailable as e:
        return str(e)
    return None


def python_site_packages(opt_dir: str, version: str) -> str:
    major_minor = ".".join(version.split(".")[:2])
    return f"{opt_dir}/python/lib/python{major_minor}/site-packages"
