"""Filesystem and environment variables of execution environments.

Layout under the manager's data directory:

    rev/<revkey>/opt        the function's layers merged in order (later layers win), once per revision
    rev/<revkey>/task       mount point of the code inside environments (mount-namespace mode only)
    envs/tmp-<n>            private /tmp directories, reused: emptied when their environment ends
    envs/<env id>/task      private copy of the code (copy mode only)
    sdk/                    links to this host's boto3 & co. for interpreters that lack them
    zygote-pycache/         bytecode the zygotes compiled for sdk/ (read-only inside environments)

Function code is compiled in memory at each cold start, as on AWS where /var/task is read-only
(ship .pyc files to avoid it); the SDK and the standard library use their bytecode caches.

Mount-namespace mode: the environment's view keeps these paths, but the data directory itself is
an empty tmpfs with only the function's own code and layers bound in (read-only); /tmp is the
private tmp and /opt the merged layers (when no runtime executable lives under /opt). With the
data directory under /tmp, the private /tmp covers it and the mount point of the code shows up
in the function's /tmp (`--ephemeral` keeps state in /var/tmp for this reason). Copy mode:
the code is copied per environment (the function may write to it; the copy is thrown away with
the environment) and TMPDIR points at the private tmp.

Private tmp directories are pooled: creating and deleting two directories per environment costs
a cold start up to a millisecond on ext4 under churn (its inode allocator scans recently freed
inodes), while handing back an emptied directory costs one getdents.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import itertools
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from cloudlet.compute.catalog import RUNTIMES_DIR, Runtime, python_site_packages
from cloudlet.compute.types import FunctionSpec

log = logging.getLogger("cloudlet.compute")

# What Lambda's Python runtimes let functions import without packaging it: the AWS SDK and its
# dependencies, and the SnapStart runtime hooks (snapshot_restore_py).
SDK_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six", "snapshot_restore_py")
TEST_CREDENTIALS = ("test", "test", "test")
CGROUP_FS = tuple(p for p in ("/sys/fs/cgroup",) if os.path.isdir(p))
# Where the host's services keep their unix sockets (PostgreSQL's, Docker's, ...): hidden from
# functions, which reach no host service (a network namespace covers TCP and abstract sockets).
# /etc/resolv.conf may point in there (systemd-resolved): that one file stays (or the network
# namespace's resolver takes its place, see Workspace).
HOST_SOCKET_DIRS = [p for p in ("/run",) if os.path.isdir(p) and not os.path.islink(p)]
_RESOLV = os.path.realpath("/etc/resolv.conf")
RESOLV_CONF_BIND = ([{"src": _RESOLV, "dst": _RESOLV, "ro": True, "file": True}]
                    if HOST_SOCKET_DIRS and _RESOLV.startswith("/run/") and os.path.isfile(_RESOLV) else [])
TMP_POOL_MAX = 256  # spare private tmp directories kept at most
TMP_SPARE = 8  # ... and at least, made ahead of need


@dataclass
class EnvFS:
    tmp_dir: Path  # the private tmp on the host (from the pool, returned to it with the environment)
    task: str  # LAMBDA_TASK_ROOT as the function sees it
    opt: str  # where the function sees its layers
    tmp: str  # the function's TMPDIR
    mounts: dict | None  # the mount plan for the child (namespace mode)
    root: Path | None = None  # envs/<id> (copy mode: the code copy), removed with the environment
    runtime_dir: str = str(RUNTIMES_DIR)  # LAMBDA_RUNTIME_DIR (bootstraps) as the function sees it


def revision_key(spec: FunctionSpec) -> str:
    raw = "\0".join([spec.function_arn, spec.version, spec.revision, str(spec.code_dir),
                     *map(str, spec.layer_dirs)])
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def _copy_into(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)


class Workspace:
    def __init__(self, data_dir: Path, *, namespaces: bool, hide_paths: tuple[Path, ...],
                 resolver: str | None = None) -> None:
        """`resolver`: the name server environments use (their network namespace's), instead of
        the host's /etc/resolv.conf."""
        self.data_dir = data_dir
        self.namespaces = namespaces
        self.hide_paths = tuple(str(p) for p in hide_paths)
        self._resolv_binds = RESOLV_CONF_BIND
        if resolver is not None:
            resolv = data_dir / "resolv.conf"
            resolv.write_text(f"nameserver {resolver}\n")
            resolv.chmod(0o644)
            self._resolv_binds = [{"src": str(resolv), "dst": _RESOLV, "ro": True, "file": True}]
        self._revisions: dict[str, asyncio.Future] = {}
        self.sdk: str | None = None  # set by sdk_dir(); bound read-only into environments
        self._sdk_binds: list[dict] = []
        self._free_tmp: list[Path] = []
        self._tmp_ids = itertools.count(1)
        self._topping_up = False
        self._reach: dict[str | None, tuple[list[str], list[dict]]] = {}  # interpreter -> reach_plan
        (data_dir / "envs").mkdir(parents=True, exist_ok=True)
        (data_dir / "rev").mkdir(parents=True, exist_ok=True)

    # ---- per revision ----------------------------------------------------------------------

    async def revision(self, spec: FunctionSpec) -> Path:
        """rev/<key> with the merged layers in opt/ (built once, off the event loop)."""
        key = revision_key(spec)
        fut = self._revisions.get(key)
        if fut is None:
            fut = asyncio.get_running_loop().run_in_executor(None, self._build_revision, key, spec)
            self._revisions[key] = fut
        try:
            return await asyncio.shield(fut)
        except Exception:
            self._revisions.pop(key, None)
            raise

    def _build_revision(self, key: str, spec: FunctionSpec) -> Path:
        root = self.data_dir / "rev" / key
        opt = root / "opt"
        if not (root / ".ready").exists():
            if root.exists():
                shutil.rmtree(root, ignore_errors=True)
            opt.mkdir(parents=True)
            for layer in spec.layer_dirs:
                _copy_into(Path(layer), opt)
            opt.chmod(0o755)  # copying a layer copies its root's mode too
            (root / ".ready").touch()
        return root

    def forget_revision(self, key: str) -> None:
        self._revisions.pop(key, None)
        shutil.rmtree(self.data_dir / "rev" / key, ignore_errors=True)

    # ---- per environment -----------------------------------------------------------------------

    async def prepare(self, env_id: str, spec: FunctionSpec, runtime: Runtime, *, opt_on_opt: bool,
                      sdk: bool = False, unprivileged: bool = False) -> EnvFS:
        """The environment's directories and, in namespace mode, its mount plan (`sdk`: the
        runtime imports the host's SDK from sdk/, so bind it in; `unprivileged`: it runs under an
        id of its own, so what it needs must be reachable by anyone)."""
        rev = await self.revision(spec)
        tmp = self._take_tmp()
        if self.namespaces:
            task = str(rev / "task")
            opt = "/opt" if opt_on_opt else str(rev / "opt")
            # The runtime bootstraps (node_bootstrap.js, ...) are seen under the hidden data
            # directory: where the package itself lives may be hidden, or under /tmp (covered by
            # the private /tmp, where its mount point would show).
            runtime_dir = str(self.data_dir / "runtime")
            binds = [{"src": str(spec.code_dir), "dst": task, "ro": True},
                     {"src": str(rev / "opt"), "dst": opt, "ro": True},
                     {"src": str(RUNTIMES_DIR), "dst": runtime_dir, "ro": True}]
            if sdk and self.sdk:
                pycache = self.data_dir / "zygote-pycache"
                pycache.mkdir(exist_ok=True)
                binds += [*self._sdk_binds, {"src": str(pycache), "dst": str(pycache), "ro": True}]
            # The cgroup hierarchy goes too: a root function could otherwise raise its own limits.
            hide = [str(self.data_dir), *self.hide_paths, *CGROUP_FS]
            if unprivileged:
                closed, reopened = self._reach_plan(runtime)
                hide += closed + HOST_SOCKET_DIRS
                binds += reopened
            if unprivileged or self._resolv_binds is not RESOLV_CONF_BIND:
                binds += self._resolv_binds
            mounts = {"hide": hide, "tmp": str(tmp), "binds": binds}
            return EnvFS(tmp, task, opt, "/tmp", mounts, runtime_dir=runtime_dir)
        root = self.data_dir / "envs" / env_id
        try:
            await asyncio.get_running_loop().run_in_executor(None, _copy_into, Path(spec.code_dir), root / "task")
        except BaseException:
            self._give_back_tmp(tmp)
            raise
        return EnvFS(tmp, str(root / "task"), str(rev / "opt"), str(tmp), None, root)

    def _reach_plan(self, runtime: Runtime) -> tuple[list[str], list[dict]]:
        """reach_plan for environments of `runtime`: the same for all of them (stat and resolve
        calls, kept off each cold start)."""
        plan = self._reach.get(runtime.executable)
        if plan is None:
            plan = self._reach[runtime.executable] = reach_plan(
                through=[self.data_dir], back=interpreter_prefixes(runtime))
        return plan

    def remove(self, fs: EnvFS) -> None:
        """Release what the environment held (may run on a worker thread)."""
        if fs.root is not None:
            shutil.rmtree(fs.root, ignore_errors=True)
        self._give_back_tmp(fs.tmp_dir)

    def _take_tmp(self) -> Path:
        """A private tmp for a new environment: a spare one, else made now. Spares are topped up
        on a worker thread, so a cold start rarely waits for a mkdir."""
        if len(self._free_tmp) <= TMP_SPARE // 2 and not self._topping_up:
            self._topping_up = True
            try:
                asyncio.get_running_loop().run_in_executor(None, self.top_up)
            except RuntimeError:
                self._topping_up = False
        try:
            return self._free_tmp.pop()
        except IndexError:
            return self._new_tmp()

    def _new_tmp(self) -> Path:
        path = self.data_dir / "envs" / f"tmp-{next(self._tmp_ids)}"
        path.mkdir(mode=0o1777)
        os.chmod(path, 0o1777)  # like /tmp, whatever the umask
        return path

    def top_up(self) -> None:
        try:
            while len(self._free_tmp) < TMP_SPARE:
                self._free_tmp.append(self._new_tmp())
        except OSError as e:
            log.warning("cannot make spare tmp directories: %s", e)
        finally:
            self._topping_up = False

    def _give_back_tmp(self, path: Path) -> None:
        """Empty the directory (what the function left there) and pool it; keep at most
        TMP_POOL_MAX spare ones."""
        try:
            with os.scandir(path) as it:
                left = [entry.path for entry in it]
        except OSError:
            return
        for item in left:
            if os.path.isdir(item) and not os.path.islink(item):
                shutil.rmtree(item, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(item)
        if len(self._free_tmp) < TMP_POOL_MAX:
            self._free_tmp.append(path)
        else:
            shutil.rmtree(path, ignore_errors=True)

    # ---- the AWS SDK for interpreters without one ----------------------------------------------

    def sdk_dir(self) -> str | None:
        """sdk/ with links to this host's pure-Python boto3, botocore and their dependencies."""
        sdk = self.data_dir / "sdk"
        sdk.mkdir(exist_ok=True)
        targets: list[tuple[Path, Path]] = []
        for name in SDK_PACKAGES:
            try:
                found = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                found = None
            if found is None or not found.origin:
                continue
            origin = Path(found.origin)
            src = origin.parent if origin.name == "__init__.py" else origin
            dst = sdk / src.name
            if os.path.lexists(dst) and os.readlink(dst) != str(src):
                dst.unlink()  # the host's package moved (another version, another environment)
            if not os.path.lexists(dst):
                os.symlink(src, dst)
            targets.append((dst, src.resolve()))
        self.sdk = str(sdk) if (sdk / "boto3").exists() else None
        # Environments see sdk/ as it is when its links lead somewhere they can see; the packages
        # of a Python environment under /tmp (covered by their private /tmp) are bound one by one.
        if any(target == Path("/tmp") or Path("/tmp") in target.parents for _, target in targets):
            self._sdk_binds = [{"src": str(target), "dst": str(link), "ro": True, "file": target.is_file()}
                               for link, target in targets]
        else:
            self._sdk_binds = [{"src": str(sdk), "dst": str(sdk), "ro": True}]
        return self.sdk


def interpreter_prefixes(runtime: Runtime) -> list[Path]:
    """Where interpreters keep their files (bin/, lib/): a Python imports its standard library
    from there lazily, long after the zygote forked. The runtime's own, and the platform's
    Python, which custom runtimes' bootstraps may run."""
    prefixes = [Path(sys.base_prefix).resolve()]
    if runtime.executable:
        prefixes.append(Path(runtime.executable).resolve().parents[1])
    return list(dict.fromkeys(prefixes))


def reach_plan(*, through: list[Path], back: list[Path]) -> tuple[list[str], list[dict]]:
    """For an environment under an unprivileged id: the directories that others may not enter on
    the way to `through` (the data directory, where the code's mount points are) and to `back`
    (an interpreter under /root/.pyenv), to be covered by an empty tmpfs (hiding the rest of them,
    as /root should be), and binds that put the `back` paths in place again, read-only."""
    closed: list[str] = []
    binds: list[dict] = []
    for path, rebind in [*((p, False) for p in through), *((p, True) for p in back)]:
        for ancestor in reversed(path.parents):  # "/" first
            try:
                if os.stat(ancestor).st_mode & 0o001:
                    continue
            except OSError:
                break
            if str(ancestor) not in closed:
                closed.append(str(ancestor))
            if rebind:
                binds.append({"src": str(path), "dst": str(path), "ro": True})
            break
    return closed, binds


def function_environment(spec: FunctionSpec, runtime: Runtime, fs: EnvFS, log_stream: str, *,
                         credentials: tuple[str, str, str] = TEST_CREDENTIALS,
                         runtime_api: str | None = None, endpoint: str | None = None) -> dict[str, str]:
    """The variables AWS sets, the user's, and the ones the user may not override. `endpoint`:
    cloudlet's URL as the environment reaches it (default: the spec's platform_endpoint)."""
    bin_dirs = [os.path.dirname(runtime.executable)] if runtime.executable else []
    path = ":".join([*bin_dirs, "/usr/local/bin", "/usr/bin", "/bin", f"{fs.opt}/bin"])
    env = {
        "PATH": path,
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LD_LIBRARY_PATH": f"{fs.task}:{fs.task}/lib:{fs.opt}/lib",
        "TMPDIR": fs.tmp,
        "AWS_ENDPOINT_URL": endpoint or spec.platform_endpoint,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start" if spec.snap_start else "on-demand",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
    }
    if runtime.kind == "node":
        env["NODE_PATH"] = f"{fs.opt}/nodejs/node{runtime.name[6:8]}/node_modules:{fs.opt}/nodejs/node_modules:{fs.task}"
    env.update(spec.environment)
    key, secret, token = credentials
    env.update({
        "_HANDLER": spec.handler,
        "AWS_REGION": spec.region,
        "AWS_DEFAULT_REGION": spec.region,
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group or f"/aws/lambda/{spec.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "LAMBDA_TASK_ROOT": fs.task,
        "LAMBDA_RUNTIME_DIR": fs.runtime_dir,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_SESSION_TOKEN": token,
    })
    if runtime.execution_env:
        env["AWS_EXECUTION_ENV"] = runtime.execution_env
    if runtime_api:
        env["AWS_LAMBDA_RUNTIME_API"] = runtime_api
    return env


def python_paths(fs: EnvFS, runtime: Runtime) -> list[str]:
    """sys.path entries ahead of the interpreter's own, in the AWS order."""
    return [fs.task, python_site_packages(fs.opt, runtime.version), f"{fs.opt}/python"]
