"""Function execution: environments, zygotes, backends and the Lambda Runtime API.

    manager = ComputeManager(data_dir, account_concurrency=1000, idle_timeout_s=600, log_sink=sink)
    await manager.start()
    result = await manager.invoke(spec, b'{"k": 1}', request_id=rid)   # -> InvokeResult
    manager.retire(function_arn)                                       # code/config changed
    manager.provision(key, spec, 3)      # keep 3 initialized environments of spec warm; 0 releases
    manager.provisioned(key)                                           # -> ProvisionState
    await manager.stop()

Modules: manager (scheduling, limits, results and logs), sandbox (the seam: Sandbox, SandboxPool,
Backend), backends (the backend of each kind of runtime), environment (the sandboxes of today's
backends: Python environments forked from zygotes, processes speaking the Runtime API), zygote (fork servers),
runtime_api (HTTP Runtime API), streaming (a response read while the function writes it),
workspace (files and variables), isolation (cgroups, mount namespaces), network (network
namespaces), catalog (runtimes on this host), nodesdk (the AWS SDK for JavaScript the Node
runtimes offer, installed from npm), logs (an environment's output cut into events; the
platform's own log lines are PlatformEvents the Lambda service words), runtimes/ (code that runs
inside environments).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudlet.compute.catalog import RuntimeUnavailable
    from cloudlet.compute.catalog import check as check_runtime
    from cloudlet.compute.manager import ComputeManager
    from cloudlet.compute.slots import ACCOUNT_LIMIT, RESERVED_LIMIT, TooManyRequests
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

# Each name below is loaded from its module on first use, not when the package is imported: the
# platform starts without the engine (~30 ms of imports) and builds it for the first invocation.
_EXPORTS = {
    "RuntimeUnavailable": ("catalog", "RuntimeUnavailable"),
    "check_runtime": ("catalog", "check"),
    "ComputeManager": ("manager", "ComputeManager"),
    "ResponseStream": ("streaming", "ResponseStream"),
    **{name: ("slots", name) for name in ("ACCOUNT_LIMIT", "RESERVED_LIMIT", "TooManyRequests")},
    **{name: ("types", name) for name in ("FunctionSpec", "InvokeResult", "Line", "LogEntry", "LogTarget",
                                          "PlatformEvent", "ProvisionState")},
}


if not TYPE_CHECKING:  # (type checkers see the imports above: a misspelt name stays an error)
    def __getattr__(name: str) -> Any:
        if name not in _EXPORTS:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        module, attr = _EXPORTS[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value


__all__ = [
    "ACCOUNT_LIMIT",
    "RESERVED_LIMIT",
    "ComputeManager",
    "FunctionSpec",
    "InvokeResult",
    "Line",
    "LogEntry",
    "LogTarget",
    "PlatformEvent",
    "ProvisionState",
    "ResponseStream",
    "RuntimeUnavailable",
    "TooManyRequests",
    "check_runtime",
]
