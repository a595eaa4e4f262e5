"""Numbered datagrams sent straight to one peer and checked byte for byte on arrival:
what ``pcapng-iou bench`` measures with.  A simulated instance runs them as its
``peer flood|sink|ping|echo PEER COUNT SIZE`` commands (see :mod:`pcapng_iou.sim.instance`).

A bench datagram is the 8-byte IOU header, then an Ethernet frame: destination
and source MAC naming the two instances, EtherType 0x88B5 (local experimental),
an 8-byte sequence number, then filler that depends on it.  Every datagram of a
flow is built ahead from a precomputed prefix and one of ``PERIOD`` tails, so
the sender and the receiver's check cost little next to the relay measured.

The loops use blocking sockets (no poll before each call); the kernel timeouts
``SO_RCVTIMEO``/``SO_SNDTIMEO`` keep a lost datagram from hanging them.
"""
from __future__ import annotations

import errno
import os
import random
import socket
import struct
import time
from collections import deque
from typing import Deque, Optional

from pcapng_iou.core import netio

ETHERTYPE = b"\x88\xb5"
SEQ = struct.Struct(">Q")
HEAD_SIZE = 14
MIN_FRAME = HEAD_SIZE + SEQ.size
MAX_FRAME = netio.MAX_PAYLOAD
#: The filler starts at offset ``seq % PERIOD`` of a fixed random block.
PERIOD = 251
FILLER = random.Random(0x10B).randbytes(MAX_FRAME + PERIOD)
RECEIVE_SIZE = netio.MAX_DATAGRAM
#: How long a loop waits for a datagram (or for room to send one) before it gives up.
IDLE_TIMEOUT_S = 10.0
PING_TIMEOUT_S = 2.0
PORT = 0  # every bench link is interface 0/0 on both ends
#: Bench datagrams kept for the next sink or echo at most (beyond, the instance's loop counts them as frames).
INBOX_LIMIT = 1 << 16


def mac(instance: int) -> bytes:
    return bytes((0x02, 0, 0, instance >> 8, instance & 0xFF, 0))


class PeerStream:
    """The numbered datagrams that instance ``src`` sends straight to instance ``dst``."""

    def __init__(self, src: int, dst: int, size: int):
        if not MIN_FRAME <= size <= MAX_FRAME:
            raise ValueError(f"frame size must be {MIN_FRAME}..{MAX_FRAME} bytes, not {size}")
        self.src, self.dst, self.size = src, dst, size
        self.header = netio.Header(dst, src, PORT, PORT).pack()
        self.head = mac(dst) + mac(src) + ETHERTYPE
        #: Header and frame up to the sequence number: what every datagram starts with.
        self.prefix = self.header + self.head
        tail = size - MIN_FRAME
        self.tails = [FILLER[k:k + tail] for k in range(PERIOD)]

    def frame(self, seq: int) -> bytes:
        return self.head + SEQ.pack(seq) + self.tails[seq % PERIOD]

    def datagram(self, seq: int) -> bytes:
        return self.prefix + SEQ.pack(seq) + self.tails[seq % PERIOD]

    def seq_of(self, datagram: bytes) -> Optional[int]:
        """The sequence number a datagram of this stream claims, or None when it is not one."""
        start = len(self.prefix)
        if len(datagram) >= start + SEQ.size and datagram.startswith(self.prefix):
            return SEQ.unpack_from(datagram, start)[0]
        return None


def bench_datagram_to(datagram: bytes, instance: int) -> bool:
    """Whether ``datagram`` is bench traffic to ``instance``: its frame is addressed to it (numbered frames
    of :mod:`pcapng_iou.sim.numbered` share the EtherType, but go to the broadcast address)."""
    frame = datagram[netio.HEADER_SIZE:netio.HEADER_SIZE + HEAD_SIZE]
    return frame[:6] == mac(instance) and frame[12:] == ETHERTYPE


def timeval(seconds: float) -> bytes:
    """A ``struct timeval`` for ``SO_RCVTIMEO``/``SO_SNDTIMEO``."""
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1_000_000))


def _timed_out(err: OSError) -> bool:
    return isinstance(err, socket.timeout) or err.errno in (errno.EAGAIN, errno.EWOULDBLOCK)


class PeerTraffic:
    """The peer commands of one instance: its bound socket (made blocking while a command
    runs) and a sending socket of their own."""

    def __init__(self, directory: str, number: int, sock: socket.socket):
        self.directory = directory
        self.number = number
        self.sock = sock
        self.sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval(IDLE_TIMEOUT_S))
        self.next_out: dict[int, int] = {}
        self.next_in: dict[int, int] = {}
        self._streams: dict[tuple, PeerStream] = {}
        self.size = MIN_FRAME
        #: Bench datagrams the instance's loop read between two commands.  A command's traffic may come
        #: before the loop has read the command (its last look at the socket came just before the driver
        #: sent the command and the peer its datagrams): the next sink or echo takes these first.
        self.inbox: Deque[bytes] = deque()

    def took(self, datagram: bytes) -> bool:
        """Keep bench ``datagram`` for the next sink or echo (unless the inbox is full); whether it was kept."""
        if len(self.inbox) >= INBOX_LIMIT:
            return False
        self.inbox.append(datagram)
        return True

    def close(self) -> None:
        self.sender.close()

    def command(self, verb: str, peer: int, count: int, size: int) -> dict:
        """Run one command with the socket blocking; the instance's loop reads it without blocking."""
        handlers = {"flood": self.flood, "sink": self.sink, "ping": self.ping, "echo": self.echo}
        if verb not in handlers:
            return {"error": f"unknown peer command {verb!r}"}
        self.size = size
        self.sock.setblocking(True)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(IDLE_TIMEOUT_S))
        try:
            return handlers[verb](peer, count)
        finally:
            self.sock.setblocking(False)

    def stream(self, src: int, dst: int) -> PeerStream:
        key = (src, dst, self.size)
        if key not in self._streams:
            self._streams[key] = PeerStream(src, dst, self.size)
        return self._streams[key]

    def peer_path(self, peer: int) -> str:
        return os.path.join(self.directory, str(peer))

    # -- commands ---------------------------------------------------------------
    def flood(self, peer: int, count: int) -> dict:
        """Send ``count`` numbered datagrams to ``peer`` as fast as it takes them."""
        stream = self.stream(self.number, peer)
        first = self.next_out.get(peer, 0)
        prefix, tails, pack, sendto, path = stream.prefix, stream.tails, SEQ.pack, self.sender.sendto, self.peer_path(peer)
        error = None
        sent = 0
        start = time.monotonic_ns()
        try:
            for seq in range(first, first + count):
                sendto(prefix + pack(seq) + tails[seq % PERIOD], path)
                sent += 1
        except OSError as err:
            error = "timed out" if _timed_out(err) else (err.strerror or str(err))
        end = time.monotonic_ns()
        self.next_out[peer] = first + sent
        return {"sent": sent, "start_ns": start, "end_ns": end, "error": error}

    def sink(self, peer: int, count: int) -> dict:
        """Receive ``count`` datagrams from ``peer``, each checked byte for byte."""
        stream = self.stream(peer, self.number)
        seq = self.next_in.get(peer, 0)
        prefix, tails, pack, recv, inbox = stream.prefix, stream.tails, SEQ.pack, self.sock.recv, self.inbox
        good = bad = 0
        error = None
        while good + bad < count:
            try:
                datagram = inbox.popleft() if inbox else recv(RECEIVE_SIZE)
            except OSError as err:
                error = "nothing more arrived" if _timed_out(err) else (err.strerror or str(err))
                break
            if datagram == prefix + pack(seq) + tails[seq % PERIOD]:
                good += 1
                seq += 1
            else:
                bad += 1
                claimed = stream.seq_of(datagram)
                if claimed is not None and claimed >= seq:
                    seq = claimed + 1  # count the gap as lost, go on from there
        end = time.monotonic_ns()
        self.next_in[peer] = seq
        return {"good": good, "bad": bad, "end_ns": end, "error": error}

    def ping(self, peer: int, count: int) -> dict:
        """``count`` round trips to ``peer``: send one, wait for its echo, check it, time it."""
        out = self.stream(self.number, peer)
        back = self.stream(peer, self.number).header
        first = self.next_out.get(peer, 0)
        path, sendto, recv, clock = self.peer_path(peer), self.sender.sendto, self.sock.recv, time.perf_counter_ns
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(PING_TIMEOUT_S))
        rtts = []
        bad = 0
        error = None
        seq = first
        try:
            for seq in range(first, first + count):
                datagram = out.datagram(seq)
                expected = back + datagram[netio.HEADER_SIZE:]
                start = clock()
                sendto(datagram, path)
                reply = recv(RECEIVE_SIZE)
                rtts.append(clock() - start)
                if reply != expected:
                    bad += 1
            seq = first + count
        except OSError as err:
            error = "no answer" if _timed_out(err) else (err.strerror or str(err))
        finally:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(IDLE_TIMEOUT_S))
        self.next_out[peer] = seq
        return {"rtts_ns": rtts, "bad": bad, "error": error}

    def echo(self, peer: int, count: int) -> dict:
        """Answer ``count`` pings of ``peer``: send each back at once (header turned round), then check it.

        A blocking read and an answer before anything else, as a router's
        interface answers: the direct round trip is then as short as the
        machine allows, so what the capture adds is not hidden in it.
        """
        inbound = self.stream(peer, self.number)
        back = self.stream(self.number, peer).header
        seq = self.next_in.get(peer, 0)
        path, sendto, recv, inbox = self.peer_path(peer), self.sender.sendto, self.sock.recv, self.inbox
        good = bad = 0
        error = None
        try:
            while good + bad < count:
                datagram = inbox.popleft() if inbox else recv(RECEIVE_SIZE)
                # Answered at once, checked after: the round trip must not include our checking.
                sendto(back + datagram[netio.HEADER_SIZE:], path)
                if datagram == inbound.datagram(seq):
                    good += 1
                    seq += 1
                else:
                    bad += 1
                    claimed = inbound.seq_of(datagram)
                    if claimed is not None and claimed >= seq:
                        seq = claimed + 1
        except OSError as err:
            error = "nothing more arrived" if _timed_out(err) else (err.strerror or str(err))
        self.next_in[peer] = seq
        return {"good": good, "bad": bad, "error": error}
