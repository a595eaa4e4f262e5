"""The relay's hot path: read what waits for an instance, send it on, defer its recording.

The capture's loop calls :meth:`HotPath.relay` for every ready socket of
ours and :meth:`HotPath.drain` when an instance whose queue was full has room
again.  Nothing here decides anything about the lab: a datagram is relayed
before it is recorded, and is relayed even when it cannot be recorded.  What
this path finds about an instance (gone) is handed to the instances, and what
they did to the capture (``settle``).
"""
from __future__ import annotations

import os
import time
from typing import Callable, Optional

from pcapng_iou.core.lifecycle import Moment
from pcapng_iou.shell import mmsg, relay
from pcapng_iou.shell.instances import Instances
from pcapng_iou.shell.recording import RECORD_DEFERRED_FRAMES, RECORD_DEFERRED_NS, Recording

#: Reads in a row of one socket, each bringing at least :data:`BUSY_BATCH` datagrams, before the loop looks at
#: the others (1,024 datagrams at most): in a burst, reading again at once costs less than a pass of the loop.
BUSY_REREADS = 16
#: A read that brings this many datagrams is likely followed by more: read again without waiting.
BUSY_BATCH = 4


class HotPath:
    def __init__(self, recording: Recording, instances: Instances, settle: Callable[[list], None]):
        self.instances = instances
        #: What the capture does with the steps the instances took (learn, record, comment).
        self.settle = settle
        #: The loop's pass count: a socket ready again on the very next pass is in a burst.
        self.turn = 0
        # The recording's deferred frames, reached without a call (the very lists, never rebound).
        self._deferred, self._deferred_times = recording.deferred, recording.deferred_times
        self._record_deferred, self.defer, self.record = recording.record_deferred, recording.defer, recording.record
        self._defer = recording.defers
        #: Where datagrams are read into and sent on from, many a system call (shell/mmsg).
        self.batch = mmsg.shared()

    def relay(self, proxy: relay.Proxy) -> None:
        """The hot path: read what waits for this instance, send it on, defer its recording."""
        # A socket ready again on the very next pass is in a burst: read all that waits, with one system
        # call (recvmmsg), and send it on with one more (sendmmsg).  Alone, one plain read and one plain
        # send: cheaper for one datagram than the calls through ctypes.
        turn = self.turn
        alone = proxy.read_turn != turn - 1
        proxy.read_turn = turn
        if not alone or proxy.pending or proxy.gone_errno is not None:
            self._relay_batches(proxy)
            return
        batch = self.batch
        try:
            size = os.readv(proxy.listener_fd, batch.first_slot)
        except BlockingIOError:
            return
        datagram = batch.buffer[:size]
        read_ns = time.time_ns()
        if size > relay.SMALL_DATAGRAM:
            batch.release_first(size)
            proxy.make_room(size)
        try:
            os.write(proxy.forwarder_fd, datagram)
        except OSError as err:
            reason = proxy.not_sent(datagram, err, read_ns)
            self._relayed(proxy, [datagram], [read_ns], None if reason is None else [reason], reason is None)
            return
        if not self._defer:
            self.record([datagram], [read_ns])
            return
        deferred = self._deferred
        deferred.append(datagram)
        self._deferred_times.append(read_ns)
        if len(deferred) >= RECORD_DEFERRED_FRAMES or read_ns - self._deferred_times[0] >= RECORD_DEFERRED_NS:
            self._record_deferred()

    def _relay_batches(self, proxy: relay.Proxy) -> None:
        """A burst: read all that waits (``recvmmsg``) and send it on (``sendmmsg``); a batch of
        :data:`BUSY_BATCH` or more is likely followed by more at once: read again without waiting
        (:data:`BUSY_REREADS` times at most), unless the instance's queue stayed full long enough to
        wait for it asleep (the other sockets wait no longer than that once a pass)."""
        relay_waiting, batch = proxy.relay_waiting, self.batch
        for _ in range(BUSY_REREADS):
            datagrams, times, reasons, queued = relay_waiting(batch)
            if not datagrams:
                return
            if reasons is not None or queued or not self._defer:
                self._relayed(proxy, datagrams, times, reasons, queued)
                return
            deferred = self._deferred
            deferred += datagrams
            self._deferred_times += times
            if len(deferred) >= RECORD_DEFERRED_FRAMES or times[0] - self._deferred_times[0] >= RECORD_DEFERRED_NS:
                self._record_deferred()
            if len(datagrams) < BUSY_BATCH or proxy.slept_for_room:  # (then the others' turn)
                return

    def _relayed(self, proxy: relay.Proxy, datagrams: list, times: list, reasons: Optional[list],
                 queued: int = 0) -> None:
        """Record (or defer recording) what was just read and sent on; stop reading for an instance whose queue is full.

        The last ``queued`` datagrams wait in :attr:`relay.Proxy.pending` (the
        instance's queue is full): they are recorded once it takes them
        (:meth:`drain`), or as not delivered if it never does (detach, bury).
        """
        if reasons is not None:
            proxy.lost += sum(reason is not None for reason in reasons)
        if queued:
            datagrams, times = datagrams[:-queued], times[:-queued]
            if reasons is not None:
                reasons = reasons[:-queued]
                if not any(reasons):
                    reasons = None
        if not datagrams:
            pass
        elif reasons is None and self._defer:
            self.defer(datagrams, times)
        else:
            self.record(datagrams, times, reasons)
        if proxy.pending:
            self.instances.pause_reading(proxy)  # the instance's queue is full: read no more for it until it drains
        elif proxy.instance_gone:
            self.settle(self.instances.reconcile(proxy.instance, Moment.CHECK))

    def drain(self, proxy: relay.Proxy) -> None:
        """The instance has room again: send on what was held for it, and record what it took."""
        sent, times = proxy.flush_pending()
        if sent:
            if self._defer:
                self.defer(sent, times)
            else:
                self.record(sent, times)
        if proxy.instance_gone:
            self.instances.selector.unregister(proxy.forwarder)
            self.settle(self.instances.reconcile(proxy.instance, Moment.CHECK))
        elif not proxy.pending:
            self.instances.resume_reading(proxy)
