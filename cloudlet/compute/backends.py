"""The backends that make sandboxes (sandbox.py), by runtime kind.

  python    a PythonEnvironment: forked from the zygote of the runtime's interpreter, the Lambda
            runtime loop running in the forked process itself; with AWS_LAMBDA_EXEC_WRAPPER set,
            the forked process execs `<wrapper> <interpreter> python_bootstrap.py ...`, which runs
            the same loop in a fresh interpreter
  node      a ProcessEnvironment: node running cloudlet's bootstrap, which speaks the Runtime API
            (through AWS_LAMBDA_EXEC_WRAPPER when the function sets one)
  provided  a ProcessEnvironment: the function's (or a layer's) `bootstrap` executable (AWS starts
            no wrapper for OS-only runtimes)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudlet.compute.environment import (
    NODE_BOOTSTRAP_NAME,
    NODE_LOG_TOKEN_VAR,
    ProcessEnvironment,
    PythonEnvironment,
)
from cloudlet.compute.sandbox import Backend, InitFailure, Sandbox, SandboxRequest
from cloudlet.compute.workspace import (
    exec_wrapper,
    function_environment,
    python_paths,
    python_site_dirs,
    revision_key,
)

PYTHON_BOOTSTRAP_NAME = "python_bootstrap.py"  # in the runtime directory: the loop in a fresh interpreter


async def create_python(req: SandboxRequest) -> Sandbox:
    spec, runtime, fs = req.spec, req.runtime, req.fs
    extra: dict[str, Any] = {
        "handler": spec.handler, "paths": python_paths(fs, runtime, spec),
        "site_dirs": python_site_dirs(fs, runtime, spec), "snap_start": spec.snap_start,
        "identity": req.identity, "seccomp": req.seccomp}
    wrapper = exec_wrapper(spec, runtime)
    if wrapper:
        extra["wrapper"] = wrapper
        extra["bootstrap"] = f"{fs.runtime_dir}/{PYTHON_BOOTSTRAP_NAME}"
    env_vars = function_environment(spec, runtime, fs, req.log_stream, credentials=req.credentials,
                                    endpoint=req.endpoint, provisioned=req.provisioned)
    env = PythonEnvironment(req.env_id, spec, runtime, fs, env_vars, req.zygote, extra, req.hooks)
    env.netns_fd = req.network.fd if req.network is not None else None
    return env


async def create_process(req: SandboxRequest) -> Sandbox:
    spec, runtime, fs = req.spec, req.runtime, req.fs
    extra: dict[str, Any] = {"identity": req.identity, "seccomp": req.seccomp}
    wrapper = exec_wrapper(spec, runtime)
    if wrapper:
        extra["wrapper"] = wrapper
    env = ProcessEnvironment(req.env_id, spec, runtime, fs, {}, req.zygote, extra, req.hooks, argv=process_argv(req))
    env.netns_fd = req.network.fd if req.network is not None else None
    listener = None
    if req.network is not None and req.networks is not None:  # the Runtime API, in its network
        listener = await req.networks.listener(req.network)
    api = await env.open_api(listener)
    env.env_vars = function_environment(spec, runtime, fs, req.log_stream, credentials=req.credentials,
                                        runtime_api=api, endpoint=req.endpoint, provisioned=req.provisioned)
    if runtime.kind == "node":  # cloudlet's bootstrap frames console.* events with it (and forgets it)
        env.env_vars[NODE_LOG_TOKEN_VAR] = env.log_token
    return env


def process_argv(req: SandboxRequest) -> list[str]:
    spec, runtime, fs = req.spec, req.runtime, req.fs
    if runtime.kind == "node":
        assert runtime.executable is not None  # the catalog finds a Node runtime by its executable
        heap = max(16, int(spec.memory_mb * 0.85))
        return [runtime.executable, f"--max-old-space-size={heap}", f"{fs.runtime_dir}/{NODE_BOOTSTRAP_NAME}"]
    rev = req.data_dir / "rev" / revision_key(spec)
    for host_path, view_path in ((Path(spec.code_dir) / "bootstrap", f"{fs.task}/bootstrap"),
                                 (rev / "opt" / "bootstrap", f"{fs.opt}/bootstrap")):
        if host_path.is_file():
            return [view_path]
    raise InitFailure("Runtime.InvalidEntrypoint",
                      f"Couldn't find valid bootstrap(s): [{fs.task}/bootstrap {fs.opt}/bootstrap]")


BACKENDS: dict[str, Backend] = {
    "python": Backend("zygote-fork", forks_interpreter=True, create=create_python),
    "node": Backend("process", forks_interpreter=False, create=create_process),
    "provided": Backend("process", forks_interpreter=False, create=create_process),
}
