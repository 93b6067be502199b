"""Execution environments (the Sandbox seam): one process tree that runs one invocation at a time.

    env = PythonEnvironment(...) | ProcessEnvironment(...)
    outcome = await env.start(deadline)        # the init phase (cold start)
    outcome = await env.invoke(inv, deadline)  # one invocation; warm ones reuse the process
    env.stop()                                 # kill the tree, release its cgroup and files

Both return an Outcome: "ok", "error" (the runtime reported a function error), "init_error",
"exit" (the process died: crash, sys.exit, OOM kill) or "timeout" (the deadline passed; the
environment is killed). After anything but "ok"/"error" the environment is dead.

PythonEnvironment is forked from the interpreter's zygote and speaks length-prefixed frames
over a socketpair (runtimes/python_runtime.py). ProcessEnvironment (node, custom runtimes) is
forked from the exec zygote, which execs the runtime; it speaks the Lambda Runtime API over
HTTP to a listener of its own (runtime_api.py).
"""

from __future__ import annotations

import array
import asyncio
import json
import os
import secrets
import signal
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cloudlet.compute.catalog import Runtime
from cloudlet.compute.isolation import Cgroup
from cloudlet.compute.logs import Line, LogPipe, log_stream_name
from cloudlet.compute.runtime_api import RuntimeAPIServer
from cloudlet.compute.streaming import ResponseStream
from cloudlet.compute.types import FunctionSpec
from cloudlet.compute.workspace import EnvFS
from cloudlet.compute.zygote import Zygote

FRAME = struct.Struct("<II")
MAX_RESPONSE = 6 * 1024 * 1024 + 100  # 6291556 bytes, the synchronous response limit
# A streamed response (InvokeWithResponseStream, RESPONSE_STREAM function URLs) may be larger: AWS
# raised its limit from a 20 MB soft limit to 200 MB in July 2025. Responses streamed to an Invoke
# caller are buffered and keep the 6 MB limit.
MAX_STREAMED_RESPONSE = 200 * 1024 * 1024
# Lambda's quotas per execution environment: processes and threads together, file descriptors
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_TASKS = 1024
MAX_FILES = 1024
NODE_BOOTSTRAP_NAME = "node_bootstrap.js"  # in the runtime directory (EnvFS.runtime_dir)
NODE_LOG_TOKEN_VAR = "_CLOUDLET_LOG_TOKEN"  # the log token (logs.py) for node_bootstrap.js, which unsets it


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int  # epoch ms
    invoked_arn: str
    client_context: str | None = None
    cognito_identity: str | None = None
    trace_id: str | None = None
    stream: ResponseStream | None = None  # the caller reads a streamed response as it is written


@dataclass
class Outcome:
    kind: str  # ok | error | init_error | exit | timeout
    payload: bytes = b""
    error_type: str | None = None
    init_ms: float | None = None
    max_rss_kb: int = 0
    status: int | None = None  # wait status for "exit"
    detail: str = ""
    warnings: list[str] = field(default_factory=list)


class Environment:
    kind = "base"

    def __init__(self, env_id: str, spec: FunctionSpec, runtime: Runtime, fs: EnvFS, env_vars: dict,
                 zygote: Zygote, setup_extra: dict, hooks) -> None:
        self.id = env_id
        self.spec = spec
        self.runtime = runtime
        self.fs = fs
        self.env_vars = env_vars
        self.zygote = zygote
        self.cgroup: Cgroup | None = None
        self.setup_extra = setup_extra
        self.hooks = hooks  # the manager: env_idle_lines(env, lines), env_dead(env)
        self.log_stream = env_vars.get("AWS_LAMBDA_LOG_STREAM_NAME") or log_stream_name(spec.version)
        self.log_token = secrets.token_hex(8)  # marks the runtime's own log events in its output (logs.py)
        self.pid: int | None = None
        self.pidfd: int | None = None
        self._ctrl: socket.socket | None = None
        self.logs: LogPipe | None = None
        self.dead = False
        self.retired = False
        self.provisioned: str | None = None  # the provision keeping it warm, if any (manager.py)
        self.busy = False
        self.exit_status: int | None = None
        self.created = time.monotonic()
        self.last_used = self.created
        self.invocations = 0
        self.init_phases: dict[str, float] = {}  # Python: ms spent isolating, in the process setup, runtime, handler import
        self.max_rss_kb = 0
        self.netns_fd: int | None = None  # the network namespace to join (its account's), if any
        self._waiter: asyncio.Future | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    # ---- waiting with a deadline ---------------------------------------------------------------

    def _arm(self, deadline: float) -> asyncio.Future:
        """A fresh waiter that resolves to Outcome("timeout") at `deadline` (time.monotonic())."""
        self._waiter = fut = self._loop.create_future()
        delay = max(0.0, deadline - time.monotonic())
        self._timer = self._loop.call_later(delay, self._on_deadline)
        return fut

    def _resolve(self, outcome: Outcome) -> None:
        fut = self._waiter
        if fut is not None and not fut.done():
            fut.set_result(outcome)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_deadline(self) -> None:
        self._timer = None
        self._resolve(Outcome("timeout"))
        self.kill()

    async def _wait(self, fut: asyncio.Future) -> Outcome:
        try:
            return await fut
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._waiter = None

    # ---- what each kind of environment does ---------------------------------------------------

    async def start(self, deadline: float) -> Outcome:
        """Start the process and run the function's init phase, by `deadline` (time.monotonic())."""
        raise NotImplementedError

    async def invoke(self, inv: Invocation, deadline: float) -> Outcome:
        """Run one invocation, by `deadline` (time.monotonic())."""
        raise NotImplementedError

    # ---- the function's output ---------------------------------------------------------------

    def record_logs(self) -> None:
        """Keep the function's output for the next take_logs() instead of passing it on as idle output."""
        if self.logs is not None:
            self.logs.record()

    def take_logs(self) -> list[Line]:
        """The output kept since record_logs() (none if the process never started); stops keeping it."""
        return self.logs.take() if self.logs is not None else []

    # ---- process lifecycle -----------------------------------------------------------------------

    async def _launch(self, mode: str, deadline: float, setup: dict) -> asyncio.Future:
        """Adopt a blank child from the zygote, give it its memory limit and send it `setup`.
        Returns the armed waiter for the init outcome."""
        blank = await self.zygote.take()
        self.pid, self.pidfd, blank.pidfd = blank.pid, blank.pidfd, None
        self.cgroup = blank.cgroup
        self.zygote.adopt(blank, self)
        self.logs = LogPipe(blank.log_r, self._idle_lines, self.log_token)
        self.logs.record()
        self._ctrl = blank.ctrl
        self._ctrl.setblocking(False)
        fut = self._arm(deadline)
        if blank.dead:
            self.process_exited(blank.exit_status if blank.exit_status is not None else 9)
            return fut
        setup = {"mode": mode, "env": self.env_vars, "cwd": self.fs.task, "nofile": MAX_FILES, "max_tasks": MAX_TASKS,
                 "ns": self.fs.mounts, "log_token": self.log_token,
                 **self.setup_extra, **setup}
        if self.cgroup is not None:
            setup["cgroup_writes"] = self.cgroup.limit_writes(self.spec.memory_mb)
        elif mode == "python":
            setup["rlimit_as_extra"] = self.spec.memory_mb << 20
        # Passed with the setup, by their index among its fds: the network namespace to join,
        # and /tmp as a detached mount (a capped filesystem made after the blank's namespace).
        fds: list[int] = []
        if self.netns_fd is not None:
            setup["netns"] = len(fds)
            fds.append(self.netns_fd)
        tree, self.fs.tmp_tree = self.fs.tmp_tree, -1  # ours to close once sent
        if tree >= 0 and self.fs.mounts is not None:
            setup["tmp_tree"] = len(fds)
            fds.append(tree)
        elif self.fs.tmp_size and self.fs.mounts is not None:
            setup["tmp_problem"] = "no capped /tmp could be passed"  # the setup fails, saying so
        self._loop.add_reader(self._ctrl.fileno(), self._on_ctrl)
        meta = json.dumps({"k": "setup", "setup": setup}).encode()
        try:
            self._send(FRAME.pack(len(meta), 0) + meta, fds=fds)
        finally:
            if tree >= 0:
                os.close(tree)
        return fut

    def _send(self, data: bytes, fds: list[int] | None = None) -> None:
        if self._ctrl is None:
            return  # the process is gone: its exit will resolve the waiter
        try:
            if fds:  # with the first bytes, so the process has them with the frame's header
                sent = self._ctrl.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
            else:
                sent = self._ctrl.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return  # likewise
        if sent < len(data):
            self._loop.create_task(self._send_rest(memoryview(data)[sent:]))

    async def _send_rest(self, data: memoryview) -> None:
        if self._ctrl is None:
            return
        try:
            await self._loop.sock_sendall(self._ctrl, data)
        except OSError:
            pass

    def _on_ctrl(self) -> None:
        raise NotImplementedError

    def _close_ctrl(self) -> None:
        if self._ctrl is not None:
            self._loop.remove_reader(self._ctrl.fileno())
            self._ctrl.close()
            self._ctrl = None

    def _idle_lines(self, lines) -> None:
        self.hooks.env_idle_lines(self, lines)

    def process_exited(self, status: int) -> None:
        """The zygote reaped our process."""
        if self._ctrl is not None:  # what it said before it died comes first (an init error)
            self._on_ctrl()
        self.exit_status = status
        self.dead = True
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        self._resolve(Outcome("exit", status=status))
        self._closed()
        self.hooks.env_dead(self)

    def _closed(self) -> None:
        """Hook: release channels once the process is gone."""

    def kill(self) -> None:
        """SIGKILL the environment's whole tree (process group and cgroup)."""
        if self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except OSError:
                pass
        if self.pid is not None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
        if self.cgroup is not None:
            self.cgroup.kill()

    def stop(self) -> None:
        self.dead = True
        self.kill()
        self._resolve(Outcome("exit", detail="destroyed"))
        self._closed()
        if self.logs is not None:
            self.logs.take()  # whatever is left goes to nobody: the environment is gone
            self.logs.close()

    def peak_mb(self, *, cgroup: bool = False) -> int:
        """Peak memory in MB: the runtime's peak RSS, or (cgroup=True, a file read, for failed
        invocations) the cgroup's peak charge, which includes child processes."""
        kb = self.max_rss_kb
        if (cgroup or self.kind == "process") and self.cgroup is not None:
            peak = self.cgroup.peak_bytes()
            if peak:
                kb = max(kb, peak // 1024)
        return max(1, -(-kb // 1024))


class PythonEnvironment(Environment):
    kind = "python"

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self._buf = bytearray()

    async def start(self, deadline: float) -> Outcome:
        return await self._wait(await self._launch("python", deadline, {}))

    async def invoke(self, inv: Invocation, deadline: float) -> Outcome:
        meta = json.dumps({"r": inv.request_id, "d": inv.deadline_ms, "a": inv.invoked_arn,
                           "c": inv.client_context, "i": inv.cognito_identity, "t": inv.trace_id}).encode()
        fut = self._arm(deadline)
        self._send(FRAME.pack(len(meta), len(inv.payload)) + meta + inv.payload)
        return await self._wait(fut)

    def _on_ctrl(self) -> None:
        while self._ctrl is not None:
            try:
                chunk = self._ctrl.recv(65536)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self._ctrl_eof()
                return
            self._buf += chunk
            if len(chunk) < 65536:
                break
        for meta, body in _take_frames(self._buf):
            self._on_frame(meta, body)

    def _on_frame(self, meta: dict, body: bytes) -> None:
        k = meta.get("k")
        if k == "res":
            self.max_rss_kb = max(self.max_rss_kb, meta.get("m") or 0)
            if len(body) > MAX_RESPONSE:
                self._resolve(_too_large())
            elif meta.get("err"):
                self._resolve(Outcome("error", body, error_type=_error_type(body)))
            else:
                self._resolve(Outcome("ok", body))
        elif k == "init":
            if meta.get("err"):
                self._resolve(Outcome("init_error", body, error_type=meta["err"]))
            else:
                self.init_phases = meta.get("phases") or {}
                self._resolve(Outcome("ok", init_ms=meta.get("ms"), warnings=meta.get("warnings") or []))
        elif k == "setup_error":
            self._resolve(Outcome("init_error", error_type="Runtime.SandboxSetupError",
                                  detail=meta.get("msg", "")))

    def _ctrl_eof(self) -> None:
        """The process closed its channel: it died (its exit status follows from the zygote) or
        it closed the descriptor itself; either way the environment is finished."""
        self._close_ctrl()
        if not self.dead:
            self.kill()

    def _closed(self) -> None:
        self._close_ctrl()


class ProcessEnvironment(Environment):
    """A runtime process that speaks the Lambda Runtime API (node, provided.*)."""

    kind = "process"

    def __init__(self, *args, argv: list[str], **kw) -> None:
        super().__init__(*args, **kw)
        self.argv = argv
        self.api: RuntimeAPIServer | None = None
        self._buf = bytearray()
        self._started_at = 0.0
        self._init_done = False
        self._warnings: list[str] = []
        self._inv: Invocation | None = None
        self._streamed: list[bytes] = []  # a streamed response to a caller that does not stream
        self._streamed_size = 0

    async def open_api(self, sock: socket.socket | None = None) -> str:
        """Serve the Runtime API: on `sock` (listening in the environment's network namespace),
        else on an ephemeral port of the host's loopback. Returns AWS_LAMBDA_RUNTIME_API."""
        self.api = RuntimeAPIServer(self)
        port = await self.api.open(sock)
        return f"127.0.0.1:{port}"

    async def start(self, deadline: float) -> Outcome:
        self._started_at = time.monotonic()
        return await self._wait(await self._launch("exec", deadline, {"argv": self.argv}))

    def _on_ctrl(self) -> None:
        if self._ctrl is None:
            return
        try:
            chunk = self._ctrl.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # exec succeeded (CLOEXEC) or the child died
            self._close_ctrl()
            return
        self._buf += chunk
        for meta, _body in _take_frames(self._buf):
            if meta.get("k") == "setup":
                self._warnings = meta.get("warnings") or []
            elif meta.get("k") == "exec_error":
                reason = (meta.get("msg") or "").lower()
                self._resolve(Outcome("init_error", error_type="Runtime.InvalidEntrypoint",
                                      detail=f"fork/exec {self.argv[0]}: {reason}"))
            elif meta.get("k") == "setup_error":
                self._resolve(Outcome("init_error", error_type="Runtime.SandboxSetupError",
                                      detail=meta.get("msg", "")))

    def _closed(self) -> None:
        self._close_ctrl()
        if self.api is not None:
            self.api.close()

    async def invoke(self, inv: Invocation, deadline: float) -> Outcome:
        if self.api is None:
            raise RuntimeError("invoke() before open_api()")
        fut = self._arm(deadline)
        self._inv = inv
        self.api.deliver(inv)
        try:
            outcome = await self._wait(fut)
        finally:
            self._inv = None
            if self._streamed_size:
                self._streamed, self._streamed_size = [], 0
        self._sample_rss()
        return outcome

    def _sample_rss(self) -> None:
        try:
            with open(f"/proc/{self.pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        self.max_rss_kb = max(self.max_rss_kb, int(line.split()[1]))
                        break
        except (OSError, ValueError):
            pass

    # ---- called by the Runtime API server ----------------------------------------------------

    def runtime_next(self) -> None:
        if not self._init_done:
            self._init_done = True
            self._resolve(Outcome("ok", init_ms=(time.monotonic() - self._started_at) * 1000,
                                  warnings=self._warnings))

    def runtime_response(self, body: bytes, too_large: bool) -> None:
        self._resolve(_too_large() if too_large else Outcome("ok", body))

    # A response in streaming mode: to the invocation's ResponseStream if its caller reads one,
    # else buffered and answered whole (an Invoke of a streaming function), each with its limit.

    def runtime_stream_open(self, content_type: str, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        stream = self._inv.stream if self._inv is not None else None
        if stream is not None:
            stream.open(content_type, pause, resume)

    def runtime_stream_data(self, data: bytes) -> None:
        stream = self._inv.stream if self._inv is not None else None
        self._streamed_size += len(data)
        if self._streamed_size > (MAX_STREAMED_RESPONSE if stream is not None else MAX_RESPONSE):
            return  # over the limit: the rest is dropped, the end reports it
        if stream is not None:
            stream.write(data)
        else:
            self._streamed.append(data)

    def runtime_stream_end(self, error_type: str | None, error_body: bytes | None) -> None:
        stream = self._inv.stream if self._inv is not None else None
        limit = MAX_STREAMED_RESPONSE if stream is not None else MAX_RESPONSE
        if self._streamed_size > limit:
            self._resolve(_too_large(limit))
        elif error_type is not None or error_body is not None:
            self.runtime_error(error_body or b"", error_type)
        else:
            self._resolve(Outcome("ok", b"".join(self._streamed)))

    def runtime_error(self, body: bytes, error_type: str | None) -> None:
        payload = _error_payload(body, error_type)
        self._resolve(Outcome("error", payload, error_type=_error_type(payload) or error_type))

    def runtime_init_error(self, body: bytes, error_type: str | None) -> None:
        payload = _error_payload(body, error_type)
        self._resolve(Outcome("init_error", payload, error_type=_error_type(payload) or error_type))


def _take_frames(buf: bytearray):
    """Yield and remove the complete frames (meta dict, body bytes) at the front of `buf`."""
    while len(buf) >= FRAME.size:
        mlen, blen = FRAME.unpack_from(buf)
        end = FRAME.size + mlen + blen
        if len(buf) < end:
            return
        meta = json.loads(bytes(buf[FRAME.size:FRAME.size + mlen]))
        body = bytes(buf[FRAME.size + mlen:end])
        del buf[:end]
        yield meta, body


def _too_large(limit: int = MAX_RESPONSE) -> Outcome:
    body = json.dumps({"errorMessage": f"Response payload size exceeded maximum allowed payload size "
                                       f"({limit} bytes).", "errorType": "Function.ResponseSizeTooLarge"})
    return Outcome("error", body.encode(), error_type="Function.ResponseSizeTooLarge")


def _error_type(body: bytes) -> str | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc.get("errorType") if isinstance(doc, dict) else None


def _error_payload(body: bytes, error_type: str | None) -> bytes:
    """The runtime's error document if it is one; else one built around what it sent."""
    try:
        doc = json.loads(body)
        if isinstance(doc, dict):
            return body
    except ValueError:
        pass
    text = body.decode("utf-8", "replace")
    return json.dumps({"errorMessage": text, "errorType": error_type or "Unhandled"}).encode()
