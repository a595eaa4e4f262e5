"""Asking the kernel which unix sockets are connected to a socket, and which processes hold them.

The question goes to NETLINK_SOCK_DIAG (what ``ss -xp`` asks); the answer is
read by :mod:`pcapng_iou.core.unixdiag`.  The holders are found through
``/proc/<pid>/fd``, whose links read ``socket:[<inode>]``.
"""
from __future__ import annotations

import os
import socket
from typing import Dict, Iterable, List, NamedTuple

from pcapng_iou.core import unixdiag

NETLINK_SOCK_DIAG = 4
#: What one read of the dump may hold: the kernel fills up to this much per batch.
RECEIVE_SIZE = 1 << 16


class Holder(NamedTuple):
    """A process that holds a socket, and the descriptor it holds it under."""

    pid: int
    fd: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command})"


def unix_sockets() -> List[unixdiag.UnixSocket]:
    """Every unix socket of our network namespace.  Raises :class:`unixdiag.DiagError` when the kernel will not say."""
    try:
        netlink = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    except (OSError, AttributeError) as err:
        raise unixdiag.DiagError(f"sock_diag is not available ({getattr(err, 'strerror', None) or err})",
                                 getattr(err, "errno", 0) or 0) from None
    with netlink:
        try:
            netlink.send(unixdiag.dump_request())
            found: List[unixdiag.UnixSocket] = []
            while True:
                sockets, done = unixdiag.parse_replies(netlink.recv(RECEIVE_SIZE))
                found += sockets
                if done:
                    return found
        except OSError as err:
            raise unixdiag.DiagError(f"sock_diag: {err.strerror}", err.errno or 0) from None


def file_device(st: os.stat_result) -> int:
    """The device of a file as sock_diag reports it."""
    return unixdiag.kernel_device(os.major(st.st_dev), os.minor(st.st_dev))


def holders(inodes: Iterable[int]) -> Dict[int, List[Holder]]:
    """For each socket inode, the processes holding it (ours included); an inode nobody we can see holds is absent."""
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    found: Dict[int, List[Holder]] = {}
    if not wanted:
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # gone, or not ours to look at
            continue
        for fd in fds:
            try:
                inode = wanted.get(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
            if inode is not None:
                found.setdefault(inode, []).append(Holder(pid, int(fd), command_of(pid)))
    return found


def command_of(pid: int) -> str:
    """The command name of a process (``/proc/<pid>/comm``), or ``?``."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as comm:
            return comm.read(64).decode(errors="replace").strip() or "?"
    except OSError:
        return "?"
