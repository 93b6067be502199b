"""docs/coverage.md, generated from the provider classes (`cloudlet coverage --write`)."""

from __future__ import annotations

from cloudlet.protocol import load_service
from cloudlet.services import PROVIDERS, provider_class


def implemented(service: str) -> list[str]:
    return provider_class(service).implemented_operations()


def render() -> str:
    lines = ["# Coverage", "",
             "Generated from the provider classes by `cloudlet coverage --write`; do not edit by hand.",
             "An operation that is not implemented answers HTTP 501 `NotImplemented` naming it.", "",
             "| service | protocol | implemented | operations in model |", "|---|---|---|---|"]
    for service in sorted(PROVIDERS):
        spec = load_service(service)
        lines.append(f"| {service} | {spec.protocol} | {len(implemented(service))} | {len(spec.operations)} |")
    for service in sorted(PROVIDERS):
        done = set(implemented(service))
        limits = provider_class(service).limits
        lines += ["", f"## {service}", "", "| operation | status |", "|---|---|"]
        for op in sorted(load_service(service).operations):
            status = "implemented" if op in done else "not implemented (501)"
            if op in done and op in limits:
                status += f" (limits: {limits[op]})"
            lines.append(f"| {op} | {status} |")
    return "\n".join(lines) + "\n"
