"""Counting frames on an interface, one at a time or a batch of one route at once (the recorder's fast way)."""
from __future__ import annotations

from pcapng_iou.core import blocks
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
