"""What a grading child may reach, beyond Landlock's writes: reads, the network, its uid and capabilities.

Each step returns what it achieved in words, measured in the child, for every report (see
``isolated.isolation_layers``). Run in the child after the fork, before torch runs anything and before
the submission is imported; each step that needs privileges runs before the ones that give them up:
the network namespace, then the uid, then the capabilities, then Landlock (``sandbox._isolate``).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import stat
import struct
import sys
from collections.abc import Iterable
from pathlib import Path

import torchkata

NOBODY = 65534
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_PR_CAPBSET_DROP = 24
_PR_SET_DUMPABLE = 4
_PR_SET_PDEATHSIG = 1
_SYS_CAPSET = 126
_CAPABILITY_VERSION_3 = 0x20080522

# What torch, numpy, gloo and the C library read while grading, beyond the environment and the run directory,
# found by grading the reference under strace: CPU and PCI topology, the loader's cache and the system's
# libraries, the listen backlog, shared memory (DataLoader workers' semaphores and tensors).
SYSTEM_READABLE = (
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
    "/dev/shm",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/sys/net/core/somaxconn",
    "/sys/devices",
    "/sys/bus/pci/devices",
    "/sys/fs/cgroup/cpu.max",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/usr/lib",
    "/usr/lib64",
    "/lib",
    "/lib64",
    "/usr/share/zoneinfo",
)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def environment_paths(protected: Iterable[Path]) -> list[Path]:
    """The interpreter, its standard library and installed packages, and the engine, resolved.

    A ``sys.path`` entry is left out when it is the current directory, or holds a protected folder (the
    course, a submission, the runs) or the engine's source checkout: that would make them readable.
    """
    engine = Path(torchkata.__file__).resolve().parent
    closed = [Path(path).resolve() for path in protected]
    if engine.parent.name not in ("site-packages", "dist-packages"):
        closed.append(engine.parent)  # a checkout (editable install): its solutions/ must stay closed
    found = [engine]
    for entry in (sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path):
        if not entry or entry == ".":
            continue
        path = Path(entry).resolve()
        if not path.exists() or path == Path.cwd() or any(_under(folder, path) for folder in closed):
            continue
        found.append(path)
    return list(dict.fromkeys(found))


def readable_paths(run_root: Path, protected: Iterable[Path]) -> list[Path]:
    """Everything a grading child may read: the environment, its own run directory and /proc entry, the system.

    A system path that holds a protected folder (a course kept under /usr/lib) is left out.
    """
    protected = list(protected)
    closed = [Path(path).resolve() for path in protected]
    system = [Path(path) for path in SYSTEM_READABLE if not any(_under(folder, Path(path)) for folder in closed)]
    return [*environment_paths(protected), run_root, Path(f"/proc/{os.getpid()}"), *system]


# -- the network ---------------------------------------------------------------------------------------------


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def own_network_namespace() -> str:
    """Move into a network namespace of our own with only a loopback interface; '' when it cannot be made.

    As root a network namespace alone; otherwise inside a new user namespace (unprivileged, where allowed).
    The gloo ranks of the distributed chapter talk over that loopback; nothing outside is reachable.
    """
    libc = _libc()
    attempts = [_CLONE_NEWNET] if os.geteuid() == 0 else []
    attempts.append(_CLONE_NEWUSER | _CLONE_NEWNET)
    for flags in attempts:
        if libc.unshare(flags) != 0:
            continue
        try:
            _loopback_up()
        except OSError:
            return "own network namespace without a loopback (no network at all)"
        return "own network namespace: loopback only"
    return ""


def ephemeral_ports() -> range:
    """The kernel's range of ephemeral ports (where gloo and the rendezvous store listen)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


# -- the uid and the capabilities ----------------------------------------------------------------------------


def unreachable_by(uid: int, gid: int, paths: Iterable[Path]) -> Path | None:
    """The first folder on the way to one of ``paths`` that ``uid`` cannot pass through (or the path itself,
    if it cannot read it); None when all can. By the mode bits: owner, else group, else other."""
    for path in paths:
        for folder in [*reversed(path.parents), path]:
            try:
                info = folder.stat()
            except OSError:
                break
            shift = 6 if info.st_uid == uid else 3 if info.st_gid == gid else 0
            needed = (stat.S_IXOTH if stat.S_ISDIR(info.st_mode) else 0) | (stat.S_IROTH if folder == path else 0)
            if (info.st_mode >> shift) & needed != needed:
                return folder
    return None


def drop_uid(run_root: Path, needed: Iterable[Path], started_as: int) -> str:
    """As root, become ``nobody`` when every path the child needs can be reached by that uid."""
    if started_as != 0:
        return f"uid {started_as} (not started as root)"
    blocked = unreachable_by(NOBODY, NOBODY, needed)
    if blocked is not None:
        mode = stat.filemode(blocked.stat().st_mode)
        return f"kept root: {blocked} ({mode}) cannot be entered by uid {NOBODY}"
    try:
        for folder, _, files in os.walk(run_root):
            for name in [folder, *(os.path.join(folder, file) for file in files)]:
                os.chown(name, NOBODY, NOBODY)
    except OSError as error:
        return f"kept root: its run directory cannot be handed to uid {NOBODY} ({error.strerror})"
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    libc = _libc()
    libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)  # its own /proc entry stays its own
    libc.prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)  # a change of uid clears it
    return f"dropped to {NOBODY} (nobody)"


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def empty_bounding_set() -> str:
    """Drop every capability from the bounding set (no exec can regain one); '' when it was done."""
    libc = _libc()
    for capability in range(64):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            if ctypes.get_errno() == 22:  # EINVAL: past the last capability this kernel knows
                return ""
            return "the bounding set cannot be changed here"
    return ""


def clear_capabilities() -> str:
    """Empty the effective, permitted and inheritable sets; '' when it was done."""
    header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if _libc().syscall(_SYS_CAPSET, ctypes.byref(header), ctypes.byref(data)) != 0:
        return f"capset failed: {os.strerror(ctypes.get_errno())}"
    return ""


def confine(run_root: Path, writable: Iterable[Path], protected: Iterable[Path]) -> dict[str, str]:
    """Confine this child for its whole life; what each layer achieved, in words.

    Keys: ``reads``, ``writes``, ``signals``, ``network``, ``uid``, ``capabilities``.
    """
    from torchkata.sandbox import landlock

    protected = list(protected)
    started_as = os.geteuid()
    network = own_network_namespace()
    readable = readable_paths(run_root, protected)
    kept = empty_bounding_set() if started_as == 0 else ""
    uid = drop_uid(run_root, [Path(sys.executable).resolve(), *environment_paths(protected), run_root], started_as)
    kept = kept or clear_capabilities()
    abi = landlock.abi_version()
    # Without a namespace of its own, Landlock keeps TCP to ephemeral ports: the distributed chapter's gloo
    # ranks listen and connect there. (Some 28,000 rules: about 0.3 s, so only where no namespace was made.)
    tcp = list(ephemeral_ports()) if abi >= 4 and not network else None
    try:
        applied = landlock.restrict(readable, writable, tcp)
    except OSError as error:
        applied, failure = 0, f" (Landlock failed: {error.strerror})"
    else:
        failure = "" if applied else " (no Landlock on this kernel)"
    layers = {
        "reads": f"only the environment, the engine and its run directory (Landlock ABI {applied})"
        if applied
        else f"not confined{failure}",
        "writes": "only to the child's scratch directory" if applied else f"not confined{failure}",
        "signals": "only within the child's sandbox" if applied >= 6 else "not scoped (Landlock ABI < 6)",
        "uid": uid,
        "capabilities": f"kept: {kept}" if kept else "none (bounding set emptied)" if started_as == 0 else "none",
    }
    landlock_tcp = "Landlock: TCP only to ephemeral ports (well-known ports refused)" if tcp and applied else ""
    layers["network"] = "; ".join(part for part in (network, landlock_tcp) if part) or (
        "not confined: Python sockets refused by the audit hook only"
    )
    return layers


def seal_graders(run_root: Path, graders: Path, protected: Iterable[Path]) -> str:
    """Once the graders are loaded: a second ruleset with the same reads except the graders folder."""
    from torchkata.sandbox import landlock

    rest = [path for path in run_root.iterdir() if path != graders]
    readable = [path for path in readable_paths(run_root, protected) if path != run_root] + rest
    try:
        applied = landlock.restrict(readable, scope=False)
    except OSError as error:
        return f"readable (Landlock failed: {error.strerror})"
    return "unreadable once loaded (Landlock)" if applied else "readable (no Landlock on this kernel)"
