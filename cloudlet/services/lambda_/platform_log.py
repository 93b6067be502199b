"""Lambda's platform lines, worded as AWS writes them to a function's log stream: the engine
reports what happened (compute.PlatformEvent), this module says it.

    INIT_START Runtime Version: python:3.12.v1	Runtime Version ARN: arn:aws:lambda:...
    START RequestId: <id> Version: $LATEST
    END RequestId: <id>
    REPORT RequestId: <id>	Duration: 1.23 ms	Billed Duration: 2 ms	Memory Size: 128 MB	...
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from cloudlet.compute import LogEntry, PlatformEvent


def iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def report(e: PlatformEvent) -> str:
    text = (f"REPORT RequestId: {e.request_id}\tDuration: {e.duration_ms:.2f} ms\tBilled Duration: "
            f"{e.billed_ms} ms\tMemory Size: {e.memory_mb} MB\tMax Memory Used: {e.max_memory_mb} MB\t")
    if e.init_ms is not None:
        text += f"Init Duration: {e.init_ms:.2f} ms\t"
    if e.status:
        text += f"Status: {e.status}\t"
        if e.error_type and e.status == "error":
            text += f"Error Type: {e.error_type}\t"
    return text


def init_start(e: PlatformEvent) -> str:
    label = e.runtime.replace("python", "python:").replace("nodejs", "nodejs:").replace(".x", "")
    digest = hashlib.sha256(e.runtime.encode()).hexdigest()
    return f"INIT_START Runtime Version: {label}.v1\tRuntime Version ARN: arn:aws:lambda:{e.region}::runtime:{digest}"


def wording(e: PlatformEvent) -> str:
    if e.kind == "START":
        return f"START RequestId: {e.request_id} Version: {e.version}"
    if e.kind == "END":
        return f"END RequestId: {e.request_id}"
    if e.kind == "REPORT":
        return report(e)
    if e.kind == "INIT_START":
        return init_start(e)
    if e.kind == "INIT_REPORT":
        return (f"INIT_REPORT Init Duration: {e.duration_ms:.2f} ms\tPhase: init\tStatus: {e.status}\t"
                f"Error Type: {e.error_type}")
    if e.kind == "TIMEOUT":
        return f"{iso(e.ts)} {e.request_id} Task timed out after {e.timeout_s:.2f} seconds"
    if e.kind == "RUNTIME_ERROR":
        return f"RequestId: {e.request_id} Error: {e.message}\n{e.error_type}"
    raise ValueError(f"no wording for the platform event {e.kind}")


def lines(entries: Sequence[LogEntry]) -> list[tuple[int, str]]:
    """The log events of a stream: the function's output as it is, the platform's in words."""
    return [(e.ts, wording(e)) if isinstance(e, PlatformEvent) else e for e in entries]


def text(entries: Sequence[LogEntry]) -> str:
    """An invocation's log as Invoke's LogType=Tail returns it: one line per event."""
    return "".join(msg + "\n" for _, msg in lines(entries))
