"""ComputeManager: runs invocations in execution environments, as AWS Lambda does.

It owns the environments of every function: idle ones (reused last-in first-out while warm),
busy ones (one invocation each), their zygotes and their limits. An invocation takes an idle
environment of the same function version and revision, or starts a new one if concurrency
allows: at most `reserved_concurrency` busy environments per function and `account_concurrency`
per account and region; beyond that it raises TooManyRequests at once (AWS does not queue
synchronous invokes). Those limits are pools of `slots` (slots.py): counted in this process by
default, shared through the store when replicas share the limits.

Failures come back as InvokeResult with function_error "Unhandled" and AWS's error payloads:
an exception in the handler (the environment stays warm), Sandbox.Timedout (the environment
is killed), Runtime.ExitError / Runtime.OutOfMemory (the process died), init failures
(Runtime.ImportModuleError, ...). A runtime this host cannot run is reported the same way, as
errorType Runtime.InvalidRuntime naming the missing interpreter: the invoke reaches the function
and fails, so async invocations retry and land in their DLQ like any other function error.

Provisioned environments (`provision`): a caller may ask the engine to keep N environments of a
spec initialized ahead of invocations, under a key of its choosing. They are handed out first to
invocations of that version and revision, are never reaped for idleness, and are replaced when
one dies; the engine knows nothing of what the key means (an alias, a version, a config).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import secrets
import shutil
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudlet.compute import catalog
from cloudlet.compute.backends import BACKENDS
from cloudlet.compute.environment import Invocation, Outcome
from cloudlet.compute.identities import Identities, NoIdentities
from cloudlet.compute.isolation import Cgroup, Cgroups, probe_namespaces
from cloudlet.compute.logs import billed_ms, log_stream_name, now_ms
from cloudlet.compute.network import SLIRP_DNS, Networks, ServeEndpoint, egress_problem
from cloudlet.compute.sandbox import InitFailure, Sandbox, SandboxPool, SandboxRequest
from cloudlet.compute.slots import ACCOUNT_LIMIT, RESERVED_LIMIT, LocalSlots, Pool, Slots, TooManyRequests
from cloudlet.compute.streaming import ResponseStream
from cloudlet.compute.types import (
    FunctionSpec,
    InvokeResult,
    Line,
    LogEntry,
    LogTarget,
    PlatformEvent,
    ProvisionState,
)
from cloudlet.compute.workspace import TEST_CREDENTIALS, Workspace, revision_key
from cloudlet.compute.zygote import IDLE_SHRINK_S, Zygote, ZygoteError, describe_status

log = logging.getLogger("cloudlet.compute")

CGROUP_SWEEP_S = 0.1  # how soon after an environment ends its cgroup is removed
INIT_TIMEOUT_S = 10.0  # AWS's init phase limit; a longer function timeout extends it
# Receives an environment's log: its target, its stream name, and what came in order.
LogSink = Callable[[LogTarget, str, Sequence[LogEntry]], None]
NETWORK_MODES = ("internet", "isolated", "host")


@dataclass(eq=False)
class _Provision:
    """The environments kept warm under one key (ComputeManager.provision)."""

    key: str
    spec: FunctionSpec
    count: int
    envs: set[Sandbox] = field(default_factory=set)  # initialized, not yet stopped
    starting: int = 0
    failure: tuple[str, str] | None = None  # (errorType, message) of a failed init: no more are started


class ComputeManager:
    """The execution engine. See the module docstring; `stats()` tells what is running."""

    def __init__(self, data_dir: Path, *, account_concurrency: int = 1000, idle_timeout_s: float = 600,
                 log_sink: LogSink | None = None, hide_paths: tuple[Path, ...] = (),
                 credentials: Callable[[FunctionSpec], Awaitable[tuple[str, str, str]]] | None = None,
                 preload_sdk: bool = True, use_namespaces: bool = True, use_cgroups: bool = True,
                 prefork: int = 16, blank_idle_s: float = IDLE_SHRINK_S, slots: Slots | None = None,
                 network: str = "isolated", endpoint_port: int | None = None,
                 serve_endpoint: ServeEndpoint | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.account_concurrency = account_concurrency
        self.slots: Slots = slots if slots is not None else LocalSlots()
        self.idle_timeout_s = idle_timeout_s
        self.log_sink = log_sink
        self.hide_paths = tuple(Path(p) for p in hide_paths)
        self.credentials = credentials
        self.preload_sdk = preload_sdk
        self.use_namespaces = use_namespaces
        self.use_cgroups = use_cgroups
        # Pre-forked blanks per zygote (zygote.py): at most `prefork`, as many as recent cold
        # starts took, back to a floor of 0-2 after `blank_idle_s` without a cold start.
        self.prefork = prefork
        self.blank_idle_s = blank_idle_s
        self.namespaces = False
        self.namespace_problem: str | None = None
        # Networking (network.py): "internet" (a network namespace per account whose peers are
        # cloudlet, its endpoint at `endpoint_port` served by `serve_endpoint` and the Runtime API,
        # and the internet but not the host), "isolated" (the same without the internet) or "host"
        # (the host's network, loopback services included).
        if network not in NETWORK_MODES:
            raise ValueError(f"network must be one of {', '.join(NETWORK_MODES)}, not {network!r}")
        self.network = network
        self.endpoint_port = endpoint_port
        self.serve_endpoint = serve_endpoint
        self.pidns = False  # a PID namespace per environment (with namespaces and ids of their own)
        self.networks: Networks | None = None  # the accounts' network namespaces, if isolated
        self.cgroups: Cgroups | None = None
        self.workspace: Workspace | None = None
        self.identities: Identities | None = None
        self._sdk_dir: str | None = None
        self._ready: asyncio.Future | None = None
        self._functions: dict[str, SandboxPool] = {}  # unqualified function ARN -> its sandboxes
        self._keys: dict[str, str] = {}
        self._envs: dict[str, Sandbox] = {}
        self._identity_of: dict[str, int] = {}  # environment id -> the uid it holds (identities.py)
        self._zygotes: dict[str, Zygote] = {}
        self._busy_total = 0
        self._rev_users: Counter[str] = Counter()
        self._retired_revs: set[str] = set()
        self._stale_cgroups: list[Cgroup] = []
        self._sweep_handle: asyncio.TimerHandle | None = None
        self._sweeping = False
        self._warned: set[str] = set()
        self._reaper: asyncio.Task | None = None
        self._provisions: dict[str, _Provision] = {}
        self._provisioning: set[asyncio.Task] = set()
        self._stopping = False
        self.counters: Counter[str] = Counter()

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        await self._ensure_ready()
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_loop(), name="compute-reaper")

    async def stop(self) -> None:
        self._stopping = True
        self._provisions.clear()
        for task in list(self._provisioning):
            task.cancel()
        if self._provisioning:
            await asyncio.wait(list(self._provisioning), timeout=5)
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reaper
            self._reaper = None
        for env in list(self._envs.values()):
            self._destroy(env)
        for zygote in self._zygotes.values():
            zygote.stop()
        self._zygotes.clear()
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
            self._sweep_handle = None
        if self.cgroups is not None:
            for _ in range(50):
                if self._sweeping:
                    await asyncio.sleep(0.02)
                    continue
                self._stale_cgroups = [cg for cg in self._stale_cgroups if not cg.remove()]
                if not self._stale_cgroups:
                    break
                await asyncio.sleep(0.02)
            self.cgroups.close()
        if self.identities is not None:
            self.identities.close()
            self.identities = None
        if self.networks is not None:
            self.networks.close()
            self.networks = None
        if self.workspace is not None:
            workspace = self.workspace
            workspace.stop_top_ups()

            def clear() -> None:
                workspace.close()
                shutil.rmtree(self.data_dir / "envs", ignore_errors=True)

            await asyncio.get_running_loop().run_in_executor(None, clear)
        self._ready = None

    def _claim_identities(self) -> Identities | None:
        """Ids for environments: only root can hand them out, and only with a private mount
        namespace can it make the code (under the data directory) reachable for them."""
        if not self.namespaces:
            return None  # (copy mode: the warning on mount namespaces says what that means)
        if os.geteuid() != 0:
            log.warning("environments run as the platform's own user (it is not root): they can "
                        "signal and read each other and the platform")
            return None
        try:
            return Identities()
        except (OSError, NoIdentities) as e:
            log.warning("environments run as root, unconfined by user ids: %s", e)
            return None

    async def _ensure_ready(self) -> None:
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
            try:
                await self._setup()
                self._ready.set_result(None)
            except BaseException as e:
                self._ready.set_exception(e)
                self._ready = None
                raise
        await self._ready

    async def _setup(self) -> None:
        loop = asyncio.get_running_loop()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        problems: dict[str, str] = {}
        if self.use_namespaces:
            problems = await loop.run_in_executor(None, probe_namespaces)
            self.namespace_problem = problems.get("mount")
            self.namespaces = self.namespace_problem is None
            if not self.namespaces:
                log.warning("mount namespaces unavailable (%s): environments get a copy of their code, "
                            "see the host filesystem and run as the platform's own user (they can "
                            "signal and read each other and the platform)", self.namespace_problem)
        if self.use_cgroups:
            self.cgroups = await loop.run_in_executor(None, Cgroups.open)
        self.identities = await loop.run_in_executor(None, self._claim_identities)
        if self.namespaces and self.identities is not None:
            self.pidns = "pid" not in problems
            if not self.pidns:
                log.warning("PID namespaces unavailable (%s): environments see the host's processes",
                            problems["pid"])
        if self.namespaces and self.network != "host":
            egress = self.network == "internet"
            problem = problems.get("net")
            if problem is not None:
                log.warning("environments share the host's network, its loopback services included: "
                            "network namespaces are unavailable (%s)", problem)
            else:
                missing = egress_problem() if egress else None
                if missing is not None:  # isolated rather than the host's network: functions are untrusted
                    log.warning("functions reach cloudlet but not the internet: %s (install it for internet "
                                "access as on AWS; CLOUDLET_LAMBDA_NETWORK=host would give them the host's "
                                "network, its loopback services included)", missing)
                    egress = False
                self.networks = Networks(self.endpoint_port, self.serve_endpoint, egress=egress)
        self.workspace = Workspace(self.data_dir, namespaces=self.namespaces, hide_paths=self.hide_paths,
                                   resolver=SLIRP_DNS if self.networks is not None and self.networks.egress else None)
        self.workspace.scratch.sweep()  # tmp filesystems a killed run left mounted
        shutil.rmtree(self.data_dir / "envs", ignore_errors=True)
        (self.data_dir / "envs").mkdir()
        self._sdk_dir = await loop.run_in_executor(None, self.workspace.sdk_dir)
        loop.run_in_executor(None, self.workspace.top_up)  # spare /tmps, made meanwhile

    # ---- invoke -------------------------------------------------------------------------------------

    async def invoke(self, spec: FunctionSpec, payload: bytes, *, request_id: str,
                     client_context: str | None = None, cognito_identity: str | None = None,
                     trace_id: str | None = None, stream: ResponseStream | None = None) -> InvokeResult:
        """Run one invocation. With `stream`, a response the runtime sends in streaming mode is
        written to it as it arrives (the result's payload is then empty); the caller closes it."""
        if self._ready is None or not self._ready.done():
            await self._ensure_ready()
        self.counters["invocations"] += 1
        try:
            runtime = catalog.resolve(spec.runtime)
        except catalog.RuntimeUnavailable as e:
            self.counters["invalid_runtime"] += 1
            return self._no_env_result(spec, request_id, "Runtime.InvalidRuntime", str(e))
        if client_context:
            client_context = _json_text(client_context)
        if cognito_identity:
            cognito_identity = _json_text(cognito_identity)
        fn = self._function(spec)
        taken = await self._admit(spec)
        env = fn.acquire(spec.version, spec.revision)
        fn.busy += 1
        self._busy_total += 1
        try:
            inv = Invocation(request_id, payload, 0, spec.function_arn, client_context, cognito_identity,
                             trace_id or _trace_id(), stream)
            if env is None:
                self.counters["cold_starts"] += 1
                try:
                    env = await self._create(spec, runtime, fn)
                except InitFailure as e:
                    return self._no_env_result(spec, request_id, e.error_type, str(e))
                except ZygoteError as e:
                    return self._no_env_result(spec, request_id, "Runtime.InvalidRuntime", str(e))
                return await self._run(env, spec, inv, cold=True)
            self.counters["warm_starts"] += 1
            return await self._run(env, spec, inv, cold=False)
        finally:
            fn.busy -= 1
            self._busy_total -= 1
            for pool in taken:
                self.slots.give_back(pool)
            if env is not None and not fn.release(env, time.monotonic()):
                self._destroy(env)

    def _function(self, spec: FunctionSpec) -> SandboxPool:
        key = self._keys.get(spec.function_arn)
        if key is None:
            key = self._keys[spec.function_arn] = spec.function_key
        pool = self._functions.get(key)
        if pool is None:
            pool = self._functions[key] = SandboxPool(key)
        if pool.current(spec.version, spec.revision):  # changed on another replica since
            self._retire(pool, spec.version)
        return pool

    async def _admit(self, spec: FunctionSpec) -> list[Pool]:
        """Take a slot of each pool the invocation counts against, or raise TooManyRequests."""
        taken: list[Pool] = []
        for pool, limit, reason in self._pools(spec):
            if not (self.slots.take(pool, limit) or await self.slots.take_more(pool, limit)):
                for held in taken:
                    self.slots.give_back(held)
                self.counters["throttles"] += 1
                log.warning("throttled %s: %s (limit %d)", spec.function_arn, reason, limit)
                raise TooManyRequests(reason)
            taken.append(pool)
        return taken

    def _pools(self, spec: FunctionSpec) -> list[tuple[Pool, int, str]]:
        account = (("account", spec.account, spec.region), self.account_concurrency, ACCOUNT_LIMIT)
        if spec.reserved_concurrency is None:
            return [account]
        return [(("function", spec.function_key), spec.reserved_concurrency, RESERVED_LIMIT), account]

    # ---- creating environments ------------------------------------------------------------------

    async def _zygote(self, runtime: catalog.Runtime | None) -> Zygote:
        name = runtime.name if runtime is not None else "exec"
        interpreter = runtime.executable if runtime is not None else None
        key = interpreter or "exec"
        zygote = self._zygotes.get(key)
        if zygote is None or (not zygote.alive and zygote.pid is not None):
            common: dict[str, Any] = {
                "prefork": self.prefork, "idle_s": self.blank_idle_s, "namespaces": self.namespaces,
                "on_death": self._zygote_died,
                "pidns": self.pidns,
                "new_cgroup": self._new_cgroup if self.cgroups else None, "drop_cgroup": self._remove_cgroup}
            if runtime is None:
                zygote = Zygote("exec", sys.executable, python_runtime=False, **common)
            else:
                assert interpreter is not None  # the catalog finds a Python runtime by its interpreter
                # The host's SDK is pure Python: the zygote offers it to functions if it imports
                # there (botocore's urllib3 2 needs Python 3.10+).
                sdk = self._sdk_dir
                # Other Pythons find no bytecode of the host's SDK: keep what they compile.
                other = runtime.name != f"python3.{sys.version_info[1]}"
                zygote = Zygote(name, interpreter, python_runtime=True, sdk_path=sdk, preload_sdk=self.preload_sdk,
                                pycache=str(self.data_dir / "zygote-pycache") if sdk and other else None, **common)
            self._zygotes[key] = zygote
        await zygote.start()
        if zygote.info.get("sdk_problem"):
            self.warn_once(f"{zygote.name} functions get no AWS SDK: the host's boto3 does not import on "
                           f"{zygote.interpreter} ({zygote.info['sdk_problem']}); such functions must bring their own")
        return zygote

    def _new_cgroup(self, name: str) -> Cgroup | None:
        if self.cgroups is None:
            return None
        return self.cgroups.create(name, make=False)  # the blank makes and joins it, off our loop

    def _workspace(self) -> Workspace:
        if self.workspace is None:
            raise RuntimeError("the execution engine is not started")
        return self.workspace

    def _zygote_died(self, zygote: Zygote) -> None:
        if self._zygotes.get(zygote.interpreter if zygote.python_runtime else "exec") is zygote:
            log.warning("zygote %s (pid %s) died; it will be restarted on demand", zygote.name, zygote.pid)

    def _opt_on_opt(self, runtime: catalog.Runtime) -> bool:
        """Layers may cover /opt unless something we run lives there."""
        if not self.namespaces or not Path("/opt").is_dir():
            return False
        used = [str(self.data_dir.resolve()), str(catalog.RUNTIMES_DIR), sys.executable, runtime.executable or ""]
        return not any(p == "/opt" or p.startswith("/opt/") for p in used)

    async def _create(self, spec: FunctionSpec, runtime: catalog.Runtime, pool: SandboxPool, *,
                      provisioned: bool = False) -> Sandbox:
        backend = BACKENDS[runtime.kind]
        env_id = secrets.token_hex(8)
        zygote = await self._zygote(runtime if backend.forks_interpreter else None)
        identity = self.identities.next() if self.identities is not None else None  # (released in _destroy)
        # The syscall filter goes with the unprivileged id (it is loaded after dropping root).
        seccomp = identity is not None and not zygote.info.get("seccomp_problem")
        if identity is not None and not seccomp:
            self.warn_once(f"{zygote.name} environments run without a syscall filter: "
                           f"{zygote.info.get('seccomp_problem')}")
        fs = await self._workspace().prepare(env_id, spec, runtime, opt_on_opt=self._opt_on_opt(runtime),
                                          sdk=bool(zygote.info.get("sdk_used")), unprivileged=identity is not None)
        stream = log_stream_name(spec.version)
        try:
            # Credentials of the function's role (the Lambda service's sessions, shared by its
            # environments while fresh).
            credentials = await self.credentials(spec) if self.credentials else TEST_CREDENTIALS
            network = await self.networks.for_account(spec.account) if self.networks is not None else None
            env = await backend.create(SandboxRequest(
                env_id, spec, runtime, fs, zygote, identity, seccomp,
                credentials, stream,
                self._endpoint_url(), network, self.networks, self, self.data_dir, provisioned))
        except BaseException:
            self._workspace().remove(fs)
            if identity is not None and self.identities is not None:
                self.identities.release(identity)
            raise
        env.log_stream = stream
        env.busy = True
        self._envs[env_id] = env
        if identity is not None:
            self._identity_of[env_id] = identity
        pool.add(env)
        self._rev_users[revision_key(spec)] += 1
        return env

    def _endpoint_url(self) -> str | None:
        """cloudlet's URL inside a network namespace (its loopback, the platform's port)."""
        return f"http://127.0.0.1:{self.endpoint_port}" if self.networks and self.endpoint_port else None

    # ---- running one invocation ---------------------------------------------------------------------

    @staticmethod
    async def _init(env: Sandbox, spec: FunctionSpec) -> tuple[Outcome, list[LogEntry], float]:
        """Run a new environment's init: its outcome, its lines (INIT_START first) and when it began
        (time.monotonic())."""
        lines: list[LogEntry] = [PlatformEvent("INIT_START", now_ms(), runtime=env.runtime.name, region=spec.region)]
        t_init = time.monotonic()
        try:
            outcome = await env.start(t_init + max(INIT_TIMEOUT_S, spec.timeout_s))
        except ZygoteError as e:
            outcome = Outcome("init_error", error_type="Runtime.InvalidRuntime", detail=str(e))
        lines += env.take_logs()
        return outcome, lines, t_init

    async def _run(self, env: Sandbox, spec: FunctionSpec, inv: Invocation, *, cold: bool) -> InvokeResult:
        rid = inv.request_id
        lines: list[LogEntry] = []
        init_ms = None
        if cold:
            outcome, lines, t_init = await self._init(env, spec)
            if outcome.kind != "ok":
                return self._init_failed(env, spec, rid, outcome, lines, (time.monotonic() - t_init) * 1000)
            init_ms = outcome.init_ms
            for w in outcome.warnings:
                self.warn_once(w)
        env.record_logs()
        lines.append(PlatformEvent("START", now_ms(), request_id=rid, version=spec.version))
        start = time.monotonic()
        inv.deadline_ms = now_ms() + int(spec.timeout_s * 1000)
        outcome = await env.invoke(inv, start + spec.timeout_s)
        duration = (time.monotonic() - start) * 1000
        env.invocations += 1
        lines += env.take_logs()
        status = error_type = None
        if outcome.kind == "ok":
            payload, function_error = outcome.payload, None
        elif outcome.kind == "error":
            payload, function_error, error_type = outcome.payload, "Unhandled", outcome.error_type
        elif outcome.kind == "timeout":
            self.counters["timeouts"] += 1
            status, error_type, function_error = "timeout", "Sandbox.Timedout", "Unhandled"
            duration = max(duration, spec.timeout_s * 1000)
            lines.append(PlatformEvent("TIMEOUT", now_ms(), request_id=rid, timeout_s=spec.timeout_s))
            log.warning("%s timed out after %.2f s (request %s)", spec.function_arn, spec.timeout_s, rid)
            payload = _error_doc("Sandbox.Timedout", f"RequestId: {rid} Error: Task timed out after "
                                                     f"{spec.timeout_s:.2f} seconds")
        else:
            self.counters["crashes"] += 1
            error_type, message = self._exit_reason(env, outcome)
            status, function_error = "error", "Unhandled"
            lines.append(PlatformEvent("RUNTIME_ERROR", now_ms(), request_id=rid, message=message,
                                       error_type=error_type))
            log.warning("%s: %s, %s (request %s)", spec.function_arn, error_type, message, rid)
            payload = _error_doc(error_type, f"RequestId: {rid} Error: {message}")
        if error_type == "Runtime.OutOfMemory":
            max_mb = spec.memory_mb
        else:
            max_mb = min(env.peak_mb(cgroup=outcome.kind != "ok"), spec.memory_mb)
        if outcome.kind in ("timeout", "exit"):
            env.kill()
            env.dead = True
        billed = int(spec.timeout_s * 1000) if status == "timeout" else billed_ms(duration)
        lines.append(PlatformEvent("END", now_ms(), request_id=rid))
        lines.append(_report(spec, rid, duration, billed, max_mb, init_ms, status, error_type))
        return self._result(spec, env, rid, payload, function_error, lines, duration, init_ms, max_mb, error_type,
                            billed)

    def _exit_reason(self, env: Sandbox, outcome: Outcome) -> tuple[str, str]:
        status = outcome.status if outcome.status is not None else env.exit_status
        if status is None:
            return "Runtime.ExitError", "Runtime exited without providing a reason"
        text = describe_status(status)
        if env.cgroup is not None and text == "signal: killed" and env.cgroup.oom_killed():
            return "Runtime.OutOfMemory", f"Runtime exited with error: {text}"
        if text == "exit status 0":
            return "Runtime.ExitError", "Runtime exited without providing a reason"
        return "Runtime.ExitError", f"Runtime exited with error: {text}"

    def _init_failed(self, env: Sandbox, spec: FunctionSpec, rid: str, outcome: Outcome,
                     lines: list[LogEntry], init_ms: float) -> InvokeResult:
        self.counters["init_errors"] += 1
        env.kill()
        env.dead = True
        if outcome.kind == "timeout":
            limit = max(INIT_TIMEOUT_S, spec.timeout_s)
            error_type, status = "Sandbox.Timedout", "timeout"
            payload = _error_doc(error_type, f"RequestId: {rid} Error: Task timed out after {limit:.2f} seconds")
            lines.append(PlatformEvent("TIMEOUT", now_ms(), request_id=rid, timeout_s=limit))
        elif outcome.kind == "exit":
            error_type, message = self._exit_reason(env, outcome)
            status = "error"
            payload = _error_doc(error_type, f"RequestId: {rid} Error: {message}")
            lines.append(PlatformEvent("RUNTIME_ERROR", now_ms(), request_id=rid, message=message, error_type=error_type))
        else:
            error_type, status = outcome.error_type or "Runtime.Unknown", "error"
            payload = outcome.payload or _error_doc(error_type, f"RequestId: {rid} Error: {outcome.detail}")
            if not outcome.payload:
                lines.append(PlatformEvent("RUNTIME_ERROR", now_ms(), request_id=rid, message=outcome.detail or "",
                                           error_type=error_type))
        lines.append(PlatformEvent("INIT_REPORT", now_ms(), duration_ms=init_ms, status=status, error_type=error_type))
        lines.append(PlatformEvent("START", now_ms(), request_id=rid, version=spec.version))
        lines.append(PlatformEvent("END", now_ms(), request_id=rid))
        max_mb = min(env.peak_mb(cgroup=True), spec.memory_mb)
        lines.append(_report(spec, rid, init_ms, billed_ms(init_ms), max_mb, None, status, error_type))
        return self._result(spec, env, rid, payload, "Unhandled", lines, init_ms, None, max_mb, error_type)

    def _no_env_result(self, spec: FunctionSpec, rid: str, error_type: str, message: str) -> InvokeResult:
        stream = log_stream_name(spec.version)
        payload = _error_doc(error_type, f"RequestId: {rid} Error: {message}")
        lines: list[LogEntry] = [
            PlatformEvent("START", now_ms(), request_id=rid, version=spec.version),
            PlatformEvent("RUNTIME_ERROR", now_ms(), request_id=rid, message=message, error_type=error_type),
            PlatformEvent("END", now_ms(), request_id=rid),
            _report(spec, rid, 0.0, 1, 0, None, "error", error_type)]
        self._sink(spec, stream, lines)
        return InvokeResult(payload, "Unhandled", lines, 0.0, 1, None, 0, "", stream, rid, error_type)

    def _result(self, spec, env, rid, payload, function_error, lines, duration, init_ms, max_mb,
                error_type, billed: int | None = None) -> InvokeResult:
        self._sink(spec, env.log_stream, lines)
        return InvokeResult(payload, function_error, lines, duration, billed or billed_ms(duration), init_ms,
                            max_mb, env.id, env.log_stream, rid, error_type)

    def _sink(self, spec: FunctionSpec, stream: str, lines: Sequence[LogEntry]) -> None:
        if self.log_sink is None or not lines:
            return
        try:
            self.log_sink(LogTarget.of(spec), stream, lines)
        except Exception:
            log.exception("log sink failed")

    # ---- environment hooks (called by Environment) -----------------------------------------------

    def env_idle_lines(self, env: Sandbox, lines: list[Line]) -> None:
        self._sink(env.spec, env.log_stream, lines)

    def env_dead(self, env: Sandbox) -> None:
        if not env.busy:
            self._destroy(env)

    # ---- provisioned environments ------------------------------------------------------------------

    def provision(self, key: str, spec: FunctionSpec | None, count: int) -> None:
        """Keep `count` initialized environments of `spec` (its version and revision) warm under
        `key`, a name the caller chooses; `spec` None or `count` 0 releases them. Call it on the
        engine's event loop, as often as wanted: it only starts what is missing.

        They start now, in the background: init runs at once, with AWS_LAMBDA_INITIALIZATION_TYPE
        `provisioned-concurrency`, and its output goes to the environment's log stream. Then they
        wait idle, never reaped, and invocations of that version and revision take them before any
        on-demand environment (their REPORT has no Init Duration); when all are busy, invocations
        spill over to on-demand ones. One that dies (crash, timeout, out of memory) is replaced.
        An init that fails stops the starting: `provisioned(key)` reports the failure until the key
        is released or provisioned again with another spec or count. Another spec under the same
        key replaces the environments; a smaller count stops the extra ones.
        """
        provision = self._provisions.get(key)
        if provision is not None and (spec is None or count <= 0 or _runs(provision.spec) != _runs(spec)):
            del self._provisions[key]
            self._unprovision(provision, list(provision.envs))
            provision = None
        if spec is None or count <= 0:
            return
        if provision is None:
            provision = self._provisions[key] = _Provision(key, spec, count)
        elif provision.count != count:
            provision.count, provision.failure = count, None
            extra = len(provision.envs) - count
            if extra > 0:  # idle ones first
                self._unprovision(provision, sorted(provision.envs, key=lambda e: e.busy)[:extra])
        self._top_up(provision)

    def provisioned(self, key: str) -> ProvisionState | None:
        """How the provision under `key` stands (None: there is none)."""
        provision = self._provisions.get(key)
        if provision is None:
            return None
        ready = sum(1 for env in provision.envs if not env.dead)
        return ProvisionState(provision.count, ready, provision.failure)

    def provisions(self) -> list[str]:
        """The keys of the provisions kept now."""
        return list(self._provisions)

    def _unprovision(self, provision: _Provision, envs: list[Sandbox]) -> None:
        """Stop these environments of the provision: idle ones now, busy ones when they are given back."""
        for env in envs:
            provision.envs.discard(env)
            env.provisioned = None
            env.retired = True
            if not env.busy:
                self._destroy(env)

    def _top_up(self, provision: _Provision) -> None:
        while (not self._stopping and provision.failure is None and self._provisions.get(provision.key) is provision
               and len(provision.envs) + provision.starting < provision.count):
            provision.starting += 1
            task = asyncio.get_running_loop().create_task(self._start_provisioned(provision),
                                                          name=f"provision {provision.key}")
            self._provisioning.add(task)
            task.add_done_callback(self._provisioning.discard)

    async def _start_provisioned(self, provision: _Provision) -> None:
        """Start one environment of the provision and run its init; it then waits, idle."""
        spec, env = provision.spec, None
        try:
            await self._ensure_ready()
            try:
                runtime = catalog.resolve(spec.runtime)
                fn = self._function(spec)
                env = await self._create(spec, runtime, fn, provisioned=True)
            except catalog.RuntimeUnavailable as e:
                return self._provision_failed(provision, "Runtime.InvalidRuntime", str(e))
            except InitFailure as e:
                return self._provision_failed(provision, e.error_type, str(e))
            except ZygoteError as e:
                return self._provision_failed(provision, "Runtime.InvalidRuntime", str(e))
            self.counters["provisioned_starts"] += 1
            outcome, lines, t_init = await self._init(env, spec)
            if outcome.kind != "ok":
                init_ms = (time.monotonic() - t_init) * 1000
                self._sink(spec, env.log_stream, [*lines, *self._init_failure_lines(env, spec, outcome, init_ms)])
                env.kill()
                env.dead = env.retired = True
                return self._provision_failed(provision, outcome.error_type or "Runtime.Unknown",
                                              outcome.detail or outcome.payload.decode("utf-8", "replace"))
            for w in outcome.warnings:
                self.warn_once(w)
            self._sink(spec, env.log_stream, lines)
            if self._provisions.get(provision.key) is not provision or len(provision.envs) >= provision.count:
                env.retired = True  # released or shrunk meanwhile
            else:
                env.provisioned = provision.key
                provision.envs.add(env)
        except Exception:
            log.exception("starting a provisioned environment of %s failed", spec.function_arn)
            if env is not None:
                env.retired = True
        finally:
            provision.starting -= 1
            if env is not None:
                pool = self._functions.get(self._keys.get(spec.function_arn, ""))
                if pool is None or not pool.release(env, time.monotonic()):
                    env.busy = False
                    self._destroy(env)

    def _init_failure_lines(self, env: Sandbox, spec: FunctionSpec, outcome: Outcome,
                            init_ms: float) -> list[LogEntry]:
        """What a failed init of a provisioned environment leaves in its log stream."""
        if outcome.kind == "timeout":
            status, error_type = "timeout", "Sandbox.Timedout"
        else:
            status = "error"
            error_type = (self._exit_reason(env, outcome)[0] if outcome.kind == "exit"
                          else outcome.error_type or "Runtime.Unknown")
        return [PlatformEvent("INIT_REPORT", now_ms(), duration_ms=init_ms, status=status, error_type=error_type)]

    def _provision_failed(self, provision: _Provision, error_type: str, message: str) -> None:
        self.counters["provisioned_init_errors"] += 1
        log.warning("a provisioned environment of %s failed to initialize: %s", provision.spec.function_arn,
                    error_type)
        if provision.failure is None:
            provision.failure = (error_type, message)

    # ---- retiring and reaping ----------------------------------------------------------------------

    def retire(self, function_arn: str, version: str | None = None) -> None:
        """The function was deleted (or, with `version`, that version's code or configuration
        changed): its environments (that version's) stop, idle ones now, busy ones when their
        invocation ends."""
        key = self._keys.get(function_arn) or FunctionSpec("", function_arn, "", "", "", Path(".")).function_key
        pool = self._functions.get(key) if version is not None else self._functions.pop(key, None)
        if pool is None:
            return
        if version is None:
            for arn in [a for a, k in self._keys.items() if k == key]:
                del self._keys[arn]
        self.counters["retired"] += 1
        self._retire(pool, version)

    def _retire(self, pool: SandboxPool, version: str | None) -> None:
        for env in pool.retire(version):
            self._retired_revs.add(revision_key(env.spec))
            if not env.busy:
                self._destroy(env)

    def _destroy(self, env: Sandbox) -> None:
        if self._envs.pop(env.id, None) is None:
            return
        env.stop()
        provision = self._provisions.get(env.provisioned) if env.provisioned is not None else None
        if provision is not None and env in provision.envs:
            provision.envs.discard(env)
            if not env.retired:  # it died (crash, timeout, OOM): a replacement starts
                self.counters["provisioned_replaced"] += 1
                self._top_up(provision)
        pool = self._functions.get(self._keys.get(env.spec.function_arn, ""))
        if pool is not None:
            pool.discard(env)
        if env.cgroup is not None:
            self._remove_cgroup(env.cgroup)
        identity = self._identity_of.pop(env.id, None)
        if identity is not None and self.identities is not None:
            self.identities.release(identity)  # its processes die with its PID namespace
        rev = revision_key(env.spec)
        self._rev_users[rev] -= 1
        if self._rev_users[rev] <= 0:
            del self._rev_users[rev]
            if rev in self._retired_revs:
                self._retired_revs.discard(rev)
                self._in_background(self._workspace().forget_revision, rev)
        self._in_background(self._workspace().remove, env.fs)

    def _remove_cgroup(self, cgroup: Cgroup) -> None:
        """Remove the cgroup soon, on a worker thread (its processes may still be exiting)."""
        self._stale_cgroups.append(cgroup)
        if self._sweep_handle is None:
            try:
                self._sweep_handle = asyncio.get_running_loop().call_later(CGROUP_SWEEP_S, self._sweep_cgroups)
            except RuntimeError:
                pass

    def _sweep_cgroups(self) -> None:
        self._sweep_handle = None
        if self._sweeping or not self._stale_cgroups:
            return
        batch, self._stale_cgroups = self._stale_cgroups, []
        self._sweeping = True
        loop = asyncio.get_running_loop()

        def sweep() -> None:
            left = [cg for cg in batch if not cg.remove()]
            loop.call_soon_threadsafe(swept, left)

        def swept(left: list[Cgroup]) -> None:
            self._sweeping = False
            self._stale_cgroups += left

        loop.run_in_executor(None, sweep)

    def _in_background(self, fn, *args) -> None:
        try:
            asyncio.get_running_loop().run_in_executor(None, fn, *args)
        except RuntimeError:
            fn(*args)

    async def _reap_loop(self) -> None:
        interval = max(0.05, min(self.idle_timeout_s / 4, 5.0))
        while True:
            await asyncio.sleep(interval)
            try:
                self.reap()
            except Exception:
                log.exception("reaping idle environments failed")

    def reap(self) -> int:
        """Stop environments idle for longer than idle_timeout_s; returns how many."""
        cutoff = time.monotonic() - self.idle_timeout_s
        victims = [env for env in self._envs.values()
                   if not env.busy and env.last_used < cutoff and env.provisioned is None]
        for env in victims:
            self._destroy(env)
        self.counters["reaped"] += len(victims)
        if self._stale_cgroups and self._sweep_handle is None:
            self._sweep_cgroups()
        return len(victims)

    # ---- introspection ---------------------------------------------------------------------------------

    def stats(self) -> dict:
        busy = sum(1 for e in self._envs.values() if e.busy)
        per_fn = {pool.key: pool.stats() for pool in self._functions.values()}
        return {
            "environments": len(self._envs), "busy": busy, "idle": len(self._envs) - busy,
            "busy_invocations": self._busy_total, "account_concurrency": self.account_concurrency,
            "functions": per_fn,
            "provisioned": {key: {"wanted": p.count, "ready": len(p.envs), "starting": p.starting,
                                  "failure": p.failure[0] if p.failure else None}
                            for key, p in self._provisions.items()},
            "zygotes": {z.name: {"pid": z.pid, "alive": z.alive, "python": z.info.get("python"),
                                 "preloaded": z.info.get("preloaded"), "blanks": len(z.blanks),
                                 "start_ms": round(z.start_ms, 1) if z.start_ms else None}
                        for z in self._zygotes.values()},
            "isolation": {"mount_namespace": self.namespaces, "namespace_problem": self.namespace_problem,
                          "pid_namespace": self.pidns,
                          "network": ("host" if self.networks is None else
                                      "namespace per account" + (" with internet" if self.networks.egress else "")),
                          "memory_cgroup": f"v{self.cgroups.version}" if self.cgroups else None,
                          "memory_limit": "cgroup" if self.cgroups else "RLIMIT_AS (python only)",
                          "cpu_weight": self.cgroups.cpu if self.cgroups else None},
            "counters": dict(self.counters),
        }

    def warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s", message)


def _runs(spec: FunctionSpec) -> tuple[str, str, str]:
    """What makes environments of two specs interchangeable (the rest, reserved concurrency say,
    is the invocation's business)."""
    return spec.function_arn, spec.version, spec.revision


def _error_doc(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def _json_text(value: str) -> str:
    """Client context arrives base64-encoded on the Invoke API and as JSON on the Runtime API."""
    try:
        json.loads(value)
        return value
    except ValueError:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
            json.loads(decoded)
            return decoded
        except (ValueError, UnicodeDecodeError):
            return value


def _report(spec: FunctionSpec, rid: str, duration: float, billed: int, max_mb: int, init_ms: float | None,
            status: str | None, error_type: str | None) -> PlatformEvent:
    return PlatformEvent("REPORT", now_ms(), request_id=rid, duration_ms=duration, billed_ms=billed,
                         memory_mb=spec.memory_mb, max_memory_mb=max_mb, init_ms=init_ms, status=status,
                         error_type=error_type)


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{random.getrandbits(96):024x};Parent={random.getrandbits(64):016x};Sampled=0"


