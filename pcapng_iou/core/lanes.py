"""Counting recorded frames on their interface, one by one or a batch of one route at once.

Pure: the :class:`~pcapng_iou.core.recorder.Recorder` counts each frame it
decodes with :func:`count_frame`, and the frames of a route it records without
decoding them in a :class:`Lane`, added to the interface once the batch is done.
"""
from __future__ import annotations

from pcapng_iou.core import blocks
from pcapng_iou.core.links import Interface


def count_frame(interface: Interface, outbound: bool, size: int, timestamp_ns: int) -> int:
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

    __slots__ = ("bytes", "flags", "frames", "interface", "last_ns", "outbound")

    def __init__(self, interface: Interface, outbound: bool):
        self.interface = interface
        self.outbound = outbound
        self.flags = blocks.OUTBOUND if outbound else blocks.INBOUND
        self.frames = self.bytes = self.last_ns = 0

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
