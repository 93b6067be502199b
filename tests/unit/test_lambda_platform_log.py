"""Lambda's platform log lines, worded from the engine's PlatformEvents as AWS words them: each
event ends in a newline, as in AWS's log streams (e.g. GetLogEvents of a function's stream gives
"START RequestId: <id> Version: $LATEST\n" and "REPORT RequestId: ...\tInit Duration: 167.83 ms\t\n")."""

from __future__ import annotations

import re

import pytest

from cloudlet.compute import PlatformEvent
from cloudlet.services.lambda_ import platform_log

TS = 1_764_633_600_123  # 2025-12-02T00:00:00.123Z


def test_report_with_init_and_without():
    warm = PlatformEvent("REPORT", TS, request_id="r1", duration_ms=1.234, billed_ms=2, memory_mb=128, max_memory_mb=40)
    assert platform_log.wording(warm) == ("REPORT RequestId: r1\tDuration: 1.23 ms\tBilled Duration: 2 ms\t"
                                          "Memory Size: 128 MB\tMax Memory Used: 40 MB\t\n")
    cold = PlatformEvent("REPORT", TS, request_id="r2", duration_ms=3.0, billed_ms=3, memory_mb=256, max_memory_mb=50,
                         init_ms=120.456, status="error", error_type="Runtime.ExitError")
    assert platform_log.wording(cold).endswith(
        "Init Duration: 120.46 ms\tStatus: error\tError Type: Runtime.ExitError\t\n")
    timeout = PlatformEvent("REPORT", TS, request_id="r3", duration_ms=3000.0, billed_ms=3000, memory_mb=128,
                            max_memory_mb=30, status="timeout", error_type="Sandbox.Timedout")
    assert platform_log.wording(timeout).endswith("Status: timeout\t\n")  # no error type for a timeout


def test_each_kind_in_order_with_the_function_output_between():
    entries = [
        PlatformEvent("INIT_START", TS, runtime="python3.12", region="eu-west-1"),
        (TS + 1, "init output\n"),
        PlatformEvent("START", TS + 2, request_id="r", version="$LATEST"),
        (TS + 3, "[ERROR] Exception: boom\nTraceback (most recent call last):"),  # no newline, as awslambdaric
        PlatformEvent("TIMEOUT", TS + 3, request_id="r", timeout_s=3.0),
        PlatformEvent("END", TS + 4, request_id="r"),
    ]
    lines = platform_log.lines(entries)
    assert [ts for ts, _ in lines] == [TS, TS + 1, TS + 2, TS + 3, TS + 3, TS + 4]
    assert re.fullmatch(r"INIT_START Runtime Version: python:3\.12\.v1\tRuntime Version ARN: "
                        r"arn:aws:lambda:eu-west-1::runtime:[0-9a-f]{64}\n", lines[0][1])
    assert lines[2][1] == "START RequestId: r Version: $LATEST\n"
    assert lines[4][1] == "2025-12-02T00:00:00.126Z r Task timed out after 3.00 seconds\n\n"
    assert lines[5][1] == "END RequestId: r\n"
    # LogType=Tail: the messages one after the other (an event without a newline runs into the
    # next, as in AWS's tail), without the init's platform lines
    assert platform_log.text(entries) == ("init output\nSTART RequestId: r Version: $LATEST\n"
                                          "[ERROR] Exception: boom\nTraceback (most recent call last):"
                                          "2025-12-02T00:00:00.126Z r Task timed out after 3.00 seconds\n\n"
                                          "END RequestId: r\n")


def test_failed_init_and_runtime_errors():
    report = PlatformEvent("INIT_REPORT", TS, duration_ms=5.5, status="error", error_type="Runtime.ImportModuleError")
    assert platform_log.wording(report) == ("INIT_REPORT Init Duration: 5.50 ms\tPhase: init\tStatus: error\t"
                                            "Error Type: Runtime.ImportModuleError\n")
    timeout = PlatformEvent("INIT_REPORT", TS, duration_ms=10_000.0, status="timeout", error_type="Sandbox.Timedout")
    assert platform_log.wording(timeout) == "INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout\n"
    crash = PlatformEvent("RUNTIME_ERROR", TS, request_id="r", message="Runtime exited with error: signal: killed",
                          error_type="Runtime.ExitError")
    assert platform_log.wording(crash) == ("RequestId: r Error: Runtime exited with error: signal: killed\n"
                                           "Runtime.ExitError\n")
    assert platform_log.text([report, crash]) == platform_log.wording(crash)
    with pytest.raises(ValueError):
        platform_log.wording(PlatformEvent("SNAPSHOT", TS))
