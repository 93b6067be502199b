"""Settings, from CLOUDLET_* environment variables; the CLI's flags override them."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_ACCOUNT = "000000000000"
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def _bool(text: str) -> bool:
    word = text.strip().lower()
    if word not in TRUE_WORDS + FALSE_WORDS:
        raise ValueError(f"one of {', '.join(TRUE_WORDS)} or {', '.join(FALSE_WORDS)}")
    return word in TRUE_WORDS


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("a whole number") from None


def _float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError("a number") from None


def parse_credentials(text: str) -> dict[str, tuple[str, str | None]]:
    """`AKID:SECRET[:ACCOUNT],...` -> {access key: (secret, account or None)}."""
    out: dict[str, tuple[str, str | None]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        parts = item.split(":")
        if len(parts) < 2 or not parts[0]:
            raise ValueError(f"CLOUDLET_CREDENTIALS entry {item!r} is not AKID:SECRET[:ACCOUNT]")
        account = parts[2] if len(parts) > 2 and parts[2] else None
        if account is not None and not (account.isdigit() and len(account) == 12):
            raise ValueError(f"account {account!r} in CLOUDLET_CREDENTIALS is not a 12-digit id")
        out[parts[0]] = (parts[1], account)
    return out


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cloudlet"


def ephemeral_parent() -> str | None:
    """Where ephemeral state goes: /var/tmp rather than /tmp (unless TMPDIR says otherwise).
    Lambda environments get a private /tmp mounted over /tmp, which would cover the data directory
    their code is mounted from (compute/workspace.py), so mount points would land in their /tmp."""
    if os.environ.get("TMPDIR") or not os.access("/var/tmp", os.W_OK | os.X_OK):
        return None
    return "/var/tmp"


LAMBDA_NETWORKS = ("internet", "isolated", "host")  # see compute/network.py
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
def flag_of(name: str) -> str:
    """The `cloudlet start` flag of a setting (every setting has one; errors name both)."""
    return "--" + name.replace("_", "-")


def setting_name(name: str) -> str:
    return f"CLOUDLET_{name.upper()} ({flag_of(name)})"


def _not_a_file(path: Path | None) -> str | None:
    if path is not None and path.exists() and not path.is_dir():
        return "a directory (that path is a file)"
    return None


def _retry_delays(text: str) -> str | None:
    try:
        delays = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        delays = []
    return None if delays and all(d >= 0 for d in delays) else "seconds before each retry, like 60,120"


# What each setting may be, checked on the final values (flags included): None, or what is allowed.
CHECKS: dict[str, Callable[[Any], str | None]] = {
    "host": lambda v: None if v.strip() else "an address to listen on, like 127.0.0.1 or 0.0.0.0",
    "port": lambda v: None if 0 <= v <= 65535 else "a port number from 0 to 65535",
    "data_dir": _not_a_file,
    "blob_dir": _not_a_file,
    "database_url": lambda v: (None if not v or v.startswith(("postgresql://", "postgres://"))
                               else "a postgresql:// URL (or unset: SQLite in the data directory)"),
    "log_level": lambda v: None if v.lower() in LOG_LEVELS else f"one of {', '.join(LOG_LEVELS)}",
    "region": lambda v: None if REGION.fullmatch(v) else "a region name, like us-east-1",
    "default_account": lambda v: None if v.isdigit() and len(v) == 12 else "a 12-digit account id",
    "max_body_bytes": lambda v: None if v >= 0 else "0 (each operation's own limit) or a number of bytes",
    "sqlite_synchronous": lambda v: (None if v.upper() in SQLITE_SYNCHRONOUS
                                     else f"one of {', '.join(SQLITE_SYNCHRONOUS)}"),
    "worker_threads": lambda v: None if v >= 1 else "at least 1",
    "lambda_concurrency_limit": lambda v: None if v >= 1 else "at least 1",
    "lambda_idle_timeout": lambda v: None if v > 0 else "a number of seconds above 0",
    "lambda_retry_delays": _retry_delays,
    "lambda_prefork": lambda v: None if v >= 0 else "0 or more",
    "lambda_network": lambda v: None if v in LAMBDA_NETWORKS else f"one of {', '.join(LAMBDA_NETWORKS)}",
    "logs_live_tail_max_seconds": lambda v: None if 0 < v <= 10800 else "a number of seconds above 0, at most 10800",
    "blob_sweep_seconds": lambda v: None if v > 0 else "a number of seconds above 0",
}


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 4566
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str = ""
    blob_dir: Path | None = None            # default: <data dir>/blobs; replicas may share one
    postgres_schema: str = "cloudlet"
    ephemeral: bool = False
    log_level: str = "info"
    region: str = "us-east-1"
    default_account: str = DEFAULT_ACCOUNT
    credentials: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    enforce_sigv4: bool = False
    max_body_bytes: int = 0                  # 0: each operation's own AWS limit (gateway/limits.py)
    sqlite_synchronous: str = "NORMAL"
    worker_threads: int = 16
    lambda_concurrency_limit: int = 1000
    lambda_idle_timeout: float = 600.0
    lambda_retry_delays: str = "60,120"     # seconds before the 1st and 2nd retry of an async invoke
    lambda_prefork: int = 16                 # the most pre-forked blank environments per interpreter (pools follow demand)
    lambda_network: str = "internet"         # functions reach: "internet" (and cloudlet), "isolated" (only cloudlet), "host"
    logs_live_tail_max_seconds: float = 10800.0  # a Live Tail session ends after this (AWS: 3 hours)
    blob_sweep_seconds: float = 3600.0       # blobs nothing references, this old, go this often (blob_gc.py)
    debug_loop_blocking: bool = False        # PostgreSQL store calls on the event loop thread raise
    operator_token: str = ""                 # for state-changing /_cloudlet/ endpoints; "": one made at start

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if env is None else env)
        s = cls()
        # Each field's parser: the values are as heterogeneous as the fields, hence Any.
        values: dict[str, Any] = {}
        conv: dict[str, Callable[[str], Any]] = {
            "host": str, "port": _int, "data_dir": Path, "blob_dir": Path, "database_url": str, "postgres_schema": str,
            "ephemeral": _bool, "log_level": str, "region": str, "default_account": str, "credentials": parse_credentials,
            "enforce_sigv4": _bool, "max_body_bytes": _int, "sqlite_synchronous": str, "worker_threads": _int,
            "lambda_concurrency_limit": _int, "lambda_idle_timeout": _float, "lambda_retry_delays": str,
            "lambda_prefork": _int, "lambda_network": str, "debug_loop_blocking": _bool, "operator_token": str,
            "logs_live_tail_max_seconds": _float, "blob_sweep_seconds": _float,
        }
        for f in fields(s):
            key = "CLOUDLET_" + f.name.upper()
            if key in env and env[key] != "":
                try:
                    values[f.name] = conv[f.name](env[key])
                except ValueError as e:
                    if f.name == "credentials":
                        raise
                    raise ValueError(f"{setting_name(f.name)} must be {e}, not {env[key]!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = replace(s, **values)
        for name, check in CHECKS.items():
            value = getattr(settings, name)
            allowed = check(value)
            if allowed is not None:
                shown = str(value) if isinstance(value, Path) else value
                raise ValueError(f"{setting_name(name)} must be {allowed}, not {shown!r}")
        return settings
