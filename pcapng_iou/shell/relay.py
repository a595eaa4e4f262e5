"""Standing in for an instance's socket: attach, forward, detach.

Attaching to instance 100 (docs/netio.rst, "Standing in for an instance")::

    bind our socket at 100.pcapng-iou-new     (same owner and mode as 100)
    connect a forwarding socket to 100        (the instance's inode)
    link 100 -> 100_real                      (the instance is reachable under both names)
    rename 100.pcapng-iou-new over 100        (atomic: peers now reach us)

Peers keep sending to ``100`` and reach our socket; every datagram is sent on,
unchanged, through the connected forwarding socket, which stays tied to the
instance's socket inode whatever its name.  Detaching sends on all that waits
for the instance, seals our socket (see :mod:`~pcapng_iou.shell.handover`), renames ``100_real`` back over
``100`` and closes our socket.  At no moment is ``100`` missing.

Backpressure: when the instance's queue is full, what we read waits in
:attr:`Proxy.pending` and the capture stops reading for that instance until
the queue drains, so a stalled instance makes us hold one read batch at most.
A held datagram is recorded once its fate is known: when the instance takes
it, or when it cannot be delivered (the instance died, or took nothing for
:data:`DRAIN_TIMEOUT_S` while we gave its name back).

Giving the name back (detach, bury) and sealing our socket are in
:mod:`pcapng_iou.shell.handover`; their names are also found here
(``relay.detach``, ``relay.bury``...).
"""
from __future__ import annotations

import errno
import itertools
import os
import select
import socket
import time
from collections import deque
from typing import Deque, Optional

from pcapng_iou.core.lifecycle import GONE_ERRNOS
from pcapng_iou.shell import mmsg, takeover
from pcapng_iou.shell.labdir import LabDirectory
from pcapng_iou.shell.mmsg import BatchIO, receive_whole, receive_whole_from
from pcapng_iou.shell.netiodir import MAX_SOCKET_PATH, Paths, is_socket
# Giving the name back lives in its own module; callers find it here too (relay.detach, relay.bury...).
from pcapng_iou.shell.handover import (  # noqa: F401
    ANNOUNCE_AFTER_S, DRAIN_BATCH, DRAIN_TIMEOUT_S, LINGER_S, SEAL_SEND_BUFFER, STOP_BOUND_S, WAIT_STEP_S, Handover,
    Lingering, bury, detach, queue_capacity)

#: When an instance's queue is full in the middle of a burst, how long we wait for it to take the next datagram
#: (it is reading, most likely) before we hold the rest for it and go on with the others: sleeping that
#: moment costs less than stopping and resuming reading for it (which a stalled instance needs).
ROOM_PATIENCE_S = 0.0005
#: ... after looking again this many times, yielding the CPU in between (the instance may be waiting for it).
ROOM_RETRIES = 32
#: ``select`` takes descriptors below this (FD_SETSIZE); on those above, ``poll`` waits, in whole milliseconds.
SELECT_LIMIT = 1024
#: Our receive queue: big enough that a burst waits in the kernel, not in us.
RECEIVE_BUFFER = 4 * 1024 * 1024
#: Datagrams up to this long pass any send buffer; a longer one makes the forwarding socket's big enough.
SMALL_DATAGRAM = 64 * 1024
#: What the kernel counts beyond the datagram itself against a send buffer (at most; see unix_dgram_sendmsg).
SEND_OVERHEAD = 1024
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


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
        self.handover: Optional[Handover] = None
        #: The sockets' file descriptors: the hot path reads and sends with ``os.read`` and ``os.write``,
        #: which parse their arguments at a fraction of the cost of ``recv`` and ``send`` (same system calls;
        #: the sockets are non-blocking).  The capture's lone-datagram path uses them too; a failed send goes
        #: to :meth:`not_sent`.
        self.listener_fd = listener.fileno()
        self.forwarder_fd = forwarder.fileno()
        #: Whether the last burst sent on found the instance's queue full for long enough to wait asleep.
        self.slept_for_room = False
        #: How :meth:`room_before` waits on a descriptor ``select`` cannot take (made on first need).
        self._room_poll: Optional[select.poll] = None
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
        count, sent, fd, deadline, retries = len(datagrams), 0, self.forwarder_fd, 0.0, 0
        self.slept_for_room = False
        while True:
            try:
                sent += batch.send_received(fd, sent, count - sent)
            except OSError as err:  # (sendmmsg says why only when the first of those it was given fails)
                reason = self.not_sent(datagrams[sent], err, read_ns)
                rest = datagrams[sent + 1:]
                reasons = [None] * sent + [reason] + [self.forward(datagram, read_ns) for datagram in rest]
                return datagrams, times, reasons, len(self.pending) - before
            if sent == count:
                return datagrams, times, None, 0
            # The instance's queue is full (a send that fails for another reason says so once there is room).
            # It is most likely taking from it right now: look again a few times, letting whoever waits for
            # this CPU go first, then wait for room a moment.
            if retries < ROOM_RETRIES:
                retries += 1
                os.sched_yield()
                continue
            self.slept_for_room = True
            deadline = deadline or time.monotonic() + ROOM_PATIENCE_S
            if not self.room_before(deadline):  # busy: the rest waits, in order
                self.pending.extend(datagrams[sent:])
                self.pending_times.extend(times[sent:])
                return datagrams, times, None, len(self.pending) - before

    def room_before(self, deadline: float) -> bool:
        """Wait until the instance's queue has room, but not past ``deadline`` (monotonic clock); whether it has."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            if self.forwarder_fd < SELECT_LIMIT:
                return bool(select.select((), (self.forwarder_fd,), (), left)[1])
            if self._room_poll is None:
                self._room_poll = select.poll()
                self._room_poll.register(self.forwarder_fd, select.POLLOUT)
            return bool(self._room_poll.poll(left * 1000))
        except OSError:
            return False

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
            except OSError as err:
                if err.errno in GONE_ERRNOS:
                    self.gone_errno = err.errno
                    break
                if err.errno == errno.EMSGSIZE and self.make_room(len(chunk[0])):
                    continue
                raise
            if not count:  # the instance's queue is full again
                break
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
