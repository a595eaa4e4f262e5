"""Numbered frames: build them, and check at a receiver that a flow of them came
exactly, in order and once.  Pure: no I/O, no clock.

A numbered frame is an Ethernet frame of the local experimental EtherType
0x88B5: broadcast destination, source MAC ``02:00:00:<id>:<port>`` naming the
sending instance and port, then the frame's number (8 bytes), its own length
(2 bytes) and filler that depends on the number, so that a frame cut short,
corrupted, or carrying another frame's bytes is told apart from the right one.

A *flow* is what one sender's port sends; a receiver keeps one
:class:`SequenceCheck` per flow:

* the next number expected arrives: good;
* a higher number arrives: the ones skipped are *missing* for now;
* a missing one arrives later: good, but *reordered* (it was overtaken);
* a number already seen arrives again: a *duplicate*;
* a frame that claims a number but is not byte for byte the frame of that
  number: *corrupt*.

Frames still missing when the sender says how many it sent are *lost*, and
so are the ones it sent after the last that arrived.
"""
from __future__ import annotations

import bisect
import struct
from typing import Optional

ETHERTYPE_NUMBERED = 0x88B5
_HEAD = struct.Struct(">6s6sHQH")  # destination, source, EtherType, number, length
HEAD_SIZE = _HEAD.size
#: Smallest frame that carries all of the head (and the Ethernet minimum without FCS).
MIN_SIZE = 60
MAX_SIZE = 4096
_BROADCAST = b"\xff" * 6
_FILLER = bytes(range(256)) * (MAX_SIZE // 256 + 2)


def source_mac(instance: int, port: int) -> bytes:
    return bytes((0x02, 0, 0, instance >> 8, instance & 0xFF, port))


def numbered_frame(instance: int, port: int, number: int, size: int = MIN_SIZE) -> bytes:
    """Frame ``number`` of the flow that ``instance`` sends out of ``port`` (``size`` bytes)."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"numbered frame size must be {MIN_SIZE}..{MAX_SIZE} bytes, not {size}")
    head = _HEAD.pack(_BROADCAST, source_mac(instance, port), ETHERTYPE_NUMBERED, number, size)
    start = number % 256
    return head + _FILLER[start:start + size - HEAD_SIZE]


def parse(frame: bytes) -> Optional[tuple]:
    """``(instance, port, number)`` a frame claims to be, or None when it is no numbered frame."""
    if len(frame) < HEAD_SIZE:
        return None
    _dst, src, ethertype, number, _length = _HEAD.unpack_from(frame)
    if ethertype != ETHERTYPE_NUMBERED or src[:3] != b"\x02\x00\x00":
        return None
    return (src[3] << 8 | src[4], src[5], number)


class SequenceCheck:
    """What arrived of one flow of numbered frames, compared with what should have.

    Missing numbers are kept as ranges, so a wild jump costs no memory.
    """

    def __init__(self):
        self.next = 0
        self.good = 0
        self.reordered = 0
        self.duplicates = 0
        self.corrupt = 0
        self._gaps: list = []  # sorted, disjoint [first, last + 1) ranges of missing numbers

    @property
    def missing(self) -> int:
        return sum(end - start for start, end in self._gaps)

    def arrive(self, number: int, exact: bool) -> None:
        if not exact:
            self.corrupt += 1
        elif number == self.next:
            self.good += 1
            self.next += 1
        elif number > self.next:
            self.good += 1
            self._gaps.append((self.next, number))
            self.next = number + 1
        elif self._fill(number):
            self.good += 1
            self.reordered += 1
        else:
            self.duplicates += 1

    def _fill(self, number: int) -> bool:
        """Take ``number`` out of the gaps; False when it was not missing (seen before)."""
        index = bisect.bisect_right(self._gaps, (number, float("inf"))) - 1
        if index < 0:
            return False
        start, end = self._gaps[index]
        if not start <= number < end:
            return False
        pieces = [(a, b) for a, b in ((start, number), (number + 1, end)) if a < b]
        self._gaps[index:index + 1] = pieces
        return True

    def lost(self, sent: int) -> int:
        """Frames of the ``sent`` first that never arrived (so far)."""
        return self.missing + max(0, sent - self.next)

    def as_dict(self) -> dict:
        return {"next": self.next, "good": self.good, "reordered": self.reordered,
                "duplicates": self.duplicates, "corrupt": self.corrupt, "missing": self.missing}


class Tally:
    """Every flow of numbered frames a receiver sees, keyed ``(instance, port)`` of the sender."""

    def __init__(self):
        self.flows: dict = {}

    def frame(self, frame: bytes) -> bool:
        """Check one received frame; False when it is no numbered frame (left to the caller)."""
        claimed = parse(frame)
        if claimed is None:
            return False
        instance, port, number = claimed
        check = self.flows.get((instance, port))
        if check is None:
            check = self.flows[(instance, port)] = SequenceCheck()
        exact = MIN_SIZE <= len(frame) <= MAX_SIZE and frame == numbered_frame(instance, port, number, len(frame))
        check.arrive(number, exact)
        return True

    def as_dict(self) -> dict:
        """Per flow, keyed ``"<id>:<port byte>"``."""
        return {f"{instance}:{port}": check.as_dict() for (instance, port), check in sorted(self.flows.items())}
