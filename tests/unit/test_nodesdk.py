"""The Node runtimes' AWS SDK: where it is cached, what the install keeps, when start-up installs
it, and how environments see it (compute/nodesdk.py, compute/workspace.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudlet.compute import nodesdk
from cloudlet.compute.catalog import Runtime
from cloudlet.compute.workspace import EnvFS, function_environment, sdk_beside_code
from tests.unit.test_compute_helpers import make_spec

REQUIRED = ["client-s3", "client-dynamodb", "lib-dynamodb", "client-sqs", "client-sns", "client-lambda", "client-sts",
            "client-cloudwatch-logs", "client-eventbridge", "client-kinesis", "client-ssm", "client-secrets-manager",
            "client-kms", "client-sfn", "credential-providers"]


def test_the_pinned_set_is_exact_and_locked():
    manifest = json.loads((nodesdk.PACKAGE_DIR / "package.json").read_text())
    lock = json.loads((nodesdk.PACKAGE_DIR / "package-lock.json").read_text())
    assert sorted(manifest["dependencies"]) == sorted(f"@aws-sdk/{name}" for name in REQUIRED)
    for name, version in manifest["dependencies"].items():
        assert version[0].isdigit(), f"{name} is not pinned to an exact version: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version  # the lock agrees
    assert lock["packages"][""]["dependencies"] == manifest["dependencies"]


def test_the_cache_follows_xdg_cache_home_and_the_lock(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert nodesdk.install_dir() == tmp_path / "cloudlet" / "node-sdk" / nodesdk.lock_hash()
    assert nodesdk.modules_dir() is None
    (nodesdk.install_dir() / "node_modules").mkdir(parents=True)
    assert nodesdk.modules_dir() == nodesdk.install_dir() / "node_modules"


def test_prune_keeps_what_node_loads(tmp_path):
    for package in ("@aws-sdk/client-s3", "@smithy/core", "tslib"):
        root = tmp_path / package
        for part in ("dist-cjs", "dist-es", "dist-types"):
            (root / part).mkdir(parents=True)
            (root / part / "index.js").write_text("")
        (root / "package.json").write_text("{}")
    (tmp_path / "bowser" / "src").mkdir(parents=True)  # no dist-cjs: left alone
    (tmp_path / "bowser" / "package.json").write_text("{}")
    (tmp_path / "bowser" / "dist-es").mkdir()
    nodesdk.prune(tmp_path)
    for package in ("@aws-sdk/client-s3", "@smithy/core", "tslib"):
        assert sorted(p.name for p in (tmp_path / package).iterdir()) == ["dist-cjs", "package.json"]
    assert (tmp_path / "bowser" / "dist-es").is_dir()


def test_without_npm_install_says_what_to_do_and_start_up_does_not_try(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(nodesdk.NodeSdkError, match="npm is not installed.*cloudlet setup"):
        nodesdk.install()
    background = nodesdk.BackgroundInstall()
    assert background.start() is False and background.thread is None


def test_start_up_does_nothing_when_it_is_installed(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (nodesdk.install_dir() / "node_modules").mkdir(parents=True)
    assert nodesdk.BackgroundInstall().start() is False
    assert nodesdk.install().fresh is False  # no npm run either


NODE = Runtime("nodejs20.x", "node", "/usr/bin/node", "")


def test_node_path_puts_the_runtime_sdk_after_the_layers_and_before_the_code(tmp_path):
    spec = make_spec(tmp_path, runtime="nodejs20.x", handler="index.handler")
    fs = EnvFS(tmp_path, "/var/task", "/opt", "/tmp", None, runtime_dir="/var/runtime",
               node_sdk="/var/runtime/node_modules")
    env = function_environment(spec, NODE, fs, "stream")
    assert env["NODE_PATH"] == ("/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:"
                                "/var/runtime/node_modules:/var/runtime:/var/task")  # AWS's, to the letter
    fs.node_sdk = None  # not installed (yet)
    assert function_environment(spec, NODE, fs, "stream")["NODE_PATH"] == (
        "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime:/var/task")


def test_the_sdk_is_linked_beside_the_code_unless_layers_bring_node_packages(tmp_path):
    rev = tmp_path / "rev"
    (rev / "opt").mkdir(parents=True)
    assert sdk_beside_code(rev, NODE)
    (rev / "opt" / "nodejs" / "lib").mkdir(parents=True)
    assert sdk_beside_code(rev, NODE)  # no node_modules in the layers
    (rev / "opt" / "nodejs" / "node18" / "node_modules").mkdir(parents=True)
    assert sdk_beside_code(rev, NODE)  # another Node version's folder
    (rev / "opt" / "nodejs" / "node20" / "node_modules").mkdir(parents=True)
    assert not sdk_beside_code(rev, NODE)


def test_the_runtime_directory_ships_the_mount_point():
    from cloudlet.compute.workspace import NODE_SDK_MOUNT_POINT

    assert NODE_SDK_MOUNT_POINT.is_dir() and NODE_SDK_MOUNT_POINT.name == "node_modules"
    assert [p.name for p in NODE_SDK_MOUNT_POINT.iterdir()] == ["README.md"]
    assert Path(nodesdk.PACKAGE_DIR, "package-lock.json").is_file()


def test_a_failed_npm_is_summed_up_without_its_stack():
    err = """npm error code ECONNREFUSED
npm error syscall connect
npm error FetchError: request to http://127.0.0.1:9/tslib failed, reason: connect ECONNREFUSED 127.0.0.1:9
npm error     at ClientRequest.<anonymous> (/usr/lib/node_modules/npm/lib/index.js:130:14)
npm error   code: 'ECONNREFUSED',
npm error }
npm error A complete log of this run can be found in: /root/.npm/_logs/x-debug-0.log"""
    assert nodesdk._summary(err) == ("code ECONNREFUSED | FetchError: request to http://127.0.0.1:9/tslib failed, "
                                     "reason: connect ECONNREFUSED 127.0.0.1:9 | A complete log of this run can be "
                                     "found in: /root/.npm/_logs/x-debug-0.log")
