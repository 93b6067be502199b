"""cloudlet zygote: a fork server that runs inside a function's interpreter.

Started by the host (cloudlet.compute.zygote) as `pythonX.Y -I zygote.py <fd> [--python-runtime]
[--sdk-path DIR] [--preload-sdk] [--pycache DIR] [--pid-namespaces]`. It never imports cloudlet: it must run on every supported
interpreter (python3.9 and later), so it keeps to the standard library and to 3.9 syntax.

With --python-runtime it pre-imports the Python runtime loop (python_runtime.py beside this
file) and, when the interpreter has it, boto3; then it freezes the GC generations so children
share those pages. Without it the zygote only spawns processes (node, custom runtimes).
--pycache keeps the bytecode it compiles (say, the host's SDK for another Python) across starts.

Protocol on <fd>, a SOCK_SEQPACKET socket (one JSON object per message):
  zygote -> host  {"op": "ready", "pid", "python", "preloaded": [...], "sdk_used", "sdk_problem", "ms"}
  host -> zygote  {"op": "fork", "id", "pre": {"cgroup_dirs": [...], "ns", "pidns"}} + fds [ctrl, log]
  zygote -> host  {"op": "forked", "id", "pid"}        (in request order)
  zygote -> host  {"op": "exit", "pid", "status"}      (raw wait status of a child)
The zygote exits when the host closes the socket; its children die with it (PDEATHSIG).

A forked child is a "blank" (see `blank_main`): it takes its own session, joins its cgroup and
unshares its mount namespace ahead of need. With "pidns" it is the second process of a PID
namespace of its own, whose first (its init, pid 1) is a small process the zygote's init factory
made (`init_factory_main`): the blank mounts that namespace's /proc, and when the blank ends the
zygote kills its init, which takes whatever else still runs in the namespace with it. It waits on
`ctrl` for one frame
`{"k": "setup", "setup": {...}}` naming the function, with fds passed along: setup["netns"] and
setup["tmp_tree"] index the network namespace to join and its /tmp as a detached mount. It finishes isolating itself (`isolate`),
points fd 1 and 2 at the log pipe, then serves the Python runtime over `ctrl` (mode "python") or
execs setup["argv"] (mode "exec"); an exec failure is reported as one frame on `ctrl`, a
successful exec closes it (CLOEXEC).
"""

import array
import ctypes
import errno
import gc
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FRAME = struct.Struct("<II")

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOEXEC = 8
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1

_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(src, dst, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(libc().mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {src} on {dst}")


# ---- messages --------------------------------------------------------------------------

def send_msg(sock, obj, fds=()):
    data = json.dumps(obj).encode()
    if fds:
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        sock.send(data)


def recv_msg(sock, maxfds=4):
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(1 << 20, socket.CMSG_SPACE(maxfds * fds.itemsize))
    for level, ctype, cdata in ancdata:
        if level == socket.SOL_SOCKET and ctype == socket.SCM_RIGHTS:
            fds.frombytes(cdata[:len(cdata) - (len(cdata) % fds.itemsize)])
    return data, list(fds)


def send_frame(sock, meta, body=b""):
    m = json.dumps(meta).encode()
    sock.sendall(FRAME.pack(len(m), len(body)) + m + body)


# ---- isolation (runs in the forked child) -----------------------------------------------

def isolate(setup):
    """Apply the environment's limits and filesystem view. Returns warnings (strings)."""
    warnings = []
    for path, value, required in setup.get("cgroup_writes") or ():  # memory limit, CPU weight
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            if required:
                warnings.append(f"cannot write {value} to {path} ({e}): that limit is not enforced")
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        nofile = setup.get("nofile")
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    except (OSError, ValueError) as e:
        warnings.append(f"setrlimit failed: {e}")
    extra_as = setup.get("rlimit_as_extra")
    if extra_as:
        try:
            vm = 0
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmSize:"):
                        vm = int(line.split()[1]) * 1024
                        break
            limit = vm + int(extra_as)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (OSError, ValueError) as e:
            warnings.append(f"RLIMIT_AS failed: {e}")
    ns = setup.get("ns")
    if ns:
        warnings += setup_mounts(ns)
    return warnings


def setup_mounts(ns):
    """In the private mount namespace the blank made: hide the platform's directories, bind the
    code read-only, a private /tmp and the layers on /opt, make the plan's symbolic links (on the
    hiding tmpfs), and make the rest read-only. Paths stay the same as outside, so a failure of any
    step but the last is fatal (the host chose this plan after probing that namespaces work). The
    sources are opened first: some live under the hidden directories. Returns warnings."""
    binds = ns.get("binds", [])
    srcs = [os.open(b["src"], os.O_PATH | os.O_CLOEXEC | (0 if b.get("file") else os.O_DIRECTORY)) for b in binds]
    tree = ns.get("tmp_tree")  # /tmp as a detached mount (a capped filesystem), else a directory
    tmp_fd = os.open(ns["tmp"], os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) if ns.get("tmp") and tree is None else None
    hidden = []
    for path in sorted(ns.get("hide", []), key=lambda p: p.count("/")):  # /root before /root/x
        if not os.path.isdir(path):
            if not any(path.startswith(h.rstrip("/") + "/") for h in hidden):
                continue
            os.makedirs(path)  # under a tmpfs mounted above: the path the binds need
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
        hidden.append(path)
    if tree is not None:
        move_mount(tree, "/tmp")
    elif tmp_fd is not None:
        mount(f"/proc/self/fd/{tmp_fd}", "/tmp", None, MS_BIND | MS_REC)
        os.close(tmp_fd)
    for i, b in enumerate(binds):  # (no zip(strict=): this file runs on python3.9)
        fd = srcs[i]
        dst = b["dst"]
        if b.get("file"):  # a single-module package: the mount point is a file
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.close(os.open(dst, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o444))
        elif not os.path.isdir(dst):
            os.makedirs(dst)
        mount(f"/proc/self/fd/{fd}", dst, None, MS_BIND | MS_REC)
        os.close(fd)
    for link in ns.get("links", []):  # (before the tmpfs turns read-only)
        os.symlink(link["target"], link["dst"])
    return read_only_root([b["dst"] for b in binds if b.get("ro")])


SYS_MOVE_MOUNT = 429  # the same number on every architecture (Linux 5.2+)
MOVE_MOUNT_F_EMPTY_PATH = 0x4


def move_mount(fd, dst):
    """Attach the detached mount `fd` (open_tree) at `dst`."""
    rc = libc().syscall(ctypes.c_long(SYS_MOVE_MOUNT), ctypes.c_int(fd), ctypes.c_char_p(b""), ctypes.c_int(AT_FDCWD),
                        ctypes.c_char_p(dst.encode()), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH))
    _check(rc, f"move_mount on {dst}")


SYS_MOUNT_SETATTR = 442  # the same number on every architecture (Linux 5.12+)
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


def mount_setattr(path, attr_set=0, attr_clr=0, recursive=False):
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    rc = libc().syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), ctypes.c_char_p(path.encode()),
                        ctypes.c_uint(AT_RECURSIVE if recursive else 0), ctypes.byref(attr),
                        ctypes.c_size_t(ctypes.sizeof(attr)))
    _check(rc, f"mount_setattr {path}")


def read_only_root(ro_binds):
    """As on AWS, everything but /tmp is read-only: every mount of the namespace (and nosuid),
    then /tmp writable again, in two calls. Returns warnings: an older kernel (no mount_setattr)
    keeps the host's filesystem writable, and only `ro_binds` are made read-only, one by one."""
    try:
        mount_setattr("/", attr_set=MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, recursive=True)
        mount_setattr("/tmp", attr_clr=MOUNT_ATTR_RDONLY)
    except OSError as e:
        for dst in ro_binds:
            mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        return [f"cannot make the filesystem read-only outside /tmp ({e})"]
    return []


# Docker's default capability set: what a function keeps of root's. Without CAP_SYS_ADMIN it
# cannot undo the mounts that hide the platform's directories and its cgroup.
KEEP_CAPS = (0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31)  # CHOWN DAC_OVERRIDE FOWNER FSETID KILL
# SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities():
    """Drop every capability but KEEP_CAPS from the bounding, permitted and effective sets, and
    forbid regaining privileges on exec. Returns warnings (strings)."""
    try:
        last = int(open("/proc/sys/kernel/cap_last_cap").read())
    except (OSError, ValueError):
        last = 40
    lib = libc()
    for cap in range(last + 1):
        if cap not in KEEP_CAPS and lib.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            return [f"cannot drop capability {cap}: {os.strerror(ctypes.get_errno())}"]
    keep = [0, 0]
    for cap in KEEP_CAPS:
        keep[cap // 32] |= 1 << (cap % 32)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if lib.capget(ctypes.byref(header), data) != 0:
        return [f"capget failed: {os.strerror(ctypes.get_errno())}"]
    for i in range(2):
        data[i].effective &= keep[i]
        data[i].permitted &= keep[i]
        data[i].inheritable &= keep[i]
    if lib.capset(ctypes.byref(header), data) != 0:
        return [f"capset failed: {os.strerror(ctypes.get_errno())}"]
    lib.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    return []


def become(ident, max_tasks):
    """Run as the environment's own unprivileged uid and gid, with no supplementary groups: the
    kernel then clears every capability, and this process may signal, ptrace and read the /proc
    files of no other process (each environment has its own id). The id is the environment's
    alone, so the kernel's per-user count of processes and threads (RLIMIT_NPROC) caps the
    environment: a fork bomb stops at `max_tasks`."""
    if max_tasks:
        resource.setrlimit(resource.RLIMIT_NPROC, (max_tasks, max_tasks))
    os.setgroups([])
    os.setresgid(ident, ident, ident)
    os.setresuid(ident, ident, ident)
    if os.getuid() != ident or os.geteuid() != ident:  # never run a function as root by mistake
        raise OSError(f"could not switch to uid {ident}")


# ---- seccomp (libseccomp through ctypes: the zygote runs without site-packages) -------------------
# A deny-list in the spirit of container runtimes' default profile: what an unprivileged process
# has no business calling, most of it kernel attack surface. The filter is built once in the
# zygote and loaded by each environment (after it dropped its privileges); syscalls of another
# architecture's ABI kill the process (libseccomp's default for a foreign architecture).
SECCOMP_DENIED = (
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "setns", "unshare", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "bpf", "perf_event_open", "userfaultfd",
    "keyctl", "add_key", "request_key", "swapon", "swapoff", "reboot", "acct", "quotactl",
    "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "iopl", "ioperm", "syslog",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "vhangup", "nfsservctl",
)
# personality(2) as container runtimes allow it: reading it (0xffffffff) and setting PER_LINUX,
# PER_LINUX32 (0x8) and UNAME26 (0x20000), alone or together; not ADDR_NO_RANDOMIZE (ASLR off
# for what it execs), READ_IMPLIES_EXEC and the rest.
PERSONALITY_BITS = (0x8, 0x20000)
CLONE_NEWUSER = 0x10000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7


def SCMP_ACT_ERRNO(errno_):  # noqa: N802 - libseccomp's name
    return 0x00050000 | (errno_ & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
_seccomp = None  # the BPF program libseccomp generated and its sock_fprog, once built


def build_seccomp():
    """Build the filter in the zygote: libseccomp compiles the rules to a BPF program once
    (compiling it in each new environment cost ~1.5 ms of its cold start). Returns None, or why
    there is none."""
    global _seccomp
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as e:
        return f"libseccomp is not installed ({e})"
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        return "seccomp_init failed"
    eperm = SCMP_ACT_ERRNO(errno.EPERM)

    def deny(name, action=eperm, *cmps):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            return  # not on this architecture
        arr = (_ArgCmp * max(1, len(cmps)))(*cmps)
        rc = lib.seccomp_rule_add_array(ctypes.c_void_p(ctx), action, nr, len(cmps), arr)
        if rc < 0:
            raise OSError(-rc, f"seccomp rule for {name}")

    try:
        for name in SECCOMP_DENIED:
            deny(name)
        deny("clone", eperm, _ArgCmp(0, SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER))
        # A rule compares an argument once, so "only the allowed bits, or all 32 bits" takes one
        # rule per bit: with bit 31 clear, no other bit may be set; with it set, none may be clear.
        top = 1 << 31
        for bit in (1 << b for b in range(31)):
            if bit not in PERSONALITY_BITS:
                deny("personality", eperm, _ArgCmp(0, SCMP_CMP_MASKED_EQ, bit | top, bit))
            deny("personality", eperm, _ArgCmp(0, SCMP_CMP_MASKED_EQ, bit | top, top))
        # clone3 passes its flags in memory a filter cannot read: say it does not exist, and libc
        # falls back to clone, whose flags it can.
        deny("clone3", SCMP_ACT_ERRNO(errno.ENOSYS))
        fd = os.memfd_create("seccomp-bpf")
        try:
            rc = lib.seccomp_export_bpf(ctypes.c_void_p(ctx), fd)
            if rc < 0:
                raise OSError(-rc, "seccomp_export_bpf")
            program = os.pread(fd, 1 << 20, 0)
        finally:
            os.close(fd)
    except OSError as e:
        return str(e)
    finally:
        lib.seccomp_release(ctypes.c_void_p(ctx))
    if not program or len(program) % 8:
        return "libseccomp exported no filter"
    buffer = ctypes.create_string_buffer(program, len(program))  # inherited by every fork
    _seccomp = (buffer, _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p)))
    return None


def load_seccomp():
    """Apply the zygote's filter to this process and all it will start (needs no_new_privs)."""
    if _seccomp is None:
        raise OSError("no seccomp filter was built")
    _buffer, fprog = _seccomp
    if libc().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"loading the seccomp filter: {os.strerror(err)}")


def read_frame(sock):
    """(One frame's meta, or None at EOF; the fds that came with it)."""
    head = b""
    fds = array.array("i")
    while len(head) < FRAME.size:
        chunk, anc, _flags, _addr = sock.recvmsg(FRAME.size - len(head), socket.CMSG_SPACE(4 * fds.itemsize))
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(cdata[:len(cdata) - (len(cdata) % fds.itemsize)])
        if not chunk:
            return None, list(fds)
        head += chunk
    mlen, blen = FRAME.unpack(head)
    data = b""
    while len(data) < mlen + blen:
        chunk = sock.recv(mlen + blen - len(data))
        if not chunk:
            return None, list(fds)
        data += chunk
    return json.loads(data[:mlen]), list(fds)


def passed(fds, index):
    if not isinstance(index, int) or not 0 <= index < len(fds):
        raise OSError(f"the setup names fd {index} of {len(fds)} passed")
    return fds[index]


def blank_main(req, ctrl_fd, log_fd, in_pidns):
    """A pre-forked child: does the function-independent part of isolation now (its own session,
    its cgroup, private mount and PID namespaces), then waits for the host to hand it a function.
    `in_pidns`: the zygote forked it into a PID namespace of its own."""
    ctrl = socket.socket(fileno=ctrl_fd)
    ctrl.setblocking(True)
    os.set_inheritable(ctrl_fd, False)
    os.setsid()
    try:
        libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    pre = req.get("pre") or {}
    warnings = []
    for cgroup in pre.get("cgroup_dirs") or ():  # memory (first), then cpu on cgroup v1
        try:
            try:
                os.mkdir(cgroup)
            except FileExistsError:
                pass
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        except OSError as e:
            warnings.append(f"joining cgroup {cgroup} failed ({e}): its limit is not enforced")
    ns_error = None
    if pre.get("ns"):
        try:
            _check(libc().unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
            mount(None, "/", None, MS_REC | MS_PRIVATE)
        except OSError as e:
            ns_error = str(e)
    if pre.get("pidns") and ns_error is None:
        try:
            if not in_pidns:
                raise OSError("the zygote could not make a PID namespace")
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)  # this namespace's
        except OSError as e:
            ns_error = str(e)
    meta, fds = read_frame(ctrl)  # blocks until the host adopts this child
    if meta is None:
        os._exit(0)
    t_start = time.time()
    setup = meta["setup"]
    try:
        if setup.get("ns") and ns_error:
            raise OSError(ns_error)
        if setup.get("tmp_problem"):
            raise OSError(f"/tmp: {setup['tmp_problem']}")
        if setup.get("netns") is not None:  # the account's network namespace, passed with the setup
            _check(libc().setns(passed(fds, setup["netns"]), CLONE_NEWNET), "setns(CLONE_NEWNET)")
        if setup.get("tmp_tree") is not None and setup.get("ns"):
            setup["ns"]["tmp_tree"] = passed(fds, setup["tmp_tree"])
        warnings += isolate(setup)
        for fd in fds:
            os.close(fd)
        setup["_phases"] = [("isolate", time.time())]  # limits and mounts
        if setup.get("identity") is not None:
            # Leaving root clears every capability; no_new_privs keeps an exec from regaining
            # any (setuid files, file capabilities), so the bounding set needs no pruning.
            become(setup["identity"], setup.get("max_tasks"))
            libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        elif setup.get("ns"):
            warnings += drop_capabilities()
        if setup.get("seccomp"):
            load_seccomp()
        setup["_phases"].append(("confine", time.time()))  # capabilities, id, syscall filter
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        os.environ.clear()
        os.environ.update(setup["env"])
        os.chdir(setup["cwd"])
        setup["_phases"].append(("process", time.time()))
    except BaseException as e:  # noqa: B036 - report any setup failure to the host
        send_frame(ctrl, {"k": "setup_error", "msg": f"{type(e).__name__}: {e}"})
        os._exit(126)
    wrapper = setup.get("wrapper")  # AWS_LAMBDA_EXEC_WRAPPER: the runtime starts through it
    if wrapper:
        check_wrapper(wrapper)
    if setup["mode"] == "exec":
        argv = setup["argv"]
        send_frame(ctrl, {"k": "setup", "warnings": warnings})
        if wrapper:
            exec_wrapper(wrapper, argv, setup["env"])
        try:
            os.execve(argv[0], argv, setup["env"])
        except OSError as e:
            send_frame(ctrl, {"k": "exec_error", "errno": e.errno, "msg": e.strerror or str(e)})
            os._exit(127)
    if wrapper:
        exec_python_runtime(ctrl, setup, t_start, warnings, wrapper)
    runtime = sys.modules["_cloudlet_python_runtime"]
    runtime.serve(ctrl, setup, t_start, warnings)  # never returns
    os._exit(0)


def check_wrapper(wrapper):
    """As AWS's runtime bootstrap checks AWS_LAMBDA_EXEC_WRAPPER: a missing or non-executable
    wrapper is said in the log and the runtime exits (127, 126)."""
    if not os.path.isfile(wrapper):
        why, status = "does not exist", 127
    elif not os.access(wrapper, os.X_OK):
        why, status = "is not an executable", 126
    else:
        return
    os.write(1, f"{wrapper}: {why}\n".encode("utf-8", "surrogateescape"))
    os._exit(status)


def exec_wrapper(wrapper, argv, env):
    """exec `<wrapper> <argv...>` (never returns): the wrapper runs the runtime's command line."""
    try:
        os.execve(wrapper, [wrapper, *argv], env)
    except OSError as e:  # (a shell's exec would say so and exit 126)
        os.write(1, f"{wrapper}: {e.strerror or e}\n".encode("utf-8", "surrogateescape"))
        os._exit(126)


def exec_python_runtime(ctrl, setup, t_start, warnings, wrapper):
    """The Python runtime through AWS_LAMBDA_EXEC_WRAPPER: instead of serving in this forked
    process, exec `<wrapper> <interpreter> python_bootstrap.py <ctrl fd> <setup fd>`, which runs
    the same loop (python_runtime.serve) in a fresh interpreter with the environment the wrapper
    hands on. The setup goes along in a memfd; `ctrl` stays the channel to the host."""
    blob = {"setup": {k: v for k, v in setup.items() if k not in ("env", "ns")}, "t_start": t_start,
            "warnings": warnings, "sdk_path": PYTHON_EXEC["sdk_path"], "pycache": PYTHON_EXEC["pycache"]}
    fd = os.memfd_create("cloudlet-runtime-setup", 0)  # (no MFD_CLOEXEC: the runtime reads it)
    data = json.dumps(blob).encode()
    while data:
        data = data[os.write(fd, data):]
    os.set_inheritable(ctrl.fileno(), True)
    exec_wrapper(wrapper, [sys.executable, setup["bootstrap"], str(ctrl.fileno()), str(fd)], setup["env"])


# ---- the fork server ----------------------------------------------------------------------

INITS_AHEAD = 4  # inits the factory keeps ready
OWN_PIDNS = []  # type: list[int]  # an fd of the zygote's own PID namespace, to return to after each new one
FACTORY = []  # type: list[int]  # a pidfd of the init factory, where pidfds exist
INITS = {}  # type: dict[int, int]  # pid of a child in a PID namespace of its own -> pid of that namespace's init
# What a fresh interpreter needs to import what this zygote offers (exec_python_runtime): the
# host's SDK folder when this zygote put it on sys.path, and where its bytecode is kept.
PYTHON_EXEC = {"sdk_path": None, "pycache": None}  # type: dict[str, str | None]


def init_factory_main(sock):
    """The init factory: a small process forked before the zygote loads anything. Each message
    asks for a PID namespace: it answers the pid of one's init, a child of ours (0 if it cannot
    make one), made ahead of the request when it could. Its children are reaped by the kernel
    (SIGCHLD ignored), and so are the orphans of each namespace, which the init inherits.

    The inits are in the factory's process group: when the zygote goes (its end of `sock`
    closes), the factory kills them all, and with them every namespace still alive."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # No handler of ours may ever run in an init (see clone_init): none is installed here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    # (Inits that share our memory can only be killed with us as a group.)
    clone = clone_init_function() if os.getpgrp() == os.getpid() else None

    def make_init():
        if clone is not None:
            return clone()
        if libc().unshare(CLONE_NEWPID) != 0:
            return 0
        pid = os.fork()
        if pid == 0:
            sock.close()
            os.close(own)
            init_main()
        if libc().setns(own, CLONE_NEWPID) != 0:
            os._exit(1)  # cannot happen as root; the zygote then makes no more PID namespaces
        return pid

    def leave():
        if os.getpgrp() == os.getpid():
            os.killpg(0, signal.SIGKILL)  # the inits, and this process
        os._exit(0)

    ready = []
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    while True:
        # Keep a few inits ahead of need, made while no request waits: in a burst the zygote
        # then never waits for one here.
        if len(ready) < INITS_AHEAD and not poller.poll(0):
            init = make_init()
            if init:
                ready.append(init)
                continue
        try:
            if not sock.recv(16):
                leave()
        except InterruptedError:
            continue
        except OSError:
            leave()
        sock.send(str(ready.pop(0) if ready else make_init()).encode())


CLONE_VM = 0x00000100
SYS_PAUSE_X86_64 = 34
INIT_STACK = 256  # bytes of stack an init uses (clone's trampoline and syscall(): ~32)
INIT_STACKS = 64


def clone_init_function():
    """A function that makes an init without forking the factory (or None where it cannot: then
    each init is a fork running init_main). Forking, even this small process, cost a new
    environment ~0.6 ms of CPU (page tables, then the child's copy-on-write faults as Python
    ran): instead the init is a process that shares the factory's memory (CLONE_VM) in a new PID
    namespace (CLONE_NEWPID) and runs libc's syscall(SYS_pause), which never returns: no handler
    is installed (SIGINT is ignored, SIGCHLD too, so the kernel reaps the namespace's orphans),
    and a namespace's init gets no signal from inside it that it does not handle. It dies only
    of SIGKILL from outside (the zygote's when its environment ends, the factory's when the
    zygote goes), which kills the rest of its namespace. It runs no Python and touches no
    memory but its bit of stack: each init gets a slice of a buffer (slices are reused after
    INIT_STACKS inits; the words written there are the same for every init). syscall(SYS_pause)
    has this number on x86-64 only; elsewhere inits are forked."""
    import platform
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    lib = libc()
    try:
        clone = lib.clone
    except AttributeError:
        return None
    clone.restype = ctypes.c_int
    clone.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    fn = ctypes.cast(lib.syscall, ctypes.c_void_p)
    stacks = ctypes.create_string_buffer(INIT_STACK * INIT_STACKS)
    base = ctypes.addressof(stacks)
    count = [0]

    def make():
        slot = count[0] % INIT_STACKS
        count[0] += 1
        top = (base + (slot + 1) * INIT_STACK) & ~15
        pid = clone(fn, top, CLONE_VM | CLONE_NEWPID | signal.SIGCHLD, SYS_PAUSE_X86_64)
        return pid if pid > 0 else 0

    make.stacks = stacks  # kept alive with the function
    return make


def init_main():
    """Pid 1 of an environment's PID namespace where inits are forked (see clone_init_function):
    reaps whatever is orphaned in it, and is killed by the zygote when the environment's process
    ends, which kills the rest of the namespace. Signals from inside the namespace do not reach
    it (the kernel protects a namespace's init)."""
    try:
        libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    while True:
        signal.sigwait({signal.SIGCHLD})
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break


def start_init_factory(host):
    """Fork the init factory (see init_factory_main); returns our end of its socket. The factory
    has no parent-death signal: it leaves when that socket closes, which happens when we die,
    and kills its inits first. FACTORY holds a pidfd of it, to see if it died."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            ours.close()
            host.close()
            init_factory_main(theirs)
        finally:
            os._exit(1)
    theirs.close()
    try:
        FACTORY.append(os.pidfd_open(pid))
    except (AttributeError, OSError):
        pass
    return ours


def new_pid_namespace(factory):
    """Enter (for our next child only) a new PID namespace whose init the factory made. Returns
    the init's pid, or 0 if there is none (the child then stays in our own namespace)."""
    if factory is None:  # (there is one only when our own namespace could be opened)
        return 0
    try:
        # The inits hold copies of the factory's end of the socket: if it died, no EOF comes,
        # but its pidfd turns readable.
        if FACTORY and select.select([FACTORY[0]], [], [], 0)[0]:
            return 0
        factory.send(b"n")
        if FACTORY and factory not in select.select([factory, FACTORY[0]], [], [])[0]:
            return 0
        init = int(factory.recv(16) or b"0")
    except (OSError, ValueError):
        return 0
    if init <= 0:
        return 0
    try:
        fd = os.open(f"/proc/{init}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        if libc().setns(fd, CLONE_NEWPID) != 0:
            os.kill(init, signal.SIGKILL)
            return 0
    finally:
        os.close(fd)
    return init


def load_runtime():
    import importlib.util
    path = os.path.join(HERE, "python_runtime.py")
    spec = importlib.util.spec_from_file_location("_cloudlet_python_runtime", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_cloudlet_python_runtime"] = mod
    spec.loader.exec_module(mod)
    return mod


def preload(sdk_path, import_sdk, pycache):
    """Import what every function pays for anyway. The AWS SDK: boto3 from the interpreter, else
    from sdk_path (links to the host's pure-Python boto3, appended to sys.path so functions can
    import it as on AWS), imported now only with import_sdk. The names are reported so a child
    whose code bundles its own copy can drop the preloaded one."""
    import importlib.util
    mods = []
    runtime = load_runtime()
    runtime.preload()
    sdk_used = False
    sdk_problem = None
    if sdk_path and importlib.util.find_spec("boto3") is None:
        sys.path.append(sdk_path)
        sdk_used = True
        if pycache:  # the host's SDK has no bytecode for this Python: keep what we compile
            sys.pycache_prefix = pycache
            sys.dont_write_bytecode = False
    if import_sdk:
        try:
            import boto3  # noqa: F401
            mods.append("boto3")
        except Exception as e:  # the host's SDK may need a newer Python (urllib3 2 needs 3.10)
            sdk_problem = f"{type(e).__name__}: {e}"
    elif sdk_used:
        sdk_problem = import_in_child("boto3")
    if sdk_problem and sdk_used:
        sys.path.remove(sdk_path)
        for name in [m for m in sys.modules if m.split(".")[0] in runtime.SDK_FAMILY]:
            del sys.modules[name]
        sdk_used = False
    return mods, sdk_used, sdk_problem


def import_in_child(module):
    """Whether `module` imports here, tried in a child so the zygote stays as it was: None, or why not."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            __import__(module)
            os._exit(0)
        except BaseException as e:  # noqa: B036 - anything that stops the import
            os.write(w, f"{type(e).__name__}: {e}".encode()[:4000])
            os._exit(1)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        why = f.read().decode("utf-8", "replace")
    _, status = os.waitpid(pid, 0)
    return None if status == 0 else (why or f"wait status {status}")


def main(argv):
    t0 = time.perf_counter()
    fd = int(argv[1])
    python_runtime = "--python-runtime" in argv
    sdk_path = argv[argv.index("--sdk-path") + 1] if "--sdk-path" in argv else None
    pycache = argv[argv.index("--pycache") + 1] if "--pycache" in argv else None
    sys.dont_write_bytecode = True
    if HERE in sys.path:
        sys.path.remove(HERE)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=fd)
    os.set_inheritable(fd, False)
    try:
        libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass
    try:
        OWN_PIDNS.append(os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC))
    except OSError:
        OWN_PIDNS.append(-1)
    factory = start_init_factory(sock) if "--pid-namespaces" in argv and OWN_PIDNS[0] >= 0 else None
    preloaded, sdk_used, sdk_problem = (preload(sdk_path, "--preload-sdk" in argv, pycache) if python_runtime
                                        else ([], False, None))
    PYTHON_EXEC["sdk_path"] = sdk_path if sdk_used else None
    PYTHON_EXEC["pycache"] = pycache if sdk_used else None
    seccomp_problem = build_seccomp()
    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()
    send_msg(sock, {"op": "ready", "pid": os.getpid(), "python": ".".join(map(str, sys.version_info[:3])),
                    "preloaded": preloaded, "sdk_used": sdk_used, "sdk_problem": sdk_problem,
                    "seccomp_problem": seccomp_problem,
                    "ms": (time.perf_counter() - t0) * 1000})
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    poller.register(rfd, select.POLLIN)
    while True:
        for rfd_ready, _ev in poller.poll():
            if rfd_ready == rfd:
                try:
                    os.read(rfd, 4096)
                except OSError:
                    pass
                reap(sock)
                continue
            try:
                data, fds = recv_msg(sock)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EINTR):
                    continue
                os._exit(0)
            if not data:
                os._exit(0)
            req = json.loads(data)
            if req.get("op") != "fork" or len(fds) < 2:
                for f in fds:
                    os.close(f)
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            init = new_pid_namespace(factory) if (req.get("pre") or {}).get("pidns") else 0
            pid = os.fork()
            if pid == 0:
                try:
                    sock.close()
                    os.close(rfd)
                    os.close(wfd)
                    if factory is not None:
                        factory.close()
                    for f in FACTORY:
                        os.close(f)
                    if OWN_PIDNS[0] >= 0:
                        os.close(OWN_PIDNS[0])
                    blank_main(req, fds[0], fds[1], init > 0)
                finally:
                    os._exit(125)
            if init:
                if libc().setns(OWN_PIDNS[0], CLONE_NEWPID) != 0:  # later children: in our own namespace
                    os._exit(1)  # cannot happen as root; the host restarts a zygote that exits
                INITS[pid] = init
            for f in fds:
                os.close(f)
            send_msg(sock, {"op": "forked", "id": req.get("id"), "pid": pid})
        reap(sock)


def reap(sock):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        init = INITS.pop(pid, 0)
        if init:  # the environment ended: so does everything else in its PID namespace
            try:
                os.kill(init, signal.SIGKILL)
            except OSError:
                pass
        try:
            send_msg(sock, {"op": "exit", "pid": pid, "status": status})
        except OSError:
            os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
