"""Many datagrams a system call: ``recvmmsg`` and ``sendmmsg`` through ctypes, for the relay's hot path.

One :class:`BatchIO` serves the whole capture (one socket is read at a
time).  :meth:`BatchIO.receive` reads every datagram waiting in a socket, up
to :data:`SLOTS`, with one system call, each into a slot of its own;
:meth:`BatchIO.send_received` sends them on from those slots, with one
system call, as long as the next receive has not overwritten them.

Any size: each slot is as big as the largest datagram a unix socket can
carry (:data:`SLOT_BYTES`), so nothing the kernel delivers is ever cut.
The slots are one anonymous mapping that the kernel backs with memory only
where it writes: a 100-byte frame costs one page, and the pages a datagram
over :data:`RELEASE_ABOVE` bytes took are given back at once.

Pure Python plus ctypes (no compiled extension); Linux only, as the rest.
"""
from __future__ import annotations

import ctypes
import errno
import mmap
import os
import socket
import sys
from typing import Optional

#: Datagrams read (and sent) with one system call at most.
SLOTS = 64
#: The largest datagram a unix socket can carry on Linux: the kernel builds it from one allocation of at
#: most 4 MiB plus up to 45 pages of fragments (about 4.07 MiB measured on x86-64); rounded up.
SLOT_BYTES = (4 << 20) + (256 << 10)
#: A datagram longer than this gives back the memory it took once it is copied out.
RELEASE_ABOVE = 256 << 10
MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20
_MAP_NORESERVE = 0x4000  # (mmap.MAP_NORESERVE only from Python 3.10)


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.c_void_p),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]


def _libc_calls():
    """``recvmmsg`` and ``sendmmsg`` called without releasing the GIL (they never block: MSG_DONTWAIT)."""
    libc = ctypes.PyDLL(None, use_errno=True)
    return libc.recvmmsg, libc.sendmmsg


def _map_slots(slots: int) -> tuple:
    """The slots' mapping (fewer slots when the system refuses that much address space)."""
    while True:
        try:
            return mmap.mmap(-1, slots * SLOT_BYTES, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE,
                             prot=mmap.PROT_READ | mmap.PROT_WRITE), slots
        except (OSError, OverflowError):
            if slots == 1:
                raise
            slots //= 2


class BatchIO:
    """Slots to read datagrams into and send them on from, and the two calls that do it."""

    def __init__(self, slots: int = SLOTS):
        self.buffer, self.slots = _map_slots(slots)
        slots = self.slots
        base = ctypes.addressof(ctypes.c_char.from_buffer(self.buffer))
        self._receive_iov = (_Iovec * slots)()
        self._send_iov = (_Iovec * slots)()
        self._receive_vec = (_Mmsghdr * slots)()
        self._send_vec = (_Mmsghdr * slots)()
        for index in range(slots):
            self._receive_iov[index].base = self._send_iov[index].base = base + index * SLOT_BYTES
            self._receive_iov[index].len = SLOT_BYTES
            self._receive_vec[index].hdr.iov = ctypes.addressof(self._receive_iov[index])
            self._send_vec[index].hdr.iov = ctypes.addressof(self._send_iov[index])
            self._receive_vec[index].hdr.iovlen = self._send_vec[index].hdr.iovlen = 1
        self._recvmmsg, self._sendmmsg = _libc_calls()
        self._receive_at = ctypes.c_void_p(ctypes.addressof(self._receive_vec))
        #: Where sending from slot ``i`` on starts.
        self._send_from = [ctypes.c_void_p(ctypes.addressof(self._send_vec[index])) for index in range(slots)]
        self.offsets = [index * SLOT_BYTES for index in range(slots)]
        # Each datagram's length as received, and the length each send slot sends: strided views, so that
        # one slice assignment copies the first into the second.
        stride = ctypes.sizeof(_Mmsghdr) // 4
        self._received_lengths = memoryview(self._receive_vec).cast("B").cast("I")[_Mmsghdr.len.offset // 4::stride]
        low_half = 0 if sys.byteorder == "little" else ctypes.sizeof(ctypes.c_size_t) - 4
        iov_stride = ctypes.sizeof(_Iovec) // 4
        self._send_lengths = memoryview(self._send_iov).cast("B").cast("I")[
            (_Iovec.len.offset + low_half) // 4::iov_stride]
        #: The first slot, as ``os.readv`` takes it: a lone datagram is read there with no call through ctypes.
        self.first_slot = [memoryview(self.buffer)[:SLOT_BYTES]]
        #: How many datagrams the last :meth:`receive` read, and the length of the longest.
        self.count = self.longest = 0

    def receive(self, fd: int, limit: int = SLOTS) -> list:
        """Every datagram waiting in socket ``fd`` (up to ``limit`` and :attr:`slots`), oldest first; [] when
        none waits.  They stay in the slots until the next call, for :meth:`send_received`.
        """
        count = self._recvmmsg(fd, self._receive_at, min(limit, self.slots), MSG_DONTWAIT, None)
        if count <= 0:
            self.count = self.longest = 0
            if count < 0:
                code = ctypes.get_errno()
                if code not in (errno.EAGAIN, errno.EINTR):
                    raise OSError(code, os.strerror(code))
            return []
        self.count = count
        received = self._received_lengths[:count]
        self._send_lengths[:count] = received
        lengths = received.tolist()
        buffer = self.buffer
        datagrams = [buffer[offset:offset + length] for offset, length in zip(self.offsets, lengths)]
        self.longest = longest = max(lengths)
        if longest > RELEASE_ABOVE:
            self._release(lengths)
        return datagrams

    def release_first(self, length: int) -> None:
        """A datagram of ``length`` bytes was read into the first slot and copied out: give back its memory."""
        if length > RELEASE_ABOVE:
            self.buffer.madvise(mmap.MADV_DONTNEED, 0, SLOT_BYTES)

    def _release(self, lengths: list) -> None:
        """Give back the memory the big datagrams just read took (their pages beyond the slot's first)."""
        for offset, length in zip(self.offsets, lengths):
            if length > RELEASE_ABOVE:
                self.buffer.madvise(mmap.MADV_DONTNEED, offset, SLOT_BYTES)

    def send_received(self, fd: int, start: int, count: int) -> int:
        """Send datagrams ``start`` to ``start + count`` of the last receive on socket ``fd`` (connected).

        Returns how many were sent, in order: 0 when the socket's queue is full (EAGAIN: no exception, a
        burst meets it often); raises OSError when the first fails for any other reason.
        """
        sent = self._sendmmsg(fd, self._send_from[start], count, MSG_DONTWAIT)
        if sent < 0:
            code = ctypes.get_errno()
            if code == errno.EAGAIN:
                return 0
            raise OSError(code, os.strerror(code))
        return sent

    def send(self, fd: int, datagrams) -> int:
        """Send the first :attr:`slots` of ``datagrams`` on socket ``fd`` (connected) with one system call,
        through the slots (what the last :meth:`receive` left there is overwritten).

        Returns how many were sent, in order (0 when the socket's queue is full, as :meth:`send_received`);
        raises OSError when the first fails for any other reason.
        """
        buffer, lengths, count = self.buffer, self._send_lengths, 0
        for offset, datagram in zip(self.offsets, datagrams):
            size = len(datagram)
            buffer[offset:offset + size] = datagram
            lengths[count] = size
            count += 1
        return self.send_received(fd, 0, count) if count else 0


def next_size(sock: socket.socket) -> int:
    """The size of the datagram waiting first in ``sock``, without reading it (BlockingIOError if none waits)."""
    return sock.recvfrom_into(bytearray(0), 0, socket.MSG_PEEK | socket.MSG_TRUNC)[0]


def receive_whole(sock: socket.socket) -> bytes:
    """The next datagram of ``sock``, whole whatever its size (BlockingIOError if none waits)."""
    return sock.recv(max(next_size(sock), 1))


def receive_whole_from(sock: socket.socket) -> tuple:
    """The next datagram of ``sock``, whole, and who sent it (BlockingIOError if none waits)."""
    return sock.recvfrom(max(next_size(sock), 1))


_shared: Optional[BatchIO] = None


def shared() -> BatchIO:
    """The process's one :class:`BatchIO` (made on first use)."""
    global _shared
    if _shared is None:
        _shared = BatchIO()
    return _shared
