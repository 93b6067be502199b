"""Who is calling: access key -> account id, and the secret to check signatures with.

Access key `test` belongs to the default account. Keys listed in CLOUDLET_CREDENTIALS map
to the account given there; any other key gets a stable account id derived from the key,
so multi-account setups need no configuration at all.
"""

from __future__ import annotations

import hashlib

from cloudlet.config import Settings

DEFAULT_KEYS = ("test", "")


class Identities:
    def __init__(self, settings: Settings) -> None:
        self._default = settings.default_account
        self._creds = dict(settings.credentials)
        self._cache: dict[str, str] = {}

    def account_for(self, access_key: str | None) -> str:
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
        well-known `test`/`test` pair is accepted, so enforcement works out of the box."""
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
