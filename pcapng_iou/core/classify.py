"""Guess a link type from the bytes of one frame, and decide when it changed.

An IOU frame carries no link-type tag: whether a serial link runs Cisco HDLC,
PPP or Frame Relay (or a port is Ethernet) shows only in the frame itself.
:func:`classify` looks at one frame and answers with the link type
(:data:`~pcapng_iou.core.linktypes.ETHERNET`, :data:`~pcapng_iou.core.linktypes.C_HDLC`,
:data:`~pcapng_iou.core.linktypes.PPP_SERIAL` or :data:`~pcapng_iou.core.linktypes.FRELAY`)
only when it is sure, else None.  :class:`LinkTypeTracker` turns those
per-frame answers into a decision to switch a link's type.

Being wrong costs more than being unsure (a wrong answer may start a new
capture interface), so each class needs its link header *and* a payload
that checks out: an IPv4 header with a valid checksum, an ARP packet for
Ethernet/IPv4, a CDP PDU whose TLVs fill it exactly, a PPP control packet
whose length matches, an LMI message built from known elements, and so on.
A frame that two classes would accept is answered with None.

Trailing bytes: a serial frame may still hold its 2- or 4-byte FCS; an
Ethernet frame may be padded to 60 bytes and may hold a 4-byte FCS.

Pure: no I/O, no clock.
"""
from __future__ import annotations

from typing import Callable, Optional

from pcapng_iou.core.linktypes import C_HDLC, ETHERNET, FRELAY, PPP_SERIAL
from pcapng_iou.core.lmi import lmi_ok as _lmi_ok

Tail = Callable[[int], bool]
"""Says whether ``n`` bytes may follow a payload whose own length field ended
before the end of the frame (padding, FCS)."""

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = 0x8100
ETHERTYPE_QINQ = 0x88A8
ETHERTYPE_LOOP = 0x9000
ETHERTYPE_CDP = 0x2000      # Cisco HDLC, Cisco Frame Relay and SNAP PID
ETHERTYPE_SLARP = 0x8035
MAX_8023_LENGTH = 1500
ETHERNET_MIN_FRAME = 60

#: SNAP protocol ids under the Cisco OUI that IOS sends on Ethernet:
#: CDP, VTP, DTP, UDLD, PAgP, PVST+.
CISCO_SNAP_PIDS = frozenset({0x2000, 0x2003, 0x2004, 0x0111, 0x0104, 0x010B})

#: Frame Relay DLCIs that may carry user data (Q.922: 16..1007).
FR_MIN_USER_DLCI = 16
FR_MAX_USER_DLCI = 1007

#: A followed link that keeps its type this long (ns) with no sure frame of another type has settled:
#: its two ends agree, and going back to an earlier type is a change of configuration, not a disagreement.
SETTLE_NS = 30_000_000_000


def _u16(data: bytes, offset: int) -> int:
    """Big-endian 16-bit value at ``offset`` (the caller checked the length)."""
    return (data[offset] << 8) | data[offset + 1]


def _serial_tail(extra: int) -> bool:
    """Trailing bytes allowed on a serial link: none, or an FCS-16 or FCS-32."""
    return extra in (0, 2, 4)


def _ethernet_tail(frame_length: int) -> Tail:
    """Trailing bytes allowed in an Ethernet frame of ``frame_length`` bytes:
    none, a 4-byte FCS, or any padding when the frame has the minimum size."""
    def allowed(extra: int) -> bool:
        if extra < 0:
            return False
        return extra in (0, 4) or frame_length in (ETHERNET_MIN_FRAME, ETHERNET_MIN_FRAME + 4)
    return allowed


def _internet_checksum_ok(data: bytes) -> bool:
    """True when the Internet checksum over ``data`` (checksum included) verifies."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += _u16(data, i)
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


# --------------------------------------------------------------------------
# Payload checks, shared by the link types
# --------------------------------------------------------------------------

def _ipv4_ok(data: bytes, tail: Tail) -> bool:
    """An IPv4 datagram: version 4, sane header and total lengths, good checksum."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return False
    header_length = (data[0] & 0x0F) * 4
    total_length = _u16(data, 2)
    if header_length < 20 or total_length < header_length or len(data) < total_length:
        return False
    return tail(len(data) - total_length) and _internet_checksum_ok(data[:header_length])


def _ipv6_ok(data: bytes, tail: Tail) -> bool:
    """An IPv6 datagram: version 6 and a payload length that fits the frame."""
    if len(data) < 40 or data[0] >> 4 != 6:
        return False
    return tail(len(data) - 40 - _u16(data, 4))


def _arp_ok(data: bytes, tail: Tail, hardware: int, hardware_length: int,
            opcodes: frozenset) -> bool:
    """An ARP packet for ``hardware`` and IPv4 with the expected address sizes."""
    if len(data) < 8:
        return False
    if _u16(data, 0) != hardware or _u16(data, 2) != ETHERTYPE_IPV4:
        return False
    if data[4] != hardware_length or data[5] != 4 or _u16(data, 6) not in opcodes:
        return False
    return tail(len(data) - (8 + 2 * (hardware_length + 4)))


_ETHERNET_ARP_OPS = frozenset({1, 2})
_INARP_OPS = frozenset({1, 2, 8, 9})
_HW_ETHERNET = 1
_HW_FRAME_RELAY = 15


def _cdp_ok(data: bytes, tail: Tail) -> bool:
    """A CDP PDU: version 1 or 2, then TLVs that fill it (up to the tail)."""
    if len(data) < 8 or data[0] not in (1, 2):
        return False
    offset, count = 4, 0
    while offset + 4 <= len(data):
        kind, length = _u16(data, offset), _u16(data, offset + 2)
        if kind == 0 or kind > 0xFF or length < 4 or offset + length > len(data):
            break
        offset += length
        count += 1
    return count > 0 and tail(len(data) - offset)


def _slarp_ok(data: bytes) -> bool:
    """A SLARP packet: 4-byte code 0 (request), 1 (reply) or 2 (keepalive),
    14 bytes, or 18/20 with the uptime some implementations add."""
    return 14 <= len(data) <= 24 and data[:3] == b"\x00\x00\x00" and data[3] <= 2


def _options_ok(data: bytes) -> bool:
    """PPP configuration options (type, length >= 2, value) filling ``data``."""
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data) or data[offset + 1] < 2:
            return False
        offset += data[offset + 1]
    return offset == len(data)


def _control_ok(data: bytes, highest_code: int, tail: Tail) -> bool:
    """A PPP control packet (LCP, NCP, PAP, CHAP): known code, length field
    that fits, and well-formed options for Configure-Request/Ack/Nak/Reject."""
    if len(data) < 4 or not 1 <= data[0] <= highest_code:
        return False
    length = _u16(data, 2)
    if length < 4 or length > len(data) or not tail(len(data) - length):
        return False
    if data[0] <= 4 and highest_code >= 7:   # a Configure-* of LCP or an NCP
        return _options_ok(data[4:length])
    return True


# --------------------------------------------------------------------------
# Ethernet
# --------------------------------------------------------------------------

def _ethertype_payload_ok(ethertype: int, data: bytes, tail: Tail) -> bool:
    """The payload of an Ethernet II frame (or of SNAP with OUI 0) checks out."""
    if ethertype == ETHERTYPE_IPV4:
        return _ipv4_ok(data, tail)
    if ethertype == ETHERTYPE_IPV6:
        return _ipv6_ok(data, tail)
    if ethertype == ETHERTYPE_ARP:
        return _arp_ok(data, tail, _HW_ETHERNET, 6, _ETHERNET_ARP_OPS)
    if ethertype == ETHERTYPE_LOOP:
        return _loop_ok(data)
    return False


def _loop_ok(data: bytes) -> bool:
    """A Configuration Testing Protocol message: little-endian skip count (even)
    pointing at a function 1 (reply) or 2 (forward) inside the frame."""
    if len(data) < 4:
        return False
    skip = data[0] | (data[1] << 8)
    at = 2 + skip
    if skip % 2 or at + 2 > len(data):
        return False
    return data[at + 1] == 0 and data[at] in (1, 2)


def _llc_ok(data: bytes) -> bool:
    """An 802.2 LLC payload IOS sends: SNAP (Cisco OUI with a known protocol id,
    or OUI 0 with a checked Ethernet type), spanning tree BPDU, or IS-IS."""
    if len(data) >= 8 and data[:3] == b"\xaa\xaa\x03":
        oui, pid = data[3:6], _u16(data, 6)
        if oui == b"\x00\x00\x0c":
            if pid == ETHERTYPE_CDP:
                return _cdp_ok(data[8:], _exact)
            return pid in CISCO_SNAP_PIDS
        if oui == b"\x00\x00\x00":
            return _ethertype_payload_ok(pid, data[8:], _exact)
        return False
    if len(data) >= 7 and data[:3] == b"\x42\x42\x03":
        # protocol id 0, version 0/2/3 (STP/RSTP/MSTP), type config/TCN/RST
        return data[3:5] == b"\x00\x00" and data[5] in (0, 2, 3) and data[6] in (0x00, 0x80, 0x02)
    if len(data) >= 5 and data[:4] == b"\xfe\xfe\x03\x83":
        return True
    return False


def _exact(extra: int) -> bool:
    """No trailing bytes allowed."""
    return extra == 0


def _is_ethernet(frame: bytes) -> bool:
    """Ethernet II with a checked payload, or 802.3 with a consistent length
    and a known LLC payload.  The source address must be unicast."""
    if len(frame) < 14 or frame[6] & 0x01:
        return False
    tail = _ethernet_tail(len(frame))
    kind = _u16(frame, 12)
    if kind <= MAX_8023_LENGTH:
        if 14 + kind > len(frame) or not tail(len(frame) - 14 - kind):
            return False
        return _llc_ok(frame[14:14 + kind])
    if kind < 0x0600:
        return False
    offset = 14
    if kind in (ETHERTYPE_VLAN, ETHERTYPE_QINQ):
        if len(frame) < 18:
            return False
        kind, offset = _u16(frame, 16), 18
        if kind in (ETHERTYPE_VLAN, ETHERTYPE_QINQ) and len(frame) >= 22:
            kind, offset = _u16(frame, 20), 22
    return _ethertype_payload_ok(kind, frame[offset:], tail)


# --------------------------------------------------------------------------
# Cisco HDLC
# --------------------------------------------------------------------------

def _is_c_hdlc(frame: bytes) -> bool:
    """Address 0x0F or 0x8F, control 0, and a known protocol with a checked payload."""
    if len(frame) < 4 or frame[0] not in (0x0F, 0x8F) or frame[1] != 0x00:
        return False
    protocol, payload = _u16(frame, 2), frame[4:]
    if protocol == ETHERTYPE_IPV4:
        return _ipv4_ok(payload, _serial_tail)
    if protocol == ETHERTYPE_IPV6:
        return _ipv6_ok(payload, _serial_tail)
    if protocol == ETHERTYPE_SLARP:
        return _slarp_ok(payload)
    if protocol == ETHERTYPE_CDP:
        return _cdp_ok(payload, _serial_tail)
    return False


# --------------------------------------------------------------------------
# PPP in HDLC-like framing
# --------------------------------------------------------------------------

#: PPP protocol -> highest code its control packets use
#: (LCP with RFC 1570; the NCPs IPCP, IPv6CP, CDPCP, MPLSCP; CCP; PAP; CHAP).
_PPP_CONTROL = {
    0xC021: 13,
    0x8021: 7,
    0x8057: 7,
    0x8207: 7,
    0x8281: 7,
    0x80FD: 15,
    0xC023: 3,
    0xC223: 4,
}


def _is_ppp(frame: bytes) -> bool:
    """``FF 03``, then a known PPP protocol with a checked payload."""
    if len(frame) < 4 or frame[0] != 0xFF or frame[1] != 0x03:
        return False
    protocol, payload = _u16(frame, 2), frame[4:]
    if protocol in _PPP_CONTROL:
        return _control_ok(payload, _PPP_CONTROL[protocol], _serial_tail)
    if protocol == 0x0021:
        return _ipv4_ok(payload, _serial_tail)
    if protocol == 0x0057:
        return _ipv6_ok(payload, _serial_tail)
    if protocol == 0x0207:
        return _cdp_ok(payload, _serial_tail)
    return False


# --------------------------------------------------------------------------
# Frame Relay
# --------------------------------------------------------------------------

def _is_user_dlci(dlci: int) -> bool:
    return FR_MIN_USER_DLCI <= dlci <= FR_MAX_USER_DLCI


def _snap_ok(data: bytes) -> bool:
    """RFC 2427 SNAP after NLPID 0x80: OUI 0 and a checked Ethernet type
    (IPv4, IPv6 or Inverse ARP)."""
    if len(data) < 5 or data[:3] != b"\x00\x00\x00":
        return False
    return _fr_ethertype_ok(_u16(data, 3), data[5:])


def _fr_ethertype_ok(ethertype: int, data: bytes) -> bool:
    """A payload identified by an Ethernet type on a Frame Relay DLCI."""
    if ethertype == ETHERTYPE_IPV4:
        return _ipv4_ok(data, _serial_tail)
    if ethertype == ETHERTYPE_IPV6:
        return _ipv6_ok(data, _serial_tail)
    if ethertype == ETHERTYPE_ARP:
        return _arp_ok(data, _serial_tail, _HW_FRAME_RELAY, 2, _INARP_OPS)
    if ethertype == ETHERTYPE_CDP:
        return _cdp_ok(data, _serial_tail)
    return False


def _is_frame_relay(frame: bytes) -> bool:
    """A 2-byte Q.922 address (EA bits 0 then 1), then either the UI control
    0x03 and an NLPID with a checked payload (LMI on DLCI 0 or 1023, IPv4,
    IPv6, SNAP) or, Cisco encapsulation, an Ethernet type with a checked
    payload on a user DLCI."""
    if len(frame) < 5 or frame[0] & 0x01 or not frame[1] & 0x01:
        return False
    dlci = ((frame[0] >> 2) << 4) | (frame[1] >> 4)
    if frame[2] == 0x03:
        nlpid, rest = frame[3], frame[4:]
        if nlpid == 0x08 and dlci in (0, 1023):
            return _lmi_ok(rest, cisco=False)
        if nlpid == 0x09 and dlci == 1023:
            return _lmi_ok(rest, cisco=True)
        if not _is_user_dlci(dlci):
            return False
        if nlpid == 0xCC:
            return _ipv4_ok(rest, _serial_tail)
        if nlpid == 0x8E:
            return _ipv6_ok(rest, _serial_tail)
        if nlpid == 0x80:
            return _snap_ok(rest)
        if nlpid == 0x00 and rest[:1] == b"\x80":    # SNAP after the pad byte
            return _snap_ok(rest[1:])
        return False
    return _is_user_dlci(dlci) and _fr_ethertype_ok(_u16(frame, 2), frame[4:])


# --------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------

_TESTS = (
    (ETHERNET, _is_ethernet),
    (C_HDLC, _is_c_hdlc),
    (PPP_SERIAL, _is_ppp),
    (FRELAY, _is_frame_relay),
)


def classify(frame: bytes) -> Optional[int]:
    """The link type ``frame`` was sent on (ETHERNET, C_HDLC, PPP_SERIAL or
    FRELAY), or None when no class, or more than one, accepts it.

    Never raises on any bytes.
    """
    frame = bytes(frame)
    found = [link_type for link_type, test in _TESTS if test(frame)]
    return found[0] if len(found) == 1 else None


class LinkTypeTracker:
    """Decides, frame after frame, when a link's type should change.

    The rule:

    * :attr:`current` is the link type in force: the one given at creation
      (None when not known yet).
    * Feed the class of every frame, in order, to :meth:`observe` (or the frame
      itself to :meth:`observe_frame`).
    * An unsure frame (None) changes nothing: it neither extends nor breaks a
      streak.
    * A frame of the current type breaks any streak of another type: the
      link's, and that of its sender (``sender`` given to :meth:`observe`).
    * A frame of another type extends the streak when the streak is of that
      type, and otherwise starts a new streak of length 1 (so two other types
      interleaved never reach a switch).  Each sender has a streak of its own
      besides the link's: one end's frames between the other end's must not
      hide a change of the other end (a busy end would win for ever).
    * When a streak reaches :attr:`needed` frames (default 3), :attr:`current`
      becomes its type, the streak is cleared, :attr:`changes` grows by one and
      :meth:`observe` returns True.

    The same rule sets the first type: from None it takes ``needed``
    agreeing confident frames too.

    The two ends of a link may disagree (one router set to ``encapsulation
    ppp``, the other still Cisco HDLC): then both types go on, and the rule
    alone would switch back and forth without end.  So:

    * :attr:`seen` holds the types the link had since the tracker was made
      (a change of configuration makes a new one) or since it settled.
    * A streak that completes for a type in :attr:`seen` (A, then B, then A
      again) does not switch: :attr:`differ` becomes (current, that type),
      :meth:`observe` returns True once, and nothing is decided any more.
    * Settled: :data:`SETTLE_NS` went by after the last switch with no sure
      frame of another type.  The types before are forgotten then, so a link
      reconfigured A -> B and, much later, back to A is followed as usual.
      (Time is the frames' timestamps, given to :meth:`observe`; it is looked
      at only when a frame of another type comes, never for the frames of the
      current type.)
    """

    def __init__(self, current: Optional[int] = None, needed: int = 3, settle_ns: Optional[int] = None) -> None:
        if needed < 1:
            raise ValueError(f"needed must be at least 1, not {needed}")
        self.current = current
        self.needed = needed
        self.settle_ns = SETTLE_NS if settle_ns is None else settle_ns
        #: The other type the link's streak is building up for, and its length.
        self.candidate: Optional[int] = None
        self.streak = 0
        #: The same for each sender, and its streak's length.
        self._streaks: dict = {}
        #: How many times :attr:`current` changed.
        self.changes = 0
        #: The types the link had since this tracker was made, or since it settled.
        self.seen: set = {current} if current is not None else set()
        #: (the current type, the type it went back to) once the two ends were found to differ.
        self.differ: Optional[tuple[int, int]] = None
        #: When the link last switched or last carried a sure frame of another type (ns).
        self._quiet_since: Optional[int] = None

    def observe(self, kind: Optional[int], now_ns: int = 0, sender: object = None) -> bool:
        """Take the class of the next frame (sent at ``now_ns`` by ``sender``); True when it switched
        :attr:`current`, or when it found the two ends differ (:attr:`differ`, once)."""
        if kind is None:
            return False
        if kind == self.current:
            self.candidate, self.streak = None, 0
            if self._streaks:
                self._streaks.pop(sender, None)
            return False
        if self.differ is not None:
            return False
        if self._quiet_since is not None and now_ns - self._quiet_since >= self.settle_ns:
            self.seen = {self.current}  # settled: what came before is history
        self._quiet_since = now_ns
        if kind == self.candidate:
            self.streak += 1
        else:
            self.candidate, self.streak = kind, 1
        candidate, streak = self._streaks.get(sender, (None, 0))
        streak = streak + 1 if kind == candidate else 1
        if self.streak < self.needed and streak < self.needed:
            self._streaks[sender] = (kind, streak)
            return False
        self.candidate, self.streak = None, 0
        self._streaks.clear()
        if kind in self.seen:
            self.differ = (self.current, kind)
            return True
        self.take(kind, now_ns)
        return True

    def take(self, kind: int, now_ns: int = 0) -> None:
        """Make ``kind`` the current type now (a streak completed, or a sure first frame settled a guess)."""
        self.current = kind
        self.seen.add(kind)
        self.changes += 1
        self._quiet_since = now_ns

    def observe_frame(self, frame: bytes) -> bool:
        """:meth:`observe` the class :func:`classify` gives ``frame``."""
        return self.observe(classify(frame))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(current={self.current!r}, needed={self.needed}, "
                f"candidate={self.candidate!r}, streak={self.streak}, by_sender={self._streaks!r})")
