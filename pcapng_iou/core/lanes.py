"""The recorder's fast way: frames recorded without decoding them, in runs, and counted on their lane."""
from __future__ import annotations

from pcapng_iou.core import blocks, netio
from pcapng_iou.core.interface import Interface


def count(interface: Interface, outbound: bool, size: int, timestamp_ns: int) -> int:
    """Count a ``size``-byte frame on ``interface``; return its ``epb_flags`` direction."""
    if outbound:
        interface.frames_out += 1
        interface.bytes_out += size
        flags = blocks.OUTBOUND
    else:
        interface.frames_in += 1
        interface.bytes_in += size
        flags = blocks.INBOUND
    if not interface.first_ns:
        interface.first_ns = timestamp_ns
    interface.last_ns = timestamp_ns
    return flags


class Lane:
    """Frames of one route (source and destination endpoint) recorded without decoding them.

    The recorder opens a lane once a frame of the route took the general way
    and nothing about the link calls for more than a plain block (no shared
    segment, no link type to follow or check); the link table empties the lanes
    whenever its routes change.  Frames are counted here within one batch and
    added to the interface when the batch is done (:meth:`settle`).
    """

    __slots__ = ("block_size", "bytes", "flags", "frame_size", "frames", "interface", "last_ns", "outbound", "tail")

    def __init__(self, interface: Interface, outbound: bool):
        self.interface = interface
        self.outbound = outbound
        self.flags = blocks.OUTBOUND if outbound else blocks.INBOUND
        self.frames = self.bytes = self.last_ns = 0
        #: The length of the last frame recorded here, its block's length and what follows the frame in it.
        self.frame_size = -1
        self.block_size = 0
        self.tail = b""

    def fit(self, size: int) -> None:
        """Make :attr:`block_size` and :attr:`tail` those of a ``size``-byte frame's block."""
        self.frame_size = size
        self.block_size, self.tail = blocks.flagged_tail(size, self.flags)

    def add_run(self, frames: int, size: int, last_ns: int) -> None:
        """Count ``frames`` frames of ``size`` bytes in this batch, the last at ``last_ns``."""
        self.frames += frames
        self.bytes += frames * size
        self.last_ns = last_ns

    def settle(self) -> int:
        """Add this batch's frames to the interface's counters; return how many there were."""
        interface, frames = self.interface, self.frames
        if self.outbound:
            interface.frames_out += frames
            interface.bytes_out += self.bytes
        else:
            interface.frames_in += frames
            interface.bytes_in += self.bytes
        interface.last_ns = max(interface.last_ns, self.last_ns)
        self.frames = self.bytes = 0
        return frames


def record_in_runs(datagrams, timestamps, lane_of, cut_above: int, enter, general) -> list:
    """The recorder's fast way over a batch: the blocks of its frames, in order, as parts to join.

    A frame whose whole header names a lane (a data frame on a plain link
    already seen, ``lane_of(header)``), no longer than ``cut_above``, is
    recorded without decoding it, once ``enter(lane, timestamp_ns)`` let its
    lane in for this batch; any other frame takes ``general(datagram,
    timestamp_ns, None)``.  A *run* is frames in a row of one lane, one length
    and one time (a batch read at once): their blocks differ only by the
    frame's bytes, so what comes before and after the frame is packed once.
    """
    out: list = []
    append = out.append
    head_of, header_size, epb_type = blocks.EPB_HEAD.pack, netio.HEADER_SIZE, blocks.EPB_TYPE
    lane = head = tail = run_key = None
    run_size = run_ns = run = 0
    try:
        for datagram, timestamp_ns in zip(datagrams, timestamps):
            key = datagram[:header_size]  # (this loop runs for every frame: nearly all continue a run)
            size = len(datagram) - header_size
            if key == run_key and size == run_size and timestamp_ns == run_ns:
                append(head)
                append(datagram[header_size:])
                append(tail)
                run += 1
                continue
            if run:
                lane.add_run(run, run_size, run_ns)
                run = 0
            lane = lane_of(key)
            if lane is not None and 0 < size <= cut_above and (lane.frames or enter(lane, timestamp_ns)):
                if size != lane.frame_size:
                    lane.fit(size)
                tail = lane.tail
                head = head_of(epb_type, lane.block_size, lane.interface.file_id, timestamp_ns >> 32,
                               timestamp_ns & 0xFFFFFFFF, size, size)
                run_key, run_size, run_ns, run = key, size, timestamp_ns, 1
                append(head)
                append(datagram[header_size:])
                append(tail)
                continue
            run_key = None
            append(general(datagram, timestamp_ns, None))
    finally:
        if run:
            lane.add_run(run, run_size, run_ns)
    return out
