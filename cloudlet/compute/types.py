"""The vocabulary of the execution engine: what to run, what came back, and why it was refused."""

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

    @property
    def function_key(self) -> str:
        """The unqualified function ARN: concurrency and retirement are per function."""
        parts = self.function_arn.split(":")
        return ":".join(parts[:7]) if len(parts) > 7 else self.function_arn


@dataclass
class InvokeResult:
    payload: bytes
    function_error: str | None  # None or "Unhandled"
    log_text: str  # this invocation's log lines, START..REPORT (cold starts: init output first)
    duration_ms: float
    billed_duration_ms: int
    init_duration_ms: float | None
    max_memory_used_mb: int
    environment_id: str
    log_stream: str
    request_id: str
    error_type: str | None = None  # errorType of a failed invocation (Runtime.ExitError, Sandbox.Timedout, ...)


class TooManyRequests(Exception):
    """No environment may be started: the function's reserved concurrency or the account's
    concurrency is used up. AWS answers 429 TooManyRequestsException with this reason."""

    def __init__(self, reason: str, message: str = "Rate Exceeded.") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class LogGroup(str):
    """The log group name handed to the log sink; also carries the function's scope (the sink
    needs account and region to store the events)."""

    spec: FunctionSpec

    def __new__(cls, name: str, spec: FunctionSpec) -> LogGroup:
        self = super().__new__(cls, name)
        self.spec = spec
        return self

    @property
    def log_group(self) -> str:
        return str(self)

    @property
    def account(self) -> str:
        return self.spec.account

    @property
    def region(self) -> str:
        return self.spec.region

    @property
    def function_name(self) -> str:
        return self.spec.function_name


RESERVED_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT = "ConcurrentInvocationLimitExceeded"
