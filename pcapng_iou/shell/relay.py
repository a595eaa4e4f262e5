"""Standing in for an instance's socket: attach, forward, detach.

Attaching to instance 100 (docs/netio.rst, "Standing in for an instance")::

    bind our socket at 100.pcapng-iou-new     (same owner and mode as 100)
    connect a forwarding socket to 100        (the instance's inode)
    link 100 -> 100_real                      (the instance is reachable under both names)
    rename 100.pcapng-iou-new over 100        (atomic: peers now reach us)

Peers keep sending to ``100`` and reach our socket; every datagram is sent on,
unchanged, through the connected forwarding socket, which stays tied to the
instance's socket inode whatever its name.  Detaching sends on all that waits
for the instance, seals our socket (below), renames ``100_real`` back over
``100`` and closes our socket.  At no moment is ``100`` missing.

Sealing, so that no datagram overtakes another at detach (issue 18): a peer
that looked ``100`` up before the rename may still put a datagram in our
queue after it, and the peer's next one, sent straight to the instance,
would overtake it.  So, before the rename, we fill our own queue with empty
datagrams of ours until it holds nothing else (anything of a peer's met on
the way is sent on first).  A full queue holds every peer still aimed at us:
a blocking send waits, a non-blocking one is refused and tried again.  Once
the name is the instance's and our socket is closed, each of those sends
finds our socket dead and looks ``100`` up again: it goes to the instance,
behind everything we sent on.  When the capture stops, our socket is closed
:data:`LINGER_S` after the rename, not at once: a send looks the name up
first and the socket behind it a moment later, and a send that found our
name just before the rename must still find our socket there (full: it
waits or tries again), not a closed one, which the kernel answers with
"connection refused" (the frame would be lost).  A send paused longer than
that between its two steps would still be refused.  The peers held wait
that long, or until the next instance is given back if that takes longer.

Backpressure: when the instance's queue is full, what we read waits in
:attr:`Proxy.pending` and the capture stops reading for that instance until
the queue drains, so a stalled instance makes us hold one read batch at most.
"""
from __future__ import annotations

import errno
import os
import socket
import time
from collections import deque
from typing import Deque, Optional

from pcapng_iou.core import netio
from pcapng_iou.core.lifecycle import GONE_ERRNOS
from pcapng_iou.shell.netiodir import (
    MAX_SOCKET_PATH,
    Paths,
    is_socket,
    lstat,
    remove_dead_instance,
    unlink_if_inode,
)

#: Our receive queue: big enough that a burst waits in the kernel, not in us.
RECEIVE_BUFFER = 4 * 1024 * 1024
#: How long detaching waits for a slow instance to take what is still queued for it.
DRAIN_TIMEOUT_S = 2.0
#: Datagrams read at a time while detaching.
DRAIN_BATCH = 64
#: Send buffer of the socket that seals ours: room for a full queue of empty datagrams.
SEAL_SEND_BUFFER = 4 * 1024 * 1024
#: How long our sealed socket stays open once the name is the instance's again (see the module's docstring).
LINGER_S = 0.05


class Lingering:
    """Our sealed socket and the one that fills it, after the name went back: to be closed at ``until``."""

    __slots__ = ("sockets", "until")

    def __init__(self, sockets: tuple, until: float):
        self.sockets = sockets
        #: When to close them (monotonic clock).
        self.until = until

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


class AttachError(Exception):
    """An instance socket we cannot stand in for; the directory is left as it was."""


class InstanceNotRunning(AttachError):
    """Nobody answers at the socket: a stale one, left by an instance that was killed."""


class PathTooLong(AttachError):
    """Our names for this instance do not fit in a socket address."""


class Proxy:
    """Our socket in place of one instance's, and the way on to the instance."""

    def __init__(self, paths: Paths, listener: socket.socket, forwarder: socket.socket,
                 our_inode: int, instance_inode: int):
        self.paths = paths
        self.instance = paths.instance
        self.listener = listener
        self.forwarder = forwarder
        self.our_inode = our_inode
        self.instance_inode = instance_inode
        #: Datagrams received but not yet accepted by the instance (its queue was full).
        self.pending: Deque[bytes] = deque()
        #: The capture loop's pass that last read our socket (a burst goes on over passes in a row).
        self.read_turn = -2
        #: errno of the send that found the instance gone (see GONE_ERRNOS), else None.
        self.gone_errno: Optional[int] = None
        #: Set by :func:`detach`: whether our socket was sealed before the name went back.
        self.sealed: Optional[bool] = None
        #: The sockets' file descriptors: the hot path reads and sends with ``os.read`` and ``os.write``,
        #: which parse their arguments at a fraction of the cost of ``recv`` and ``send`` (same system calls;
        #: the sockets are non-blocking).  The capture's lone-datagram path uses them too; a failed send goes
        #: to :meth:`not_sent`.
        self.listener_fd = listener.fileno()
        self.forwarder_fd = forwarder.fileno()

    @property
    def instance_gone(self) -> bool:
        return self.gone_errno is not None

    def fileno(self) -> int:
        return self.listener.fileno()

    # -- forwarding -----------------------------------------------------------
    def forward(self, datagram: bytes) -> Optional[str]:
        """Send ``datagram`` on, or queue it when the instance's queue is full.

        Returns None when delivered or queued, else why it cannot be delivered.
        """
        if self.instance_gone:
            return f"instance {self.instance} is down"
        if self.pending:
            self.pending.append(datagram)
            return None
        try:
            os.write(self.forwarder_fd, datagram)
        except OSError as err:
            return self.not_sent(datagram, err)
        return None

    def forward_batch(self, datagrams: list) -> Optional[list]:
        """:meth:`forward` for each datagram, in order, with fewer steps when all goes well.

        Returns None when all were delivered or queued, else one entry per
        datagram: None, or why that one cannot be delivered.
        """
        if self.pending or self.instance_gone:
            reasons = [self.forward(datagram) for datagram in datagrams]
            return reasons if any(reasons) else None
        write, fd = os.write, self.forwarder_fd
        done = 0
        try:
            for done, datagram in enumerate(datagrams):
                write(fd, datagram)
            return None
        except OSError as err:
            # Not sent again to learn why: a dead peer answers ECONNREFUSED only once.
            reason = self.not_sent(datagrams[done], err)
        rest = datagrams[done + 1:]
        if reason is None:
            self.pending.extend(rest)  # the instance is busy: the rest waits behind the one it refused, in order
            return None
        return [None] * done + [reason] + [self.forward(datagram) for datagram in rest]

    def not_sent(self, datagram: bytes, err: OSError) -> Optional[str]:
        """A send failed: queue the datagram if the instance is only busy, else say why it is lost."""
        if isinstance(err, BlockingIOError):
            self.pending.append(datagram)
            return None
        if err.errno in GONE_ERRNOS:
            self.gone_errno = err.errno
            return f"instance {self.instance} is down ({os.strerror(err.errno).lower()})"
        if err.errno in (errno.EMSGSIZE, errno.ENOBUFS):
            return f"instance {self.instance} refused it ({os.strerror(err.errno).lower()})"
        raise err

    def flush_pending(self) -> int:
        """Send queued datagrams until the instance's queue is full again; return how many left."""
        pending, write, fd = self.pending, os.write, self.forwarder_fd
        try:
            while pending:
                write(fd, pending[0])
                pending.popleft()
        except BlockingIOError:
            pass
        except OSError as err:
            if err.errno not in GONE_ERRNOS:
                raise
            self.gone_errno = err.errno
        return len(pending)

    def receive_batch(self, limit: int) -> tuple[list, list]:
        """Up to ``limit`` datagrams waiting for us, and when each was read (ns since the epoch).

        Reading all that waits before sending any on wakes the instances on
        either side once a batch rather than once a datagram (see the README's
        Performance section).  With ``limit`` 1 no second read is tried: a
        read that finds nothing costs an exception.
        """
        read, fd, clock = os.read, self.listener_fd, time.time_ns
        datagrams: list = []
        times: list = []
        try:
            datagrams.append(read(fd, netio.MAX_DATAGRAM))
            times.append(clock())
            for _ in range(limit - 1):
                datagrams.append(read(fd, netio.MAX_DATAGRAM))
                times.append(clock())
        except BlockingIOError:
            pass
        return datagrams, times

    def take_unread(self, limit: int = 1 << 30) -> list:
        """The datagrams waiting in our socket (``limit`` at most)."""
        unread = []
        recv = self.listener.recv
        try:
            while len(unread) < limit:
                unread.append(recv(netio.MAX_DATAGRAM))
        except BlockingIOError:
            pass
        return unread

    # -- state of the directory -------------------------------------------------
    def still_ours(self) -> bool:
        """Is our socket still the one at ``<id>``?"""
        st = lstat(self.paths.socket)
        return st is not None and st.st_ino == self.our_inode

    def close(self) -> None:
        self.listener.close()
        self.forwarder.close()


def attach(directory: str, instance: int) -> Proxy:
    """Stand in for ``instance``'s socket.  Raises :class:`AttachError` and undoes all on failure."""
    paths = Paths(directory, instance)
    if len(paths.longest().encode()) > MAX_SOCKET_PATH:
        raise PathTooLong(f"{paths.longest()}: path is longer than the {MAX_SOCKET_PATH} bytes a socket name may have")
    st = lstat(paths.socket)
    if not is_socket(st):
        raise AttachError(f"{paths.socket}: not a socket")
    if lstat(paths.real) is not None:
        raise AttachError(f"{paths.real} already exists (left by a crashed capture? run 'pcapng-iou repair')")
    temp = lstat(paths.temp)
    if temp is not None and not is_socket(temp):
        # Only a socket there can be ours (from an attach that was interrupted); anything else is left alone.
        raise AttachError(f"{paths.socket}: not attached: {paths.temp} is in the way and is not ours")
    try:
        forwarder = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    except OSError as err:  # EMFILE, ENFILE, ENOBUFS: the lab is left as it is
        raise AttachError(f"{paths.socket}: cannot attach ({err.strerror})") from None
    try:
        forwarder.connect(paths.socket)
    except OSError as err:
        forwarder.close()
        raise InstanceNotRunning(f"{paths.socket}: instance does not answer ({os.strerror(err.errno).lower()})") from None
    forwarder.setblocking(False)
    try:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    except OSError as err:
        forwarder.close()
        raise AttachError(f"{paths.socket}: cannot attach ({err.strerror})") from None
    linked = False
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        if lstat(paths.temp) is not None:
            os.unlink(paths.temp)  # ours, from an attach that was interrupted
        listener.bind(paths.temp)
        listener.setblocking(False)
        # Peers must keep the right to send to what now answers at <id>.
        os.chmod(paths.temp, st.st_mode & 0o7777)
        if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
            os.chown(paths.temp, st.st_uid, st.st_gid)
        our_inode = os.lstat(paths.temp).st_ino
        os.link(paths.socket, paths.real, follow_symlinks=False)
        linked = True
        real = os.lstat(paths.real)
        if real.st_ino != st.st_ino:
            raise AttachError(f"{paths.socket}: replaced while attaching")
        os.rename(paths.temp, paths.socket)
    except BaseException as err:
        if linked:
            unlink_if_inode(paths.real, st.st_ino)
        try:
            os.unlink(paths.temp)
        except OSError:
            pass
        listener.close()
        forwarder.close()
        if isinstance(err, OSError):
            raise AttachError(f"{paths.socket}: cannot attach ({err.strerror})") from None
        raise
    return Proxy(paths, listener, forwarder, our_inode, st.st_ino)


def detach(proxy: Proxy, timeout: float = DRAIN_TIMEOUT_S, lingering: Optional[list] = None) -> tuple[list, list]:
    """Give the instance its name back, having sent on all that was on its way to it, in order.

    Returns the datagrams read from our socket here (the caller records
    them; those in :attr:`Proxy.pending` were recorded when read) and, for
    each, None when the instance took it, else why it did not.  The proxy is
    closed (but for a lingering socket, below); :attr:`Proxy.sealed` says
    whether order was kept for certain.

    Order (issue 18): a peer's datagrams that reached us must reach the
    instance before the peer's next ones, which go straight to the instance
    once ``<id>`` is its socket again.  So everything that waits for the
    instance (held back, or unread in our socket) is sent on *before* the
    rename, waiting for room in its queue (up to ``timeout``), and our socket
    is sealed (see the module's docstring) so that nothing can reach it after
    that.  When it cannot be sealed (the instance is gone or would not take
    its frames in time, no socket is left, or no socket of ours can fill a
    queue: see :func:`queue_capacity`), what arrived between our last read
    and the rename is sent on at once after it, before anything else is done.

    With ``lingering`` (a list), a sealed socket is not closed here but added
    to it as a :class:`Lingering`, for the caller to close at its ``until``
    (:data:`LINGER_S` from now); without, it is closed at once.
    """
    read: list = []
    reasons: list = []
    seal: Optional[socket.socket] = None
    kept = False
    try:
        if proxy.still_ours() and not proxy.instance_gone:
            deadline = time.monotonic() + timeout
            read, reasons = _send_on_everything(proxy, timeout)
            if not proxy.instance_gone:
                seal = _seal(proxy, deadline, read, reasons)
        _give_name_back(proxy)
        if proxy.sealed:
            if lingering is None:
                proxy.listener.close()  # at once: the peers held by our full queue look <id> up again
            else:
                lingering.append(Lingering((proxy.listener, seal), time.monotonic() + LINGER_S))
                kept, seal = True, None
            return read, reasons
        late = proxy.take_unread()
        held = list(proxy.pending)  # (only when the instance left, or would not take them in time)
        proxy.pending.clear()
        read += late
        reasons += _send_on(proxy, held + late, timeout)[len(held):]
    finally:
        if kept:
            proxy.forwarder.close()
        else:
            proxy.close()
        if seal is not None:
            seal.close()
    return read, reasons


def _seal(proxy: Proxy, deadline: float, read: list, reasons: list) -> Optional[socket.socket]:
    """Fill our socket's queue with empty datagrams of ours until it holds nothing else.

    A peer's datagram read on the way is sent on (and added to ``read`` and
    ``reasons``).  Sets :attr:`Proxy.sealed`; returns the sealing socket,
    which must stay open until ours is closed (None if it could not be made).
    """
    proxy.sealed = False
    capacity = queue_capacity()
    if not capacity:
        return None
    try:
        seal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    except OSError:
        return None
    try:
        seal.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEAL_SEND_BUFFER)
        seal.bind("")  # a name of its own (the kernel picks one), to tell its datagrams from the peers'
        name = seal.getsockname()
        seal.connect(proxy.paths.socket)
        if not proxy.still_ours():
            return seal  # <id> changed hands under us: whatever we reached is not ours to fill
        seal.setblocking(False)
    except OSError:
        return seal
    ours = 0
    while not proxy.instance_gone:
        try:
            seal.send(b"")
            ours += 1
            continue
        except BlockingIOError:
            if ours >= capacity:
                proxy.sealed = True
                break
        if time.monotonic() > deadline:
            break
        # A peer's datagram is in the queue (or our send buffer is full): take the oldest.
        try:
            datagram, sender = proxy.listener.recvfrom(netio.MAX_DATAGRAM)
        except BlockingIOError:
            continue
        if sender == name:
            ours -= 1
        else:
            read.append(datagram)
            reasons += _send_on(proxy, [datagram], max(0.001, deadline - time.monotonic()))
    return seal


_queue_capacity: Optional[int] = None


def queue_capacity() -> int:
    """How many datagrams the kernel queues for one unix datagram socket, learnt once by filling one.

    0 when one socket of ours cannot fill a queue (its send buffer is full
    first, when ``net.unix.max_dgram_qlen`` is very large): then no seal can
    be trusted, and :func:`detach` does without.
    """
    global _queue_capacity
    if _queue_capacity is None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver, \
                socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as filler, \
                socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
            filler.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEAL_SEND_BUFFER)
            receiver.bind("")
            filler.connect(receiver.getsockname())
            filler.setblocking(False)
            count = 0
            try:
                while True:
                    filler.send(b"")
                    count += 1
            except BlockingIOError:
                pass
            probe.setblocking(False)
            try:
                probe.sendto(b"", receiver.getsockname())
                count = 0  # there was room left: the filler's send buffer ran out first
            except BlockingIOError:
                pass
        _queue_capacity = count
    return _queue_capacity


def _send_on_everything(proxy: Proxy, timeout: float) -> tuple[list, list]:
    """Send on what is held back, then what waits unread, until our socket is empty (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    held = list(proxy.pending)
    proxy.pending.clear()
    _send_on(proxy, held, timeout)
    read: list = []
    reasons: list = []
    while not proxy.instance_gone and time.monotonic() < deadline:
        batch = proxy.take_unread(DRAIN_BATCH)
        if not batch:
            break
        read += batch
        reasons += _send_on(proxy, batch, max(0.001, deadline - time.monotonic()))
    return read, reasons


def _give_name_back(proxy: Proxy) -> None:
    paths = proxy.paths
    real = lstat(paths.real)
    if real is not None and real.st_ino == proxy.instance_inode:
        if proxy.still_ours():
            os.rename(paths.real, paths.socket)
        else:
            # <id> was removed or replaced (the instance exited or restarted): its old socket is litter.
            os.unlink(paths.real)
    elif proxy.still_ours():
        os.unlink(paths.socket)


def _send_on(proxy: Proxy, datagrams: list, timeout: float) -> list:
    """Send ``datagrams`` to the instance, waiting up to ``timeout`` for room; why each was not taken."""
    reasons: list = []
    if datagrams and not proxy.instance_gone:
        proxy.forwarder.settimeout(timeout)
    for datagram in datagrams:
        if proxy.instance_gone:
            reasons.append(f"instance {proxy.instance} is down")
            continue
        try:
            proxy.forwarder.send(datagram)
            reasons.append(None)
        except OSError as err:
            proxy.gone_errno = err.errno if err.errno is not None else errno.ETIMEDOUT
            reasons.append(f"instance {proxy.instance} did not take it ({err.strerror or 'timed out'})")
    return reasons


def bury(proxy: Proxy) -> tuple[list, int]:
    """The instance died: remove its files as it would have, close the proxy.

    Returns the datagrams still unread in our socket (to record as undelivered)
    and how many frames for it are lost in all (unread and pending).
    """
    try:
        remove_dead_instance(proxy.paths, proxy.our_inode, proxy.instance_inode)
        unread = proxy.take_unread()
        lost = len(proxy.pending) + len(unread)
        proxy.pending.clear()
    finally:
        proxy.close()
    return unread, lost
