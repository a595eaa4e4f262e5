"""Reading back a bench capture file: every interface must hold exactly the frames
that were relayed, in order, with the right direction flags."""
from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from typing import Iterator, Optional

from pcapng_iou.sim.peers import PeerStream


# -- reading back the capture file -------------------------------------------------
@dataclass
class FileCheck:
    frames: int = 0
    wrong: int = 0
    missing: int = 0
    interfaces: int = 0
    statistics_blocks: int = 0
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        """Keep what is wrong (the first ten things)."""
        if len(self.problems) < 10:
            self.problems.append(text)


def _flood_frames(stream: PeerStream, spans) -> Iterator[tuple]:
    for first, count in spans:
        for seq in range(first, first + count):
            yield 2, stream.frame(seq)  # the sender is the first endpoint of its line: outbound


def _ping_frames(stream: PeerStream, spans) -> Iterator[tuple]:
    for first, count in spans:
        for seq in range(first, first + count):
            frame = stream.frame(seq)
            yield 2, frame  # the ping, outbound
            yield 1, frame  # its echo (same frame, header turned round), inbound


def check_capture_file(path: str, expected: list, names: Optional[list] = None) -> FileCheck:
    """Walk the PCAP-NG blocks of ``path``: the interface of link ``i`` must hold exactly the
    (direction flags, frame) pairs that ``expected[i]`` yields, in that order.

    Interfaces are written with their first frame, so the file numbers them in the order their
    links first carried one: with ``names`` (link ``i``'s interface name), each interface block is
    matched to its link by its name; without, interface ``i`` is link ``i``."""
    check = FileCheck()
    iterators = [iter(e) for e in expected]
    by_id = _InterfaceIds(iterators, names)
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < 28:
            check.problem("the file is too short for a section header")
            return check
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            block_type, length, magic = struct.unpack_from("<III", data, 0)
            if block_type != 0x0A0D0D0A or magic != 0x1A2B3C4D:
                check.problem("no little-endian section header at the start")
                return check
            _walk_blocks(check, data, length, size, by_id)
        finally:
            data.close()
    for number, left in enumerate(iterators):
        missing = sum(1 for _ in left)
        if missing:
            check.missing += missing
            check.problem(f"link {names[number] if names else number}: {missing} frames relayed but not in the file")
    if check.interfaces > len(expected) or by_id.repeated:
        check.problem(f"{check.interfaces} interfaces in the file, at most {len(expected)} expected, one per link")
    if check.statistics_blocks != check.interfaces:
        check.problem("no statistics block per interface: the capture did not close the file cleanly")
    return check


class _InterfaceIds(list):
    """The file's interface ids, in order, each with the frames its link expects (none for an unknown name)."""

    def __init__(self, by_link: list, names: Optional[list]):
        super().__init__()
        self.by_link, self.names, self.seen, self.repeated = by_link, names, set(), False

    def add(self, name: str) -> None:
        link = len(self) if self.names is None else self.names.index(name) if name in self.names else None
        self.repeated = self.repeated or (link is not None and link in self.seen)
        self.seen.add(link)
        self.append(self.by_link[link] if link is not None and link < len(self.by_link) else iter(()))


def _interface_name(data, offset: int, length: int) -> str:
    """The ``if_name`` option of the interface block at ``offset`` ("" when it has none)."""
    position, end = offset + 16, offset + length - 4
    while position + 4 <= end:
        code, size = struct.unpack_from("<HH", data, position)
        if code == 0:
            break
        if code == 2:
            return bytes(data[position + 4:position + 4 + size]).decode("utf-8", "replace")
        position += 4 + size + (-size & 3)
    return ""


def _walk_blocks(check: FileCheck, data, offset: int, size: int, iterators: _InterfaceIds) -> None:
    """Count the blocks after the section header; compare each packet with the one expected."""
    while offset + 12 <= size:
        block_type, length = struct.unpack_from("<II", data, offset)
        if length < 12 or length % 4 or offset + length > size:
            check.problem(f"block at offset {offset}: bad length {length}")
            break
        if block_type == 6:
            _check_packet(check, data, offset, length, iterators)
        elif block_type == 1:
            check.interfaces += 1
            iterators.add(_interface_name(data, offset, length))
        elif block_type == 5:
            check.statistics_blocks += 1
        offset += length
    if offset != size:
        check.problem(f"{size - offset} bytes after the last whole block")


def _check_packet(check: FileCheck, data, offset: int, length: int, iterators: list) -> None:
    """One Enhanced Packet Block: its frame and direction flags must be the next its interface expects."""
    check.frames += 1
    interface, _, _, captured = struct.unpack_from("<IIII", data, offset + 8)
    frame = data[offset + 28:offset + 28 + captured]
    options = offset + 28 + captured + (-captured & 3)
    flags = 0
    if options + 8 <= offset + length - 4:
        code, olen = struct.unpack_from("<HH", data, options)
        if code == 2 and olen == 4:
            flags = struct.unpack_from("<I", data, options + 4)[0]
    want = next(iterators[interface], None) if interface < len(iterators) else None
    if want is None:
        check.wrong += 1
        check.problem(f"frame {check.frames} on interface {interface}: more frames than were relayed")
    elif want != (flags, frame):
        check.wrong += 1
        check.problem(f"frame {check.frames} on interface {interface}: not what was sent")
