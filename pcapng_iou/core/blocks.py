"""PCAP-NG block encoding: bytes for the section header, interfaces, packets, statistics.

The section header is built with ``python-pcapng``; interface description
blocks (16,000 of them for a lab of 1,000 instances) and enhanced packet
blocks (one per frame) have encoders of our own that make the same bytes at a
fraction of the cost (tests hold them equal).  Little-endian throughout; timestamps in nanoseconds.
"""
from __future__ import annotations

import io
import platform
import struct
from typing import Iterable, Optional, Sequence

import pcapng.blocks as pcapng_blocks

#: ``if_tsresol`` = 9: timestamps count nanoseconds.
TSRESOL_NS = b"\x09"
EPB_TYPE = 0x00000006
ISB_TYPE = 0x00000005

OPT_ENDOFOPT = 0
OPT_COMMENT = 1
EPB_FLAGS = 2

#: ``epb_flags`` direction bits (pcapng: 01 inbound, 10 outbound).
INBOUND = 1
OUTBOUND = 2

_EPB_FIXED = struct.Struct("<IIIIIII")
#: What comes before the frame in an Enhanced Packet Block (see :func:`flagged_tail`).
EPB_HEAD = _EPB_FIXED
_OPTION_HEADER = struct.Struct("<HH")
_FLAGS_OPTION = struct.Struct("<HHI")
#: Layouts of the usual block (``epb_flags``, no comment) by frame length: one ``pack`` makes it.
_FLAGGED_EPB: dict = {}
MAX_CACHED_LAYOUT = 4096 + 64  # IOU frames are at most 4096 bytes; longer ones take the general way


def _padding(length: int) -> bytes:
    return b"\x00" * (-length & 3)


def _block_bytes(block: pcapng_blocks.Block) -> bytes:
    buffer = io.BytesIO()
    block._write(buffer)  # python-pcapng writes one block at a time this way
    return buffer.getvalue()


class Section:
    """One PCAP-NG section: its header, and the blocks of the interfaces in it.

    PCAP-NG numbers interfaces in the order their blocks are written; the
    caller numbers them (see :class:`~pcapng_iou.core.links.LinkTable`) and
    writes each block returned by :meth:`interface_block` in that order.
    """

    def __init__(self, userappl: str, comment: Optional[str] = None):
        options = {
            "shb_userappl": userappl,
            "shb_os": f"{platform.system()} {platform.release()}",
            "shb_hardware": platform.machine() or "unknown",
        }
        if comment:
            options["opt_comment"] = [comment]
        self._header = pcapng_blocks.SectionHeader(options=options)

    def header_bytes(self) -> bytes:
        return _block_bytes(self._header)

    def interface_block(self, linktype: int, name: str, description: str, snaplen: int = 0) -> bytes:
        """The Interface Description Block of one interface (its number is its place in the file).

        Encoded here, not by python-pcapng (a test holds the bytes equal): a lab
        of 1,000 instances has 16,000 interfaces, which took it seconds.
        """
        return interface_description(linktype, name, description, snaplen)


IDB_TYPE = 0x00000001
IF_NAME = 2
IF_DESCRIPTION = 3
IF_TSRESOL = 9
_IDB_FIXED = struct.Struct("<IIHHI")
_TSRESOL_OPTION = _OPTION_HEADER.pack(IF_TSRESOL, len(TSRESOL_NS)) + TSRESOL_NS + _padding(len(TSRESOL_NS))


def interface_description(linktype: int, name: str, description: str, snaplen: int = 0) -> bytes:
    """Bytes of an Interface Description Block: ``if_name``, ``if_description``, ``if_tsresol`` (ns)."""
    options = b"".join((_string_option(IF_NAME, name), _string_option(IF_DESCRIPTION, description),
                        _TSRESOL_OPTION, b"\x00\x00\x00\x00"))
    total = _IDB_FIXED.size + len(options) + 4
    return _IDB_FIXED.pack(IDB_TYPE, total, linktype, 0, snaplen) + options + struct.pack("<I", total)


def _string_option(code: int, text: str) -> bytes:
    data = text.encode("utf-8")
    return _OPTION_HEADER.pack(code, len(data)) + data + _padding(len(data))


def flagged_layout(captured: int) -> Optional[struct.Struct]:
    """The one-``pack`` layout of a block with ``epb_flags`` and no comment for a ``captured``-byte frame.

    Its fields: type, total length, interface, timestamp high, low, captured
    and original length, frame, ``EPB_FLAGS``, 4, flags, ``OPT_ENDOFOPT``, total
    length.  None for frames too long to keep a layout for.
    """
    layout = _FLAGGED_EPB.get(captured)
    if layout is None and captured <= MAX_CACHED_LAYOUT:
        layout = _FLAGGED_EPB[captured] = struct.Struct(f"<7I{captured}s{-captured & 3}x2H3I")
    return layout


_FLAGGED_TAIL = struct.Struct("<2H3I")


def flagged_tail(captured: int, flags: int) -> tuple[int, bytes]:
    """The length of a block with ``epb_flags`` and no comment for a ``captured``-byte frame, and what follows
    the frame in it; what comes before the frame is ``EPB_HEAD.pack(EPB_TYPE, length, interface, timestamp
    high, low, captured, captured)``.  The same bytes as :func:`flagged_layout` packs, in parts, for frames
    of one interface and length at once."""
    padding = -captured & 3
    total = 44 + captured + padding
    return total, bytes(padding) + _FLAGGED_TAIL.pack(EPB_FLAGS, 4, flags, OPT_ENDOFOPT, total)


def enhanced_packet(
    interface_id: int,
    timestamp_ns: int,
    frame: bytes,
    flags: int = 0,
    comments: Sequence[str] = (),
    original_length: int = 0,
) -> bytes:
    """Bytes of an Enhanced Packet Block (options: ``epb_flags`` then comments).

    ``original_length`` is the frame's length on the wire when ``frame`` was cut
    short (snap length); 0 means ``frame`` is all of it.
    """
    captured = len(frame)
    if flags and not comments and not original_length:
        # Nearly every frame: header, frame, padding, epb_flags, end of options, length in one pack.
        layout = _FLAGGED_EPB.get(captured) or flagged_layout(captured)
        if layout is not None:
            total = layout.size
            return layout.pack(EPB_TYPE, total, interface_id, timestamp_ns >> 32, timestamp_ns & 0xFFFFFFFF,
                               captured, captured, frame, EPB_FLAGS, 4, flags, OPT_ENDOFOPT, total)
    options = b""
    if flags:
        options = _FLAGS_OPTION.pack(EPB_FLAGS, 4, flags)
    for comment in comments:
        options += _string_option(OPT_COMMENT, comment)
    if options:
        options += b"\x00\x00\x00\x00"
    total = 32 + captured + (-captured & 3) + len(options)
    return b"".join(
        (
            _EPB_FIXED.pack(
                EPB_TYPE, total, interface_id, timestamp_ns >> 32, timestamp_ns & 0xFFFFFFFF, captured,
                original_length or captured,
            ),
            frame,
            _padding(captured),
            options,
            struct.pack("<I", total),
        )
    )


def interface_statistics(
    interface_id: int,
    timestamp_ns: int,
    start_ns: int,
    end_ns: int,
    received: int,
    dropped: int,
    comments: Iterable[str] = (),
) -> bytes:
    """Bytes of an Interface Statistics Block (start, end, frames received, drops)."""
    options = b"".join(
        (
            struct.pack("<HHII", 2, 8, start_ns >> 32, start_ns & 0xFFFFFFFF),
            struct.pack("<HHII", 3, 8, end_ns >> 32, end_ns & 0xFFFFFFFF),
            struct.pack("<HHQ", 4, 8, received),
            struct.pack("<HHQ", 5, 8, dropped),
            *(_string_option(OPT_COMMENT, c) for c in comments),
            b"\x00\x00\x00\x00",
        )
    )
    total = 12 + 12 + len(options)
    return (
        struct.pack("<IIIII", ISB_TYPE, total, interface_id, timestamp_ns >> 32, timestamp_ns & 0xFFFFFFFF)
        + options
        + struct.pack("<I", total)
    )
