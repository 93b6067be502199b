"""The AWS SDK for JavaScript v3 that Node functions use without bundling it, as AWS's nodejs18.x
and later runtimes ship it in /var/runtime/node_modules.

What: the packages pinned (exact versions, the whole tree locked) by runtimes/node-sdk/package.json
and its package-lock.json. Where: `$XDG_CACHE_HOME/cloudlet/node-sdk/<lock hash>/node_modules`
(XDG_CACHE_HOME defaults to ~/.cache), shared by every data directory of this user; a new lock
file is a new directory, so an upgrade never mixes trees. How: `npm ci --omit=dev --no-audit
--no-fund` from the lock file into a staging directory beside it; then only what Node loads is
kept (each package's dist-cjs: the dist-es and dist-types copies go, as in AWS's runtimes, whose
ESM entry points resolve to dist-cjs under Node's "node" condition anyway), node loads every
pinned package once as a check, and the directory is renamed into place, so a directory that
exists is complete. One install at a time per cache (a lock file); a process that finds the lock
taken leaves the install to its holder.

Who: `cloudlet setup` (blocking, prints what it did), `cloudlet start` in the background when npm
exists and the directory does not (BackgroundInstall: one info line; a warning naming
`cloudlet setup` when it fails), the test suite (a session fixture). Environments see it
read-only at /var/runtime/node_modules (workspace.py), on NODE_PATH after the layers' folders.

This module is imported at start-up: it stays light (the install's imports load on need).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

log = logging.getLogger("cloudlet.compute")

PACKAGE_DIR = Path(__file__).resolve().parent / "runtimes" / "node-sdk"  # package.json, package-lock.json
NPM_CI = ("ci", "--omit=dev", "--no-audit", "--no-fund")
RETRY = "cloudlet setup"
INSTALL_TIMEOUT_S = 900.0


class NodeSdkError(Exception):
    """The SDK could not be installed (the message says why)."""


@dataclass(frozen=True)
class Installed:
    path: Path  # .../node_modules
    fresh: bool  # installed now (else it was already there)
    seconds: float
    size_bytes: int
    files: int
    packages: int


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cloudlet" / "node-sdk"


@functools.cache
def lock_hash() -> str:
    """What identifies the tree: the lock file's bytes."""
    return hashlib.sha256((PACKAGE_DIR / "package-lock.json").read_bytes()).hexdigest()[:16]


def install_dir() -> Path:
    return cache_root() / lock_hash()


def modules_dir() -> Path | None:
    """The installed node_modules, or None while it is not (one stat)."""
    path = install_dir() / "node_modules"
    return path if path.is_dir() else None


def pinned_packages() -> list[str]:
    import json

    return sorted(json.loads((PACKAGE_DIR / "package.json").read_text())["dependencies"])


def npm() -> str | None:
    return shutil.which("npm")


def install(*, force: bool = False, wait: bool = True) -> Installed | None:
    """Install the SDK unless it is there (`force`: again). `wait`: block while another process
    installs it; else return None at once when one does. Raises NodeSdkError."""
    import fcntl

    target = install_dir()
    started = time.monotonic()
    if not force and (target / "node_modules").is_dir():
        return _describe(target / "node_modules", False, started)
    exe = npm()
    if exe is None:
        raise NodeSdkError("npm is not installed (install Node.js with npm, then run `cloudlet setup`)")
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{lock_hash()}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return None
        if not force and (target / "node_modules").is_dir():  # another process installed it meanwhile
            return _describe(target / "node_modules", False, started)
        _sweep_staging(root)
        staging = root / f".{lock_hash()}.{os.getpid()}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(PACKAGE_DIR / name, staging / name)
            _run([exe, *NPM_CI], staging, "npm ci")
            modules = staging / "node_modules"
            prune(modules)
            _readable(staging)
            _check_loads(staging)
            if target.exists():  # `force`: the old tree goes (environments using it see it vanish)
                old = root / f".{lock_hash()}.{os.getpid()}.old"
                os.rename(target, old)
                shutil.rmtree(old, ignore_errors=True)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return _describe(target / "node_modules", True, started)


_running: set[subprocess.Popen[str]] = set()  # the npm and node processes of installs in progress (stop_installs ends them)


def _run(argv: list[str], cwd: Path, what: str) -> None:
    import subprocess

    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_loglevel": "error"}
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    except OSError as e:
        raise NodeSdkError(f"{what}: {e}") from None
    _running.add(proc)
    try:
        out, err = proc.communicate(timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise NodeSdkError(f"{what} did not finish in {INSTALL_TIMEOUT_S:.0f} s") from None
    finally:
        _running.discard(proc)
    if proc.returncode != 0:
        raise NodeSdkError(f"{what} exited with status {proc.returncode}: {_summary(err.strip() or out)}")


def _summary(text: str) -> str:
    """npm's error output without its stack trace and object dumps."""
    kept = []
    for raw in text.splitlines():
        line = raw.removeprefix("npm error").removeprefix("npm ERR!")
        if line.startswith(("  ", "\t")) or line.strip().startswith(("at ", "}", "syscall ", "errno ")):
            continue
        if line.strip():
            kept.append(line.strip())
    return " | ".join(kept[:6]) or "no output"


def stop_installs() -> None:
    """End the npm (or node) process of an install in progress: the platform is stopping."""
    for proc in list(_running):
        proc.terminate()


def prune(modules: Path) -> None:
    """Keep what Node loads: in each package that has a dist-cjs, drop dist-es and dist-types
    (with the versions pinned today: 441 files, 5.6 MB, 7 MB on disk, of 7,277 files, 31 MB, 51 MB)."""
    for manifest in [*modules.glob("*/package.json"), *modules.glob("@*/*/package.json")]:
        package = manifest.parent
        if (package / "dist-cjs").is_dir():
            for extra in ("dist-es", "dist-types"):
                shutil.rmtree(package / extra, ignore_errors=True)


def _readable(root: Path) -> None:
    """Environments under ids of their own read it: directories a+rx, files a+r."""
    for path, _dirs, files in os.walk(root):
        os.chmod(path, os.stat(path).st_mode | 0o555)
        for name in files:
            full = os.path.join(path, name)
            if not os.path.islink(full):
                os.chmod(full, os.stat(full).st_mode | 0o444)


_CHECK = """
const names = JSON.parse(process.argv[1]);
for (const name of names) require(name);
import(names[0]).then(() => process.exit(0), (e) => { console.error(String(e)); process.exit(1); });
"""


def _check_loads(staging: Path) -> None:
    """node loads every pinned package (require, and import for one), from the staging tree."""
    import json

    node = shutil.which("node")
    if node is None:
        raise NodeSdkError("node is not installed")
    _run([node, "-e", _CHECK, json.dumps(pinned_packages())], staging, "loading the installed packages with node")


def _sweep_staging(root: Path) -> None:
    """Staging trees of installs of this lock whose process died (we hold its lock: none runs)."""
    for stale in [*root.glob(f".{lock_hash()}.*.staging"), *root.glob(f".{lock_hash()}.*.old")]:
        shutil.rmtree(stale, ignore_errors=True)


def _describe(modules: Path, fresh: bool, started: float) -> Installed:
    size = files = 0
    for path, _dirs, names in os.walk(modules):
        for name in names:
            try:
                size += os.lstat(os.path.join(path, name)).st_size
            except OSError:
                continue
            files += 1
    packages = sum(1 for _ in modules.glob("*/package.json")) + sum(1 for _ in modules.glob("@*/*/package.json"))
    return Installed(modules, fresh, time.monotonic() - started, size, files, packages)


# ---- at start-up -----------------------------------------------------------------------------------


class BackgroundInstall:
    """`cloudlet start`'s install of a missing SDK, on a daemon thread (start-up never waits)."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.outcome: str | None = None  # "installed", "skipped" (another process installs) or "failed"
        self._stopping = False

    def start(self) -> bool:
        """Start it if it is needed and possible (a stat and a PATH lookup); True if started."""
        if modules_dir() is not None or npm() is None:
            return False
        log.info("installing the AWS SDK for JavaScript v3 for Node functions in the background into %s "
                 "(`%s` does it in the foreground)", install_dir(), RETRY)
        self.thread = threading.Thread(target=self._run, name="cloudlet-node-sdk", daemon=True)
        self.thread.start()
        return True

    def stop(self) -> None:
        """The platform stops: an install in progress is abandoned (the next start tries again)."""
        self._stopping = True
        if self.thread is not None and self.thread.is_alive():
            stop_installs()

    def _run(self) -> None:
        try:
            done = install(wait=False)
        except Exception as e:
            self.outcome = "failed"
            if not self._stopping:
                log.warning("could not install the AWS SDK for JavaScript v3 for Node functions (%s); "
                            "functions that require it fail until `%s` succeeds", e, RETRY)
            return
        self.outcome = "skipped" if done is None else "installed"
        if done is not None:
            log.debug("installed the AWS SDK for JavaScript v3 in %s (%.1f s)", done.path, done.seconds)
