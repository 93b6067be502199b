"""The vocabulary of the execution engine: what to run and what came back (why an invocation was
refused, TooManyRequests, lives with the concurrency slots: slots.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FunctionSpec:
    """Everything the engine needs to run one function version.

    `code_dir` and `layer_dirs` are extracted archives the engine only reads. `revision` changes
    whenever code or configuration change: environments of another revision are never reused.
    """

    function_name: str
    function_arn: str
    version: str  # "$LATEST" or "1", "2", ...
    runtime: str  # python3.9..python3.13, nodejs18.x/20.x/22.x, provided, provided.al2, provided.al2023
    handler: str
    code_dir: Path
    layer_dirs: tuple[Path, ...] = ()
    memory_mb: int = 128
    timeout_s: float = 3.0
    environment: Mapping[str, str] = field(default_factory=dict)
    account: str = "000000000000"
    region: str = "us-east-1"
    revision: str = "0"
    log_group: str = ""
    platform_endpoint: str = "http://127.0.0.1:4566"
    reserved_concurrency: int | None = None
    snap_start: bool = False  # a published version with SnapStart on: init runs the runtime hooks
    ephemeral_mb: int = 512  # EphemeralStorage: the size of its /tmp
    role: str = ""  # the execution role's ARN: environments get credentials of a session of it

    @property
    def function_key(self) -> str:
        """The unqualified function ARN: concurrency and retirement are per function."""
        parts = self.function_arn.split(":")
        return ":".join(parts[:7]) if len(parts) > 7 else self.function_arn


Line = tuple[int, str]  # a line of the function's output: (timestamp ms, message)


@dataclass(frozen=True)
class PlatformEvent:
    """A moment of an environment's life that its log stream records beside the function's own
    output. The engine says what happened; the Lambda service words it as AWS does
    (services/lambda_/platform_log.py). `kind`, and the fields it uses:

      INIT_START     runtime, region
      START          request_id, version
      RUNTIME_ERROR  request_id, message, error_type   (the runtime died, or could not start)
      TIMEOUT        request_id, timeout_s
      INIT_REPORT    duration_ms, status, error_type   (a failed init)
      END            request_id
      REPORT         request_id, duration_ms, billed_ms, memory_mb, max_memory_mb, init_ms,
                     status and error_type (an invocation that did not end normally)
    """

    kind: str
    ts: int
    request_id: str = ""
    version: str = ""
    runtime: str = ""
    region: str = ""
    message: str = ""
    error_type: str | None = None
    status: str | None = None
    timeout_s: float = 0.0
    duration_ms: float = 0.0
    billed_ms: int = 0
    memory_mb: int = 0
    max_memory_mb: int = 0
    init_ms: float | None = None


LogEntry = Line | PlatformEvent  # what an environment's log stream receives, in order


@dataclass(frozen=True)
class LogTarget:
    """Where a function's log stream goes: its log group, in its account and region."""

    group: str
    account: str
    region: str
    function_name: str

    @classmethod
    def of(cls, spec: FunctionSpec) -> LogTarget:
        return cls(spec.log_group or f"/aws/lambda/{spec.function_name}", spec.account, spec.region,
                   spec.function_name)


@dataclass
class InvokeResult:
    payload: bytes
    function_error: str | None  # None or "Unhandled"
    log: list[LogEntry]  # this invocation's log, START..REPORT (cold starts: the init's first)
    duration_ms: float
    billed_duration_ms: int
    init_duration_ms: float | None
    max_memory_used_mb: int
    environment_id: str
    log_stream: str
    request_id: str
    error_type: str | None = None  # errorType of a failed invocation (Runtime.ExitError, Sandbox.Timedout, ...)


@dataclass(frozen=True)
class ProvisionState:
    """How a provision (ComputeManager.provision) stands: `ready` of the `wanted` environments are
    initialized and live; `failure` is the (errorType, message) of an init that failed, after which
    no more are started."""

    wanted: int
    ready: int
    failure: tuple[str, str] | None = None
