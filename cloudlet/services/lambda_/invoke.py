"""Lambda Invoke, the data plane.

RequestResponse runs the function through the compute engine and answers with its payload;
Event writes a durable record that `AsyncInvoker` (a background service) delivers with AWS's
retry policy; DryRun only checks that the caller may invoke. Function output goes to
CloudWatch Logs (`/aws/lambda/<name>`), one stream per execution environment.
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
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudlet.compute import ComputeManager, FunctionSpec, InvokeResult, TooManyRequests
from cloudlet.protocol.errors import ServiceError
from cloudlet.services.logs.events import append_events

from . import functions, invoke_configs
from .errors import InvalidParameterValueException

if TYPE_CHECKING:
    from cloudlet.platform import Platform

log = logging.getLogger("cloudlet.lambda")

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 256 * 1024
LOG_TAIL_BYTES = 4096
DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 21600
QUEUE = ("global", "lambda", "async")


class TooManyRequestsException(ServiceError):
    status = 429


class RequestTooLargeException(ServiceError):
    status = 413


class InvalidRequestContentException(ServiceError):
    status = 400


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

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.code_root = platform.data_dir / "lambda" / "code"
        self._compute: ComputeManager | None = None
        self._extract_lock = threading.Lock()
        self._start_lock = asyncio.Lock()
        self._specs: dict[tuple, FunctionSpec] = {}
        self._resolved: dict[tuple, tuple[float, functions.ResolvedFunction]] = {}
        self._log_buffer: list[tuple[Any, str, list[tuple[int, str]]]] = []
        self._log_lock = threading.Lock()
        self._log_flush: asyncio.TimerHandle | None = None

    async def compute(self) -> ComputeManager:
        if self._compute is None:
            async with self._start_lock:
                if self._compute is None:
                    settings = self.platform.settings
                    manager = ComputeManager(
                        self.platform.data_dir / "lambda" / "environments",
                        account_concurrency=settings.lambda_concurrency_limit,
                        idle_timeout_s=settings.lambda_idle_timeout, log_sink=self._log_sink,
                        hide_paths=(self.platform.data_dir, *host_aws_config_dirs()),
                        prefork=max(0, settings.lambda_prefork))
                    await manager.start()
                    self._compute = manager
        return self._compute

    async def stop(self) -> None:
        if self._compute is not None:
            await self._compute.stop()
            self._compute = None
        self._write_logs()

    # ---- resolved functions, cached for the invoke path ----
    # Writes through this process's control plane clear the cache at once; the short TTL bounds
    # staleness when another process (sharing PostgreSQL) changed a function.
    RESOLVED_TTL = 1.0

    def cached_resolved(self, key: tuple) -> functions.ResolvedFunction | None:
        hit = self._resolved.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.RESOLVED_TTL:
            return hit[1]
        return None

    def remember_resolved(self, key: tuple, resolved: functions.ResolvedFunction) -> None:
        if len(self._resolved) > 10_000:
            self._resolved.clear()
        self._resolved[key] = (time.monotonic(), resolved)

    def forget_resolved(self) -> None:
        self._resolved.clear()

    def retire(self, function_arn: str) -> None:
        if self._compute is not None:
            self._compute.retire(function_arn)

    # ---- logs ----
    def _log_sink(self, group: Any, stream: str, lines: list[tuple[int, str]]) -> None:
        """`group` is the engine's LogGroup: the group name, carrying the function's account and
        region. Lines are buffered and written in batches off the invoke path (within ~50 ms)."""
        with self._log_lock:
            self._log_buffer.append((group, stream, lines))
            first = len(self._log_buffer) == 1
        if first:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._write_logs()
                return
            loop.call_later(0.05, lambda: loop.run_in_executor(self.platform.executor, self._write_logs))

    def _write_logs(self) -> None:
        with self._log_lock:
            batch, self._log_buffer = self._log_buffer, []
        merged: dict[tuple, list[tuple[int, str]]] = {}
        owners: dict[tuple, Any] = {}
        for group, stream, lines in batch:
            key = (group.account, group.region, str(group), stream)
            merged.setdefault(key, []).extend(lines)
            owners[key] = group
        for (account, region, name, stream), lines in merged.items():
            try:
                append_events(self.platform.store, account, region, name, stream, sorted(lines, key=lambda x: x[0]))
            except Exception:
                log.exception("could not store logs of %s", owners[(account, region, name, stream)].function_name)

    # ---- code ----
    def extracted(self, digest: str) -> Path:
        """The directory a code or layer zip (by blob digest) is extracted to, extracting once."""
        target = self.code_root / digest
        if target.is_dir():
            return target
        with self._extract_lock:
            if target.is_dir():
                return target
            self.code_root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".x-", dir=self.code_root))
            try:
                with self.platform.blobs.open(digest) as fh, zipfile.ZipFile(fh) as archive:
                    _safe_extract(archive, tmp)
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
        settings = self.platform.settings
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        base_arn = resolved.arn.split(":")
        unqualified = ":".join(base_arn[:7])
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
            snap_start=(config.get("SnapStart") or {}).get("OptimizationStatus") == "On")

    async def run(self, resolved: functions.ResolvedFunction, payload: bytes, *, request_id: str,
                  client_context: str | None = None, trace_id: str | None = None) -> InvokeResult:
        # Reserved concurrency is no part of the revision (it changes no RevisionId): key on it too.
        key = (resolved.arn, resolved.version, resolved.revision, resolved.reserved_concurrency)
        spec = self._specs.get(key)
        if spec is None:  # extracting code is slow file work: off the loop, once per revision
            spec = await asyncio.get_running_loop().run_in_executor(self.platform.executor, self.spec_for, resolved)
            if len(self._specs) > 4096:
                self._specs.clear()
            self._specs[key] = spec
        manager = await self.compute()
        return await manager.invoke(spec, payload, request_id=request_id, client_context=client_context,
                                    trace_id=trace_id)


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
    """Extract without letting a member escape `target`; keep executable bits (bootstraps)."""
    root = target.resolve()
    for info in archive.infolist():
        dest = (target / info.filename).resolve()
        if dest != root and root not in dest.parents:
            raise InvalidParameterValueException("Could not unzip uploaded file. Please check your file, "
                                                 "then try to upload again.")
        archive.extract(info, target)
        mode = info.external_attr >> 16
        if mode and not info.is_dir():
            dest.chmod(mode & 0o777 or 0o644)


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
        tail = result.log_text.encode("utf-8")[-LOG_TAIL_BYTES:]
        out["LogResult"] = base64.b64encode(tail).decode()
    return out


def throttled(exc: TooManyRequests) -> TooManyRequestsException:
    return TooManyRequestsException(exc.message, Reason=exc.reason, Type="User")


# ---- asynchronous invocations ----------------------------------------------------------------

def enqueue(store: Any, resolved: functions.ResolvedFunction, payload: bytes, request_id: str,
            trace_id: str = "") -> None:
    """Persist an Event invocation; the AsyncInvoker delivers it (at least once)."""
    now = int(time.time() * 1000)
    record = {"account": resolved.account, "region": resolved.region, "function": resolved.name,
              "qualifier": resolved.alias or resolved.version, "payload": base64.b64encode(payload).decode(),
              "request_id": request_id, "first_seen_ms": now, "attempt": 0, "trace_id": trace_id}
    store.put_json(QUEUE + (now, request_id), record)


THROTTLE_BACKOFF_MAX_S = 300.0


def next_attempt(record: dict, *, throttled: bool, max_retries: int, max_age_ms: int, now_ms: int,
                 delays: list[float]) -> int | None:
    """When (epoch ms) to try a failed Event invocation again, or None to give up; counts the
    attempt in `record`. Function errors get `max_retries` retries after `delays`; throttles are
    retried with exponential backoff (1 s, 2 s, ... 5 min) without using up retries. Nothing is
    retried at or past the event's maximum age, as on AWS."""
    if throttled:
        record["throttles"] = record.get("throttles", 0) + 1
        at = now_ms + int(min(THROTTLE_BACKOFF_MAX_S, 0.5 * 2 ** record["throttles"]) * 1000)
    elif record["attempt"] < max_retries:
        at = now_ms + int(delays[min(record["attempt"], len(delays) - 1)] * 1000)
        record["attempt"] += 1
    else:
        return None
    return at if at - record["first_seen_ms"] < max_age_ms else None


class AsyncInvoker:
    """Background service delivering queued Event invocations with AWS's retry policy:
    MaximumRetryAttempts (default 2) after function errors, with delays from
    CLOUDLET_LAMBDA_RETRY_DELAYS (AWS: 1 and 2 minutes); throttles are retried with backoff
    until MaximumEventAgeInSeconds (default 6 hours). A record is leased while it runs, so a
    crash re-delivers it instead of losing it."""

    name = "lambda-async"

    def __init__(self, platform: Platform, invoker: Invoker) -> None:
        self.platform = platform
        self.invoker = invoker
        self.store = platform.store
        self.delays = [float(x) for x in platform.settings.lambda_retry_delays.split(",") if x.strip()] or [60, 120]
        self.wakeup = asyncio.Event()
        self.running: set[asyncio.Task] = set()

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            claimed = await self.platform.run_store(self._claim_due)
            for key, record in claimed:
                task = asyncio.create_task(self._deliver(key, record))
                self.running.add(task)
                task.add_done_callback(self.running.discard)
            if not claimed:
                self.wakeup.clear()
                try:
                    await asyncio.wait_for(self.wakeup.wait(), 0.5)
                except TimeoutError:
                    pass
        if self.running:
            await asyncio.wait(self.running, timeout=10)

    def _claim_due(self, batch: int = 32) -> list[tuple[tuple, dict]]:
        """Take due records and lease them: they move to a later due time while they run."""
        now = int(time.time() * 1000)
        out = []
        with self.store.transaction() as tx:
            for key, value in tx.range(QUEUE, end=QUEUE + (now + 1,), limit=batch):
                record = json.loads(value)
                timeout_ms = 900_000 + 60_000
                tx.delete(key)
                lease_key = QUEUE + (now + timeout_ms, key[-1])
                tx.put_json(lease_key, record)
                out.append((lease_key, record))
        return out

    def _target(self, record: dict) -> tuple[functions.ResolvedFunction, dict]:
        """The version a queued record runs and its event invoke config (reads the store)."""
        store = self.store
        resolved = functions.resolve(store, record["account"], record["region"], record["function"],
                                     record["qualifier"])
        resolved = pick_version(resolved, store)
        config = invoke_configs.event_invoke_config(store, resolved.account, resolved.region, resolved.name,
                                                    record["qualifier"]) or {}
        return resolved, config

    async def _deliver(self, key: tuple, record: dict) -> None:
        store = self.store
        payload = base64.b64decode(record["payload"])
        try:
            resolved, config = await self.platform.run_store(self._target, record)
        except ServiceError as exc:
            log.warning("dropping async invocation %s: %s", record["request_id"], exc.message)
            await self.platform.run_store(store.delete, key)
            return
        max_retries = config.get("MaximumRetryAttempts", DEFAULT_RETRIES)
        max_age_ms = 1000 * config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S)
        throttle = False
        try:
            result = await self.invoker.run(resolved, payload, request_id=record["request_id"],
                                            trace_id=record.get("trace_id") or None)
            failed = result.function_error is not None
        except TooManyRequests:
            failed, throttle = True, True
        except Exception:
            log.exception("async invocation %s failed to run", record["request_id"])
            failed = True
        now = int(time.time() * 1000)
        retry_at = None
        if failed:
            retry_at = next_attempt(record, throttled=throttle, max_retries=max_retries, max_age_ms=max_age_ms,
                                    now_ms=now, delays=self.delays)
            if retry_at is None:
                log.warning("async invocation %s of %s failed after %d attempt(s)%s; discarded (destinations "
                            "and DLQs are not wired yet)", record["request_id"], record["function"],
                            record["attempt"] + 1, ", past its maximum event age" if throttle else "")

        def settle() -> None:
            with store.transaction() as tx:
                tx.delete(key)
                if retry_at is not None:
                    tx.put_json(QUEUE + (retry_at, record["request_id"]), record)

        await self.platform.run_store(settle)
