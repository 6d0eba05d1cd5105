"""Landlock (Linux >= 5.13): confine what a process may read, write and connect to, unprivileged.

``restrict`` applies one ruleset: reads (and executing) only beneath the ``readable`` paths, writes only
beneath the ``writable`` ones, and, from ABI 4, TCP ``bind``/``connect`` only to the ports it is given.
Where the kernel supports it (ABI 6), the process is also scoped: it cannot send signals to processes
outside its own sandbox, such as the grading parent. Rulesets stack: each call restricts further.
It needs no root and no namespaces.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from pathlib import Path

_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
BIND_TCP = 1 << 0  # ABI 4
CONNECT_TCP = 1 << 1  # ABI 4
_RULE_NET_PORT = 2
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_DIRECTORY_WRITES = (
    WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_CHAR | MAKE_DIR | MAKE_REG
    | MAKE_SOCK | MAKE_FIFO | MAKE_BLOCK | MAKE_SYM
)

_READS = EXECUTE | READ_FILE | READ_DIR
_FILE_ACCESS = EXECUTE | READ_FILE | WRITE_FILE | TRUNCATE  # what a rule on a file (not a folder) may hold


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is missing or disabled."""
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return 0
    version = _libc().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    return max(int(version), 0)


def restrict_writes(writable: Iterable[Path]) -> int:
    """Allow this process (and its future children) to write only beneath ``writable``; reads stay free.

    Returns the ABI version applied, 0 when Landlock is unavailable (nothing changes).
    """
    return restrict(writable=writable)


def _error(what: str) -> OSError:
    error = ctypes.get_errno()
    return OSError(error, f"{what}: {os.strerror(error)}")


def _add(libc: ctypes.CDLL, ruleset: int, kind: int, rule: ctypes.Structure, what: str) -> None:
    if libc.syscall(_SYS_ADD_RULE, ruleset, kind, ctypes.byref(rule), 0) < 0:
        raise _error(f"landlock_add_rule({what})")


def restrict(
    readable: Iterable[Path] | None = None,
    writable: Iterable[Path] | None = None,
    tcp_ports: Iterable[int] | None = None,
    scope: bool = True,
) -> int:
    """Confine this process (and its future children); irreversible, and stacked on any earlier ruleset.

    ``readable``: read, list and execute only beneath these paths (None: reads are not confined).
    ``writable``: write, create and remove only beneath these (None: writes are not confined).
    ``tcp_ports``: with ABI >= 4, TCP connect only to these ports and bind only to an ephemeral one
    (an empty list refuses both; None: TCP is not confined). ``scope``: with ABI >= 6, signals and
    abstract unix sockets only within the sandbox. Paths that do not exist are skipped. Returns the
    ABI applied, 0 when Landlock is unavailable (nothing changes).
    """
    abi = abi_version()
    if abi < 1:
        return 0
    libc = _libc()
    writes = _DIRECTORY_WRITES | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)
    rules: dict[Path, int] = {}
    for paths, rights in ((readable, _READS), (writable, writes)):
        for path in paths or ():
            rules[Path(path)] = rules.get(Path(path), 0) | rights
    handled = (_READS if readable is not None else 0) | (writes if writable is not None else 0)
    net = BIND_TCP | CONNECT_TCP if tcp_ports is not None and abi >= 4 else 0
    scoped = SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET if scope and abi >= 6 else 0
    attr = _RulesetAttr(handled, net, scoped)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        raise _error("landlock_create_ruleset")
    try:
        for path, rights in rules.items():
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue
            try:
                allowed = rights if path.is_dir() else rights & _FILE_ACCESS
                _add(libc, ruleset, _RULE_PATH_BENEATH, _PathBeneathAttr(allowed, fd), str(path))
            finally:
                os.close(fd)
        if net:
            _add(libc, ruleset, _RULE_NET_PORT, _NetPortAttr(BIND_TCP, 0), "bind to an ephemeral port")
            for port in sorted(set(tcp_ports or ())):
                _add(libc, ruleset, _RULE_NET_PORT, _NetPortAttr(CONNECT_TCP, port), f"connect to port {port}")
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise _error("prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) < 0:
            raise _error("landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi
