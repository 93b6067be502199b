"""Settings, from CLOUDLET_* environment variables; the CLI's flags override them."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_ACCOUNT = "000000000000"


def _bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


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
    lambda_prefork: int = 16                 # pre-forked blank environments kept per interpreter in use
    lambda_network: str = "internet"         # functions reach: "internet" (and cloudlet), "isolated" (only cloudlet), "host"
    debug_loop_blocking: bool = False        # PostgreSQL store calls on the event loop thread raise
    operator_token: str = ""                 # for state-changing /_cloudlet/ endpoints; "": one made at start

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if env is None else env)
        s = cls()
        # Each field's parser: the values are as heterogeneous as the fields, hence Any.
        values: dict[str, Any] = {}
        conv: dict[str, Callable[[str], Any]] = {
            "host": str, "port": int, "data_dir": Path, "blob_dir": Path, "database_url": str, "postgres_schema": str, "ephemeral": _bool,
            "log_level": str, "region": str, "default_account": str, "credentials": parse_credentials,
            "enforce_sigv4": _bool, "max_body_bytes": int, "sqlite_synchronous": str, "worker_threads": int,
            "lambda_concurrency_limit": int, "lambda_idle_timeout": float, "lambda_retry_delays": str,
            "lambda_prefork": int, "lambda_network": str, "debug_loop_blocking": _bool, "operator_token": str,
        }
        for f in fields(s):
            key = "CLOUDLET_" + f.name.upper()
            if key in env and env[key] != "":
                values[f.name] = conv[f.name](env[key])
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = replace(s, **values)
        if not (settings.default_account.isdigit() and len(settings.default_account) == 12):
            raise ValueError("CLOUDLET_DEFAULT_ACCOUNT must be a 12-digit account id")
        if settings.lambda_network not in LAMBDA_NETWORKS:
            raise ValueError(f"CLOUDLET_LAMBDA_NETWORK must be one of {', '.join(LAMBDA_NETWORKS)}, "
                             f"not {settings.lambda_network!r}")
        return settings
