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
import itertools
import os
import socket
import time
from collections import deque
from typing import Callable, Deque, Optional

from pcapng_iou.core.lifecycle import GONE_ERRNOS
from pcapng_iou.shell import mmsg, takeover
from pcapng_iou.shell.labdir import LabDirectory
from pcapng_iou.shell.mmsg import BatchIO, receive_whole, receive_whole_from
from pcapng_iou.shell.privileges import acting_as
from pcapng_iou.shell.netiodir import MAX_SOCKET_PATH, Paths, is_socket, remove_dead_instance

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
#: How long giving every instance its name back may take in all when the capture stops, however many
#: instances stall (their waits overlap: :mod:`pcapng_iou.shell.stopping`); lingering sockets add LINGER_S.
STOP_BOUND_S = 4.5
#: Datagrams up to this long pass any send buffer; a longer one makes the forwarding socket's big enough.
SMALL_DATAGRAM = 64 * 1024
#: What the kernel counts beyond the datagram itself against a send buffer (at most; see unix_dgram_sendmsg).
SEND_OVERHEAD = 1024
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


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
                 our_inode: int, instance_inode: int, owns_lab: bool = False):
        self.paths = paths
        #: The netio directory held open, which every name of ours is reached through.
        self.lab: LabDirectory = paths.lab
        #: Whether :meth:`close` closes :attr:`lab` too (opened for this proxy alone).
        self.owns_lab = owns_lab
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
        #: Datagrams for it recorded as not delivered while relaying (the instance refused or was gone).
        self.lost = 0
                #: errno of the send that found the instance gone (see GONE_ERRNOS), else None.
        self.gone_errno: Optional[int] = None
        #: Set by :func:`detach` when the instance, alive, took nothing for its patience: why what is left is lost.
        self.stalled: Optional[str] = None
        #: Set by :func:`detach`: whether our socket was sealed before the name went back.
        self.sealed: Optional[bool] = None
        #: What was sent on for the instance when the capture stops, all instances together
        #: (:mod:`pcapng_iou.shell.stopping`), before :func:`detach` goes on with it.
        self.handover: Optional["Handover"] = None
        #: The sockets' file descriptors: the hot path reads and sends with ``os.read`` and ``os.write``,
        #: which parse their arguments at a fraction of the cost of ``recv`` and ``send`` (same system calls;
        #: the sockets are non-blocking).  The capture's lone-datagram path uses them too; a failed send goes
        #: to :meth:`not_sent`.
        self.listener_fd = listener.fileno()
        self.forwarder_fd = forwarder.fileno()
        #: The longest datagram the forwarding socket's send buffer lets through (learnt on first need).
        self._send_room: Optional[int] = None
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

    def relay_waiting(self, batch: BatchIO) -> tuple:
        """Read everything that waits for the instance and send it on: a system call each, for all of them.

        Returns the datagrams read, when (one time for all: they were read at
        once), None or a reason each (as :meth:`forward_batch`), and how many of
        the last ones wait in :attr:`pending` (the instance's queue is full).
        """
        datagrams = batch.receive(self.listener_fd)
        if not datagrams:
            return datagrams, datagrams, None, 0
        read_ns = time.time_ns()
        times = [read_ns] * len(datagrams)
        if batch.longest > SMALL_DATAGRAM:
            self.make_room(batch.longest)
        before = len(self.pending)
        if self.pending or self.instance_gone:
            return datagrams, times, self.forward_batch(datagrams, times), len(self.pending) - before
        count, sent, fd = len(datagrams), 0, self.forwarder_fd
        while sent < count:
            try:
                sent += batch.send_received(fd, sent, count - sent)
            except OSError as err:  # (sendmmsg says why only when the first of those it was given fails)
                reason = self.not_sent(datagrams[sent], err, read_ns)
                rest = datagrams[sent + 1:]
                if reason is None:  # busy: the rest waits behind the one it refused, in order
                    self.pending.extend(rest)
                    self.pending_times.extend(times[sent + 1:])
                    return datagrams, times, None, len(self.pending) - before
                reasons = [None] * sent + [reason] + [self.forward(datagram, read_ns) for datagram in rest]
                return datagrams, times, reasons, len(self.pending) - before
        return datagrams, times, None, 0

    def make_room(self, length: int) -> bool:
        """Let the forwarding socket send a datagram of ``length`` bytes (its send buffer bounds that);
        False when it could already, or cannot be made to."""
        if self._send_room is None:
            self._send_room = self.forwarder.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) - SEND_OVERHEAD
        if length <= self._send_room:
            return False
        wanted = length + SEND_OVERHEAD
        for option in (SO_SNDBUFFORCE, socket.SO_SNDBUF):  # (beyond net.core.wmem_max, only root may)
            try:
                self.forwarder.setsockopt(socket.SOL_SOCKET, option, wanted)
            except OSError:
                continue
            self._send_room = self.forwarder.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) - SEND_OVERHEAD
            if self._send_room >= length:
                return True
        return False

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
        pending, batch, fd = self.pending, mmsg.shared(), self.forwarder_fd
        sent: list = []
        while pending:
            chunk = list(itertools.islice(pending, batch.slots))
            try:
                count = batch.send(fd, chunk)
            except BlockingIOError:
                break
            except OSError as err:
                if err.errno in GONE_ERRNOS:
                    self.gone_errno = err.errno
                    break
                if err.errno == errno.EMSGSIZE and self.make_room(len(chunk[0])):
                    continue
                raise
            sent += chunk[:count]
            for _ in range(count):
                pending.popleft()
        pending_times = self.pending_times
        return sent, [pending_times.popleft() if pending_times else time.time_ns() for _ in sent]

    def take_pending(self) -> tuple[list, list]:
        """The datagrams held for the instance and when each was read; none are held after."""
        held, times = list(self.pending), list(self.pending_times)
        self.pending.clear()
        self.pending_times.clear()
        if len(times) < len(held):  # (held without a time: only a test does that)
            times += [time.time_ns()] * (len(held) - len(times))
        return held, times[:len(held)]

    def receive_batch(self, limit: int) -> tuple[list, list]:
        """Up to ``limit`` datagrams waiting for us, whole, and when they were read (ns since the epoch).

        One system call reads them all (see :mod:`~pcapng_iou.shell.mmsg`).
        """
        datagrams = mmsg.shared().receive(self.listener_fd, limit)
        return datagrams, [time.time_ns()] * len(datagrams)

    def take_unread(self, limit: int = 1 << 30, leave_out: Optional[object] = None) -> list:
        """The datagrams waiting in our socket (``limit`` at most); those sent from the socket name
        ``leave_out`` (a seal of ours, see :func:`_seal`) are read and thrown away."""
        unread = []
        try:
            if leave_out is None:
                while len(unread) < limit:
                    unread.append(receive_whole(self.listener))
            else:
                while len(unread) < limit:
                    datagram, sender = receive_whole_from(self.listener)
                    if sender != leave_out:
                        unread.append(datagram)
        except BlockingIOError:
            pass
        return unread

    # -- state of the directory -------------------------------------------------
    def still_ours(self) -> bool:
        """Is our socket still the one at ``<id>``?"""
        st = self.lab.lstat(self.paths.socket_name)
        return st is not None and st.st_ino == self.our_inode

    def close(self) -> None:
        self.listener.close()
        self.forwarder.close()
        if self.owns_lab:
            self.lab.close()
        self.senders.close()


def attach(directory, instance: int) -> Proxy:
    """Stand in for ``instance``'s socket.  Raises :class:`AttachError` and undoes all on failure.

    ``directory``: the netio directory held open (a :class:`LabDirectory`), or
    its path (then opened here, for this proxy alone).
    """
    if isinstance(directory, LabDirectory):
        return _attach(directory, instance, owns_lab=False)
    try:
        lab = LabDirectory.open(directory)
    except OSError as err:
        raise AttachError(f"{directory}: cannot attach ({err.strerror})") from None
    try:
        return _attach(lab, instance, owns_lab=True)
    except BaseException:
        lab.close()
        raise


def _attach(lab: LabDirectory, instance: int, owns_lab: bool) -> Proxy:
    paths = Paths(lab.path, instance, lab)
    if len(paths.longest().encode()) > MAX_SOCKET_PATH:  # (we bind by a short name, but IOU by the path)
        raise PathTooLong(f"{paths.longest()}: path is longer than the {MAX_SOCKET_PATH} bytes a socket name may have")
    st = lab.lstat(paths.socket_name)
    if not is_socket(st):
        raise AttachError(f"{paths.socket}: not a socket")
    if lab.lstat(paths.real_name) is not None:
        raise AttachError(f"{paths.real} already exists (left by a crashed capture? run 'pcapng-iou repair')")
    temp = lab.lstat(paths.temp_name)
    if temp is not None and not is_socket(temp):
        # Only a socket there can be ours (from an attach that was interrupted); anything else is left alone.
        raise AttachError(f"{paths.socket}: not attached: {paths.temp} is in the way and is not ours")
    forwarder = _new_socket(paths)
    try:
        lab.connect(forwarder, paths.socket_name)
    except OSError as err:
        forwarder.close()
        raise InstanceNotRunning(f"{paths.socket}: instance does not answer ({os.strerror(err.errno).lower()})") from None
    forwarder.setblocking(False)
    try:
        listener = _new_socket(paths)
    except AttachError:
        forwarder.close()
        raise
    try:
        our_inode = _stand_in(paths, listener, st)
    except BaseException as err:
        listener.close()
        forwarder.close()
        if isinstance(err, OSError):
            raise AttachError(f"{paths.socket}: cannot attach ({err.strerror})") from None
        raise
    return Proxy(paths, listener, forwarder, our_inode, st.st_ino, owns_lab)


def _new_socket(paths: Paths) -> socket.socket:
    try:
        return socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    except OSError as err:  # EMFILE, ENFILE, ENOBUFS: the lab is left as it is
        raise AttachError(f"{paths.socket}: cannot attach ({err.strerror})") from None


def _stand_in(paths: Paths, listener: socket.socket, instance_st: os.stat_result) -> int:
    """Bind ``listener`` in the instance's place (see the module's docstring); return our socket's inode.

    Every step goes through the directory held open, as its owner: our
    socket is made with the instance socket's mode (through the umask) and
    the owner's ids, never changed by name afterwards.  Undoes what it did
    when it fails.
    """
    lab = paths.lab
    linked = False
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        if lab.lstat(paths.temp_name) is not None:
            lab.unlink(paths.temp_name)  # ours, from an attach that was interrupted
        # Peers must keep the right to send to what now answers at <id>: the instance socket's mode.
        lab.bind(listener, paths.temp_name, instance_st.st_mode)
        listener.setblocking(False)
        ours = lab.lstat(paths.temp_name)
        if ours is None:
            raise AttachError(f"{paths.socket}: {paths.temp} removed while attaching")
        lab.link(paths.socket_name, paths.real_name)
        linked = True
        real = lab.lstat(paths.real_name)
        if real is None or real.st_ino != instance_st.st_ino:
            raise AttachError(f"{paths.socket}: replaced while attaching")
        lab.rename(paths.temp_name, paths.socket_name)
        return ours.st_ino
    except BaseException:
        if linked:
            lab.unlink_if_inode(paths.real_name, instance_st.st_ino)
        try:
            lab.unlink(paths.temp_name)
        except OSError:
            pass
        raise


def detach(proxy: Proxy, timeout: float = DRAIN_TIMEOUT_S, lingering: Optional[list] = None,
           say: Optional[Callable[[str, str], None]] = None,
           hurried: Optional[Callable[[], bool]] = None,
           deadline: Optional[float] = None) -> tuple[list, list, list]:
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

    ``deadline`` (monotonic clock): once it is past, nothing is waited for
    any more, as when hurried (the stop's bound, whatever the number of
    instances).  :attr:`Proxy.handover`, when set (the stop sent on what
    waited for every instance at once), is carried on.
    """
    handover = proxy.handover or Handover(proxy, timeout, say, hurried)
    handover.deadline = deadline
    proxy.handover = None
    seal: Optional[socket.socket] = None
    kept = False
    try:
        handover.send(*proxy.take_pending())
        with acting_as(proxy.lab.owner):  # (connected through the open directory, with the owner's rights)
            proxy.senders_problem = takeover.give_back(proxy.senders, proxy.listener,
                                                       proxy.lab.address(proxy.paths.real_name),
                                                       lambda: handover.send(proxy.take_unread()))
        if proxy.still_ours() and not proxy.instance_gone:
            _send_on_everything(handover, _sooner(time.monotonic() + timeout, deadline))
            # Given up on (stalled): no seal, which would read on what its peers send, only to lose it.  Its
            # name goes back at once, and its peers wait for it as they would without us.
            if not proxy.instance_gone and not proxy.stalled:
                # A deadline of its own: handing a slow instance its frames may have taken all of the first.
                seal = _seal(handover, _sooner(time.monotonic() + timeout, deadline))
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
            if proxy.owns_lab:
                proxy.lab.close()
        else:
            proxy.close()
        if seal is not None:
            seal.close()
    return handover.datagrams, handover.times, handover.reasons


def _sooner(moment: float, deadline: Optional[float]) -> float:
    return moment if deadline is None else min(moment, deadline)


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
        #: Past this moment (monotonic clock), nothing is waited for, as when hurried (None: no such bound).
        self.deadline: Optional[float] = None
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

    def offer(self, datagram: bytes, read_ns: int) -> bool:
        """One try, no wait: False when the instance's queue is full (nothing is settled), else the datagram's
        fate is (delivered, or why not)."""
        proxy = self.proxy
        if proxy.instance_gone or proxy.stalled:
            reason = proxy.stalled or f"instance {proxy.instance} is down"
        else:
            proxy.forwarder.setblocking(False)
            try:
                proxy.forwarder.send(datagram)
                reason = None
            except BlockingIOError:
                return False
            except OSError as err:
                reason = self._failure(err)
        self.datagrams.append(datagram)
        self.times.append(read_ns)
        self.reasons.append(reason)
        return True

    def give_up(self, why: str) -> str:
        """The instance is not waited for any more (:attr:`Proxy.stalled`): what is left for it is lost."""
        self.proxy.stalled = why
        return why

    def rushed(self) -> bool:
        """Whether nothing may be waited for: the stop was hurried, or its deadline is past."""
        return self.hurried() or (self.deadline is not None and time.monotonic() >= self.deadline)

    def rushed_reason(self) -> str:
        instance = self.proxy.instance
        if self.hurried():
            return f"the stop was hurried: instance {instance} was not waited for"
        return f"the stop may take {STOP_BOUND_S:g} s at most: instance {instance} was not waited for longer"

    def _send_one(self, datagram: bytes) -> Optional[str]:
        proxy = self.proxy
        if proxy.instance_gone:
            return f"instance {proxy.instance} is down"
        if proxy.stalled:
            return proxy.stalled
        sock = proxy.forwarder
        waited = 0.0
        while True:
            rushed = self.rushed()
            wait = 0.0 if rushed else max(min(self.patience - waited, WAIT_STEP_S), 0.001)
            sock.settimeout(wait)  # 0: one try, no wait
            try:
                sock.send(datagram)
                return None
            except (socket.timeout, BlockingIOError):  # (socket.timeout: not yet TimeoutError on Python 3.9)
                # Busy (its queue is full), not gone: a gone instance refuses at once.
                if rushed:
                    return self.give_up(self.rushed_reason())
                waited += wait
                if waited >= self.patience:
                    return self.give_up(f"instance {proxy.instance} took no frames for {self.patience:g} s (stopped?)")
                if waited >= ANNOUNCE_AFTER_S:
                    self.announce()
            except OSError as err:
                return self._failure(err)

    def _failure(self, err: OSError) -> str:
        """Why a send that failed (not for want of room) did not deliver; a gone instance is marked so."""
        proxy = self.proxy
        if err.errno in (errno.EMSGSIZE, errno.ENOBUFS):
            return f"instance {proxy.instance} refused it ({os.strerror(err.errno).lower()})"
        proxy.gone_errno = err.errno if err.errno is not None else errno.EIO
        if err.errno in GONE_ERRNOS:
            return f"instance {proxy.instance} is down ({os.strerror(err.errno).lower()})"
        return f"instance {proxy.instance} did not take it ({err.strerror or err})"

    def announce(self) -> None:
        if not self.announced:
            self.announced = True
            if self.say is not None:
                self.say(f"instance {self.proxy.instance} takes no frames; waiting up to {self.patience:g} s "
                         f"for it to take what waits for it (Ctrl-C again not to wait)", "warning")


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
        proxy.lab.connect(seal, proxy.paths.socket_name)
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
            datagram, sender = receive_whole_from(proxy.listener)
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
    paths, lab = proxy.paths, proxy.lab
    real = lab.lstat(paths.real_name)
    if real is not None and real.st_ino == proxy.instance_inode:
        if proxy.still_ours():
            lab.rename(paths.real_name, paths.socket_name)
        else:
            # <id> was removed or replaced (the instance exited or restarted): its old socket is litter.
            lab.unlink(paths.real_name)
    elif proxy.still_ours():
        lab.unlink(paths.socket_name)


def bury(proxy: Proxy) -> tuple[list, list]:
    """The instance died: remove its files as it would have, close the proxy.

    Returns the frames for it that are lost (held back, then still unread in
    our socket) and when each was read, to record as not delivered.
    """
    try:
        remove_dead_instance(proxy.paths, proxy.our_inode, proxy.instance_inode)
        held, times = proxy.take_pending()
        unread = proxy.take_unread()
    finally:
        proxy.close()
    return held + unread, times + [time.time_ns()] * len(unread)
