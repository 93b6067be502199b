"""Who is calling: access key -> account id, and the secret to check signatures with.

Access key `test` belongs to the default account. Keys listed in CLOUDLET_CREDENTIALS map
to the account given there; any other key gets a stable account id derived from the key,
so multi-account setups need no configuration at all.

Role sessions: as on AWS, a function runs with temporary credentials of its execution role
(an "ASIA..." access key, a secret and a session token) issued by `issue_session`. They are
kept in the store under a global key until they expire (SESSION_TTL_S, AWS's longest role
session), so every replica sharing the store maps them to the function's account, checks
signatures with their secret and names the caller by the assumed-role ARN
(`arn:aws:sts::<account>:assumed-role/<role-name>/<session-name>`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass

from cloudlet.config import Settings
from cloudlet.store import Store
from cloudlet.store.keyspace import global_key

DEFAULT_KEYS = ("test", "")
SESSION_TTL_S = 12 * 3600  # AWS's longest role session
SESSION_PREFIX = "ASIA"  # what AWS's temporary access keys start with
SESSIONS = global_key("sts", "session")  # + (access key,) -> the session (JSON)
SESSION_EXPIRIES = global_key("sts", "session-expiry")  # + (expires at, access key,) -> b""
SWEEP_EVERY_S = 300.0


@dataclass(frozen=True, slots=True)
class RoleSession:
    access_key: str
    secret: str
    token: str
    account: str
    role_arn: str
    session_name: str
    expires: float

    @property
    def role_name(self) -> str:
        return role_name(self.role_arn)

    @property
    def arn(self) -> str:
        return assumed_role_arn(self.account, self.role_name, self.session_name)

    def to_json(self) -> bytes:
        return json.dumps({"s": self.secret, "t": self.token, "a": self.account, "r": self.role_arn,
                           "n": self.session_name, "e": self.expires}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, access_key: str, raw: bytes) -> RoleSession:
        d = json.loads(raw)
        return cls(access_key, d["s"], d["t"], d["a"], d["r"], d["n"], float(d["e"]))


def role_name(role_arn: str) -> str:
    """`name` of `arn:aws:iam::<account>:role/<path/>name` (an assumed-role ARN has no path)."""
    return role_arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def assumed_role_arn(account: str, role: str, session_name: str) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{role}/{session_name}"


def role_id(account: str, role: str) -> str:
    """A stable unique id for a role, shaped as AWS's (`AROA` + 16 uppercase letters and digits).
    Role names are unique in an account whatever their path, so the id follows account and name."""
    digest = hashlib.sha256(f"role:{account}:{role}".encode()).digest()
    return "AROA" + base64.b32encode(digest[:10]).decode()


class Identities:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self._default = settings.default_account
        self._creds = dict(settings.credentials)
        self._cache: dict[str, str] = {}
        self._store = store
        self._sessions: dict[str, RoleSession] = {}  # issued or seen here, until they expire
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    # ---- role sessions ----

    def issue_session(self, account: str, role_arn: str, session_name: str,
                      ttl_s: float = SESSION_TTL_S) -> RoleSession:
        """New temporary credentials of `role_arn` for `session_name`, valid for `ttl_s` on every
        replica sharing the store (a blocking store write)."""
        key = SESSION_PREFIX + base64.b32encode(secrets.token_bytes(10)).decode()
        session = RoleSession(key, base64.b64encode(secrets.token_bytes(30)).decode(),
                              base64.b64encode(b"cloudlet-session:" + secrets.token_bytes(96)).decode(),
                              account, role_arn, session_name, time.time() + ttl_s)
        if self._store is not None:
            with self._store.transaction() as tx:
                tx.put(SESSIONS + (key,), session.to_json())
                tx.put(SESSION_EXPIRIES + (int(session.expires), key), b"")
        self._remember(session)
        if time.monotonic() - self._swept > SWEEP_EVERY_S:
            self.sweep()
        return session

    def session(self, access_key: str | None) -> RoleSession | None:
        """The live role session of a temporary access key, or None (unknown or expired)."""
        if not access_key or not access_key.startswith(SESSION_PREFIX):
            return None
        found = self._sessions.get(access_key)
        if found is None and self._store is not None:
            raw = self._store.get(SESSIONS + (access_key,))
            if raw is not None:
                found = RoleSession.from_json(access_key, raw)
                self._remember(found)
        if found is not None and found.expires <= time.time():
            self._forget(found)
            return None
        return found

    def sweep(self, now: float | None = None) -> int:
        """Delete the sessions that expired (all replicas' ones); returns how many."""
        self._swept = time.monotonic()
        now = time.time() if now is None else now
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.expires <= now]:
                del self._sessions[key]
        if self._store is None:
            return 0
        expired = self._store.range(SESSION_EXPIRIES, end=SESSION_EXPIRIES + (int(now),), limit=10_000)
        if expired:
            with self._store.transaction() as tx:
                tx.delete_many([SESSIONS + (k[-1],) for k, _ in expired] + [k for k, _ in expired])
        return len(expired)

    def _remember(self, session: RoleSession) -> None:
        with self._lock:
            if len(self._sessions) >= 50_000:
                self._sessions.clear()
            self._sessions[session.access_key] = session

    def _forget(self, session: RoleSession) -> None:
        with self._lock:
            self._sessions.pop(session.access_key, None)
        if self._store is not None:
            with self._store.transaction() as tx:
                tx.delete_many([SESSIONS + (session.access_key,),
                                SESSION_EXPIRIES + (int(session.expires), session.access_key)])

    def token_matches(self, access_key: str, token: str | None) -> bool:
        """Whether `token` is the session token of `access_key` (True for keys of no session)."""
        session = self.session(access_key)
        return session is None or (token is not None and secrets.compare_digest(token, session.token))

    # ---- who is calling ----

    def principal_for(self, access_key: str | None, account: str) -> str:
        """The caller's ARN: the assumed-role ARN of a role session, else the account's root."""
        session = self.session(access_key)
        return session.arn if session is not None else f"arn:aws:iam::{account}:root"

    def account_for(self, access_key: str | None) -> str:
        if access_key and access_key.startswith(SESSION_PREFIX):
            session = self.session(access_key)
            if session is not None:
                return session.account
        if not access_key or access_key in DEFAULT_KEYS:
            cfg = self._creds.get(access_key or "")
            return cfg[1] if cfg and cfg[1] else self._default
        account = self._cache.get(access_key)
        if account is None:
            cfg = self._creds.get(access_key)
            account = cfg[1] if cfg and cfg[1] else derived_account(access_key)
            if len(self._cache) < 10_000:
                self._cache[access_key] = account
        return account

    def secret_for(self, access_key: str) -> str | None:
        """The secret signatures are checked against. Without configured credentials the
        well-known `test`/`test` pair is accepted, so enforcement works out of the box.
        A role session's key is checked against the session's secret."""
        session = self.session(access_key)
        if session is not None:
            return session.secret
        cfg = self._creds.get(access_key)
        if cfg is not None:
            return cfg[0]
        if access_key == "test" and not self._creds:
            return "test"
        return None


def derived_account(access_key: str) -> str:
    """A stable 12-digit account id for an access key nobody configured."""
    digest = hashlib.sha256(access_key.encode("utf-8")).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**12:012d}"
