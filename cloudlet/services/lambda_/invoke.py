"""Lambda Invoke, the data plane.

RequestResponse runs the function through the compute engine and answers with its payload;
Event invocations are outbox records (async_invoke.py); DryRun only checks that the caller may
invoke. Function output goes to CloudWatch Logs (`/aws/lambda/<name>`, one stream per execution
environment) through the Logs API: the lines of an invocation are durable before it answers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import pwd
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudlet.background import call_on_loop
from cloudlet.call import CallContext
from cloudlet.infra import Infra
from cloudlet.protocol.errors import ServiceError
from cloudlet.services.logs.api import LogsApi
from cloudlet.store.keyspace import global_key

from . import functions, platform_log
from .code import UNZIP_ERROR, is_symlink
from .errors import E, InvalidParameterValueException, ResourceConflictException
from .slots import SharedSlots

if TYPE_CHECKING:
    import zipfile

    from cloudlet.compute import (
        ComputeManager,
        FunctionSpec,
        InvokeResult,
        LogEntry,
        LogTarget,
        ResponseStream,
        TooManyRequests,
    )
    from cloudlet.gateway.identity import RoleSession

# A function's environments share its role session while it has this long to live (sessions last
# 12 hours: gateway/identity.py); a newer environment then gets a new one.
SESSION_REUSE_S = 3600.0

log = logging.getLogger("cloudlet.lambda")

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 1024 * 1024  # Invoke with InvocationType Event (AWS raised it from 256 KB in 2025)
INVOKE_ASYNC_PAYLOAD_LIMIT = 256 * 1024  # the deprecated InvokeAsync keeps 256 KB
LOG_TAIL_BYTES = 4096


TooManyRequestsException = E.TooManyRequestsException
RequestTooLargeException = E.RequestTooLargeException
InvalidRequestContentException = E.InvalidRequestContentException


def check_active(resolved: functions.ResolvedFunction) -> None:
    """Lambda invokes only Active functions: one in another State (here: Failed, a runtime this
    host cannot run) is refused with ResourceConflictException before any environment starts."""
    state = resolved.configuration.get("State", "Active")
    if state != "Active":
        raise ResourceConflictException(
            f"The operation cannot be performed at this time. The function is currently in the following state: {state}")


def check_json_payload(payload: bytes) -> None:
    """AWS accepts only JSON documents as Invoke payloads."""
    if not payload:
        return
    try:
        json.loads(payload)
    except RecursionError:
        return  # valid, just nested deeper than Python's parser goes: the function gets it as is
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from None


class Invoker:
    """Turns resolved functions into FunctionSpecs and runs them on the compute engine."""

    def __init__(self, infra: Infra, logs: LogsApi) -> None:
        self.infra = infra
        self.logs = logs
        self.store = infra.store
        self.code_root = infra.data_dir / "lambda" / "code"
        self._compute: ComputeManager | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the engine's
        self._extract_lock = threading.Lock()
        self._start_lock = asyncio.Lock()
        self._specs: dict[tuple, FunctionSpec] = {}
        self._sessions: dict[tuple[str, str, str], RoleSession] = {}  # (account, role, function) -> its session
        self._resolved: dict[tuple, tuple[int, functions.ResolvedFunction]] = {}
        # Function output waiting to be written, (group, stream, lines), and the futures of the
        # write scheduled for it and of the last write started.
        self._pending: list[tuple[LogTarget, str, list[tuple[int, str]]]] = []
        self._scheduled: asyncio.Future | None = None
        self._last_write: asyncio.Future | None = None
        self.slots = SharedSlots(infra)

    async def compute(self) -> ComputeManager:
        if self._compute is None:
            async with self._start_lock:
                if self._compute is None:
                    from cloudlet.compute import ComputeManager  # the engine loads for the first invocation

                    settings = self.infra.settings
                    manager = ComputeManager(
                        self.infra.data_dir / "lambda" / "environments",
                        account_concurrency=settings.lambda_concurrency_limit,
                        idle_timeout_s=settings.lambda_idle_timeout, log_sink=self._log_sink,
                        hide_paths=(self.infra.data_dir, *host_aws_config_dirs()),
                        prefork=max(0, settings.lambda_prefork), slots=self.slots,
                        network=settings.lambda_network, endpoint_port=self.infra.endpoint.port,
                        serve_endpoint=self.infra.endpoint.serve_socket, credentials=self.credentials)
                    await manager.start()
                    self._loop = asyncio.get_running_loop()
                    self._compute = manager
        return self._compute

    def engine(self) -> ComputeManager | None:
        """The compute engine, if it was started."""
        return self._compute

    async def stop(self) -> None:
        if self._compute is not None:
            await self._compute.stop()
            self._compute = None
        await self.flush_logs()

    # ---- resolved functions, cached for the invoke path ----
    # An entry is good while the store's generation of Lambda's control plane is the one it was
    # resolved at: every control-plane write bumps it (see `changed`), on any replica.
    GENERATION_KEY = global_key("lambda", "generation")

    def generation(self) -> int:
        found = self.store.get_versioned(self.GENERATION_KEY)
        return 0 if found is None else found[1]

    def changed(self) -> None:
        """A control-plane write happened: every replica's cached resolutions are stale."""
        self._resolved.clear()
        self.store.put(self.GENERATION_KEY, b"")

    def cached_resolved(self, key: tuple, generation: int) -> functions.ResolvedFunction | None:
        hit = self._resolved.get(key)
        if hit is not None and hit[0] == generation:
            return hit[1]
        return None

    def remember_resolved(self, key: tuple, generation: int, resolved: functions.ResolvedFunction) -> None:
        if len(self._resolved) > 10_000:
            self._resolved.clear()
        self._resolved[key] = (generation, resolved)

    def retire(self, function_arn: str, version: str | None = None) -> None:
        """Stop the function's environments (with `version`: that version's), and whatever they
        left running: it was deleted, or that version changed. Callable from any thread:
        provider methods may run on worker threads."""
        if self._compute is not None:
            call_on_loop(self._loop, self._compute.retire, function_arn, version)

    # ---- logs ----
    def _log_sink(self, target: LogTarget, stream: str, entries: Sequence[LogEntry]) -> None:
        """An environment's log, worded (platform_log.py). Lines are written in one transaction
        per turn of the event loop, shared by the invocations that finished in it; `run` waits
        for its own before it answers."""
        self._pending.append((target, stream, platform_log.lines(entries)))
        if self._scheduled is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop: stopping
                return
            self._scheduled = loop.create_future()
            loop.call_soon(self._write_scheduled)

    def _write_scheduled(self) -> None:
        batch, self._pending = self._pending, []
        done, self._scheduled = self._scheduled, None
        assert done is not None
        if self.store.backend == "sqlite":  # a store call costs microseconds: now, on the loop
            self._write_logs_safely(batch)
            done.set_result(None)
            return
        previous, self._last_write = self._last_write, done
        asyncio.ensure_future(self._write_after(previous, batch, done))

    async def _write_after(self, previous: asyncio.Future | None, batch: list, done: asyncio.Future) -> None:
        """Batches are written in order, so waiting for the last one waits for all."""
        try:
            if previous is not None:
                await asyncio.shield(previous)
            await self.infra.off_loop(self._write_logs_safely, batch)
        finally:
            done.set_result(None)

    async def flush_logs(self) -> None:
        """Wait until the function output buffered so far is written (durably: outbox records of
        the Logs API)."""
        waiting = self._scheduled or self._last_write
        if waiting is not None and not waiting.done():
            await asyncio.shield(waiting)

    def _write_logs_safely(self, batch: list[tuple[LogTarget, str, list[tuple[int, str]]]]) -> None:
        try:
            self._write_logs(batch)
        except Exception:
            log.exception("could not store the output of %d function invocation(s)", len(batch))

    def _write_logs(self, batch: list[tuple[LogTarget, str, list[tuple[int, str]]]]) -> None:
        """One Logs API record per account and region for the whole batch."""
        scoped: dict[tuple[str, str], list[tuple[str, str, list[tuple[int, str]]]]] = {}
        for target, stream, lines in batch:
            scoped.setdefault((target.account, target.region), []).append((target.group, stream, lines))
        with self.store.transaction() as tx:
            for (account, region), streams in scoped.items():
                self.logs.send_many(tx, CallContext(account, region), streams)

    # ---- code ----
    def sweep_extracted(self, older_than: float) -> int:
        """Remove unpacked packages whose blob the blob sweep deleted (nothing names them any more)
        and temp directories of extractions that died, once `older_than` seconds old."""
        if not self.code_root.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for entry in os.scandir(self.code_root):
            with self._extract_lock:  # (not while `extracted` makes or checks one)
                try:
                    if entry.stat().st_mtime >= cutoff:
                        continue
                    if not entry.name.startswith(".x-") and self.infra.blobs.exists(entry.name):
                        continue
                except (FileNotFoundError, ValueError):  # gone, or not a digest (left alone)
                    continue
                shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
        return removed

    def extracted(self, digest: str) -> Path:
        """The directory a code or layer zip (by blob digest) is extracted to, extracting once."""
        target = self.code_root / digest
        if target.is_dir():
            return target
        import zipfile  # (packages come with the first deployment: not loaded at start-up)

        with self._extract_lock:
            if target.is_dir():
                return target
            self.code_root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".x-", dir=self.code_root))
            try:
                with self.infra.blobs.open(digest) as fh, zipfile.ZipFile(fh) as archive:
                    _safe_extract(archive, tmp)
                tmp.chmod(0o755)  # mkdtemp made it 0700: environments run under ids of their own
                tmp.rename(target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return target

    def spec_for(self, resolved: functions.ResolvedFunction) -> FunctionSpec:
        config = resolved.configuration
        if resolved.code_digest is None:
            raise InvalidParameterValueException("Container image functions cannot run yet: cloudlet runs "
                                                 "Zip packages only.")
        code_dir = self.extracted(resolved.code_digest)
        layers = tuple(self.extracted(d) for d in resolved.layer_digests)
        settings = self.infra.settings
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        base_arn = resolved.arn.split(":")
        unqualified = ":".join(base_arn[:7])
        from cloudlet.compute import FunctionSpec

        return FunctionSpec(
            function_name=resolved.name, function_arn=resolved.arn, version=resolved.version,
            runtime=config.get("Runtime", ""), handler=config.get("Handler", ""), code_dir=code_dir,
            layer_dirs=layers, memory_mb=int(config.get("MemorySize", 128)),
            timeout_s=float(config.get("Timeout", 3)),
            environment=dict((config.get("Environment") or {}).get("Variables") or {}),
            account=resolved.account, region=resolved.region,
            revision=f"{unqualified}:{resolved.version}:{resolved.revision}",
            log_group=(config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{resolved.name}",
            platform_endpoint=f"http://{host}:{settings.port}",
            reserved_concurrency=resolved.reserved_concurrency,
            snap_start=(config.get("SnapStart") or {}).get("OptimizationStatus") == "On",
            ephemeral_mb=int((config.get("EphemeralStorage") or {}).get("Size") or 512),
            role=config.get("Role", ""))

    async def credentials(self, spec: FunctionSpec) -> tuple[str, str, str]:
        """An execution environment's credentials, as AWS gives them: a session of the function's
        execution role named after the function (the gateway knows it: gateway/identity.py).
        The environments of a function share its session while it has over SESSION_REUSE_S to
        live: issuing one writes the store, which a cold start should not wait for each time."""
        key = (spec.account, spec.role, spec.function_name)
        session = self._sessions.get(key)
        if session is None or session.expires - time.time() < SESSION_REUSE_S:
            session = await self.infra.run_store(self.infra.identities.issue_session, *key)
            self._sessions[key] = session
        return session.access_key, session.secret, session.token

    async def spec(self, resolved: functions.ResolvedFunction) -> FunctionSpec:
        """The FunctionSpec of a resolved function, made once per revision."""
        # Reserved concurrency is no part of the revision (it changes no RevisionId): key on it too.
        key = (resolved.arn, resolved.version, resolved.revision, resolved.reserved_concurrency)
        spec = self._specs.get(key)
        if spec is None:  # extracting code is slow file work: off the loop, once per revision
            spec = await self.infra.off_loop(self.spec_for, resolved)
            if len(self._specs) > 4096:
                self._specs.clear()
            self._specs[key] = spec
        return spec

    async def run(self, resolved: functions.ResolvedFunction, payload: bytes, *, request_id: str,
                  client_context: str | None = None, trace_id: str | None = None,
                  stream: ResponseStream | None = None) -> InvokeResult:
        check_active(resolved)  # every path comes here (Invoke, streams, URLs, Event records, other services)
        spec = await self.spec(resolved)
        manager = await self.compute()
        try:
            return await manager.invoke(spec, payload, request_id=request_id, client_context=client_context,
                                        trace_id=trace_id, stream=stream)
        finally:
            await self.flush_logs()


def host_aws_config_dirs() -> list[Path]:
    """The ~/.aws directories of the user running cloudlet (by HOME and by the password database,
    which botocore falls back to when HOME is unset, as it is in functions). Environments must not
    see them: a function's SDK would read the host's config (endpoints, profiles, retry mode)."""
    homes = {Path.home()}
    try:
        homes.add(Path(pwd.getpwuid(os.getuid()).pw_dir))
    except (KeyError, OSError):
        pass
    return sorted(h / ".aws" for h in homes if (h / ".aws").is_dir())


def _safe_extract(archive: zipfile.ZipFile, target: Path) -> None:
    """Extract a package `check_zip` accepted; refuse (again) any member that would leave
    `target`. Symbolic links become links, as Lambda unpacks them; executable bits are kept
    (bootstraps) and every file is readable by the environment's own id."""
    root = target.resolve()
    for info in archive.infolist():
        dest = (target / info.filename).resolve()
        if dest != root and root not in dest.parents:
            raise InvalidParameterValueException(UNZIP_ERROR)
        if is_symlink(info):
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(archive.read(info).decode("utf-8"), dest)
            continue
        archive.extract(info, target)
        mode = info.external_attr >> 16
        if mode and not info.is_dir():
            # Readable by the environment's own id whatever the archive says (a zip made with a
            # umask of 077); executable bits kept for bootstraps.
            mode &= 0o777
            dest.chmod(mode | 0o444 | (0o111 if mode & 0o100 else 0) if mode else 0o644)


def pick_version(resolved: functions.ResolvedFunction, store: Any) -> functions.ResolvedFunction:
    """Weighted alias routing: a share of invocations runs the alias's additional version."""
    if not resolved.routing:
        return resolved
    version = functions.choose_version(resolved, random.random())
    if version == resolved.version:
        return resolved
    return functions.resolve(store, resolved.account, resolved.region, resolved.name, version)


def invoke_response(result: InvokeResult, version: str, log_type: str | None) -> dict:
    out: dict[str, Any] = {"StatusCode": 200, "Payload": result.payload, "ExecutedVersion": version}
    if result.function_error:
        out["FunctionError"] = result.function_error
    if log_type == "Tail":
        tail = platform_log.text(result.log).encode("utf-8")[-LOG_TAIL_BYTES:]
        out["LogResult"] = base64.b64encode(tail).decode()
    return out


def throttled(exc: TooManyRequests) -> ServiceError:
    return TooManyRequestsException(exc.message, Reason=exc.reason, Type="User")
