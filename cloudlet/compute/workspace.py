"""Filesystem and environment variables of execution environments.

Layout under the manager's data directory:

    rev/<revkey>/opt        the function's layers merged in order (later layers win), once per revision
    rev/<revkey>/task       mount point of the code inside environments (mount-namespace mode only)
    envs/tmp-<n>            private /tmp, capped filesystems (scratch.py), reused: emptied when their environment ends
    envs/<env id>/task      private copy of the code (copy mode only)
    sdk/                    links to this host's boto3 & co. for interpreters that lack them
    zygote-pycache/         bytecode the zygotes compiled for sdk/ (read-only inside environments)

Node environments get the AWS SDK for JavaScript v3 that AWS's nodejs18.x+ runtimes ship, from
the cache nodesdk.py installs it in: bound read-only at /var/runtime/node_modules (the runtime
directory ships that mount point) and on NODE_PATH after the layers' folders, in AWS's order.
ES module imports do not read NODE_PATH: a link /var/node_modules -> /var/runtime/node_modules
(beside the code's folder, in every mode) serves them, unless layers bring Node packages
(sdk_beside_code).

Function code is compiled in memory at each cold start, as on AWS where /var/task is read-only
(ship .pyc files to avoid it); the SDK and the standard library use their bytecode caches.

Mount-namespace mode: the environment sees Lambda's layout. /var is an empty tmpfs holding the
code at /var/task and cloudlet's runtime files at /var/runtime (read-only; what the runtime needs
of the host under /var, an interpreter or the SDK, is bound back at its own path), /tmp is the
private tmp and /opt the merged layers (when no runtime executable lives under /opt, else the
layers stay under the data directory). The data directory itself is an empty tmpfs. With the
data directory under /tmp, the private /tmp covers it and the mount point of the code shows up
in the function's /tmp (`--ephemeral` keeps state in /var/tmp for this reason). Copy mode:
the code is copied per environment (the function may write to it; the copy is thrown away with
the environment) and TMPDIR points at the private tmp.

Private tmp directories are pooled (scratch.py): making a capped filesystem costs ~1.3 ms, and
even creating and deleting directories costs a cold start up to a millisecond on ext4 under churn
(its inode allocator scans recently freed inodes), while handing back an emptied one costs one
getdents.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from cloudlet.compute import nodesdk
from cloudlet.compute.catalog import RUNTIMES_DIR, Runtime, python_site_packages
from cloudlet.compute.scratch import ScratchPool
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
# Lambda's paths: /var holds only these in an environment's view (when the host's /var is a
# directory of its own, as everywhere but exotic layouts; else the code keeps its host path).
VAR = Path("/var")
VAR_VIEW = os.path.isdir(VAR) and not os.path.islink(VAR)
TOP_UP_DELAY_S = 0.05  # quiet time after the last cold start before spare /tmps are made
TASK_ROOT = "/var/task"      # LAMBDA_TASK_ROOT
RUNTIME_ROOT = "/var/runtime"  # LAMBDA_RUNTIME_DIR
NODE_SDK_MOUNT_POINT = RUNTIMES_DIR / "node_modules"  # shipped empty: the SDK is bound on it


@dataclass
class EnvFS:
    tmp_dir: Path  # the private tmp on the host (from the pool, returned to it with the environment)
    task: str  # LAMBDA_TASK_ROOT as the function sees it
    opt: str  # where the function sees its layers
    tmp: str  # the function's TMPDIR
    mounts: dict | None  # the mount plan for the child (namespace mode)
    root: Path | None = None  # envs/<id> (copy mode: the code copy), removed with the environment
    runtime_dir: str = str(RUNTIMES_DIR)  # LAMBDA_RUNTIME_DIR (bootstraps) as the function sees it
    tmp_size: int = 0  # MB: tmp_dir is a filesystem of that size (scratch.py); 0: a plain directory
    tmp_tree: int = -1  # an fd of a detached copy of that filesystem's mount, until passed on
    node_sdk: str | None = None  # the runtime's node_modules (AWS SDK for JavaScript) as the function sees it


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
        self._node_sdk: str | None = None  # nodesdk's node_modules, once installed
        self._sdk_binds: list[dict] = []
        # Private /tmp of each environment, capped at its EphemeralStorage where this host can.
        self.scratch = ScratchPool(data_dir / "envs", capped=namespaces and os.geteuid() == 0)
        self._top_up_timer: asyncio.TimerHandle | None = None
        self._reach: dict[str | None, tuple[list[str], list[dict]]] = {}  # interpreter -> reach_plan
        self._var: dict[str | None, list[dict]] = {}  # interpreter -> its binds under /var
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
        size = self.scratch.size_for(spec.ephemeral_mb)
        tmp, tree = await self._take_tmp(size)
        if self.namespaces:
            opt = "/opt" if opt_on_opt else str(rev / "opt")
            # The runtime bootstraps (node_bootstrap.js, ...) are seen at /var/runtime (or under the
            # hidden data directory): where the package itself lives may be hidden, or under /tmp
            # (covered by the private /tmp, where its mount point would show).
            if VAR_VIEW:
                task, runtime_dir = TASK_ROOT, RUNTIME_ROOT
            else:
                task, runtime_dir = str(rev / "task"), str(self.data_dir / "runtime")
            binds = [{"src": str(spec.code_dir), "dst": task, "ro": True},
                     {"src": str(rev / "opt"), "dst": opt, "ro": True},
                     {"src": str(RUNTIMES_DIR), "dst": runtime_dir, "ro": True}]
            node_sdk = self.node_sdk() if runtime.kind == "node" else None
            links: list[dict] = []
            if node_sdk is not None:  # on its mount point in the runtime directory (else at its own path)
                seen = f"{runtime_dir}/node_modules" if NODE_SDK_MOUNT_POINT.is_dir() else node_sdk
                binds.append({"src": node_sdk, "dst": seen, "ro": True})
                node_sdk = seen
                if sdk_beside_code(rev, runtime):
                    links.append({"dst": f"{os.path.dirname(task)}/node_modules", "target": seen})
            if sdk and self.sdk:
                binds += self._sdk_binds
                if runtime.name != f"python3.{sys.version_info[1]}":  # its zygote compiled the SDK there
                    pycache = self.data_dir / "zygote-pycache"
                    pycache.mkdir(exist_ok=True)
                    binds.append({"src": str(pycache), "dst": str(pycache), "ro": True})
            # The cgroup hierarchy goes too: a root function could otherwise raise its own limits.
            hide = [str(self.data_dir), *self.hide_paths, *CGROUP_FS]
            if VAR_VIEW:
                hide.append(str(VAR))
                binds += self._var_binds(runtime)
            if unprivileged:
                closed, reopened = self._reach_plan(runtime)
                hide += closed + HOST_SOCKET_DIRS
                binds += reopened
            if unprivileged or self._resolv_binds is not RESOLV_CONF_BIND:
                binds += self._resolv_binds
            mounts = {"hide": outermost(hide), "tmp": str(tmp), "binds": binds}
            if links:
                mounts["links"] = links
            return EnvFS(tmp, task, opt, "/tmp", mounts, runtime_dir=runtime_dir, tmp_size=size, tmp_tree=tree,
                         node_sdk=node_sdk)
        root = self.data_dir / "envs" / env_id
        try:
            await asyncio.get_running_loop().run_in_executor(None, _copy_into, Path(spec.code_dir), root / "task")
        except BaseException:
            self.remove(EnvFS(tmp, "", "", "", None, tmp_size=size, tmp_tree=tree))
            raise
        if tree >= 0:
            os.close(tree)  # copy mode: the directory itself is the function's TMPDIR
        node_sdk = self.node_sdk() if runtime.kind == "node" else None
        if node_sdk is not None and sdk_beside_code(rev, runtime):
            os.symlink(node_sdk, root / "node_modules")
        return EnvFS(tmp, str(root / "task"), str(rev / "opt"), str(tmp), None, root, tmp_size=size,
                     node_sdk=node_sdk)

    def node_sdk(self) -> str | None:
        """The AWS SDK for JavaScript's node_modules on this host, once nodesdk installed it (a stat
        per Node cold start until then: `cloudlet start` may be installing it meanwhile)."""
        if self._node_sdk is None:
            found = nodesdk.modules_dir()
            self._node_sdk = str(found) if found is not None else None
        return self._node_sdk

    def _reach_plan(self, runtime: Runtime) -> tuple[list[str], list[dict]]:
        """reach_plan for environments of `runtime`: the same for all of them (stat and resolve
        calls, kept off each cold start)."""
        plan = self._reach.get(runtime.executable)
        if plan is None:
            plan = self._reach[runtime.executable] = reach_plan(
                through=[self.data_dir], back=interpreter_prefixes(runtime))
        return plan

    def _var_binds(self, runtime: Runtime) -> list[dict]:
        """The interpreters' files that live under /var on this host, bound back in place."""
        binds = self._var.get(runtime.executable)
        if binds is None:
            binds = self._var[runtime.executable] = [
                {"src": str(p), "dst": str(p), "ro": True} for p in interpreter_prefixes(runtime) if VAR in p.parents]
        return binds

    def remove(self, fs: EnvFS) -> None:
        """Release what the environment held (may run on a worker thread)."""
        if fs.root is not None:
            shutil.rmtree(fs.root, ignore_errors=True)
        if fs.tmp_tree >= 0:  # never passed on
            os.close(fs.tmp_tree)
            fs.tmp_tree = -1
        self.scratch.give_back(fs.tmp_dir, fs.tmp_size)

    async def _take_tmp(self, size: int) -> tuple[Path, int]:
        """A private tmp for a new environment: a spare one, else made now (off the loop). Spares
        of the default size are topped up on a worker thread, so a cold start rarely waits."""
        loop = asyncio.get_running_loop()
        # Spares are made once the cold starts that took them had the CPU: a burst does not
        # compete with its own refill (as the zygotes refill their blanks, zygote.py).
        if self._top_up_timer is not None:
            self._top_up_timer.cancel()
        self._top_up_timer = loop.call_later(TOP_UP_DELAY_S, self._top_up_soon)
        spare = self.scratch.take(size)
        if spare is not None:
            return spare
        return await loop.run_in_executor(None, self.scratch.make, size)

    def _top_up_soon(self) -> None:
        self._top_up_timer = None
        if self.scratch.want_top_up():
            asyncio.get_running_loop().run_in_executor(None, self.scratch.top_up)

    def top_up(self) -> None:
        if self.scratch.want_top_up():
            self.scratch.top_up()

    def stop_top_ups(self) -> None:
        """(On the loop.) No more spares: the engine stops."""
        if self._top_up_timer is not None:
            self._top_up_timer.cancel()
            self._top_up_timer = None

    def close(self) -> None:
        """Unmount and remove the pooled tmp filesystems (the environments are gone)."""
        self.scratch.close()

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
        # of a Python environment under /tmp (covered by their private /tmp) or /var (Lambda's
        # layout covers it) are bound one by one.
        tmp = Path("/tmp")
        back = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}  # bound back in place (_var_binds)

        def hidden(target: Path) -> bool:
            if target == tmp or tmp in target.parents:
                return True
            return VAR_VIEW and VAR in target.parents and not any(b in target.parents for b in back)

        if any(hidden(target) for _, target in targets):
            self._sdk_binds = [{"src": str(target), "dst": str(link), "ro": True, "file": target.is_file()}
                               for link, target in targets]
        else:
            self._sdk_binds = [{"src": str(sdk), "dst": str(sdk), "ro": True}]
        return self.sdk


def sdk_beside_code(rev: Path, runtime: Runtime) -> bool:
    """Whether the code's folder gets a node_modules sibling linking to the runtime's SDK: how ES
    modules of the code find it (Node searches NODE_PATH for require() only, AWS's runtimes for
    import too; the folders of the code's ancestors are searched by both). Not when the layers have
    Node packages: require() searches those folders before NODE_PATH, and on AWS the layers'
    packages come before the runtime's; there the bootstrap searches NODE_PATH for imports itself
    (runtimes/node_esm_paths.mjs, a loader thread that costs cold starts tens of milliseconds)."""
    nodejs = rev / "opt" / "nodejs"
    if not nodejs.is_dir():
        return True
    return not ((nodejs / "node_modules").is_dir() or (nodejs / f"node{runtime.name[6:8]}" / "node_modules").is_dir())


def outermost(paths: list[str]) -> list[str]:
    """`paths` without repeats and without those under another of them: each is covered with a
    tmpfs, and the outer one already hides what is below (every mount costs an environment's
    setup a turn of the kernel's global mount lock)."""
    kept: list[str] = []
    for path in sorted(set(paths), key=lambda p: (p.count("/"), p)):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def interpreter_prefixes(runtime: Runtime) -> list[Path]:
    """Where interpreters keep their files (bin/, lib/): a Python imports its standard library
    from there lazily, long after the zygote forked. The runtime's own, and the platform's
    Python (and its virtual environment), which custom runtimes' bootstraps may run."""
    prefixes = [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()]
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


# X-Ray's daemon, where AWS's runtimes say it is (cloudlet runs none).
XRAY_DAEMON = ("169.254.79.129", "2000")
# Where interpreters of the host's own system live: their lib/ is the system's, no runtime's own.
SYSTEM_PREFIXES = ("/", "/usr")


def function_environment(spec: FunctionSpec, runtime: Runtime, fs: EnvFS, log_stream: str, *,
                         credentials: tuple[str, str, str] = TEST_CREDENTIALS,
                         runtime_api: str | None = None, endpoint: str | None = None,
                         provisioned: bool = False) -> dict[str, str]:
    """The variables AWS sets, the user's, and the ones the user may not override. `endpoint`:
    cloudlet's URL as the environment reaches it (default: the spec's platform_endpoint);
    `provisioned`: an environment started ahead of invocations (provisioned concurrency).

    As AWS's runtimes set them (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html
    #configuration-envvars-runtime, and what a function sees there): PATH and LD_LIBRARY_PATH
    with the runtime's own folders (AWS's /var/lang) first, PYTHONPATH=$LAMBDA_RUNTIME_DIR for
    Python, NODE_PATH with the layers', the runtime's and the code's folders for Node, PWD the
    code's folder (the working directory), TZ=:UTC, LANG, X-Ray's addresses. The user's variables
    may replace these; not the reserved ones that follow them.
    """
    lang = _runtime_prefix(runtime)
    path = ":".join([*([os.path.join(lang, "bin")] if lang else []), "/usr/local/bin", "/usr/bin/", "/bin",
                     f"{fs.opt}/bin"])
    libs = [*([os.path.join(lang, "lib")] if lang and lang not in SYSTEM_PREFIXES else []), "/lib64", "/usr/lib64",
            fs.runtime_dir, f"{fs.runtime_dir}/lib", fs.task, f"{fs.task}/lib", f"{fs.opt}/lib"]
    xray_host, xray_port = XRAY_DAEMON
    env = {
        "PATH": path,
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LD_LIBRARY_PATH": ":".join(libs),
        "PWD": fs.task,
        "SHLVL": "0",
        "TMPDIR": fs.tmp,
        "AWS_ENDPOINT_URL": endpoint or spec.platform_endpoint,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": f"{xray_host}:{xray_port}",
        "_AWS_XRAY_DAEMON_ADDRESS": xray_host,
        "_AWS_XRAY_DAEMON_PORT": xray_port,
    }
    if runtime.kind == "python":
        env["PYTHONPATH"] = fs.runtime_dir
    if runtime.kind == "node":  # AWS's order: the layers', the runtime's (its SDK, its folder), the code's
        sdk = [fs.node_sdk] if fs.node_sdk else []
        env["NODE_PATH"] = ":".join([f"{fs.opt}/nodejs/node{runtime.name[6:8]}/node_modules",
                                     f"{fs.opt}/nodejs/node_modules", *sdk, fs.runtime_dir, fs.task])
    env.update(spec.environment)
    key, secret, token = credentials
    env.update({
        "_HANDLER": spec.handler,
        "AWS_REGION": spec.region,
        "AWS_DEFAULT_REGION": spec.region,
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type(spec, provisioned),
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


def initialization_type(spec: FunctionSpec, provisioned: bool) -> str:
    """AWS_LAMBDA_INITIALIZATION_TYPE: how the environment's init came to run."""
    if provisioned:
        return "provisioned-concurrency"
    return "snap-start" if spec.snap_start else "on-demand"


def _runtime_prefix(runtime: Runtime) -> str | None:
    """The runtime's installation (bin/, lib/), AWS's /var/lang: the interpreter's prefix."""
    if not runtime.executable:
        return None
    return os.path.dirname(os.path.dirname(runtime.executable)) or "/"


def exec_wrapper(spec: FunctionSpec, runtime: Runtime) -> str | None:
    """AWS_LAMBDA_EXEC_WRAPPER, which AWS's managed runtimes (not the OS-only ones) start
    through: `<wrapper> <the runtime's command line>`."""
    if runtime.kind == "provided":
        return None
    return spec.environment.get("AWS_LAMBDA_EXEC_WRAPPER") or None


def python_paths(fs: EnvFS, runtime: Runtime, spec: FunctionSpec | None = None) -> list[str]:
    """sys.path entries ahead of the interpreter's own, in the AWS order: the code, then the
    layers' folders; with PYTHONPATH set by the function, the code and its entries instead (AWS's
    bootstrap adds the layers' folders only when PYTHONPATH is unset, the interpreter adds its
    entries)."""
    user = spec.environment.get("PYTHONPATH") if spec is not None else None
    if user is not None:
        return [fs.task, *[p for p in user.split(":") if p]]
    return [fs.task, python_site_packages(fs.opt, runtime.version), f"{fs.opt}/python"]


def python_site_dirs(fs: EnvFS, runtime: Runtime, spec: FunctionSpec) -> list[str]:
    """The folders whose .pth files AWS's bootstrap processes (site.addsitedir)."""
    if spec.environment.get("PYTHONPATH") is not None:
        return [fs.task]
    return [fs.task, python_site_packages(fs.opt, runtime.version), f"{fs.opt}/python"]
