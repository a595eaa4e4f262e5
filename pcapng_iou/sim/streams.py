"""Numbered frames out of one port of a simulated instance: at a steady rate (``stream``), or as
fast as the peers take them (``flood``).  Both number on from the same count, so that a receiver's
tally (:mod:`pcapng_iou.sim.numbered`) sees one flow per port whatever mix of the two sent it."""
from __future__ import annotations

import errno
import os
import socket
import time

from pcapng_iou.core import netio
from pcapng_iou.sim.numbered import numbered_frame

#: A flood waits this long for room at a peer (a stopped peer holds it back) before it gives up.
FLOOD_TIMEOUT_S = 120.0
FLOOD_WAIT_S = 0.05


class Stream:
    """Numbered frames sent out of one port at a steady rate (catching up after a stall)."""

    #: Most frames sent in one go before the instance looks at its socket and stdin again.
    BURST = 256
    #: After a frame could not be sent, how long before it is tried again.
    RETRY_S = 0.01

    def __init__(self, instance, port: int, size: int):
        self.instance, self.port, self.size = instance, port, size
        self.rate = 0.0
        self.first = 0  # number of the first frame since the rate was last set
        self.sent = 0  # frames sent since then
        self.started = self.not_before = 0.0

    @property
    def total(self) -> int:
        return self.first + self.sent

    def set_rate(self, rate: float, now: float) -> None:
        """Send ``rate`` frames a second from now on (0: halt); the numbering goes on."""
        self.first, self.sent = self.total, 0
        self.rate = rate
        self.started = self.not_before = now

    def due_in(self, now: float) -> float:
        return max(0.0, self.started + self.sent / self.rate - now, self.not_before - now)

    def tick(self, now: float) -> None:
        if now < self.not_before:
            return
        due = min(int((now - self.started) * self.rate) + 1 - self.sent, self.BURST)
        for _ in range(due):
            frame = numbered_frame(self.instance.instance, self.port, self.total, self.size)
            if not self.instance.send(self.port, frame):
                # Peer down, or it did not take it in time: the same number goes again later.
                self.not_before = now + self.RETRY_S
                return
            self.sent += 1


def flood(instance, stream: Stream, count: int, size: int) -> int:
    """Send ``count`` numbered frames of ``size`` bytes out of the stream's port as fast as the peers
    take them, numbered on from the stream; stop at the first that cannot be sent.  How many went."""
    me, port = instance.instance, stream.port
    peers = [(os.path.join(instance.directory, str(peer.instance)),
              netio.Header(peer.instance, me, peer.port, port).pack())
             for peer in instance.netmap.peers(me, port)]
    sent = 0
    sender = instance.sender
    timeout = sender.gettimeout()
    sender.settimeout(FLOOD_WAIT_S)
    try:
        for _ in range(count if peers else 0):
            frame = numbered_frame(me, port, stream.total, size)
            if not all(_send_waiting(instance, path, header + frame) for path, header in peers):
                break
            stream.first += 1
            sent += 1
    finally:
        sender.settimeout(timeout)
    return sent


def _send_waiting(instance, path: str, datagram: bytes) -> bool:
    """Send, waiting up to ``FLOOD_TIMEOUT_S`` for room at a full peer, in short waits: a poll
    says an unconnected datagram socket can always send, so each wait spins in the kernel's
    refusals; between them a signal still ends the instance at once."""
    deadline = time.monotonic() + FLOOD_TIMEOUT_S
    while True:
        try:
            instance.sender.sendto(datagram, path)
            return True
        except socket.timeout:
            if time.monotonic() > deadline:
                instance.report(f"senderr {os.path.basename(path)} timeout")
                return False
        except OSError as err:
            instance.report(f"senderr {os.path.basename(path)} {errno.errorcode.get(err.errno, str(err))}")
            return False
