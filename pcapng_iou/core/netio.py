"""The IOU NETIO datagram: an 8-byte header followed by a raw layer-2 frame.

Pure codec, no sockets.  Layout (big-endian):

====== ==== ===============================================
offset size field
====== ==== ===============================================
0      2    destination instance id
2      2    source instance id
4      1    destination port  (bay + 16 * unit)
5      1    source port
6      1    message type (1 = data)
7      1    channel (0)
====== ==== ===============================================
"""
from __future__ import annotations

import struct
from typing import NamedTuple, Optional

HEADER = struct.Struct(">HHBBBB")
HEADER_SIZE = HEADER.size
MSG_DATA = 1
MAX_PAYLOAD = 4096
#: What a receive buffer must hold so that no datagram is ever cut.
MAX_DATAGRAM = 65536
MIN_ID, MAX_ID = 1, 1024
MAX_BAY = MAX_UNIT = 15


class Header(NamedTuple):
    dst_id: int
    src_id: int
    dst_port: int
    src_port: int
    msg_type: int = MSG_DATA
    channel: int = 0

    def pack(self) -> bytes:
        return HEADER.pack(*self)


def port_byte(bay: int, unit: int) -> int:
    """Port byte of interface ``bay/unit`` (bay in the low nibble)."""
    if not (0 <= bay <= MAX_BAY and 0 <= unit <= MAX_UNIT):
        raise ValueError(f"interface {bay}/{unit} is out of range 0..15/0..15")
    return bay | (unit << 4)


def bay_unit(port: int) -> tuple[int, int]:
    """``(bay, unit)`` of a port byte."""
    return port & 0x0F, port >> 4


def port_name(port: int) -> str:
    bay, unit = bay_unit(port)
    return f"{bay}/{unit}"


def endpoint_name(instance: int, port: int) -> str:
    """How an endpoint is written in NETMAP: ``100:1/0``."""
    return f"{instance}:{port_name(port)}"


def encode(header: Header, frame: bytes) -> bytes:
    return HEADER.pack(*header) + frame


def decode(datagram: bytes) -> Optional[Header]:
    """The header of ``datagram``, or None when it is too short to hold one."""
    if len(datagram) < HEADER_SIZE:
        return None
    return Header._make(HEADER.unpack_from(datagram))


def data_frame(datagram: bytes) -> Optional[tuple[Header, bytes]]:
    """Header and frame of a datagram that carries a frame, else None.

    A frame is carried when the datagram is longer than the header and its
    message type is data; anything else is relayed but not recorded.
    """
    if len(datagram) <= HEADER_SIZE or datagram[6] != MSG_DATA:
        return None
    return Header._make(HEADER.unpack_from(datagram)), datagram[HEADER_SIZE:]
