"""What a router says about itself in CDP, and what that tells about the links of a lab (pure).

IOS sends CDP on every interface: the Device ID TLV (0x0001) is its hostname,
the Port ID TLV (0x0003) the sending interface ("Ethernet0/0").  On a GNS3 or
EVE-NG lab every IOU port is a half-link to a bridge at id + 512
(``513:0/0 1:0/0``); a CDP frame the router sends on one half comes out of the
other half's bridge, toward the router at the other end.  :class:`CdpLinks`
sees both and tells (a) the name of each router end and (b) which two halves
are one link.
"""
from __future__ import annotations

import struct
from typing import Optional

EndpointKey = tuple[int, int]
CDP_MULTICAST = bytes.fromhex("01000ccccccc")
SNAP_CDP = bytes.fromhex("aaaa0300000c2000")
CHDLC_CDP = 0x2000
PPP_CDP = 0x0207
TLV_DEVICE_ID, TLV_PORT_ID = 0x0001, 0x0003
#: A hostname or an interface name longer than this is not taken (no name runs that long).
MAX_NAME = 64
BRIDGE_OFFSET = 512


def cdp_pdu(frame: bytes) -> Optional[bytes]:
    """The CDP PDU in ``frame`` (Ethernet 802.3 + SNAP, Cisco HDLC or PPP), or None when it holds none."""
    if frame[:6] == CDP_MULTICAST and frame[14:22] == SNAP_CDP:
        return frame[22:]
    if len(frame) > 4 and frame[0] in (0x0F, 0x8F) and frame[1] == 0 and frame[2:4] == struct.pack(">H", CHDLC_CDP):
        return frame[4:]
    if frame[:2] == b"\xff\x03" and frame[2:4] == struct.pack(">H", PPP_CDP):
        return frame[4:]
    return None


def device_and_port(frame: bytes) -> Optional[tuple]:
    """(Device ID, Port ID) of a CDP frame, or None (not CDP, or one of the two missing or not text)."""
    pdu = cdp_pdu(frame)
    if pdu is None or len(pdu) < 4:
        return None
    found = {}
    offset = 4  # version, TTL, checksum
    while offset + 4 <= len(pdu) and len(found) < 2:
        kind, length = struct.unpack_from(">HH", pdu, offset)
        if length < 4 or offset + length > len(pdu):
            return None
        if kind in (TLV_DEVICE_ID, TLV_PORT_ID) and kind not in found:
            value = pdu[offset + 4:offset + length]
            text = value.decode("ascii", errors="replace").strip()
            if not text or len(text) > MAX_NAME or not text.isprintable():
                return None
            found[kind] = text
        offset += length
    if len(found) < 2:
        return None
    return found[TLV_DEVICE_ID], found[TLV_PORT_ID]


def half_ends(endpoints) -> Optional[tuple]:
    """(router end, bridge end) when NETMAP line ``endpoints`` joins an IOU port to its bridge at id + 512."""
    if len(endpoints) != 2:
        return None
    (a, a_port), (b, b_port) = sorted(endpoints)
    if a_port != b_port or b != a + BRIDGE_OFFSET:
        return None
    return (a, a_port), (b, b_port)


class CdpLinks:
    """CDP seen on the half-links of a lab: the names of their router ends, and which halves pair up.

    A bounded memory: one entry per router end that spoke (at most one per NETMAP line).
    """

    def __init__(self):
        #: Router end -> (Device ID, Port ID) it announced.
        self.names: dict = {}
        #: (Device ID, Port ID) -> the router end that announced it.
        self._by_name: dict = {}

    def heard(self, source: EndpointKey, router_end: EndpointKey, frame: bytes) -> Optional[tuple]:
        """A frame from ``source`` on the half-link of ``router_end``.  Returns ("name", router end) when
        the router named its end (anew), ("pair", the other router end, ``router_end``) when the frame
        comes out of the bridge toward ``router_end`` and another router end announced it; else None."""
        said = device_and_port(frame)
        if said is None:
            return None
        if source == router_end:
            if self.names.get(router_end) == said:
                return None
            self.names[router_end] = said
            self._by_name[said] = router_end
            return ("name", router_end)
        other = self._by_name.get(said)
        if other is None or other == router_end:
            return None
        return ("pair", other, router_end)


def half_key_of(router_end: EndpointKey) -> frozenset:
    instance, port = router_end
    return frozenset((router_end, (instance + BRIDGE_OFFSET, port)))


def end_for(router_end: EndpointKey, names: dict, bays: dict, routers: Optional[dict] = None):
    """The :class:`~pcapng_iou.core.drawn.End` of ``router_end``: its node's name from EVE-NG (``routers``)
    and the IOS name its bays give; else as its router named it in CDP; else "IOU <id>" and that IOS name."""
    from pcapng_iou.core.drawn import DEFAULT_ETHERNET_BAYS, End, ios_interface

    instance, port = router_end
    said = names.get(router_end)
    if said is not None and instance not in (routers or {}):
        return End(said[0], said[1], router_end)
    layout = bays.get(instance)
    ethernet = layout.ethernet if layout is not None else DEFAULT_ETHERNET_BAYS
    node = (routers or {}).get(instance, f"IOU {instance}")
    bay, unit = port & 0x0F, port >> 4
    if layout is not None and layout.kind(port) is None:
        return End(node, f"{bay}/{unit}", router_end)  # beyond its bays: no IOS name
    return End(node, ios_interface(bay, unit, ethernet), router_end)
