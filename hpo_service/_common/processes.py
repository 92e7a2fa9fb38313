"""Process ids that let another process tell, with certainty, that their owner died.

A driver's or worker's id (the ``owner`` of its lease) names its host and pid for
people to read: ``host:pid:random`` (a driver's ``kind@host:pid:random``). A host
name and a pid alone cannot prove a death: containers share host names (host
networking, a fixed ``hostname:``) and every pid namespace reuses the same small
pids, so "pid 7 of host web is gone here" may be about another container's live
worker. So on Linux each id also carries the identity of its process,
``host:pid:random/NAMESPACE-START``:

- ``NAMESPACE``: a hash of the kernel's boot id (``/proc/sys/kernel/random/
  boot_id``, new at every boot, different on every machine), the pid namespace
  (the inode and device of ``/proc/self/ns/pid``) and the time namespace (start
  times are shown shifted by its offset). Equal to ours only for a process of this
  kernel whose pids and start times mean what ours mean.
- ``START``: the process's start time (clock ticks since boot, field 22 of
  ``/proc/PID/stat``), so a pid taken again by a newer process is told apart.

:func:`certainly_dead` answers True only when the id is of this form, its namespace
is ours, and its pid is gone, a zombie, or a process started at another time. Every
other id (another namespace, another machine, a non-Linux host, an older form) is
never taken for dead: its lease must run out. The one thing assumed is that two
running kernels never share a boot id, which holds unless a virtual machine is
cloned from a snapshot taken while it ran.

A name chosen by hand (``hpo-worker --worker-id NAME``) goes in front of the id,
``NAME/host:pid:random/NAMESPACE-START``, so listings show it and the id still
proves a death. Ids stored by older versions (a bare ``NAME``, or one without
``/NAMESPACE-START``) stay readable: they just never prove one.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import socket
import uuid

_PROC = "/proc"


def owner_id(prefix: str = "", random_digits: int = 8, *, name: str = "") -> str:
    """This process's id: ``{prefix}host:pid:random`` and, where the process can be
    identified (Linux), ``/NAMESPACE-START`` (see the module).

    Args:
        prefix: Put in front, e.g. ``"driver@"``.
        random_digits: Hex digits of the random part (unique per call).
        name: A name chosen by hand (``--worker-id``), put in front as ``name/``;
            empty for none.
    """
    pid = os.getpid()
    base = f"{prefix}{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:random_digits]}"
    if name:
        base = f"{name}/{base}"
    key = namespace_key()
    start = None if key is None else _start_time(pid)
    return base if start is None else f"{base}/{key}-{start:x}"


@functools.cache
def namespace_key() -> str | None:
    """12 hex digits naming this kernel boot and pid namespace; None off Linux or
    when ``/proc`` does not tell (the same for every process of the namespace)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
        pids = os.stat(f"{_PROC}/self/ns/pid")
    except OSError:
        return None
    try:
        clock = os.stat(f"{_PROC}/self/ns/time")
        times = f"{clock.st_dev}:{clock.st_ino}"
    except OSError:  # a kernel before 5.6: no time namespaces
        times = "-"
    if not boot:
        return None
    text = f"{boot}:{pids.st_dev}:{pids.st_ino}:{times}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def process_of(owner: str | None) -> tuple[str, int, int] | None:
    """The namespace key, pid and start time in an id of this module's form, or None
    for any other string."""
    if not owner or "/" not in owner:
        return None
    base, _, identity = owner.rpartition("/")
    key, _, start = identity.partition("-")
    pid = _pid_of(base)
    try:
        started = int(start, 16)
    except ValueError:
        return None
    if len(key) != 12 or pid is None:
        return None
    return key, pid, started


def of_namespace_pattern(namespace: str) -> str:
    """A regular expression matching the owner ids of processes of ``namespace``
    (ending ``/NAMESPACE-START``): the ids whose death a process there can prove."""
    return f"/{re.escape(namespace)}-[0-9a-f]+$"


def _pid_of(base: str) -> int | None:
    """The pid in ``[name/][kind@]host:pid:random`` (an id without its identity
    part), or None for any other string."""
    parts = base.rpartition("/")[2].split("@", 1)[-1].rsplit(":", 2)
    try:
        pid = int(parts[1]) if len(parts) == 3 else 0
    except ValueError:
        return None
    return pid if pid > 0 else None


def same_process_pid(owner: str | None, pid: int) -> bool:
    """Whether ``owner`` is the id of a process with pid ``pid`` of this pid
    namespace (a child this process started and saw die). Off Linux, where ids carry
    no namespace, an id ``[name/]host:pid:random`` of this host name (no containers
    there share one namespace's pids under one name)."""
    found = process_of(owner)
    ours = namespace_key()
    if ours is not None:
        return found is not None and found[0] == ours and found[1] == pid
    prefix = f"{socket.gethostname()}:{pid}:"
    process = (owner or "").rpartition("/")[2]  # after a hand-made name
    return found is None and process.startswith(prefix)


def certainly_dead(owner: str | None) -> bool:
    """Whether ``owner`` names a process that is surely gone (see the module): of
    this kernel and pid namespace, and its pid is free, a zombie, or another
    process's. False whenever that cannot be known for certain."""
    found = process_of(owner)
    ours = namespace_key()
    if found is None or ours is None or found[0] != ours:
        return False
    _, pid, started = found
    try:
        os.kill(pid, 0)  # exists? (also for another user's process: EPERM)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    except OverflowError:
        return False
    state = _stat_fields(pid)
    if state is None:  # exists, but /proc hides it (hidepid): cannot tell
        return False
    status, start = state
    return status in ("Z", "X") or start != started


def certainly_alive(owner: str | None) -> bool:
    """Whether ``owner`` names a process that surely runs (see the module): of this
    kernel and pid namespace, and its pid is the very process that made the id (same
    start time, not a zombie). False whenever that cannot be known for certain: an id
    of another host, container or pid namespace (a container restarted in a new
    one), or without the identity part."""
    found = process_of(owner)
    ours = namespace_key()
    if found is None or ours is None or found[0] != ours:
        return False
    _, pid, started = found
    state = _stat_fields(pid)
    return state is not None and state[0] not in ("Z", "X") and state[1] == started


def _start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else fields[1]


def _stat_fields(pid: int) -> tuple[str, int] | None:
    """The state letter and start time (clock ticks since boot) of process ``pid``
    from ``/proc/PID/stat``, or None if it cannot be read."""
    try:
        with open(f"{_PROC}/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses
    fields = text.rpartition(")")[2].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None
