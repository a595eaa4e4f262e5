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
A held datagram is recorded once its fate is known: when the instance takes
it, or when it cannot be delivered (the instance died, or took nothing for
:data:`DRAIN_TIMEOUT_S` while we gave its name back).

Giving the name back waits for a busy instance: a send that times out is not
a sign that the instance is gone (it would be refused then), only that it is
slow.  Each datagram is waited for until the instance has taken nothing for
:data:`DRAIN_TIMEOUT_S` (announced after :data:`ANNOUNCE_AFTER_S`); only then
is it given up on, and what waits for it is returned as not delivered, for
the caller to record and warn about.
"""
from __future__ import annotations

import errno
import os
import socket
import time
from collections import deque
from typing import Callable, Deque, Optional

from pcapng_iou.core import netio
from pcapng_iou.core.lifecycle import GONE_ERRNOS
from pcapng_iou.shell import takeover
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
#: How long detaching waits for an instance that takes nothing (stopped?) before giving up on what waits for it.
DRAIN_TIMEOUT_S = 2.0
#: An instance that took nothing for this long while we give its name back is announced (with the bound above).
ANNOUNCE_AFTER_S = 0.25
#: How long a send waits at a time for a full queue, between looks at whether the stop was hurried.
WAIT_STEP_S = 0.05
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
        #: Datagrams received but not yet accepted by the instance (its queue was full), and when each was
        #: read (ns since the epoch): they are recorded once the instance takes them, or once they are lost.
        self.pending: Deque[bytes] = deque()
        self.pending_times: Deque[int] = deque()
        #: The capture loop's pass that last read our socket (a burst goes on over passes in a row).
        self.read_turn = -2
        #: errno of the send that found the instance gone (see GONE_ERRNOS), else None.
        self.gone_errno: Optional[int] = None
        #: Set by :func:`detach` when the instance, alive, took nothing for its patience: why what is left is lost.
        self.stalled: Optional[str] = None
        #: Set by :func:`detach`: whether our socket was sealed before the name went back.
        self.sealed: Optional[bool] = None
        #: The sockets' file descriptors: the hot path reads and sends with ``os.read`` and ``os.write``,
        #: which parse their arguments at a fraction of the cost of ``recv`` and ``send`` (same system calls;
        #: the sockets are non-blocking).  The capture's lone-datagram path uses them too; a failed send goes
        #: to :meth:`not_sent`.
        self.listener_fd = listener.fileno()
        self.forwarder_fd = forwarder.fileno()
        #: Peers' connections to the instance's socket turned to ours (EVE-NG's iol_wrapper), see takeover.py.
        self.senders = takeover.Senders()
        #: Set by :func:`detach` when giving those connections back went wrong (in words).
        self.senders_problem: Optional[str] = None

    @property
    def instance_gone(self) -> bool:
        return self.gone_errno is not None

    def fileno(self) -> int:
        return self.listener.fileno()

    # -- forwarding -----------------------------------------------------------
    def forward(self, datagram: bytes, read_ns: int = 0) -> Optional[str]:
        """Send ``datagram`` (read at ``read_ns``) on, or queue it when the instance's queue is full.

        Returns None when delivered or queued, else why it cannot be delivered.
        """
        if self.instance_gone:
            return f"instance {self.instance} is down"
        if self.pending:
            self.pending.append(datagram)
            self.pending_times.append(read_ns)
            return None
        try:
            os.write(self.forwarder_fd, datagram)
        except OSError as err:
            return self.not_sent(datagram, err, read_ns)
        return None

    def forward_batch(self, datagrams: list, times: Optional[list] = None) -> Optional[list]:
        """:meth:`forward` for each datagram, in order, with fewer steps when all goes well.

        Returns None when all were delivered or queued, else one entry per
        datagram: None, or why that one cannot be delivered.  Those queued are
        the last ones (once one is queued, the next ones queue behind it).
        """
        if times is None:
            times = [0] * len(datagrams)
        if self.pending or self.instance_gone:
            reasons = [self.forward(datagram, read_ns) for datagram, read_ns in zip(datagrams, times)]
            return reasons if any(reasons) else None
        write, fd = os.write, self.forwarder_fd
        done = 0
        try:
            for done, datagram in enumerate(datagrams):
                write(fd, datagram)
            return None
        except OSError as err:
            # Not sent again to learn why: a dead peer answers ECONNREFUSED only once.
            reason = self.not_sent(datagrams[done], err, times[done])
        rest = datagrams[done + 1:]
        if reason is None:
            self.pending.extend(rest)  # the instance is busy: the rest waits behind the one it refused, in order
            self.pending_times.extend(times[done + 1:])
            return None
        return [None] * done + [reason] + [self.forward(datagram, read_ns)
                                           for datagram, read_ns in zip(rest, times[done + 1:])]

    def not_sent(self, datagram: bytes, err: OSError, read_ns: int = 0) -> Optional[str]:
        """A send failed: queue the datagram if the instance is only busy, else say why it is lost."""
        if isinstance(err, BlockingIOError):
            self.pending.append(datagram)
            self.pending_times.append(read_ns)
            return None
        if err.errno in GONE_ERRNOS:
            self.gone_errno = err.errno
            return f"instance {self.instance} is down ({os.strerror(err.errno).lower()})"
        if err.errno in (errno.EMSGSIZE, errno.ENOBUFS):
            return f"instance {self.instance} refused it ({os.strerror(err.errno).lower()})"
        raise err

    def flush_pending(self) -> tuple[list, list]:
        """Send queued datagrams until the instance's queue is full again.

        Returns those sent and when each was read (to be recorded now);
        :attr:`pending` holds the rest.
        """
        pending, write, fd = self.pending, os.write, self.forwarder_fd
        sent: list = []
        try:
            while pending:
                write(fd, pending[0])
                sent.append(pending.popleft())
        except BlockingIOError:
            pass
        except OSError as err:
            if err.errno not in GONE_ERRNOS:
                raise
            self.gone_errno = err.errno
        pending_times = self.pending_times
        return sent, [pending_times.popleft() if pending_times else time.time_ns() for _ in sent]

    def take_held(self) -> tuple[list, list]:
        """The datagrams held for the instance and when each was read; none are held after."""
        held, times = list(self.pending), list(self.pending_times)
        self.pending.clear()
        self.pending_times.clear()
        if len(times) < len(held):  # (held without a time: only a test does that)
            times += [time.time_ns()] * (len(held) - len(times))
        return held, times[:len(held)]

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

    def take_unread(self, limit: int = 1 << 30, leave_out: Optional[object] = None) -> list:
        """The datagrams waiting in our socket (``limit`` at most); those sent from the socket name
        ``leave_out`` (a seal of ours, see :func:`_seal`) are read and thrown away."""
        unread = []
        try:
            if leave_out is None:
                recv = self.listener.recv
                while len(unread) < limit:
                    unread.append(recv(netio.MAX_DATAGRAM))
            else:
                recvfrom = self.listener.recvfrom
                while len(unread) < limit:
                    datagram, sender = recvfrom(netio.MAX_DATAGRAM)
                    if sender != leave_out:
                        unread.append(datagram)
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
        self.senders.close()


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


def detach(proxy: Proxy, timeout: float = DRAIN_TIMEOUT_S, lingering: Optional[list] = None,
           say: Optional[Callable[[str, str], None]] = None,
           hurried: Optional[Callable[[], bool]] = None) -> tuple[list, list, list]:
    """Give the instance its name back, having sent on all that was on its way to it, in order.

    Returns every datagram whose fate was settled here, in order, for the
    caller to record: those held back (:attr:`Proxy.pending`, read earlier)
    and those read from our socket here; when each was read (ns since the
    epoch); and for each None when the instance took it, else why it did
    not.  The proxy is closed (but for a lingering socket, below);
    :attr:`Proxy.sealed` says whether order was kept for certain.

    Order (issue 18): a peer's datagrams that reached us must reach the
    instance before the peer's next ones, which go straight to the instance
    once ``<id>`` is its socket again.  So everything that waits for the
    instance (held back, or unread in our socket) is sent on *before* the
    rename, waiting for room in its queue for as long as it takes some
    (a send that times out means busy, not gone), and our socket is sealed
    (see the module's docstring) so that nothing can reach it after that.
    Reading what peers still send stops after ``timeout``.  An instance that
    takes nothing for ``timeout`` (stopped?) is given up on: what is left for
    it is returned as not delivered (:attr:`Proxy.stalled` says why), and
    ``say`` (if given) announced the wait once it lasted
    :data:`ANNOUNCE_AFTER_S`.  Once ``hurried()`` is true (a second stop
    signal came), nothing is waited for any more: each frame gets one try.
    When our socket cannot be sealed (the instance
    is gone or would not take its frames in time, no socket is left, or no
    socket of ours can fill a queue: see :func:`queue_capacity`), what
    arrived between our last read and the rename is sent on at once after
    it, before anything else is done.

    With ``lingering`` (a list), a sealed socket is not closed here but added
    to it as a :class:`Lingering`, for the caller to close at its ``until``
    (:data:`LINGER_S` from now); without, it is closed at once.
    """
    handover = Handover(proxy, timeout, say, hurried)
    seal: Optional[socket.socket] = None
    kept = False
    try:
        handover.send(*proxy.take_held())
        proxy.senders_problem = takeover.give_back(proxy.senders, proxy.listener, proxy.paths.real,
                                                   lambda: handover.send(proxy.take_unread()))
        if proxy.still_ours() and not proxy.instance_gone:
            _send_on_everything(handover, time.monotonic() + timeout)
            # Given up on (stalled): no seal, which would read on what its peers send, only to lose it.  Its
            # name goes back at once, and its peers wait for it as they would without us.
            if not proxy.instance_gone and not proxy.stalled:
                # A deadline of its own: handing a slow instance its frames may have taken all of the first.
                seal = _seal(handover, time.monotonic() + timeout)
        _give_name_back(proxy)
        if proxy.sealed:
            if lingering is None:
                proxy.listener.close()  # at once: the peers held by our full queue look <id> up again
            else:
                lingering.append(Lingering((proxy.listener, seal), time.monotonic() + LINGER_S))
                kept, seal = True, None
            return handover.datagrams, handover.times, handover.reasons
        # Not sealed: what the seal put in our queue before it gave up is ours, not a peer's.
        handover.send(proxy.take_unread(leave_out=_name_of(seal)))
    finally:
        if kept:
            proxy.forwarder.close()
        else:
            proxy.close()
        if seal is not None:
            seal.close()
    return handover.datagrams, handover.times, handover.reasons


class Handover:
    """Datagrams sent on while an instance's name goes back: each, when it was read, and why it was not delivered.

    A full instance queue is waited for: each datagram until the instance has
    taken nothing for ``patience`` seconds, then it and all after it are
    given up on (:attr:`Proxy.stalled`).  ``say`` announces a wait that lasts.
    """

    def __init__(self, proxy: Proxy, patience: float, say: Optional[Callable[[str, str], None]] = None,
                 hurried: Optional[Callable[[], bool]] = None):
        self.proxy = proxy
        self.patience = patience
        self.say = say
        self.hurried = hurried if hurried is not None else (lambda: False)
        self.datagrams: list = []
        self.times: list = []
        self.reasons: list = []
        self.announced = False

    def send(self, datagrams: list, times: Optional[list] = None) -> None:
        """Send ``datagrams`` (read at ``times``, else now) on, in order."""
        if not datagrams:
            return
        self.datagrams += datagrams
        self.times += times if times is not None else [time.time_ns()] * len(datagrams)
        for datagram in datagrams:
            self.reasons.append(self._send_one(datagram))

    def _send_one(self, datagram: bytes) -> Optional[str]:
        proxy = self.proxy
        if proxy.instance_gone:
            return f"instance {proxy.instance} is down"
        if proxy.stalled:
            return proxy.stalled
        sock = proxy.forwarder
        waited = 0.0
        while True:
            hurried = self.hurried()
            wait = 0.0 if hurried else max(min(self.patience - waited, WAIT_STEP_S), 0.001)
            sock.settimeout(wait)  # 0: one try, no wait
            try:
                sock.send(datagram)
                return None
            except (socket.timeout, BlockingIOError):  # (socket.timeout: not yet TimeoutError on Python 3.9)
                # Busy (its queue is full), not gone: a gone instance refuses at once.
                if hurried:
                    proxy.stalled = f"the stop was hurried: instance {proxy.instance} was not waited for"
                    return proxy.stalled
                waited += wait
                if waited >= self.patience:
                    proxy.stalled = f"instance {proxy.instance} took no frames for {self.patience:g} s (stopped?)"
                    return proxy.stalled
                if waited >= ANNOUNCE_AFTER_S:
                    self._announce()
            except OSError as err:
                if err.errno in (errno.EMSGSIZE, errno.ENOBUFS):
                    return f"instance {proxy.instance} refused it ({os.strerror(err.errno).lower()})"
                proxy.gone_errno = err.errno if err.errno is not None else errno.EIO
                if err.errno in GONE_ERRNOS:
                    return f"instance {proxy.instance} is down ({os.strerror(err.errno).lower()})"
                return f"instance {proxy.instance} did not take it ({err.strerror or err})"

    def _announce(self) -> None:
        if not self.announced:
            self.announced = True
            if self.say is not None:
                self.say(f"instance {self.proxy.instance} takes no frames; waiting up to {self.patience:g} s "
                         f"for it to take what waits for it (Ctrl-C again not to wait)", "warning")

    @property
    def undelivered(self) -> int:
        return sum(reason is not None for reason in self.reasons)


def _seal(handover: Handover, deadline: float) -> Optional[socket.socket]:
    """Fill our socket's queue with empty datagrams of ours until it holds nothing else.

    A peer's datagram read on the way is sent on (through ``handover``).
    Sets :attr:`Proxy.sealed`; returns the sealing socket, which must stay
    open until ours is closed (None if it could not be made).
    """
    proxy = handover.proxy
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
            handover.send([datagram])
    return seal



def _name_of(sock: Optional[socket.socket]) -> Optional[object]:
    if sock is None:
        return None
    try:
        return sock.getsockname() or None
    except OSError:
        return None


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


def _send_on_everything(handover: Handover, deadline: float) -> None:
    """Send on what waits unread in our socket until it is empty (reading stops at ``deadline``)."""
    proxy = handover.proxy
    while not proxy.instance_gone and not proxy.stalled and time.monotonic() < deadline:
        batch = proxy.take_unread(DRAIN_BATCH)
        if not batch:
            break
        handover.send(batch)



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


def bury(proxy: Proxy) -> tuple[list, list]:
    """The instance died: remove its files as it would have, close the proxy.

    Returns the frames for it that are lost (held back, then still unread in
    our socket) and when each was read, to record as not delivered.
    """
    try:
        remove_dead_instance(proxy.paths, proxy.our_inode, proxy.instance_inode)
        held, times = proxy.take_held()
        unread = proxy.take_unread()
    finally:
        proxy.close()
    return held + unread, times + [time.time_ns()] * len(unread)
