"""`cloudlet start` without click: its flags as one table, and a parser for their plain uses.

Importing click costs ~50 ms of every start, so `cloudlet start [--flag value | --flag=value |
--bool-flag]...` is parsed here, from the table the click options are generated from
(commands.py). Anything else (--help, an unknown flag, a missing or unconvertible value, a bad
setting, any other command) goes to click, so what the user reads is click's as before; a unit
test checks that both parse every flag of the table alike.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from cloudlet.config import LOG_LEVELS, Settings


class StartOption(NamedTuple):
    flag: str       # --data-dir
    variable: str   # CLOUDLET_DATA_DIR
    # How click reads it, and how it reaches Settings.from_env:
    #   text, int, path, flag, level (one of LOG_LEVELS, any case): click converts it, and the value
    #     overrides the setting;
    #   variable: taken as written, and read as its CLOUDLET_* variable is (one parser, one message).
    kind: str
    help: str

    @property
    def name(self) -> str:
        """The parameter name click gives it (and the Settings field)."""
        return self.flag[2:].replace("-", "_")


KINDS = ("text", "int", "path", "flag", "level", "variable")

START_OPTIONS: tuple[StartOption, ...] = tuple(StartOption(*row) for row in (
    ("--host", "CLOUDLET_HOST", "text", "Address to listen on [CLOUDLET_HOST, default 127.0.0.1]."),
    ("--port", "CLOUDLET_PORT", "int", "Port to listen on [CLOUDLET_PORT, default 4566]."),
    ("--data-dir", "CLOUDLET_DATA_DIR", "path", "Where state lives [CLOUDLET_DATA_DIR]."),
    ("--database-url", "CLOUDLET_DATABASE_URL", "text",
     "postgresql://... to keep state in PostgreSQL [CLOUDLET_DATABASE_URL]."),
    ("--blob-dir", "CLOUDLET_BLOB_DIR", "path",
     "Where code packages and other blobs live, shared by replicas [CLOUDLET_BLOB_DIR, default <data dir>/blobs]."),
    ("--ephemeral", "CLOUDLET_EPHEMERAL", "flag", "Keep state in a temporary directory removed at exit."),
    ("--log-level", "CLOUDLET_LOG_LEVEL", "level", "Logging level [CLOUDLET_LOG_LEVEL, default info]."),
    ("--enforce-sigv4", "CLOUDLET_ENFORCE_SIGV4", "flag", "Verify request signatures [CLOUDLET_ENFORCE_SIGV4]."),
    ("--region", "CLOUDLET_REGION", "variable",
     "Region of requests without a credential scope [CLOUDLET_REGION, default us-east-1]."),
    ("--default-account", "CLOUDLET_DEFAULT_ACCOUNT", "variable",
     "Account of access key `test` [CLOUDLET_DEFAULT_ACCOUNT, default 000000000000]."),
    ("--credentials", "CLOUDLET_CREDENTIALS", "variable",
     "AKID:SECRET[:ACCOUNT],... keys accepted when enforcing signatures [CLOUDLET_CREDENTIALS]."),
    ("--postgres-schema", "CLOUDLET_POSTGRES_SCHEMA", "variable",
     "Schema of the PostgreSQL store [CLOUDLET_POSTGRES_SCHEMA, default cloudlet]."),
    ("--max-body-bytes", "CLOUDLET_MAX_BODY_BYTES", "variable",
     "Ceiling on request bodies; 0: each operation's AWS limit [CLOUDLET_MAX_BODY_BYTES]."),
    ("--sqlite-synchronous", "CLOUDLET_SQLITE_SYNCHRONOUS", "variable",
     "SQLite's synchronous mode [CLOUDLET_SQLITE_SYNCHRONOUS, default NORMAL]."),
    ("--worker-threads", "CLOUDLET_WORKER_THREADS", "variable",
     "Threads for blocking work [CLOUDLET_WORKER_THREADS, default 16]."),
    ("--lambda-concurrency-limit", "CLOUDLET_LAMBDA_CONCURRENCY_LIMIT", "variable",
     "Concurrent executions per account [CLOUDLET_LAMBDA_CONCURRENCY_LIMIT, default 1000]."),
    ("--lambda-idle-timeout", "CLOUDLET_LAMBDA_IDLE_TIMEOUT", "variable",
     "Seconds an idle environment stays warm [CLOUDLET_LAMBDA_IDLE_TIMEOUT, default 600]."),
    ("--lambda-retry-delays", "CLOUDLET_LAMBDA_RETRY_DELAYS", "variable",
     "Seconds before each retry of a failed Event invocation [CLOUDLET_LAMBDA_RETRY_DELAYS, default 60,120]."),
    ("--lambda-prefork", "CLOUDLET_LAMBDA_PREFORK", "variable",
     "Most pre-forked environments per interpreter, kept as demand asks [CLOUDLET_LAMBDA_PREFORK, default 16]."),
    ("--lambda-network", "CLOUDLET_LAMBDA_NETWORK", "variable",
     "What functions reach: internet, isolated or host [CLOUDLET_LAMBDA_NETWORK, default internet]."),
    ("--logs-live-tail-max-seconds", "CLOUDLET_LOGS_LIVE_TAIL_MAX_SECONDS", "variable",
     "Seconds a Live Tail session lasts [CLOUDLET_LOGS_LIVE_TAIL_MAX_SECONDS, default 10800, as on AWS]."),
    ("--blob-sweep-seconds", "CLOUDLET_BLOB_SWEEP_SECONDS", "variable",
     "How often blobs nothing references (deleted objects' and functions' code) are deleted, once "
     "that old [CLOUDLET_BLOB_SWEEP_SECONDS, default 3600]."),
    ("--debug-loop-blocking", "CLOUDLET_DEBUG_LOOP_BLOCKING", "variable",
     "Store calls on the event loop raise (PostgreSQL) [CLOUDLET_DEBUG_LOOP_BLOCKING]."),
    ("--operator-token", "CLOUDLET_OPERATOR_TOKEN", "variable",
     "Token for POST /_cloudlet/reset [CLOUDLET_OPERATOR_TOKEN, default made at start]."),
))

_BY_FLAG = {option.flag: option for option in START_OPTIONS}


class _Unplain(Exception):
    """Not a plain use of a flag: click parses the command line (and words the error)."""


def _convert(kind: str, value: str) -> Any:
    """A flag's value as click's type for `kind` converts it; _Unplain where click would refuse it."""
    if kind == "int":  # click.INT: int(value)
        try:
            return int(value)
        except ValueError:
            raise _Unplain from None
    if kind == "path":  # click.Path(path_type=Path): an existing path must be readable
        try:
            os.stat(value)
        except OSError:
            return Path(value)
        except ValueError:  # (a NUL in it)
            raise _Unplain from None
        if not os.access(value, os.R_OK):
            raise _Unplain
        return Path(value)
    if kind == "level":  # click.Choice(LOG_LEVELS, case_sensitive=False): the choice as listed
        for choice in LOG_LEVELS:
            if choice.casefold() == value.casefold():
                return choice
        raise _Unplain
    return value


def parse_start(args: Sequence[str]) -> dict[str, Any] | None:
    """The parameters click would hand `cloudlet start` for `args` (what follows `start`), every
    flag of the table present (None when not given); None if `args` is not a plain use of the
    table's flags, for click to parse."""
    values: dict[str, Any] = dict.fromkeys((option.name for option in START_OPTIONS), None)
    rest = list(args)
    try:
        while rest:
            flag, eq, value = rest.pop(0).partition("=")
            option = _BY_FLAG.get(flag)
            if option is None:
                raise _Unplain
            if option.kind == "flag":
                if eq:
                    raise _Unplain  # click: "Option '--ephemeral' does not take a value."
                values[option.name] = True
                continue
            if not eq:
                if not rest:
                    raise _Unplain  # click: "Option '--port' requires an argument."
                value = rest.pop(0)
            values[option.name] = _convert(option.kind, value)
    except _Unplain:
        return None
    return values


def settings_of(values: dict[str, Any]) -> Settings:
    """Settings for `cloudlet start`'s parameters: the environment's CLOUDLET_* variables, the
    flags winning. ValueError (worded by Settings.from_env) for a bad setting."""
    env = {**os.environ, **{option.variable: values[option.name] for option in START_OPTIONS
                            if option.kind == "variable" and values.get(option.name) is not None}}
    return Settings.from_env(env, **{option.name: values.get(option.name) for option in START_OPTIONS
                                     if option.kind != "variable"})


def start(args: Sequence[str]) -> int | None:
    """Run `cloudlet start` for `args` if they are plain and make valid settings (the exit code
    of the server), else None: click takes the command line."""
    values = parse_start(args)
    if values is None:
        return None
    try:
        settings = settings_of(values)
    except ValueError:
        return None  # click parses it again, and says what is wrong as it always has
    from cloudlet.server import serve

    return serve(settings)
