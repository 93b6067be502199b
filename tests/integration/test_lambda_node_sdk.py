"""Node functions use the AWS SDK for JavaScript v3 without bundling it, as on AWS's nodejs18.x+
runtimes: `require` and ES module `import` find the SDK that `cloudlet setup` installs
(compute/nodesdk.py), in AWS's order (the function's own node_modules, the layers', the
runtime's), and it calls cloudlet back through the AWS_ENDPOINT_URL the function gets."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

import pytest

from cloudlet.compute import nodesdk
from tests.conftest import Server
from tests.integration.test_lambda_invoke import call, create, make_zip


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    """The SDK, installed through the same code path as `cloudlet setup` (cached: fast after the
    first run). Skips only where there is no npm (or node); a failed install fails."""
    if shutil.which("node") is None or nodesdk.npm() is None:
        pytest.skip("Node.js with npm is not installed: Node functions get no AWS SDK here")
    done = nodesdk.install()
    assert done is not None
    return done.path


CJS_HANDLER = """
const fs = require("node:fs");
const path = require("node:path");
const { LambdaClient, ListFunctionsCommand } = require("@aws-sdk/client-lambda");

exports.handler = async (event, context) => {
  const out = await new LambdaClient({}).send(new ListFunctionsCommand({}));
  const resolved = require.resolve("@aws-sdk/client-lambda");
  let write = "allowed";
  try { fs.writeFileSync(path.join(path.dirname(resolved), "x"), "x"); } catch (e) { write = e.code; }
  return { names: out.Functions.map((f) => f.FunctionName), resolved, write,
           nodePath: process.env.NODE_PATH, me: context.functionName };
};
"""

ESM_HANDLER = """
import { lstatSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { LambdaClient, GetFunctionConfigurationCommand } from "@aws-sdk/client-lambda";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

export const handler = async (event, context) => {
  const who = await new STSClient({}).send(new GetCallerIdentityCommand({}));
  const me = await new LambdaClient({}).send(
    new GetFunctionConfigurationCommand({ FunctionName: context.functionName }));
  // ES modules find the SDK through a node_modules link beside the code's folder (no loader hook).
  const link = join(dirname(process.env.LAMBDA_TASK_ROOT), "node_modules");
  return { account: who.Account, runtime: me.Runtime, handler: me.Handler,
           documentClient: typeof DynamoDBDocumentClient.from, linked: lstatSync(link).isSymbolicLink(),
           sameSdk: realpathSync(link) === realpathSync(process.env.NODE_PATH.split(":").at(-3)) };
};
"""


def test_a_commonjs_handler_requires_the_runtime_sdk_and_calls_cloudlet(server, node_sdk):
    lam = server.client("lambda")
    name = create(lam, runtime="nodejs20.x", handler="index.handler", files={"index.js": CJS_HANDLER}, Timeout=30)
    resp, out = call(lam, name, {})
    assert "FunctionError" not in resp, out
    assert name in out["names"]  # ListFunctions answered by cloudlet, through AWS_ENDPOINT_URL
    sdk = out["resolved"].split("/@aws-sdk/")[0]
    assert out["resolved"] == f"{sdk}/@aws-sdk/client-lambda/dist-cjs/index.js"
    # AWS's order: the layers' folders, the runtime's SDK, the runtime's folder, the code.
    paths = out["nodePath"].split(":")
    assert paths[-3:] == [sdk, paths[-2], paths[-1]] and paths[-1].endswith("task")
    assert paths[0].endswith("/nodejs/node20/node_modules") and paths[1].endswith("/nodejs/node_modules")
    assert out["write"] in ("EROFS", "EACCES")  # the SDK is read-only for functions


def test_an_es_module_handler_imports_the_runtime_sdk_and_calls_cloudlet(server, node_sdk):
    lam = server.client("lambda")
    name = create(lam, runtime="nodejs22.x", handler="index.handler", files={"index.mjs": ESM_HANDLER}, Timeout=30)
    resp, out = call(lam, name, {})
    assert "FunctionError" not in resp, out
    assert out == {"account": "000000000000", "runtime": "nodejs22.x", "handler": "index.handler",
                   "documentClient": "function", "linked": True, "sameSdk": True}


def test_a_js_handler_in_a_module_package_imports_the_sdk(server, node_sdk):
    """A .js handler is an ES module when its package.json says "type": "module"."""
    lam = server.client("lambda")
    name = create(lam, runtime="nodejs20.x", handler="src/app.handler",
                  files={"package.json": json.dumps({"type": "module"}), "src/app.js": ESM_HANDLER}, Timeout=30)
    resp, out = call(lam, name, {})
    assert "FunctionError" not in resp, out
    assert out["account"] == "000000000000"


WHO = """
import * as sts from "@aws-sdk/client-sts";
export const handler = async () => ({ sts: sts.WHO || "runtime", esm: await import("greeting").then((m) => m.hello()) });
"""

WHO_CJS = """
exports.handler = async () => ({ sts: require("@aws-sdk/client-sts").WHO || "runtime" });
"""


def fake_package(prefix: str, name: str, who: str) -> dict[str, str]:
    return {f"{prefix}/{name}/package.json": json.dumps({"name": name, "main": "index.js"}),
            f"{prefix}/{name}/index.js": f"exports.WHO = {json.dumps(who)};\n"}


def test_imports_find_the_code_then_the_layers_then_the_runtime(server, node_sdk):
    """As on AWS: the function's own node_modules wins over a layer's, a layer's over the
    runtime's SDK, for ES module imports too (Node reads NODE_PATH for require() only)."""
    lam = server.client("lambda")
    greeting = {"nodejs/node_modules/greeting/package.json": json.dumps({"name": "greeting", "type": "module",
                                                                          "exports": "./main.js"}),
                "nodejs/node_modules/greeting/main.js": "export const hello = () => 'hello from a layer';\n"}
    layer = lam.publish_layer_version(
        LayerName=f"sdk-{uuid.uuid4().hex[:8]}", CompatibleRuntimes=["nodejs20.x"],
        Content={"ZipFile": make_zip({**greeting, **fake_package("nodejs/node_modules", "@aws-sdk/client-sts",
                                                                   "layer")})})["LayerVersionArn"]
    from_layer = create(lam, runtime="nodejs20.x", handler="index.handler", files={"index.mjs": WHO},
                        Layers=[layer], Timeout=30)
    resp, out = call(lam, from_layer, {})
    assert "FunctionError" not in resp, out
    assert out == {"sts": "layer", "esm": "hello from a layer"}

    resp, out = call(lam, create(lam, runtime="nodejs20.x", handler="index.handler", files={"index.js": WHO_CJS},
                                 Layers=[layer], Timeout=30), {})
    assert out == {"sts": "layer"}  # require() too

    bundled = {"index.mjs": WHO, **fake_package("node_modules", "@aws-sdk/client-sts", "bundled")}
    own = create(lam, runtime="nodejs20.x", handler="index.handler", files=bundled, Layers=[layer], Timeout=30)
    resp, out = call(lam, own, {})
    assert "FunctionError" not in resp, out
    assert out == {"sts": "bundled", "esm": "hello from a layer"}


def test_a_missing_package_fails_as_on_aws(server, node_sdk):
    lam = server.client("lambda")
    name = create(lam, runtime="nodejs20.x", handler="index.handler", Timeout=30,
                  files={"index.mjs": 'import { X } from "@aws-sdk/client-nonexistent";\nexport const handler = () => X;\n'})
    resp, out = call(lam, name, {})
    assert resp["FunctionError"] == "Unhandled"
    assert "@aws-sdk/client-nonexistent" in out["errorMessage"], out


def test_cloudlet_setup_reports_the_installed_sdk(node_sdk):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "cloudlet", "setup"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"already installed in {node_sdk}:" in done.stdout and " packages, " in done.stdout


def test_cloudlet_start_installs_a_missing_sdk_in_the_background(node_sdk, tmp_path):
    """Start-up does not wait for it: the server answers at once; the SDK lands in the cache."""
    srv = Server(env={"XDG_CACHE_HOME": str(tmp_path)}, args=["--log-level", "info"]).start()
    try:
        target = tmp_path / "cloudlet" / "node-sdk" / nodesdk.lock_hash() / "node_modules"
        deadline = time.monotonic() + 100
        while not target.is_dir() and time.monotonic() < deadline and srv.proc.poll() is None:
            time.sleep(0.2)
        assert target.is_dir(), srv.log()
        assert (target / "@aws-sdk" / "client-s3" / "dist-cjs" / "index.js").is_file()
        assert not (target / "@aws-sdk" / "client-s3" / "dist-types").exists()  # pruned to what Node loads
        log = srv.log()
        assert log.count("installing the AWS SDK for JavaScript v3") == 1 and "cloudlet setup" in log
        assert "could not install" not in log
    finally:
        srv.stop()


def test_a_failed_background_install_says_how_to_retry(node_sdk, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path), "npm_config_registry": "http://127.0.0.1:9/",
           "npm_config_fetch_retries": "0", "npm_config_cache": str(tmp_path / "npm-cache")}
    srv = Server(env=env).start()
    try:
        deadline = time.monotonic() + 60
        while "could not install" not in srv.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        log = srv.log()
        assert "WARNING" in log and "could not install the AWS SDK for JavaScript v3" in log, log
        assert "`cloudlet setup`" in log
        assert not (tmp_path / "cloudlet" / "node-sdk" / nodesdk.lock_hash()).exists()
        assert not [p for p in (tmp_path / "cloudlet" / "node-sdk").iterdir() if p.name.endswith(".staging")]
    finally:
        srv.stop()
    assert os.path.isdir(node_sdk)  # the real cache is untouched
