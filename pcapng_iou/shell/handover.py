"""Giving an instance its name back: detach (in order, sealed) and bury.

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

Giving the name back waits for a busy instance: a send that times out is not
a sign that the instance is gone (it would be refused then), only that it is
slow.  Each datagram is waited for until the instance has taken nothing for
:data:`DRAIN_TIMEOUT_S` (announced after :data:`ANNOUNCE_AFTER_S`); only then
is it given up on, and what waits for it is returned as not delivered, for
the caller to record and warn about.

The socket we stood in with is a :class:`~pcapng_iou.shell.relay.Proxy`
(:mod:`pcapng_iou.shell.relay`, which attaches).
"""
from __future__ import annotations

import errno
import os
import socket
import time
from typing import TYPE_CHECKING, Callable, Optional

from pcapng_iou.core.lifecycle import GONE_ERRNOS
from pcapng_iou.shell.mmsg import receive_whole_from
from pcapng_iou.shell import takeover
from pcapng_iou.shell.netiodir import remove_dead_instance
from pcapng_iou.shell.privileges import acting_as

if TYPE_CHECKING:  # (relay imports this module: the proxy's type is only named here)
    from pcapng_iou.shell.relay import Proxy

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
