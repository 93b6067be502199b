"""Runtime identifiers as AWS Lambda takes them, and whether this host can run one.

botocore's Lambda model is the contract: its Runtime enum lists every identifier AWS knows. A
function may be created or updated with those AWS has not blocked (`creatable`); a deprecated one
AWS blocks gets AWS's "no longer supported" message naming the runtime it recommends (the newest
of the family); anything else fails the enum constraint, worded as Lambda words it (the generic
validator leaves a top-level Runtime to us: Quirks.unvalidated in protocol/service.py). Layers'
CompatibleRuntimes (deprecated runtimes welcome) are the model validator's.

A valid runtime this host cannot run (compute/catalog.py: Java, .NET, Ruby, a Python whose
interpreter is not installed) is accepted all the same: the function is stored in State Failed
with the reason (configuration.apply_state), as AWS stores a function it could not provision.
"""

from __future__ import annotations

import functools
import re

from cloudlet.protocol import load_service

from .errors import InvalidParameterValueException

__all__ = ["DEPRECATED", "check_runtime", "creatable", "model_runtimes", "unrunnable_reason", "upgrade_for"]

# The runtimes AWS's enum message lists, in its order (a recorded error); runtimes of the model
# not blocked and not listed here follow them, in the model's order.
AWS_ORDER = (
    "nodejs20.x", "python3.14", "provided.al2023", "python3.12", "python3.13", "nodejs24.x", "nodejs22.x",
    "java17", "nodejs16.x", "java25", "dotnet8", "python3.10", "java11", "python3.11", "dotnet6", "java21",
    "nodejs18.x", "provided.al2", "ruby3.3", "ruby3.4", "java8.al2", "ruby3.2", "python3.8", "python3.9",
)

# Deprecated runtimes AWS no longer lets functions be created or updated with.
DEPRECATED = frozenset({
    "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x",
    "nodejs14.x", "python2.7", "python3.6", "python3.7", "java8", "dotnetcore1.0", "dotnetcore2.0",
    "dotnetcore2.1", "dotnetcore3.1", "go1.x", "ruby2.5", "ruby2.7", "provided",
})

# Families whose deprecated runtimes have no successor of the same name.
_SUCCESSOR_FAMILY = {"go": "provided.al2023", "provided": "provided.al2023"}
_FAMILY = re.compile(r"^(nodejs|python|java|dotnetcore|dotnet|ruby|go|provided)")
_VERSIONED = {"nodejs": r"nodejs(\d+)\.x", "python": r"python(\d+)\.(\d+)", "java": r"java(\d+)",
              "dotnet": r"dotnet(\d+)", "ruby": r"ruby(\d+)\.(\d+)"}


@functools.cache
def model_runtimes() -> tuple[str, ...]:
    """Every runtime identifier of botocore's Lambda model, in its order."""
    return tuple(load_service("lambda").model.shape_for("Runtime").enum)


@functools.cache
def creatable() -> tuple[str, ...]:
    """The runtimes a function may be created or updated with, in the order AWS lists them."""
    known = model_runtimes()
    listed = [r for r in AWS_ORDER if r in known]
    return (*listed, *(r for r in known if r not in DEPRECATED and r not in listed))


@functools.cache
def upgrade_for(runtime: str) -> str:
    """The runtime AWS recommends instead of deprecated `runtime`: the newest of its family."""
    m = _FAMILY.match(runtime)
    family = m.group(1) if m else ""
    if family in _SUCCESSOR_FAMILY:
        return _SUCCESSOR_FAMILY[family]
    family = "dotnet" if family == "dotnetcore" else family
    pattern = _VERSIONED.get(family)
    newest: tuple[tuple[int, ...], str] | None = None
    for candidate in creatable() if pattern else ():
        v = re.fullmatch(pattern or "", candidate)
        if v is not None and (newest is None or tuple(map(int, v.groups())) > newest[0]):
            newest = (tuple(map(int, v.groups())), candidate)
    return newest[1] if newest else "provided.al2023"


def unrunnable_reason(runtime: str) -> str | None:
    """Why this host cannot run `runtime` (compute/catalog.py, loaded on first use), or None."""
    from cloudlet.compute import check_runtime as reason

    return reason(runtime)


def check_runtime(runtime: str) -> None:
    """InvalidParameterValueException, worded as Lambda words it, unless functions may be created
    or updated with `runtime`."""
    if runtime in creatable():
        return
    if runtime in model_runtimes():
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            f"functions. We recommend you use the new runtime ({upgrade_for(runtime)}) while creating or updating "
            "functions.")
    raise InvalidParameterValueException(
        f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        f"[{', '.join(creatable())}] or be a valid ARN")
