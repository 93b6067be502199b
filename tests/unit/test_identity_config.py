from __future__ import annotations

import re

import pytest

from cloudlet.config import Settings, parse_credentials
from cloudlet.gateway.identity import Identities, derived_account


def test_default_and_derived_accounts():
    ids = Identities(Settings())
    assert ids.account_for("test") == "000000000000"
    assert ids.account_for("") == "000000000000"
    a = ids.account_for("AKIAEXAMPLE1")
    assert a == derived_account("AKIAEXAMPLE1") == Identities(Settings()).account_for("AKIAEXAMPLE1")
    assert len(a) == 12 and a.isdigit() and a != ids.account_for("AKIAEXAMPLE2")


def test_configured_mapping_and_default_account():
    s = Settings.from_env({"CLOUDLET_CREDENTIALS": "AKIA1:sec1:111111111111,AKIA2:sec2",
                           "CLOUDLET_DEFAULT_ACCOUNT": "222222222222"})
    ids = Identities(s)
    assert ids.account_for("AKIA1") == "111111111111"
    assert ids.account_for("AKIA2") == derived_account("AKIA2")
    assert ids.account_for("test") == "222222222222"
    assert ids.secret_for("AKIA1") == "sec1"
    assert ids.secret_for("test") is None  # only the configured keys once any are configured
    assert Identities(Settings()).secret_for("test") == "test"


def test_settings_from_env_and_overrides(tmp_path):
    s = Settings.from_env({"CLOUDLET_PORT": "5000", "CLOUDLET_ENFORCE_SIGV4": "true",
                           "CLOUDLET_DATA_DIR": str(tmp_path)}, port=6000)
    assert s.port == 6000 and s.enforce_sigv4 and s.data_dir == tmp_path


@pytest.mark.parametrize("bad", ["nocolon", ":secret", "AKIA:s:123"])
def test_bad_credentials(bad):
    with pytest.raises(ValueError):
        parse_credentials(bad)


def test_bad_default_account():
    with pytest.raises(ValueError):
        Settings.from_env({"CLOUDLET_DEFAULT_ACCOUNT": "12"})


@pytest.mark.parametrize(("env", "overrides", "message"), [
    ({"CLOUDLET_PORT": "70000"}, {}, "CLOUDLET_PORT (--port) must be a port number from 0 to 65535, not 70000"),
    ({"CLOUDLET_PORT": "abc"}, {}, "CLOUDLET_PORT (--port) must be a whole number, not 'abc'"),
    ({}, {"port": -1}, "CLOUDLET_PORT (--port) must be a port number from 0 to 65535, not -1"),
    ({"CLOUDLET_LOG_LEVEL": "loud"}, {}, "CLOUDLET_LOG_LEVEL (--log-level) must be one of debug, info, warning, "
                                         "error, critical, not 'loud'"),
    ({"CLOUDLET_ENFORCE_SIGV4": "maybe"}, {}, "CLOUDLET_ENFORCE_SIGV4 (--enforce-sigv4) must be one of 1, true, "
                                              "yes, on or 0, false, no, off, not 'maybe'"),
    ({"CLOUDLET_LAMBDA_CONCURRENCY_LIMIT": "-1"}, {}, "CLOUDLET_LAMBDA_CONCURRENCY_LIMIT (--lambda-concurrency-limit) must be at least 1, not -1"),
    ({"CLOUDLET_LAMBDA_IDLE_TIMEOUT": "0"}, {}, "CLOUDLET_LAMBDA_IDLE_TIMEOUT (--lambda-idle-timeout) must be a number of seconds above 0"),
    ({"CLOUDLET_LAMBDA_RETRY_DELAYS": "soon"}, {}, "CLOUDLET_LAMBDA_RETRY_DELAYS (--lambda-retry-delays) must be seconds before each retry"),
    ({"CLOUDLET_REGION": "mars"}, {}, "CLOUDLET_REGION (--region) must be a region name, like us-east-1, not 'mars'"),
    ({"CLOUDLET_SQLITE_SYNCHRONOUS": "sometimes"}, {}, "CLOUDLET_SQLITE_SYNCHRONOUS (--sqlite-synchronous) must be one of OFF, NORMAL"),
    ({"CLOUDLET_DATABASE_URL": "mysql://x"}, {}, "CLOUDLET_DATABASE_URL (--database-url) must be a postgresql:// URL"),
])
def test_every_bad_setting_is_named_with_what_it_may_be(env, overrides, message):
    with pytest.raises(ValueError) as caught:
        Settings.from_env(env, **overrides)
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_data_dir_that_is_a_file_is_refused(tmp_path):
    file = tmp_path / "state"
    file.write_text("x")
    with pytest.raises(ValueError, match=r"CLOUDLET_DATA_DIR \(--data-dir\) must be a directory \(that path is a file\)"):
        Settings.from_env({}, data_dir=file)
    assert Settings.from_env({"CLOUDLET_ENFORCE_SIGV4": "off", "CLOUDLET_PORT": "0"}).enforce_sigv4 is False


def test_lambda_network_setting():
    assert Settings().lambda_network == "internet"
    assert Settings.from_env({"CLOUDLET_LAMBDA_NETWORK": "host"}).lambda_network == "host"
    with pytest.raises(ValueError, match=re.escape("CLOUDLET_LAMBDA_NETWORK (--lambda-network) must be one of "
                                                    "internet, isolated, host, not 'maybe'")):
        Settings.from_env({"CLOUDLET_LAMBDA_NETWORK": "maybe"})


def test_ephemeral_state_outside_tmp_and_stale_state_swept():
    """--ephemeral keeps state in /var/tmp (functions get a private /tmp mounted over /tmp) and
    removes what a killed cloudlet process left there."""
    import os
    from pathlib import Path

    from cloudlet.config import ephemeral_parent
    from cloudlet.platform import Platform

    parent = Path(ephemeral_parent() or "/tmp")
    stale = parent / "cloudlet-4194303999-stale"  # no such pid
    (stale / "blobs").mkdir(parents=True, exist_ok=True)
    p = Platform(Settings(ephemeral=True))
    try:
        assert not stale.exists()
        assert p.data_dir.parent == parent and p.data_dir.name.startswith(f"cloudlet-{os.getpid()}-")
        if "TMPDIR" not in os.environ and os.access("/var/tmp", os.W_OK):
            assert str(p.data_dir).startswith("/var/tmp/")
    finally:
        p.close()
    assert not p.data_dir.exists()
