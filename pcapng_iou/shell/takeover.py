"""Peers that send to an instance through a connected socket: taking their connection over, and giving it back.

EVE-NG's ``iol_wrapper`` connects a socket to ``<id>`` once and sends every
frame for the instance through it.  A connected datagram socket is tied to
the peer socket, not to its name: when we stand in at ``<id>``, its frames
would still go straight to the instance, unseen.  So, once our socket is at
``<id>`` (:func:`take_over`), the kernel is asked which sockets are
connected to the instance's (:mod:`pcapng_iou.shell.sockdiag`), each is
duplicated from its holder (``pidfd_open`` + ``pidfd_getfd``, Linux 5.6+)
and the duplicate is connected to our socket: the holder's next send
comes to us, behind all it sent before (those are in the instance's queue
already, and what we send on queues behind them).

Giving back (:func:`give_back`, at detach and at stop, while ``<id>_real``
still names the instance): the sockets connected to ours (those taken over,
and any that connected to ``<id>`` while we stood there) are connected to the
instance's own socket again, with their holders held still
(:mod:`pcapng_iou.shell.freeze`), so that none has a send half done; what
they had put in our queue is sent on before they go on.  Their next frame
goes to the instance behind all of those.  Where the holder cannot be held
still, one send that was under way at that instant may land in our queue
after the switch and be overtaken by the holder's next one (said once).

Where a connection cannot be taken over, :attr:`Senders.refused` says which
process sends directly and why (for the capture to say once, and to mark
that link as one direction).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import socket
from typing import Callable, Iterator, List, NamedTuple, Optional

from pcapng_iou.core import unixdiag
from pcapng_iou.shell import freeze, sockdiag

SYS_PIDFD_GETFD = 438
_libc = ctypes.CDLL(None, use_errno=True)


class Refusal(NamedTuple):
    """A connection to an instance that is not ours to see: who holds it, and why it was not taken over."""

    holders: tuple
    reason: str

    def who(self) -> str:
        return ", ".join(str(holder) for holder in self.holders) or "a process we cannot see"


class Senders:
    """The connections to one instance's socket that we turned to ours, and those we could not."""

    def __init__(self):
        #: Our copies of the holders' sockets, and the holders.
        self.taken: List[socket.socket] = []
        self.holders: List[sockdiag.Holder] = []
        self.refused: List[Refusal] = []
        #: Why the kernel could not be asked at all (None when it answered).
        self.unknown: Optional[str] = None

    def close(self) -> None:
        for sock in self.taken:
            sock.close()
        self.taken.clear()


def duplicate(holder: sockdiag.Holder, inode: int) -> socket.socket:
    """Our own descriptor for the socket ``holder`` holds (as its descriptor ``holder.fd``)."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        raise OSError(38, "pidfd_open is not available")
    pidfd = pidfd_open(holder.pid)
    try:
        fd = _libc.syscall(SYS_PIDFD_GETFD, pidfd, holder.fd, 0)
        if fd < 0:
            number = ctypes.get_errno()
            raise OSError(number, f"pidfd_getfd: {os.strerror(number).lower()}")
    finally:
        os.close(pidfd)
    if os.fstat(fd).st_ino != inode:  # the process closed it and opened another meanwhile
        os.close(fd)
        raise OSError(0, "it closed that socket meanwhile")
    return socket.socket(fileno=fd)


def _take(senders: Senders, inode: int, holders: List[sockdiag.Holder], path: Optional[str],
          uid: Optional[int] = None) -> None:
    """Connect our duplicate of socket ``inode`` to ``path`` (None: leave it as it is), or note why not."""
    if not holders:
        whose = f"a process of uid {uid}" if uid is not None else "a process"
        senders.refused.append(Refusal((), f"{whose} we may not look into holds it: another user's, "
                                           f"or in another namespace"))
        return
    try:
        sock = duplicate(holders[0], inode)
    except OSError as err:
        senders.refused.append(Refusal(tuple(holders), _reason(err)))
        return
    try:
        if path is not None:
            sock.connect(path)
    except OSError as err:
        sock.close()
        senders.refused.append(Refusal(tuple(holders), f"connect: {_reason(err)}"))
        return
    senders.taken.append(sock)
    senders.holders += holders


def _reason(err: OSError) -> str:
    text = err.strerror or str(err)
    return text[0].lower() + text[1:] if text else "refused"


class _OneQuestion:
    """While the capture stops, the kernel is asked once for all the sockets given back (see :func:`one_question`)."""

    active = False
    sockets: Optional[list] = None


@contextlib.contextmanager
def one_question() -> Iterator[None]:
    """Give back many instances on one answer of the kernel's (a stop: 5 ms an answer with 2,000 sockets).

    A peer that connects to one of our sockets after the question (a wrapper
    starting during the stop) is not seen: its next send after the stop fails
    and it connects again by name, as it would after any failed send.
    """
    _OneQuestion.active, _OneQuestion.sockets = True, None
    try:
        yield
    finally:
        _OneQuestion.active, _OneQuestion.sockets = False, None


def _unix_sockets() -> list:
    if not _OneQuestion.active:
        return sockdiag.unix_sockets()
    if _OneQuestion.sockets is None:
        _OneQuestion.sockets = sockdiag.unix_sockets()
    return _OneQuestion.sockets


def connected_to(target_inode: int, ignore: tuple = ()) -> tuple:
    """The sockets connected to the socket ``target_inode``, not ours: a list of (inode, holders)."""
    sockets = _unix_sockets()
    inodes = unixdiag.senders_to(sockets, target_inode, ignore)
    found = sockdiag.holders(inodes)
    me = os.getpid()
    return [(inode, [holder for holder in found.get(inode, []) if holder.pid != me])
            for inode in inodes if not any(holder.pid == me for holder in found.get(inode, []))]


def take_over(instance: os.stat_result, path: str) -> Senders:
    """Turn every socket connected to the instance's socket (the file ``instance``) to ``path``, ours."""
    return take_over_all([(instance, path)])[0]


def take_over_all(items: List[tuple]) -> List[Senders]:
    """:func:`take_over` for each (instance's socket file, our path), asking the kernel once for all.

    Each of our sockets must be at its instance's name already: a peer that
    connects after the question connects to ours.
    """
    all_senders = [Senders() for _ in items]
    try:
        sockets = sockdiag.unix_sockets() if items else []
        by_file = {sock.vfs: sock.inode for sock in sockets if sock.vfs is not None}
        wanted = [unixdiag.senders_to(sockets, by_file[(st.st_ino, sockdiag.file_device(st))])
                  if (st.st_ino, sockdiag.file_device(st)) in by_file else [] for st, _ in items]
        found = sockdiag.holders([inode for inodes in wanted for inode in inodes])
    except unixdiag.DiagError as err:
        for senders in all_senders:
            senders.unknown = str(err)
        return all_senders
    me = os.getpid()
    uids = {sock.inode: sock.uid for sock in sockets}
    for senders, inodes, (_, path) in zip(all_senders, wanted, items):
        for inode in inodes:
            holders = found.get(inode, [])
            if any(holder.pid == me for holder in holders):
                continue  # ours: the socket that forwards to the instance
            _take(senders, inode, holders, path, uids.get(inode))
    return all_senders


def give_back(senders: Senders, ours: socket.socket, path: str, send_on: Callable[[], None]) -> Optional[str]:
    """Connect every socket connected to ``ours`` to ``path`` (the instance's own socket) and close our copies.

    ``send_on`` sends on what waits in our queue; it is called with the
    holders held still.  Returns None, or what went wrong, in words.
    """
    try:
        late = connected_to(os.fstat(ours.fileno()).st_ino,
                            tuple(os.fstat(sock.fileno()).st_ino for sock in senders.taken))
    except (unixdiag.DiagError, OSError) as err:
        late = []
        senders.unknown = str(err)
    for inode, holders in late:
        _take(senders, inode, holders, None)  # connected to <id> while we stood there
    if not senders.taken:
        return None
    frozen, why = freeze.freeze(holder.pid for holder in senders.holders)
    problem = None if frozen is not None else f"its senders could not be held still ({why})"
    try:
        for sock in senders.taken:
            try:
                sock.connect(path)
            except (ConnectionRefusedError, FileNotFoundError):
                pass  # the instance is gone: its sender's next send fails, and it connects again by name
            except OSError as err:
                problem = f"a sender could not be connected back ({_reason(err)})"
        send_on()
    finally:
        freeze.thaw(frozen)
        senders.close()
    return problem
