"""The runtime environment a function sees, as AWS's: its variables, AWS_LAMBDA_EXEC_WRAPPER, its limits.

AWS's values (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html
#configuration-envvars-runtime, and what functions print there): LAMBDA_TASK_ROOT=/var/task,
LAMBDA_RUNTIME_DIR=/var/runtime, PWD=/var/task (the working directory), PYTHONPATH=/var/runtime
(Python), NODE_PATH=/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:
/var/runtime/node_modules:/var/runtime:/var/task (Node), PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:
/bin:/opt/bin, LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:
/var/task:/var/task/lib:/opt/lib, LANG=en_US.UTF-8, TZ=:UTC, AWS_XRAY_CONTEXT_MISSING=LOG_ERROR,
AWS_XRAY_DAEMON_ADDRESS=169.254.79.129:2000, _AWS_XRAY_DAEMON_ADDRESS, _AWS_XRAY_DAEMON_PORT, SHLVL=0;
AWS_EXECUTION_ENV=AWS_Lambda_<runtime> for managed runtimes, none for OS-only ones. cloudlet's
/var/lang is the runtime's own installation (its interpreter's prefix).

AWS_LAMBDA_EXEC_WRAPPER: the managed runtimes' bootstrap runs `exec "$wrapper" <interpreter>
<runtime bootstrap>`, after saying "<wrapper>: does not exist" (exit 127) or "<wrapper>: is not an
executable" (exit 126) when it cannot; OS-only runtimes ignore it.

Limits (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): 1,024 file
descriptors, 1,024 processes and threads.
"""

from __future__ import annotations

import io
import os
import uuid
import zipfile

import pytest

from cloudlet.compute.isolation import probe_namespaces
from tests.integration.test_lambda_invoke import ROLE, call, create
from tests.integration.test_lambda_log_lines import tail

PROBE = '''
import json, logging, os, resource, subprocess, sys
def handler(event, context):
    logging.getLogger().warning("probe logs")
    shell = subprocess.run(["bash", "-c", "ulimit -n; ulimit -u; ulimit -c; echo $PWD"], capture_output=True,
                           text=True)
    return {"env": dict(os.environ), "cwd": os.getcwd(), "pid": os.getpid(), "executable": sys.executable,
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE), "core": resource.getrlimit(resource.RLIMIT_CORE),
            "nproc": resource.getrlimit(resource.RLIMIT_NPROC), "shell": shell.stdout}
'''

NODE_PROBE = """
exports.handler = async () => ({ env: process.env, cwd: process.cwd(), pid: process.pid, argv: process.argv });
"""


def zip_files(files: dict[str, tuple[str, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, (text, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            z.writestr(info, text)
    return buf.getvalue()


def namespaces() -> bool:
    """Lambda's layout (/var/task, /var/runtime, layers on /opt) is what environments see only
    with mount namespaces; elsewhere the paths are the host's."""
    return probe_namespaces().get("mount") is None


def lambda_paths():
    if not namespaces():
        pytest.skip("no mount namespaces here: environments see the host's paths, not /var/task and /opt")


def test_python_environment_variables(server):
    lam = server.client("lambda")
    name = create(lam, runtime="python3.12", files={"app.py": PROBE}, Environment={"Variables": {"MINE": "1"}})
    resp, out = call(lam, name, {})
    assert "FunctionError" not in resp, out
    env, task, runtime_dir = out["env"], out["env"]["LAMBDA_TASK_ROOT"], out["env"]["LAMBDA_RUNTIME_DIR"]
    assert env["PWD"] == out["cwd"] == task
    assert env["PYTHONPATH"] == runtime_dir
    assert env["LANG"] == "en_US.UTF-8" and env["TZ"] == ":UTC" and env["SHLVL"] == "0"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12" and env["_HANDLER"] == "app.handler"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand" and env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name and env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].split("]")[0].endswith("[$LATEST")
    assert env["AWS_XRAY_CONTEXT_MISSING"] == "LOG_ERROR"
    assert (env["AWS_XRAY_DAEMON_ADDRESS"], env["_AWS_XRAY_DAEMON_ADDRESS"], env["_AWS_XRAY_DAEMON_PORT"]) == (
        "169.254.79.129:2000", "169.254.79.129", "2000")
    assert env["MINE"] == "1" and "NODE_PATH" not in env
    lang = os.path.dirname(os.path.dirname(out["executable"]))  # the runtime's own installation: AWS's /var/lang
    opt = "/opt" if namespaces() else env["PATH"].rsplit(":", 1)[1][:-len("/bin")]
    assert env["PATH"] == f"{lang}/bin:/usr/local/bin:/usr/bin/:/bin:{opt}/bin"
    assert env["LD_LIBRARY_PATH"] == (f"{lang}/lib:/lib64:/usr/lib64:{runtime_dir}:{runtime_dir}/lib:{task}:"
                                      f"{task}/lib:{opt}/lib")
    if namespaces():  # Lambda's paths
        assert (task, runtime_dir) == ("/var/task", "/var/runtime")
        assert out["shell"].splitlines()[-1] == "/var/task"


def test_node_environment_variables(server):
    lam = server.client("lambda")
    name = create(lam, runtime="nodejs20.x", handler="index.handler", files={"index.js": NODE_PROBE})
    resp, out = call(lam, name, {})
    assert "FunctionError" not in resp, out
    env, task, runtime_dir = out["env"], out["env"]["LAMBDA_TASK_ROOT"], out["env"]["LAMBDA_RUNTIME_DIR"]
    assert env["PWD"] == out["cwd"] == task
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs20.x" and "PYTHONPATH" not in env
    assert env["NODE_PATH"].endswith(f"/node_modules:{runtime_dir}:{task}")
    assert "_CLOUDLET_LOG_TOKEN" not in env  # the runtime's own business, gone before the function loads
    if namespaces():
        assert env["NODE_PATH"] == ("/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:"
                                    "/var/runtime/node_modules:/var/runtime:/var/task")
        # (node's own lib/ first when it has one of its own, as AWS's /var/lang/lib; not a system one)
        assert env["LD_LIBRARY_PATH"].endswith("/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:"
                                               "/var/task/lib:/opt/lib")
        assert env["PATH"].endswith(":/usr/local/bin:/usr/bin/:/bin:/opt/bin")


def test_custom_runtime_has_no_execution_env(server):
    bootstrap = """#!/bin/sh
while true; do
  HEADERS=$(mktemp)
  curl -sS -D "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next" > /dev/null
  ID=$(grep -i Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  BODY=$(printf '{"exec_env": "%s", "pwd": "%s", "path": "%s", "wrapper_ran": "%s"}' "${AWS_EXECUTION_ENV:-unset}" \
         "$PWD" "$PATH" "${WRAPPER_RAN:-no}")
  curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$ID/response" -d "$BODY" >/dev/null
done
"""
    lam = server.client("lambda")
    name = f"fn-{uuid.uuid4().hex[:10]}"
    # OS-only runtimes start no wrapper, even one that does not exist
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="unused", Timeout=10,
                        Code={"ZipFile": zip_files({"bootstrap": (bootstrap, 0o755)})},
                        Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/no-such-wrapper"}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    resp, out = call(lam, name, {})
    assert "FunctionError" not in resp, out
    assert out["exec_env"] == "unset" and out["wrapper_ran"] == "no"
    assert out["path"].startswith("/usr/local/bin:/usr/bin/:/bin:")
    if namespaces():
        assert out["pwd"] == "/var/task" and out["path"] == "/usr/local/bin:/usr/bin/:/bin:/opt/bin"


def test_limits_as_lambdas(server):
    """1,024 file descriptors (soft and hard), no core files; 1,024 processes and threads where an
    environment has an id of its own (cloudlet running as root)."""
    lam = server.client("lambda")
    name = create(lam, runtime="python3.12", files={"app.py": PROBE})
    resp, out = call(lam, name, {})
    assert "FunctionError" not in resp, out
    assert out["nofile"] == [1024, 1024] and out["core"] == [0, 0]
    nofile, nproc, core = out["shell"].splitlines()[:3]
    assert (nofile, core) == ("1024", "0")
    if os.geteuid() == 0 and namespaces():
        assert out["nproc"] == [1024, 1024] and nproc == "1024"


WRAPPER = """#!/bin/sh
echo "wrapper got: $(basename -- "$1") $(basename -- "$2")"
export WRAPPED=yes
exec "$@"
"""


def wrapper_layer(lam) -> str:
    name = f"wrap-{uuid.uuid4().hex[:8]}"
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": zip_files({"wrapper": (WRAPPER, 0o755)})},
                                     CompatibleRuntimes=["python3.12", "nodejs20.x"])["LayerVersionArn"]


def test_exec_wrapper_from_a_layer_for_python(server):
    lambda_paths()
    lam = server.client("lambda")
    app = PROBE + '''
import logging
logging.getLogger().warning("module loaded")
'''
    name = create(lam, runtime="python3.12", files={"app.py": app}, Layers=[wrapper_layer(lam)],
                  Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrapper"}})
    resp, out = call(lam, name, {}, LogType="Tail")
    assert "FunctionError" not in resp, out
    assert out["env"]["WRAPPED"] == "yes"  # what the wrapper exported reached the function
    assert out["env"]["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/wrapper"
    assert out["cwd"] == "/var/task" and out["nofile"] == [1024, 1024]
    text = tail(resp)
    assert text.startswith("wrapper got: python3.12 python_bootstrap.py\n"), text  # `<wrapper> <interpreter> ...`
    assert "\tmodule loaded\n" in text and "\tprobe logs\n" in text  # the runtime's log events, framed as ever
    _, again = call(lam, name, {})
    assert again["pid"] == out["pid"]  # the environment stays warm


def test_exec_wrapper_from_the_code_for_node(server):
    lambda_paths()
    lam = server.client("lambda")
    name = f"fn-{uuid.uuid4().hex[:10]}"
    lam.create_function(FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler="index.handler", Timeout=10,
                        Code={"ZipFile": zip_files({"index.js": ("console.log('node loaded');\n" + NODE_PROBE, 0o644),
                                                    "wrapper": (WRAPPER, 0o755)})},
                        Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper"}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    resp, out = call(lam, name, {}, LogType="Tail")
    assert "FunctionError" not in resp, out
    assert out["env"]["WRAPPED"] == "yes"
    assert os.path.basename(out["argv"][0]) == "node" and out["argv"][-1] == "/var/runtime/node_bootstrap.js"
    text = tail(resp)
    assert text.startswith("wrapper got: node --max-old-space-size="), text  # `<wrapper> node <node's arguments>`
    assert "\tundefined\tINFO\tnode loaded\n" in text
    _, again = call(lam, name, {})
    assert again["pid"] == out["pid"]


@pytest.mark.parametrize(("runtime", "handler", "files"), [
    ("python3.12", "app.handler", {"app.py": (PROBE, 0o644), "wrapper": ("#!/bin/sh\nexec \"$@\"\n", 0o644)}),
    ("nodejs20.x", "index.handler", {"index.js": (NODE_PROBE, 0o644)}),
])
def test_a_wrapper_that_cannot_run(server, runtime, handler, files):
    """As AWS's bootstrap: "<wrapper>: does not exist" and exit status 127, "<wrapper>: is not an
    executable" and 126; the invocation fails with Runtime.ExitError."""
    lam = server.client("lambda")
    wrapper = "/var/task/wrapper" if "wrapper" in files else "/opt/no-such-wrapper"
    if wrapper.startswith("/var/task") and not namespaces():
        pytest.skip("no mount namespaces here: the code's folder has no fixed path to name in the variable")
    name = f"fn-{uuid.uuid4().hex[:10]}"
    lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler, Timeout=10,
                        Code={"ZipFile": zip_files(files)},
                        Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": wrapper}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    resp, out = call(lam, name, {}, LogType="Tail")
    status, why = (126, "is not an executable") if "wrapper" in files else (127, "does not exist")
    assert resp.get("FunctionError") == "Unhandled", out
    assert out["errorType"] == "Runtime.ExitError"
    assert out["errorMessage"].endswith(f"Error: Runtime exited with error: exit status {status}"), out
    assert f"{wrapper}: {why}\n" in tail(resp)


def test_pth_files_of_the_code_are_processed(server):
    """As AWS's bootstrap does (site.addsitedir on the code's folder): a .pth file in the package
    puts its folders on sys.path."""
    lam = server.client("lambda")
    name = create(lam, files={"app.py": "import vendored\ndef handler(event, context):\n    return vendored.WHERE\n",
                              "extra.pth": "vendor\n", "vendor/vendored.py": "WHERE = 'from vendor/'\n"})
    resp, out = call(lam, name, {})
    assert "FunctionError" not in resp, out
    assert out == "from vendor/"
