"""Holding a process still for a moment (ptrace), so that none of its sends is half done.

A send on a connected datagram socket takes the peer once, at its start; if
the peer's queue is full it waits, still aimed at that peer.  To turn such a
socket to another peer with no datagram in flight, every thread of the
holder is stopped first (``PTRACE_SEIZE`` + ``PTRACE_INTERRUPT``: no signal
the process or its parent could see).  A send that was waiting is
interrupted and, once the thread goes on, starts again from the beginning:
it takes the new peer.  The threads go on at :meth:`Frozen.thaw`
(``PTRACE_DETACH``, handing back a signal that arrived meanwhile).

The kernel allows this with the same rights as ``pidfd_getfd``: root, or the
same user (no Yama restrictions).  Where it refuses, :func:`freeze` says why
and holds nothing.
"""
from __future__ import annotations

import ctypes
import errno
import os
import signal
import time
from typing import Dict, Iterable, List, Optional

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WAIT_ALL = 0x40000000  # __WALL: wait for threads and non-children we trace
PTRACE_EVENT_STOP = 128
#: How long a thread is waited for to stop (a thread in the kernel's uninterruptible sleep takes a moment).
WAIT_LIMIT_S = 1.0


def _ptrace(request: int, tid: int, data: int = 0) -> None:
    if _libc.ptrace(request, tid, None, ctypes.c_void_p(data)) == -1:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


class Frozen:
    """Threads we hold stopped, and the signal each must get back when it goes on."""

    def __init__(self):
        self.signals: Dict[int, int] = {}

    def thaw(self) -> None:
        for tid, signal_number in self.signals.items():
            try:
                _ptrace(PTRACE_DETACH, tid, signal_number)
            except OSError:
                pass  # the thread exited meanwhile
        self.signals.clear()

    def hold(self, tid: int) -> None:
        _ptrace(PTRACE_SEIZE, tid)
        self.signals[tid] = 0
        _ptrace(PTRACE_INTERRUPT, tid)
        status = _wait_stopped(tid)
        if status is None:
            return  # the stop was reported elsewhere (our own child, waited for by another thread): it is held
        if os.WIFSTOPPED(status) and status >> 16 == 0 and os.WSTOPSIG(status) != signal.SIGTRAP:
            self.signals[tid] = os.WSTOPSIG(status)  # a signal on its way to the thread: it gets it at thaw
        elif not os.WIFSTOPPED(status):
            del self.signals[tid]  # it exited


def _wait_stopped(tid: int) -> Optional[int]:
    """The status the thread stopped with; None when none came in :data:`WAIT_LIMIT_S` but it is stopped."""
    deadline = time.monotonic() + WAIT_LIMIT_S
    while True:
        found, status = os.waitpid(tid, WAIT_ALL | os.WNOHANG)
        if found:
            return status
        if time.monotonic() > deadline:
            if _traced_stop(tid):
                return None
            raise OSError(errno.ETIMEDOUT, f"thread {tid} did not stop")
        time.sleep(0.0005)


def _traced_stop(tid: int) -> bool:
    try:
        with open(f"/proc/{tid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"t"
    except (OSError, IndexError):
        return False


def threads_of(pid: int) -> List[int]:
    try:
        return sorted(int(name) for name in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return []


def freeze(pids: Iterable[int]) -> tuple:
    """Stop every thread of ``pids``: a :class:`Frozen` to thaw, and None; or None and why it cannot be done."""
    frozen = Frozen()
    tried: set = set()
    try:
        for pid in sorted(set(pids)):
            while True:  # a thread started meanwhile is held too
                new = [tid for tid in threads_of(pid) if tid not in tried]
                if not new:
                    break
                for tid in new:
                    tried.add(tid)
                    try:
                        frozen.hold(tid)
                    except ProcessLookupError:
                        frozen.signals.pop(tid, None)  # it exited
    except OSError as err:
        frozen.thaw()
        return None, f"ptrace: {err.strerror.lower() if err.strerror else err}"
    return frozen, None


def thaw(frozen: Optional[Frozen]) -> None:
    if frozen is not None:
        frozen.thaw()
