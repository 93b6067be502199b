"""Request metrics: how many calls each operation served, how many failed, how long they took.

In-process counters, cheap enough for every request (two dictionary lookups and a few
additions), read through `GET /_cloudlet/metrics`. Counters start at zero with the process.
"""

from __future__ import annotations

from typing import Any


class RequestMetrics:
    """Counters per service and operation: requests, client errors (4xx), server errors (5xx)
    and the total seconds spent."""

    def __init__(self) -> None:
        self._services: dict[str, dict[str, list[float]]] = {}

    def record(self, service: str, operation: str, status: int, seconds: float) -> None:
        operations = self._services.get(service)
        if operations is None:
            operations = self._services[service] = {}
        row = operations.get(operation)
        if row is None:
            row = operations[operation] = [0, 0, 0, 0.0]
        row[0] += 1
        if status >= 400:
            row[1 if status < 500 else 2] += 1
        row[3] += seconds

    def snapshot(self) -> dict[str, Any]:
        """`{service: {operation: {requests, client_errors, server_errors, seconds}}}`
        (an operation the gateway could not name is "")."""
        return {
            service: {op: {"requests": int(r[0]), "client_errors": int(r[1]), "server_errors": int(r[2]),
                           "seconds": round(r[3], 6)} for op, r in operations.items()}
            for service, operations in self._services.items()
        }
