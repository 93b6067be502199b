"""cloudlet's Python runtime in a fresh interpreter: what AWS_LAMBDA_EXEC_WRAPPER starts.

AWS's Python runtimes start `<interpreter> /var/runtime/bootstrap.py`, through the function's
wrapper script when AWS_LAMBDA_EXEC_WRAPPER is set (`exec "$wrapper" <interpreter> bootstrap.py`).
cloudlet's environments run the runtime loop in a process forked from a zygote instead; with a
wrapper, that process execs `<wrapper> <interpreter> python_bootstrap.py <ctrl fd> <setup fd>`
(zygote.py exec_python_runtime), and this file runs the same loop (python_runtime.serve) with the
environment the wrapper handed on. Standard library only, python3.8+ syntax, like the zygote.
"""

import importlib.util
import json
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv):
    ctrl_fd, setup_fd = int(argv[1]), int(argv[2])
    size = os.fstat(setup_fd).st_size
    blob = json.loads(os.pread(setup_fd, size, 0))
    os.close(setup_fd)
    os.set_inheritable(ctrl_fd, False)  # not for what the function starts
    # The runtime's folder is no place to import the function's modules from.
    if sys.path and os.path.abspath(sys.path[0] or os.curdir) == HERE:
        del sys.path[0]
    if blob.get("sdk_path") and importlib.util.find_spec("boto3") is None:
        sys.path.append(blob["sdk_path"])  # the host's SDK, as the zygote offered it
        if blob.get("pycache"):
            sys.pycache_prefix = blob["pycache"]
    spec = importlib.util.spec_from_file_location("_cloudlet_python_runtime", os.path.join(HERE, "python_runtime.py"))
    runtime = importlib.util.module_from_spec(spec)
    sys.modules["_cloudlet_python_runtime"] = runtime
    spec.loader.exec_module(runtime)
    ctrl = socket.socket(fileno=ctrl_fd)
    ctrl.setblocking(True)
    setup = blob["setup"]
    setup.setdefault("_phases", []).append(("exec", time.time()))  # the wrapper and a fresh interpreter
    runtime.serve(ctrl, setup, blob["t_start"], blob["warnings"])  # never returns
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
