"""docs/coverage.md, generated from the provider classes and the services' IAM tables
(`cloudlet coverage --write`)."""

from __future__ import annotations

from cloudlet.gateway.authorize import coverage as iam_coverage
from cloudlet.gateway.authorize import load_table
from cloudlet.protocol import load_service
from cloudlet.protocol.models_index import indexed_version
from cloudlet.protocol.models_index import load as load_index
from cloudlet.services import PROVIDERS, provider_class


def implemented(service: str) -> list[str]:
    return provider_class(service).implemented_operations()


def _authorization(service: str, op: str) -> str:
    """The IAM action and resource templates the authorize step records for `op`."""
    table = load_table(service)
    declared = table.resources.get(op)
    if declared is None:
        return ""
    texts = (declared,) if isinstance(declared, str) else declared
    return f"`{table.action(op)}` on " + ", ".join(f"`{t}`" for t in texts)


def render() -> str:
    lines = ["# Coverage", "",
             "Generated from the provider classes by `cloudlet coverage --write`; do not edit by hand.",
             "An operation that is not implemented answers HTTP 501 `NotImplemented` naming it.",
             "The IAM column counts implemented operations whose IAM action and resource ARNs the",
             "gateway's authorize step computes (`cloudlet/services/<svc>/iam.py`; recorded, not enforced yet).",
             "", "| service | protocol | implemented | operations in model | IAM table |", "|---|---|---|---|---|"]
    for service in sorted(PROVIDERS):
        spec = load_service(service)
        done = implemented(service)
        with_iam, total = iam_coverage(service, done)
        lines.append(f"| {service} | {spec.protocol} | {len(done)} | {len(spec.operations)} | {with_iam} / {total} |")
    unserved = [e for name, e in sorted(load_index().items()) if name not in PROVIDERS]
    lines += ["", "## Services not served yet", "",
              f"Every other service botocore {indexed_version()} has a model for: each is recognised (by its",
              "signing name, endpoint prefix or JSON target) and every operation answers HTTP 501",
              "`NotImplemented` naming it, in the shape its protocol expects.", "",
              "| service | protocol | state |", "|---|---|---|"]
    lines += [f"| {e.service} | {', '.join(e.protocols)} | not served (501) |" for e in unserved]
    for service in sorted(PROVIDERS):
        implemented_here = set(implemented(service))
        limits = provider_class(service).limits
        lines += ["", f"## {service}", "", "| operation | status | authorization |", "|---|---|---|"]
        for op in sorted(load_service(service).operations):
            status = "implemented" if op in implemented_here else "not implemented (501)"
            if op in implemented_here and op in limits:
                status += f" (limits: {limits[op]})"
            lines.append(f"| {op} | {status} | {_authorization(service, op)} |")
    return "\n".join(lines) + "\n"
