"""Role sessions (gateway/identity.py): issued by one replica, known to every replica sharing the
store, until they expire."""

from __future__ import annotations

import re
import time

import pytest

from cloudlet.config import Settings
from cloudlet.gateway.identity import SESSION_EXPIRIES, SESSIONS, Identities, role_id
from cloudlet.store import open_store

ROLE = "arn:aws:iam::111122223333:role/service-role/app-role"


@pytest.fixture
def store(tmp_path):
    s = open_store(None, tmp_path)
    yield s
    s.close()


def test_a_session_is_known_to_every_replica(store):
    one, two = Identities(Settings(), store), Identities(Settings(), store)
    s = one.issue_session("111122223333", ROLE, "my-fn")
    assert re.fullmatch(r"ASIA[A-Z0-9]{16}", s.access_key) and len(s.secret) == 40 and s.token
    assert two.account_for(s.access_key) == "111122223333"
    assert two.secret_for(s.access_key) == s.secret
    assert two.principal_for(s.access_key, "111122223333") == \
        "arn:aws:sts::111122223333:assumed-role/app-role/my-fn"
    assert two.token_matches(s.access_key, s.token) and not two.token_matches(s.access_key, "other")
    assert not two.token_matches(s.access_key, None) and two.token_matches("test", None)
    assert two.principal_for("test", "000000000000") == "arn:aws:iam::000000000000:root"
    assert two.secret_for("ASIA" + "A" * 16) is None


def test_role_ids_are_stable_and_shaped_like_aws(store):
    rid = role_id("111122223333", "app-role")
    assert re.fullmatch(r"AROA[A-Z0-9]{16}", rid)
    assert rid == role_id("111122223333", "app-role") != role_id("111122223333", "other-role")


def test_expired_sessions_are_refused_and_swept(store):
    ids = Identities(Settings(), store)
    old = ids.issue_session("111122223333", ROLE, "fn", ttl_s=0.01)
    live = ids.issue_session("111122223333", ROLE, "fn")
    time.sleep(0.02)
    assert ids.secret_for(old.access_key) is None  # refused, and forgotten lazily
    assert store.get(SESSIONS + (old.access_key,)) is None
    stale = ids.issue_session("111122223333", ROLE, "fn", ttl_s=0.01)
    time.sleep(0.02)
    assert ids.sweep(now=time.time() + 1) == 1
    assert store.get(SESSIONS + (stale.access_key,)) is None
    assert [k[-1] for k, _ in store.range(SESSION_EXPIRIES)] == [live.access_key]
    assert Identities(Settings(), store).secret_for(live.access_key) == live.secret
