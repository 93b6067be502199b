"""Lambda's platform lines, worded as AWS writes them to a function's log stream: the engine
reports what happened (compute.PlatformEvent), this module says it. Each is one log event ending
in a newline, as in AWS's streams (a REPORT's fields each end in a tab):

    INIT_START Runtime Version: python:3.12.v1\tRuntime Version ARN: arn:aws:lambda:...\n
    START RequestId: <id> Version: $LATEST\n
    END RequestId: <id>\n
    REPORT RequestId: <id>\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t...\t\n

The function's own events keep what its runtime gave them (a printed line its "\n", a Python
runtime's error report none). LogType=Tail's text is the events one after the other, the init's
platform lines left out, as AWS's tail shows them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
    return text + "\n"


def init_start(e: PlatformEvent) -> str:
    label = (e.runtime.replace("python", "python:").replace("nodejs", "nodejs:").replace(".x", "")
             .replace("provided.", "provided:"))  # python:3.12, nodejs:20, provided:al2023
    digest = hashlib.sha256(e.runtime.encode()).hexdigest()
    return f"INIT_START Runtime Version: {label}.v1\tRuntime Version ARN: arn:aws:lambda:{e.region}::runtime:{digest}\n"


def init_report(e: PlatformEvent) -> str:
    text = f"INIT_REPORT Init Duration: {e.duration_ms:.2f} ms\tPhase: init\tStatus: {e.status}"
    if e.error_type and e.status == "error":  # (a timeout names no error type, as in REPORT)
        text += f"\tError Type: {e.error_type}"
    return text + "\n"


def wording(e: PlatformEvent) -> str:
    if e.kind == "START":
        return f"START RequestId: {e.request_id} Version: {e.version}\n"
    if e.kind == "END":
        return f"END RequestId: {e.request_id}\n"
    if e.kind == "REPORT":
        return report(e)
    if e.kind == "INIT_START":
        return init_start(e)
    if e.kind == "INIT_REPORT":
        return init_report(e)
    if e.kind == "TIMEOUT":  # (AWS ends this one with a blank line)
        return f"{iso(e.ts)} {e.request_id} Task timed out after {e.timeout_s:.2f} seconds\n\n"
    if e.kind == "RUNTIME_ERROR":
        return f"RequestId: {e.request_id} Error: {e.message}\n{e.error_type}\n"
    raise ValueError(f"no wording for the platform event {e.kind}")


def lines(entries: Sequence[LogEntry]) -> list[tuple[int, str]]:
    """The log events of a stream: the function's output as it is, the platform's in words."""
    return [e if isinstance(e, tuple) else (e.ts, wording(e)) for e in entries]  # (a Line is a tuple)


# The init phase's platform lines, which AWS's LogType=Tail text leaves out (the init's output it shows).
INIT_KINDS = frozenset({"INIT_START", "INIT_REPORT"})


def text(entries: Sequence[LogEntry]) -> str:
    """An invocation's log as Invoke's LogType=Tail returns it (before its last 4 KB are taken):
    the events' messages one after the other, each with the line ends it has."""
    return "".join(e[1] if isinstance(e, tuple) else wording(e) for e in entries
                   if isinstance(e, tuple) or e.kind not in INIT_KINDS)
