"""TCP ports for tests: one held for the test's whole duration, never found free,
closed and used later (another process, e.g. CI's other pytest process, could take it
in between)."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path


def held_port() -> socket.socket:
    """A socket bound to a free 127.0.0.1 port, not listening: connections to the
    port are refused until it listens, and no other program can take the port while
    it is open. Close it (``with held_port() as sock``) when done."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` itself listens on (from Linux's ``/proc``): a
    port answering a connection may belong to another program."""
    fds = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):  # the process ended meanwhile
        inodes = {_link(fd) for fd in fds.iterdir()}
        ports = set()
        for table in ("tcp", "tcp6"):
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()
            for line in lines[1:]:
                fields = line.split()  # local address, state (0A: LISTEN), inode
                if fields[3] == "0A" and f"socket:[{fields[9]}]" in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        return ports
    return set()


def _link(fd: Path) -> str:
    """What the open file ``fd`` is (``socket:[INODE]`` for a socket), or "" for one
    closed since its folder was listed: a busy server opens and closes files all the
    time, and one closed file made the whole set come back empty."""
    try:
        return os.readlink(fd)
    except FileNotFoundError:
        return ""
