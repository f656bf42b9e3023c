"""The operating-system boundary of the sandbox child (Linux).

:mod:`minions._sandbox_child` calls :func:`enter` once, after its trusted start-up
(reading the request, preloading modules, compiling the helpers) and before any line of
untrusted code runs. Each layer holds even when the code controls the interpreter
completely, because the kernel enforces it:

1. **network namespace** — ``unshare(CLONE_NEWNET)`` (with ``CLONE_NEWUSER`` when not
   root): the child has only a loopback interface of its own, with nothing listening;
2. **privileges** — root drops to ``nobody``; ``PR_SET_NO_NEW_PRIVS`` is set;
3. **rlimits** — CPU time, address space, file size 0, no processes, few descriptors;
4. **Landlock** (kernel 5.13+, ABI read at run time) — no file-system access at all: no
   file or directory may be opened, created, removed or renamed; with ABI 4+ no TCP bind
   or connect; with ABI 6+ no signals to processes outside the child and no abstract
   UNIX sockets;
5. **seccomp** (libseccomp) — refuses opening files, every socket call, ``execve``,
   ``fork``/``clone``, signals to any other process, ``ptrace``,
   ``process_vm_readv/writev``, namespaces, mounts, io_uring, bpf, keyrings and the
   other calls in :data:`DENIED`.

Layers 4 and 5 overlap on purpose: seccomp alone already refuses every ``open``, so a
kernel without Landlock keeps the file boundary. seccomp is required: without it the
boundary is reported unavailable and untrusted code does not run (unless the caller
explicitly accepted an unsafe sandbox).

Only the standard library (ctypes) is used; libseccomp is the system library
``libseccomp.so.2`` (Debian/Ubuntu ``libseccomp2``, Fedora ``libseccomp``).
"""

from __future__ import annotations

import ctypes
import errno
import math
import os
import resource
import sys
from typing import Any

NOBODY = 65534
OPEN_FILES = 16

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38

# seccomp actions and comparison operators (libseccomp's seccomp.h)
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000
SCMP_CMP_NE = 1
SCMP_CMP_MASKED_EQ = 7
NR_SCMP_ERROR = -1

#: System calls refused with EPERM, whatever their arguments.
DENIED = (  # noqa: SIM905 - a word list reads better than 150 quoted names
    # new processes and programs
    "execve execveat fork vfork clone clone3 "
    # other processes
    "ptrace process_vm_readv process_vm_writev kcmp pidfd_open pidfd_getfd "
    "pidfd_send_signal "
    # network
    "socket socketpair connect bind listen accept accept4 sendto sendmsg sendmmsg "
    "recvfrom recvmsg recvmmsg setsockopt getsockopt shutdown getpeername getsockname "
    # the file system beyond the descriptors already open
    "creat open_by_handle_at name_to_handle_at mknod mknodat link linkat symlink "
    "symlinkat unlink unlinkat rename renameat renameat2 mkdir mkdirat rmdir chmod "
    "fchmod fchmodat fchmodat2 chown fchown lchown fchownat truncate setxattr lsetxattr "
    "fsetxattr removexattr lremovexattr fremovexattr utime utimes utimensat futimesat "
    "memfd_create memfd_secret chroot chdir fchdir "
    # namespaces, mounts, privileges, kernel interfaces
    "unshare setns mount umount2 pivot_root move_mount open_tree fsopen fsmount "
    "fsconfig fspick mount_setattr keyctl add_key request_key bpf perf_event_open "
    "userfaultfd io_uring_setup io_uring_enter io_uring_register init_module "
    "finit_module delete_module kexec_load kexec_file_load reboot swapon swapoff acct "
    "quotactl quotactl_fd syslog personality lookup_dcookie fanotify_init "
    "setuid setgid setreuid setregid setresuid setresgid setgroups setfsuid setfsgid "
    "capset vhangup iopl ioperm modify_ldt"
).split()

#: Opening anything is refused with EACCES (the interpreter has loaded all it needs).
DENIED_OPEN = ("open", "openat", "openat2")

#: Signal calls allowed only when their first argument is the child's own pid.
SIGNAL_CALLS = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")

TIOCSTI = 0x5412  # push characters into a terminal's input
TIOCLINUX = 0x541C

# Landlock (linux/landlock.h); the system call numbers are the same on every architecture
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1


class BoundaryError(Exception):
    """A required layer of the boundary could not be set up."""


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _LandlockRulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _oserror(what: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{what}: {os.strerror(code)}")


def enter(timeout_s: float, memory_mb: int) -> dict[str, Any]:
    """Put this process behind the boundary; irreversible. Returns what is in force.

    Raises :class:`BoundaryError` when seccomp cannot be installed; the other layers
    are applied where the kernel allows and reported as such.
    """
    if not sys.platform.startswith("linux"):
        raise BoundaryError(f"it needs Linux (seccomp), and this is {sys.platform}")
    libc = _libc()
    seccomp = _libseccomp()  # loaded while files can still be opened
    status: dict[str, Any] = {}
    status["network_namespace"] = _unshare_network(libc)
    status["uid"] = _drop_root()
    _set_limits(timeout_s, memory_mb)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise BoundaryError(str(_oserror("prctl(PR_SET_NO_NEW_PRIVS)")))
    status["no_new_privs"] = True
    status["landlock_abi"] = _landlock(libc)
    _seccomp(seccomp, os.getpid())
    status["seccomp"] = True
    return status


def _unshare_network(libc: ctypes.CDLL) -> bool:
    """A network namespace of its own; False where the kernel refuses one."""
    flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET
    return libc.unshare(flags) == 0


def _drop_root() -> int:
    if os.geteuid() == 0:
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        except OSError:  # a container without CAP_SETUID: seccomp and Landlock still hold
            pass
    return os.geteuid()


def _set_limits(timeout_s: float, memory_mb: int) -> None:
    cpu_s = max(1, math.ceil(timeout_s))
    memory = memory_mb * 1024 * 1024
    limits = {
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_FSIZE: (0, 0),
        resource.RLIMIT_NOFILE: (OPEN_FILES, OPEN_FILES),
        resource.RLIMIT_NPROC: (0, 0),
        resource.RLIMIT_AS: (memory, memory),
        resource.RLIMIT_CPU: (cpu_s, cpu_s + 1),
    }
    for kind, (soft, hard) in limits.items():
        _, current_hard = resource.getrlimit(kind)
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(kind, (soft, hard))


def landlock_abi(libc: ctypes.CDLL | None = None) -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is absent or disabled."""
    libc = libc or _libc()
    version = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, LANDLOCK_CREATE_RULESET_VERSION)
    return max(0, int(version))


def _landlock(libc: ctypes.CDLL) -> int:
    """Forbid every file-system access (and TCP, and outside signals where the ABI
    allows); the ABI version applied, 0 when Landlock is not available."""
    abi = landlock_abi(libc)
    if abi < 1:
        return 0
    fs_bits = {1: 13, 2: 14, 3: 15, 4: 15}.get(abi, 16)  # access rights added per ABI
    attr = _LandlockRulesetAttr(
        handled_access_fs=(1 << fs_bits) - 1,
        handled_access_net=0b11 if abi >= 4 else 0,  # bind and connect TCP
        scoped=0b11 if abi >= 6 else 0,  # abstract UNIX sockets and signals
    )
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    fd = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if fd < 0:
        return 0
    try:
        if libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, fd, 0) != 0:
            return 0
    finally:
        os.close(fd)
    return abi


def _libseccomp() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as exc:
        raise BoundaryError(
            f"libseccomp is not installed ({exc}); install the system package "
            "(Debian/Ubuntu: libseccomp2, Fedora: libseccomp)"
        ) from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def _seccomp(lib: ctypes.CDLL, own_pid: int) -> None:
    """Install the seccomp filter through libseccomp; BoundaryError if it cannot be."""
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise BoundaryError("seccomp_init failed")

    def add(action: int, name: str, *compare: tuple[int, int, int, int]) -> None:
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number == NR_SCMP_ERROR:
            return  # not a system call on this architecture
        args = (_ArgCmp * max(1, len(compare)))(*(_ArgCmp(*c) for c in compare))
        result = lib.seccomp_rule_add_array(ctx, action, number, len(compare), args)
        if result < 0:
            raise BoundaryError(f"seccomp rule for {name} failed: {os.strerror(-result)}")

    try:
        for name in DENIED:
            add(SCMP_ACT_ERRNO | errno.EPERM, name)
        for name in DENIED_OPEN:
            add(SCMP_ACT_ERRNO | errno.EACCES, name)
        for name in SIGNAL_CALLS:
            add(SCMP_ACT_ERRNO | errno.EPERM, name, (0, SCMP_CMP_NE, own_pid, 0))
        for request in (TIOCSTI, TIOCLINUX):
            add(SCMP_ACT_ERRNO | errno.EPERM, "ioctl", (1, SCMP_CMP_MASKED_EQ, 0xFFFFFFFF, request))
        result = lib.seccomp_load(ctx)
        if result < 0:
            raise BoundaryError(f"seccomp_load failed: {os.strerror(-result)}")
    finally:
        lib.seccomp_release(ctx)


def drop_root_and_limit(timeout_s: float, memory_mb: int) -> None:
    """What an explicitly unsafe sandbox keeps where the boundary cannot be set up."""
    _drop_root()
    _set_limits(timeout_s, memory_mb)
