"""The stop: what waits for every instance is handed to all of them at once, so that their waits overlap.

Giving an instance its name back first sends on, in order, all that waits
for it: what we hold (its queue was full) and what is still unread in our
socket (:func:`relay.detach`).  An instance that takes nothing (stopped, or
hung) is waited for :data:`relay.DRAIN_TIMEOUT_S` before what waits for it is
given up on.  Done one instance after the other, 200 stalled instances took
200 such waits.  Here every instance is served in turn, one datagram each
time its queue has room, and all are waited for together (one ``poll`` on
every forwarding socket): each instance is still given up on only once it
has taken nothing for the whole patience, counted from its own last
progress, so an instance that is merely slow loses nothing, but the stalled
ones wait side by side.  Reading what peers still send stops once the
patience has passed since the stop began.  :func:`relay.detach` then goes on
with each instance's :class:`relay.Handover` (sealing, the name given back)
under the stop's shared deadline (:data:`relay.STOP_BOUND_S`).
"""
from __future__ import annotations

import select
import time
from collections import deque
from typing import Callable, Iterable, Optional

from pcapng_iou.shell import relay


class _Backlog:
    """What waits for one instance while the stop sends it on, and when the instance last took a frame."""

    def __init__(self, proxy: relay.Proxy, handover: relay.Handover, now: float):
        self.proxy = proxy
        self.handover = handover
        held, times = proxy.take_pending()
        self.waiting = deque(zip(held, times))
        self.last_taken = now

    def step(self, now: float, may_read: bool, patience: float) -> bool:
        """Send on all the instance takes now; True while it has more waiting and is still waited for."""
        handover, waiting = self.handover, self.waiting
        while True:
            if not waiting and may_read:
                unread = self.proxy.take_unread(relay.DRAIN_BATCH)
                stamp = time.time_ns()
                waiting.extend((datagram, stamp) for datagram in unread)
            if not waiting:
                return False
            datagram, read_ns = waiting[0]
            if handover.offer(datagram, read_ns):
                waiting.popleft()
                self.last_taken = now
                continue
            if handover.rushed():
                return self._give_up(handover.rushed_reason())
            if now - self.last_taken >= patience:
                return self._give_up(f"instance {self.proxy.instance} took no frames for {patience:g} s (stopped?)")
            if now - self.last_taken >= relay.ANNOUNCE_AFTER_S:
                handover.announce()
            return True

    def _give_up(self, why: str) -> bool:
        self.handover.give_up(why)
        for datagram, read_ns in self.waiting:
            self.handover.offer(datagram, read_ns)  # (settled at once: lost, and why)
        self.waiting.clear()
        return False


def hand_over_together(proxies: Iterable[relay.Proxy], deadline: float, patience: float = relay.DRAIN_TIMEOUT_S,
                       say: Optional[Callable[[str, str], None]] = None,
                       hurried: Optional[Callable[[], bool]] = None) -> None:
    """Send on what waits for each instance, all instances at once; each proxy's :attr:`relay.Proxy.handover`
    says what was settled (for :func:`relay.detach` to go on with).  Waits no later than ``deadline``."""
    now = time.monotonic()
    read_until = min(now + patience, deadline)
    active = []
    for proxy in proxies:
        handover = relay.Handover(proxy, patience, say, hurried)
        handover.deadline = deadline
        proxy.handover = handover
        active.append(_Backlog(proxy, handover, now))
    while active:
        now = time.monotonic()
        active = [backlog for backlog in active if backlog.step(now, now < read_until, patience)]
        if active:
            _wait_for_room(active, relay.WAIT_STEP_S)


def _wait_for_room(backlogs: list, timeout: float) -> None:
    """Until one of these instances has room in its queue, or ``timeout``."""
    poller = select.poll()
    for backlog in backlogs:
        poller.register(backlog.proxy.forwarder_fd, select.POLLOUT)
    poller.poll(timeout * 1000)
