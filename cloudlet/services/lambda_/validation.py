"""Checks Lambda makes beyond the model's generic constraints, with AWS's codes and wording
(a function's Runtime: runtimes.py)."""

from __future__ import annotations

import json
import re

from .errors import InvalidParameterValueException, ValidationException, invalid_value, pattern_error
from .names import parse_layer_arn

SNAP_START_RUNTIMES = frozenset({"java11", "java17", "java21", "java25", "python3.12", "python3.13",
                                 "python3.14", "dotnet8"})

ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
HANDLER_PATTERN = r"[^\s]+"
ENV_NAME_PATTERN = r"[a-zA-Z]([a-zA-Z0-9_])+"
LAYER_ARN_PATTERN = (r"(arn:[a-zA-Z0-9-]+:lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:"
                     r"[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)")

MAX_MEMORY = 10240
MAX_TIMEOUT = 900
MAX_ENV_BYTES = 4096
MAX_LAYERS = 5
MAX_TAGS = 50


def check_role(role: str) -> None:
    if re.fullmatch(ROLE_PATTERN, role) is None:
        raise pattern_error(role, "role", ROLE_PATTERN)


def check_handler(handler: str) -> None:
    if re.fullmatch(HANDLER_PATTERN, handler) is None:
        raise pattern_error(handler, "handler", HANDLER_PATTERN)


def check_limits(params: dict) -> None:
    """MemorySize and Timeout beyond what the model's ranges say (10240 MB, 900 s)."""
    memory = params.get("MemorySize")
    if memory is not None and memory > MAX_MEMORY:
        raise invalid_value(memory, "memorySize", f"Member must have value less than or equal to {MAX_MEMORY}")
    timeout = params.get("Timeout")
    if timeout is not None and timeout > MAX_TIMEOUT:
        raise invalid_value(timeout, "timeout", f"Member must have value less than or equal to {MAX_TIMEOUT}")


# Set by Lambda in every environment; a function may not define them (PATH, LANG, TZ, NODE_PATH,
# PYTHONPATH, LD_LIBRARY_PATH and AWS_LAMBDA_EXEC_WRAPPER it may).
RESERVED_ENV_NAMES = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})


def check_environment(variables: dict[str, str]) -> None:
    for key in variables:
        if re.fullmatch(ENV_NAME_PATTERN, key) is None:
            raise ValidationException(
                "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
                f"Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "
                f"{ENV_NAME_PATTERN}]")
    reserved = [key for key in variables if key in RESERVED_ENV_NAMES]
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains reserved keys that are currently not supported for modification. Reserved "
            f"keys used in this request: {','.join(reserved)}")
    measured = json.dumps(variables, separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) > MAX_ENV_BYTES:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables you "
            f"have provided exceeded the 4KB limit. String measured: {measured}")


def check_layer_list(arns: list[str]) -> list[tuple[str, str, str, int]]:
    """Parse a function's Layers: `(account, region, layer, version)` each, in order."""
    if len(arns) > MAX_LAYERS:
        raise InvalidParameterValueException(f"Cannot reference more than {MAX_LAYERS} layers.")
    parsed = []
    seen: dict[str, str] = {}
    for arn in arns:
        parts = parse_layer_arn(arn)
        if parts is None or parts[3] is None or len(arn) > 140:
            raise ValidationException(
                f"1 validation error detected: Value '[{', '.join(arns)}]' at 'layers' failed to satisfy "
                "constraint: Member must satisfy constraint: [Member must have length less than or equal to 140, "
                "Member must have length greater than or equal to 1, Member must satisfy regular expression "
                f"pattern: {LAYER_ARN_PATTERN}, Member must not be null]")
        layer = arn.rsplit(":", 1)[0]
        if layer in seen:
            raise InvalidParameterValueException(
                "Two different versions of the same layer are not allowed to be referenced in the same "
                f"function. {seen[layer]} and {arn} are versions of the same layer.")
        seen[layer] = arn
        parsed.append((parts[0], parts[1], parts[2], parts[3]))
    return parsed


def check_snap_start(snap_start: dict | None, runtime: str | None) -> None:
    if snap_start and snap_start.get("ApplyOn") == "PublishedVersions" and runtime not in SNAP_START_RUNTIMES:
        raise InvalidParameterValueException(f"{runtime} is not supported for SnapStart enabled functions.")


def check_tags(tags: dict[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValueException("Number of tags exceeds resource tag limit.")
