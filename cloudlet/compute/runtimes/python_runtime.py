"""cloudlet Python runtime loop: runs in an execution environment forked from the zygote.

Loaded by zygote.py as module `_cloudlet_python_runtime` (python3.9+, standard library only).
It imports the handler (the init phase), then serves invocations over the `ctrl` socket with
frames of `<u32 meta length><u32 body length><meta JSON><body bytes>`:

  host -> env   meta {"r": request id, "d": deadline epoch ms, "a": invoked ARN,
                      "c": client context JSON|null, "i": cognito identity JSON|null,
                      "t": trace header|null}, body = event bytes
  env -> host   {"k": "init", "ms": init ms, "warnings": [...]}             init done
                {"k": "init", "err": errorType}, body = error JSON        init failed
                {"k": "res", "err": null|"Unhandled", "m": max RSS KiB}, body = payload

Behaviour follows the AWS Python runtime (awslambdaric): handler "pkg/mod.fn" or "pkg.mod.fn",
the same context object, error payloads {"errorMessage", "errorType", "requestId", "stackTrace"},
log events "[LEVEL]\t<time>\t<request id>\t<message>\n" from the root logger, and fault types
Runtime.ImportModuleError / HandlerNotFound / UserCodeSyntaxError / MalformedHandlerName /
UnmarshalError / MarshalError. The runtime's own events (logging records, context.log(), error
reports) are one log event each whatever lines they hold, as awslambdaric sends them through its
framed telemetry fd: here they are frames in the output pipe, marked with the environment's token
(setup["log_token"], compute/logs.py). What the function prints is cut into lines by the host.
"""

import decimal
import importlib
import io
import json
import logging
import os
import resource
import struct
import sys
import time
import traceback

FRAME = struct.Struct("<II")
THIS_FILE = os.path.abspath(__file__)
SDK_FAMILY = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")

_request_id = ""
_log_mark = None  # "\0cloudlet-log-<token>\0": starts a frame of one log event (compute/logs.py frame_mark)
ERROR_LOG_INDENT = "\u00a0"  # awslambdaric indents an error's stack trace with no-break spaces


class Fault(Exception):
    def __init__(self, error_type, msg, trace=None):
        Exception.__init__(self, msg)
        self.error_type = error_type
        self.msg = msg
        self.trace = trace or []


def preload():
    """Modules most handlers import; importing them in the zygote makes them free in children."""
    import base64  # noqa: F401
    import collections  # noqa: F401
    import dataclasses  # noqa: F401
    import datetime  # noqa: F401
    import functools  # noqa: F401
    import hashlib  # noqa: F401
    import importlib.util  # noqa: F401
    import re  # noqa: F401
    import typing  # noqa: F401
    import urllib.parse  # noqa: F401
    import uuid  # noqa: F401


# ---- framing --------------------------------------------------------------------------------

class FrameReader:
    """Frames from a stream socket; usually one recv() per frame."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def read(self):
        buf = self.buf
        while True:
            need = FRAME.size
            if len(buf) >= need:
                mlen, blen = FRAME.unpack_from(buf)
                need += mlen + blen
                if len(buf) >= need:
                    meta = json.loads(bytes(buf[FRAME.size:FRAME.size + mlen]))
                    body = bytes(buf[FRAME.size + mlen:need])
                    del buf[:need]
                    return meta, body
            chunk = self.sock.recv(max(65536, need - len(buf)))
            if not chunk:
                return None, None
            buf += chunk


def send_frame(sock, meta, body=b""):
    m = json.dumps(meta).encode()
    sock.sendall(FRAME.pack(len(m), len(body)) + m + body)


# ---- context ----------------------------------------------------------------------------------

class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __repr__(self):
        return f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},cognito_identity_pool_id={self.cognito_identity_pool_id}])"


class Client:
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")


class ClientContext:
    __slots__ = ("custom", "env", "client")


def _obj(cls, data):
    if data is None:
        return None
    obj = cls()
    for name in cls.__slots__:
        setattr(obj, name, data.get(name) if isinstance(data, dict) else None)
    return obj


def _parse_json_header(value, name):
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        try:
            import base64
            return json.loads(base64.b64decode(value))
        except Exception as e:
            raise Fault("Runtime.LambdaContextUnmarshalError", f"Unable to parse {name} JSON: {e}") from None


_ENV_FIELDS = (("log_group_name", "AWS_LAMBDA_LOG_GROUP_NAME"), ("log_stream_name", "AWS_LAMBDA_LOG_STREAM_NAME"),
               ("function_name", "AWS_LAMBDA_FUNCTION_NAME"), ("memory_limit_in_mb", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
               ("function_version", "AWS_LAMBDA_FUNCTION_VERSION"))
_env_values: "dict[str, str | None]" = {}  # read once: these variables are fixed for the environment's life


class LambdaContext:
    def __init__(self, request_id, client_context, identity, deadline_ms, invoked_function_arn):
        if not _env_values:
            for attr, var in _ENV_FIELDS:
                _env_values[attr] = os.environ.get(var)
        self.__dict__.update(_env_values)
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = None
        self.client_context = _obj(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _obj(Client, self.client_context.client)
        self.identity = _obj(CognitoIdentity, {})
        if identity:
            self.identity.cognito_identity_id = identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        left = self._deadline_ms - int(time.time() * 1000)
        return left if left > 0 else 0

    def log(self, msg):
        write_event(str(msg))  # one event, as awslambdaric's log sink writes it (no newline added)

    def __repr__(self):
        return (f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},log_stream_name={self.log_stream_name},function_name={self.function_name},"
                f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
                f"identity={self.identity}])")


# ---- handler, errors, marshalling ------------------------------------------------------------

def get_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise Fault("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {e}") from None
    if modname.split(".")[0] in sys.builtin_module_names:
        raise Fault("Runtime.BuiltInModuleConflict", f"Cannot use built-in module {modname} as a handler module")
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise Fault("Runtime.ImportModuleError", f"Unable to import module '{modname}': {e}") from None
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise Fault("Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {e}", trace) from None
    try:
        return getattr(module, fname)
    except AttributeError:
        raise Fault("Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'") from None


def run_snap_start_hooks():
    """SnapStart, emulated: nothing is snapshotted; each environment of a SnapStart version runs
    its init, then the runtime hooks (snapshot_restore_py) in the order a snapshot and a restore
    would run them: before-snapshot ones last-registered first, after-restore ones in order.
    Returns None, or (fault type, exc_info) of the hook that raised."""
    hooks = sys.modules.get("snapshot_restore_py")
    if hooks is None:  # the function registered none
        return None
    try:
        before = hooks.get_before_snapshot()
        while before:
            func, args, kwargs = before.pop()
            func(*args, **kwargs)
    except Exception:
        return "Runtime.BeforeSnapshotError", sys.exc_info()
    try:
        for func, args, kwargs in hooks.get_after_restore():
            func(*args, **kwargs)
    except Exception:
        return "Runtime.AfterRestoreError", sys.exc_info()
    return None


def make_error(message, error_type, stack_trace, request_id):
    return {"errorMessage": message or "", "errorType": error_type or "",
            "requestId": request_id or "", "stackTrace": stack_trace or []}


def error_from_exception(exc_info, request_id):
    etype, value, tb = exc_info
    frames = traceback.extract_tb(tb)
    while frames and frames[0].filename == THIS_FILE:
        frames = frames[1:]
    return make_error(str(value), etype.__name__, traceback.format_list(frames), request_id)


def log_error(error):
    """One event, as awslambdaric's log_error words it: "[ERROR] <type>: <message>", the stack
    trace's lines indented with no-break spaces, no newline at the end."""
    head = "[ERROR]"
    if error.get("errorType"):
        head += " " + error["errorType"]
    if error.get("errorMessage"):
        head += (":" if error.get("errorType") else "") + " " + error["errorMessage"]
    lines = [head]
    if error.get("stackTrace") is not None:
        lines.append("Traceback (most recent call last):")
        for element in error["stackTrace"]:
            if element == "":
                lines.append("")
                continue
            for line in element.splitlines():
                indent = len(line) - len(line.lstrip(" "))
                lines.append(ERROR_LOG_INDENT * indent + line[indent:])
    write_event("\n".join(lines))


def write_event(text):
    """One log event, whatever lines `text` holds: a frame in the output pipe, written at once."""
    if _log_mark is None:  # (no token: plain lines, a multi-line event cut in lines)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    data = (_log_mark + json.dumps(text) + "\n").encode()  # (JSON escapes what is not ASCII)
    while data:
        try:
            data = data[os.write(1, data):]
        except InterruptedError:
            continue


def _default(obj):
    if isinstance(obj, decimal.Decimal):
        if obj.is_nan():
            return float("nan")
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def make_encoder():
    modern = sys.version_info >= (3, 12)  # the 3.12+ runtimes stopped escaping non-ASCII
    return json.JSONEncoder(ensure_ascii=not modern, allow_nan=True, default=_default)


# ---- logging ----------------------------------------------------------------------------------

class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id
        return True


class _LambdaLogHandler(logging.Handler):
    def emit(self, record):
        try:
            write_event(self.format(record))
        except Exception:
            self.handleError(record)


def setup_logging():
    handler = _LambdaLogHandler()
    fmt = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                            "%Y-%m-%dT%H:%M:%S")
    fmt.converter = time.gmtime
    handler.setFormatter(fmt)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in ("TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL"):
        root.setLevel({"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}.get(level, level))


def _text_stream(fd):
    # Line-buffered: print("ran", n) reaches the pipe as one write, so a line is never cut in two
    # events (a timeout between the pieces of an unbuffered print would leave "ran" alone).
    # _flush_output() sends an unterminated last line before each answer.
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                            line_buffering=True)


def _flush_output():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # the function replaced or closed it: its output is its own affair
            pass


def drop_shadowed_sdk(paths):
    """The zygote pre-imported boto3 & co.; if the function ships its own copy, forget ours."""
    loaded = [name for name in SDK_FAMILY if name in sys.modules]
    if not loaded:
        return
    for base in paths:
        for name in SDK_FAMILY:
            if os.path.exists(os.path.join(base, name)) or os.path.exists(os.path.join(base, name + ".py")):
                for mod in list(sys.modules):
                    if mod.split(".", 1)[0] in SDK_FAMILY:
                        del sys.modules[mod]
                return


def add_site_dirs(dirs):
    """The .pth files of the code and the layers' Python folders, as AWS's bootstrap processes
    them (site.addsitedir; the folders are on sys.path already)."""
    for directory in dirs or ():
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        if any(name.endswith(".pth") for name in names):
            import site  # (only then: the zygote runs without it, and importing it costs a cold start ~0.5 ms)

            site.addsitedir(directory)


def _exit_code(exc):
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(str(code) + "\n")
    except Exception:
        pass
    return 1


# ---- the loop -----------------------------------------------------------------------------------

def serve(ctrl, setup, t_start, warnings):
    global _request_id, _log_mark
    sys.stdout = _text_stream(1)
    sys.stderr = _text_stream(2)
    if setup.get("log_token"):
        _log_mark = "\x00cloudlet-log-" + setup["log_token"] + "\x00"
    paths = setup.get("paths", [])
    sys.path[:0] = paths
    drop_shadowed_sdk(paths)
    add_site_dirs(setup.get("site_dirs", ()))
    sys.dont_write_bytecode = True  # the code is read-only; compiled in memory, as on AWS
    setup_logging()
    phases = setup.get("_phases", [])
    phases.append(("runtime", time.time()))
    try:
        try:
            handler = get_handler(setup["handler"])
        except Fault as f:
            error = make_error(f.msg, f.error_type, f.trace, None)
        except SystemExit as e:
            os._exit(_exit_code(e))
        except Exception:
            error = error_from_exception(sys.exc_info(), None)
        else:
            error = None
        fault = None
        if error is None and setup.get("snap_start"):
            try:
                hook_error = run_snap_start_hooks()
            except SystemExit as e:
                os._exit(_exit_code(e))
            if hook_error is not None:
                fault, exc_info = hook_error
                error = error_from_exception(exc_info, None)
        if error is not None:
            log_error(error)
            _flush_output()
            send_frame(ctrl, {"k": "init", "err": fault or error["errorType"]}, json.dumps(error).encode())
            os._exit(1)
        now = time.time()
        phases.append(("handler", now))
        marks, last = {}, t_start
        for name, t in phases:
            marks[name], last = round((t - last) * 1000, 3), t
        _flush_output()
        send_frame(ctrl, {"k": "init", "ms": (now - t_start) * 1000, "warnings": warnings, "phases": marks})
        encoder = make_encoder()
        reader = FrameReader(ctrl)
        while True:
            meta, body = reader.read()
            if meta is None:
                os._exit(0)
            _request_id = rid = meta["r"]
            if meta.get("t"):
                os.environ["_X_AMZN_TRACE_ID"] = meta["t"]
            else:
                os.environ.pop("_X_AMZN_TRACE_ID", None)
            err = None
            try:
                context = LambdaContext(rid, _parse_json_header(meta.get("c"), "Client Context"),
                                        _parse_json_header(meta.get("i"), "Cognito Identity"),
                                        meta["d"], meta.get("a"))
                try:
                    event = json.loads(body) if body else {}
                except ValueError as e:
                    raise Fault("Runtime.UnmarshalError", f"Unable to unmarshal input: {e}") from None
                result = handler(event, context)
                if isinstance(result, bytes):
                    out = result
                else:
                    try:
                        out = encoder.encode(result).encode("utf-8")
                    except Exception as e:
                        raise Fault("Runtime.MarshalError", f"Unable to marshal response: {e}") from None
            except Fault as f:
                err = make_error(f.msg, f.error_type, f.trace, rid)
            except Exception:
                err = error_from_exception(sys.exc_info(), rid)
            if err is not None:
                log_error(err)
                out = json.dumps(err).encode("utf-8")
            _flush_output()
            send_frame(ctrl, {"k": "res", "err": "Unhandled" if err is not None else None,
                              "m": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, out)
    except SystemExit as e:
        code = _exit_code(e)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
