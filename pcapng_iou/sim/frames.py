"""Builders of protocol-true layer-2 frames, the kind Cisco IOU puts on a link.

Tests (and demos) need frames that Wireshark dissects without a single expert
warning: right lengths, right checksums, right addresses.  Every function here
returns the raw bytes of one frame or of one protocol unit, exactly as it is
stored in a capture file of the matching link type:

* Ethernet (``LINKTYPE_ETHERNET`` = 1): destination, source, type/length,
  payload padded to the 60-byte minimum, no FCS;
* Cisco HDLC (``LINKTYPE_C_HDLC`` = 104): address, control, protocol, payload;
* PPP in HDLC-like framing (``LINKTYPE_PPP_HDLC`` = 50, "PPP_SERIAL"):
  ``FF 03``, protocol, payload;
* Frame Relay (``LINKTYPE_FRELAY`` = 107): Q.922 address, then the payload.

No HDLC flags, no bit stuffing and no FCS on any of them.  The module is pure:
no I/O, no sockets, no clock.

MAC addresses may be given as ``"aa:bb:cc:dd:ee:ff"``, ``"aa-bb-cc-dd-ee-ff"``,
``"aabb.ccdd.eeff"`` or 6 bytes; IPv4 addresses as dotted strings (or anything
:class:`ipaddress.IPv4Address` accepts).
"""
from __future__ import annotations

import ipaddress
import struct
from typing import Iterable, Union

MacLike = Union[str, bytes]
IpLike = Union[str, bytes, int, ipaddress.IPv4Address]

# --------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = 0x8100
ETHERTYPE_LOOP = 0x9000
#: Cisco HDLC uses Ethernet types plus a few of its own.
CHDLC_SLARP = 0x8035
CHDLC_CDP = 0x2000
CHDLC_UNICAST = 0x0F
CHDLC_BROADCAST = 0x8F

PPP_IP = 0x0021
PPP_IPV6 = 0x0057
PPP_LCP = 0xC021
PPP_IPCP = 0x8021

IP_PROTO_ICMP = 1

NLPID_Q933 = 0x08
NLPID_CISCO_LMI = 0x09
NLPID_SNAP = 0x80
NLPID_IPV4 = 0xCC
NLPID_IPV6 = 0x8E
FR_UI = 0x03

BROADCAST_MAC = b"\xff" * 6
CDP_MULTICAST_MAC = bytes.fromhex("01000ccccccc")
CISCO_OUI = b"\x00\x00\x0c"
SNAP_PID_CDP = 0x2000

ETHERNET_HEADER = 14
ETHERNET_MIN_FRAME = 60  # without the 4-byte FCS

#: What IOS prints in ``show version`` on an IOU image, used as the CDP default.
DEFAULT_SOFTWARE = (
    "Cisco IOS Software, Linux Software (I86BI_LINUX-ADVENTERPRISEK9-M), "
    "Version 15.4(1)T, DEVELOPMENT TEST SOFTWARE"
)
#: IOS pings carry 72 data bytes (a 100-byte datagram) of an 0xABCD pattern.
DEFAULT_PING_DATA = b"\xab\xcd" * 36


# --------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------

def mac(address: MacLike) -> bytes:
    """The 6 bytes of a MAC address written in any of the usual notations."""
    if isinstance(address, (bytes, bytearray)):
        if len(address) != 6:
            raise ValueError(f"a MAC address has 6 bytes, not {len(address)}")
        return bytes(address)
    digits = address.replace(":", "").replace("-", "").replace(".", "")
    if len(digits) != 12:
        raise ValueError(f"not a MAC address: {address!r}")
    return bytes.fromhex(digits)


def ipv4(address: IpLike) -> bytes:
    """The 4 bytes of an IPv4 address."""
    return ipaddress.IPv4Address(address).packed


# --------------------------------------------------------------------------
# IPv4 and ICMP
# --------------------------------------------------------------------------

def ipv4_checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum of ``data`` (odd length padded with a zero)."""
    if len(data) % 2:
        data = data + b"\x00"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_packet(src: IpLike, dst: IpLike, proto: int, payload: bytes,
                ttl: int = 255, ident: int = 0) -> bytes:
    """An IPv4 datagram: 20-byte header (no options, not fragmented) + payload."""
    header = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,                    # version 4, header length 5 words
        0,                       # DSCP/ECN
        20 + len(payload),       # total length
        ident,
        0,                       # flags and fragment offset
        ttl,
        proto,
        0,                       # checksum, filled in below
        ipv4(src),
        ipv4(dst),
    )
    checksum = ipv4_checksum(header)
    return header[:10] + struct.pack(">H", checksum) + header[12:] + payload


def icmp_echo(ident: int, seq: int, payload: bytes = DEFAULT_PING_DATA,
              reply: bool = False) -> bytes:
    """An ICMP echo request (type 8) or echo reply (type 0) with its checksum."""
    kind = 0 if reply else 8
    unsummed = struct.pack(">BBHHH", kind, 0, 0, ident, seq) + payload
    checksum = ipv4_checksum(unsummed)
    return unsummed[:2] + struct.pack(">H", checksum) + unsummed[4:]


def ping_packet(src_ip: IpLike, dst_ip: IpLike, ident: int, seq: int,
                reply: bool = False, payload: bytes = DEFAULT_PING_DATA) -> bytes:
    """An IPv4 datagram holding an ICMP echo request or reply."""
    return ipv4_packet(src_ip, dst_ip, IP_PROTO_ICMP,
                       icmp_echo(ident, seq, payload, reply=reply))


# --------------------------------------------------------------------------
# Ethernet (link type 1)
# --------------------------------------------------------------------------

def ethernet(dst_mac: MacLike, src_mac: MacLike, ethertype: int,
             payload: bytes) -> bytes:
    """An Ethernet frame without FCS, zero-padded to the 60-byte minimum.

    ``ethertype`` is written as given, so a value up to 1500 makes an IEEE
    802.3 frame whose length field the caller computed.
    """
    frame = mac(dst_mac) + mac(src_mac) + struct.pack(">H", ethertype) + payload
    return frame.ljust(ETHERNET_MIN_FRAME, b"\x00")


def ieee8023_llc(dst_mac: MacLike, src_mac: MacLike, llc_payload: bytes) -> bytes:
    """An IEEE 802.3 frame: the length field counts the LLC payload exactly."""
    return ethernet(dst_mac, src_mac, len(llc_payload), llc_payload)


def snap(oui: bytes, pid: int, payload: bytes) -> bytes:
    """LLC header ``AA AA 03`` plus SNAP header (OUI, protocol id) plus payload."""
    return b"\xaa\xaa\x03" + oui + struct.pack(">H", pid) + payload


def _arp(op: int, sender_mac: bytes, sender_ip: IpLike,
         target_mac: bytes, target_ip: IpLike) -> bytes:
    """An ARP packet for Ethernet/IPv4 (hardware type 1, protocol 0x0800)."""
    return struct.pack(">HHBBH", 1, ETHERTYPE_IPV4, 6, 4, op) + (
        sender_mac + ipv4(sender_ip) + target_mac + ipv4(target_ip))


def arp_request(src_mac: MacLike, src_ip: IpLike, target_ip: IpLike) -> bytes:
    """A broadcast ARP request "who has ``target_ip``? tell ``src_ip``"."""
    src = mac(src_mac)
    return ethernet(BROADCAST_MAC, src, ETHERTYPE_ARP,
                    _arp(1, src, src_ip, b"\x00" * 6, target_ip))


def arp_reply(src_mac: MacLike, src_ip: IpLike, dst_mac: MacLike,
              dst_ip: IpLike) -> bytes:
    """A unicast ARP reply "``src_ip`` is at ``src_mac``" sent to the asker."""
    src, dst = mac(src_mac), mac(dst_mac)
    return ethernet(dst, src, ETHERTYPE_ARP, _arp(2, src, src_ip, dst, dst_ip))


def icmp_over_ethernet(src_mac: MacLike, dst_mac: MacLike, src_ip: IpLike,
                       dst_ip: IpLike, ident: int, seq: int,
                       reply: bool = False) -> bytes:
    """An Ethernet frame carrying an IPv4 ICMP echo request or reply."""
    return ethernet(dst_mac, src_mac, ETHERTYPE_IPV4,
                    ping_packet(src_ip, dst_ip, ident, seq, reply=reply))


def cdp_checksum(pdu: bytes) -> int:
    """The CDP checksum of ``pdu`` (its checksum field zero), as Cisco computes it.

    It is the Internet checksum, except for an odd length.  Cisco then adds the
    last byte as the *low* byte of a word instead of padding it with a zero at
    the end, and adds it as a signed char into a 32-bit two's-complement sum,
    so a last byte ``b`` of 0x80 or more counts as the word ``0xFF00 | (b - 1)``.
    Wireshark checks exactly this; for an even length nothing differs.
    """
    if len(pdu) % 2 == 0:
        return ipv4_checksum(pdu)
    last = pdu[-1]
    last_word = 0xFF00 | (last - 1) if last & 0x80 else last
    words = struct.unpack(f">{len(pdu) // 2}H", pdu[:-1])
    total = sum(words) + last_word
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _cdp_tlv(kind: int, value: bytes) -> bytes:
    """One CDP type-length-value item; the length counts its 4-byte header."""
    return struct.pack(">HH", kind, 4 + len(value)) + value


def cdp_pdu(device_id: str, port_id: str, ip: IpLike,
            platform: str = "Cisco IOU", software: str = DEFAULT_SOFTWARE,
            capabilities: int = 0x01, ttl: int = 180) -> bytes:
    """A CDP version 2 PDU (no link-layer header) with its checksum.

    TLVs: Device-ID, Addresses (one IPv4 address), Port-ID, Capabilities
    (default 0x01, router), Software version, Platform.
    """
    address = (struct.pack(">BB", 1, 1)        # protocol type NLPID, length 1
               + bytes([NLPID_IPV4])           # the protocol: IP
               + struct.pack(">H", 4) + ipv4(ip))
    body = b"".join([
        _cdp_tlv(0x0001, device_id.encode()),
        _cdp_tlv(0x0002, struct.pack(">I", 1) + address),
        _cdp_tlv(0x0003, port_id.encode()),
        _cdp_tlv(0x0004, struct.pack(">I", capabilities)),
        _cdp_tlv(0x0005, software.encode()),
        _cdp_tlv(0x0006, platform.encode()),
    ])
    unsummed = struct.pack(">BBH", 2, ttl, 0) + body
    return unsummed[:2] + struct.pack(">H", cdp_checksum(unsummed)) + unsummed[4:]


def cdp(src_mac: MacLike, device_id: str, port_id: str, ip: IpLike,
        platform: str = "Cisco IOU", software: str = DEFAULT_SOFTWARE) -> bytes:
    """A CDP announcement on Ethernet: 802.3 + LLC/SNAP (Cisco OUI, PID 0x2000)
    to the CDP multicast address 01:00:0c:cc:cc:cc."""
    pdu = cdp_pdu(device_id, port_id, ip, platform=platform, software=software)
    return ieee8023_llc(CDP_MULTICAST_MAC, src_mac,
                        snap(CISCO_OUI, SNAP_PID_CDP, pdu))


def ethernet_keepalive(src_mac: MacLike) -> bytes:
    """The keepalive IOS sends on an Ethernet port: a Configuration Testing
    Protocol ("LOOP", type 0x9000) reply message addressed to itself.

    Payload (little-endian, as the protocol wants): skip count 0, function 1
    (reply), receipt number 0, then zero padding.
    """
    own = mac(src_mac)
    return ethernet(own, own, ETHERTYPE_LOOP, struct.pack("<HHH", 0, 1, 0))


# --------------------------------------------------------------------------
# Cisco HDLC (link type 104)
# --------------------------------------------------------------------------

def hdlc(protocol: int, payload: bytes, broadcast: bool = False) -> bytes:
    """A Cisco HDLC frame: address (0x0F unicast, 0x8F broadcast), control
    0x00, 2-byte protocol (an Ethernet type or a Cisco one), payload."""
    address = CHDLC_BROADCAST if broadcast else CHDLC_UNICAST
    return struct.pack(">BBH", address, 0x00, protocol) + payload


def slarp_keepalive(my_seq: int, your_seq: int, reliability: int = 0xFFFF,
                    broadcast: bool = True) -> bytes:
    """A SLARP keepalive (code 2): my sequence, the last one seen from the
    peer, reliability.  IOS sends it to the broadcast address 0x8F."""
    payload = struct.pack(">IIIH", 2, my_seq, your_seq, reliability)
    return hdlc(CHDLC_SLARP, payload, broadcast=broadcast)


def slarp_request(broadcast: bool = True) -> bytes:
    """A SLARP address request (code 0): address and mask zero."""
    payload = struct.pack(">I4s4sH", 0, b"\x00" * 4, b"\x00" * 4, 0xFFFF)
    return hdlc(CHDLC_SLARP, payload, broadcast=broadcast)


def slarp_reply(ip: IpLike, mask: IpLike, broadcast: bool = True) -> bytes:
    """A SLARP address reply (code 1) giving ``ip`` and its ``mask``."""
    payload = struct.pack(">I4s4sH", 1, ipv4(ip), ipv4(mask), 0xFFFF)
    return hdlc(CHDLC_SLARP, payload, broadcast=broadcast)


def ip_over_hdlc(ipv4_packet_bytes: bytes) -> bytes:
    """An IPv4 datagram in a unicast Cisco HDLC frame (protocol 0x0800)."""
    return hdlc(ETHERTYPE_IPV4, ipv4_packet_bytes)


def cdp_over_hdlc(device_id: str, port_id: str, ip: IpLike,
                  platform: str = "Cisco IOU",
                  software: str = DEFAULT_SOFTWARE) -> bytes:
    """A CDP announcement on a Cisco HDLC link (broadcast, protocol 0x2000)."""
    pdu = cdp_pdu(device_id, port_id, ip, platform=platform, software=software)
    return hdlc(CHDLC_CDP, pdu, broadcast=True)


# --------------------------------------------------------------------------
# PPP in HDLC-like framing (link type 50)
# --------------------------------------------------------------------------

def ppp(protocol: int, payload: bytes) -> bytes:
    """A PPP frame as sent on a serial line: ``FF 03``, 2-byte protocol, payload."""
    return struct.pack(">BBH", 0xFF, 0x03, protocol) + payload


def ppp_control(protocol: int, code: int, ident: int, data: bytes) -> bytes:
    """A PPP frame holding one control-protocol packet (LCP, IPCP, ...):
    code, identifier, length (counting its 4-byte header), data."""
    return ppp(protocol, struct.pack(">BBH", code, ident, 4 + len(data)) + data)


def _lcp_options(magic: int, mru: int) -> bytes:
    """LCP options Maximum-Receive-Unit (type 1) and Magic-Number (type 5)."""
    return struct.pack(">BBH", 1, 4, mru) + struct.pack(">BBI", 5, 6, magic)


def lcp_configure_request(ident: int, magic: int, mru: int = 1500) -> bytes:
    """An LCP Configure-Request (code 1) offering an MRU and a magic number."""
    return ppp_control(PPP_LCP, 1, ident, _lcp_options(magic, mru))


def lcp_configure_ack(ident: int, magic: int, mru: int = 1500) -> bytes:
    """An LCP Configure-Ack (code 2) repeating the options of the request
    with the same ``ident``, ``magic`` and ``mru``."""
    return ppp_control(PPP_LCP, 2, ident, _lcp_options(magic, mru))


def lcp_echo_request(ident: int, magic: int) -> bytes:
    """An LCP Echo-Request (code 9), the PPP keepalive, with the sender's magic."""
    return ppp_control(PPP_LCP, 9, ident, struct.pack(">I", magic))


def lcp_echo_reply(ident: int, magic: int) -> bytes:
    """An LCP Echo-Reply (code 10) with the replier's own magic number."""
    return ppp_control(PPP_LCP, 10, ident, struct.pack(">I", magic))


def _ipcp_address(ip: IpLike) -> bytes:
    """IPCP option IP-Address (type 3)."""
    return struct.pack(">BB", 3, 6) + ipv4(ip)


def ipcp_configure_request(ident: int, ip: IpLike) -> bytes:
    """An IPCP Configure-Request (code 1) proposing the sender's address."""
    return ppp_control(PPP_IPCP, 1, ident, _ipcp_address(ip))


def ipcp_configure_ack(ident: int, ip: IpLike) -> bytes:
    """An IPCP Configure-Ack (code 2) accepting the peer's proposed address."""
    return ppp_control(PPP_IPCP, 2, ident, _ipcp_address(ip))


def ip_over_ppp(ipv4_packet_bytes: bytes) -> bytes:
    """An IPv4 datagram in a PPP frame (protocol 0x0021)."""
    return ppp(PPP_IP, ipv4_packet_bytes)


# --------------------------------------------------------------------------
# Frame Relay (link type 107)
# --------------------------------------------------------------------------

LMI_DLCI_Q933 = 0        # ITU Q.933 Annex A and ANSI T1.617 Annex D
LMI_DLCI_CISCO = 1023    # the "gang of four" (Cisco) LMI
LMI_STATUS_ENQUIRY = 0x75
LMI_STATUS = 0x7D
LMI_FULL_STATUS = 0x00
LMI_LINK_INTEGRITY = 0x01
MAX_DLCI = 1023


def q922_address(dlci: int, cr: bool = False, fecn: bool = False,
                 becn: bool = False, de: bool = False) -> bytes:
    """The 2-byte Q.922 address of ``dlci``.

    First byte: upper 6 DLCI bits, C/R bit, EA=0.  Second byte: lower 4 DLCI
    bits, FECN, BECN, DE, EA=1.
    """
    if not 0 <= dlci <= MAX_DLCI:
        raise ValueError(f"DLCI {dlci} is out of range 0..{MAX_DLCI}")
    first = ((dlci >> 4) << 2) | (int(cr) << 1)
    second = ((dlci & 0x0F) << 4) | (int(fecn) << 3) | (int(becn) << 2) | (
        int(de) << 1) | 1
    return bytes([first, second])


def _pvc_dlci_octets(dlci: int) -> bytes:
    """A DLCI as written in a PVC status element: ``0 0 d9..d4`` then
    ``1 d3..d0 0 0 0`` (extension bit set on the second octet)."""
    return bytes([(dlci >> 4) & 0x3F, 0x80 | ((dlci & 0x0F) << 3)])


def _pvc_status_byte(active: bool, new: bool) -> int:
    """Third octet of a PVC status element: extension bit, New and Active bits."""
    return 0x80 | (0x08 if new else 0) | (0x02 if active else 0)


def _lmi_frame(dlci: int, discriminator: int, message: int,
               elements: bytes) -> bytes:
    """An LMI frame: Q.922 address, UI control, protocol discriminator,
    dummy call reference 0, message type, information elements."""
    return q922_address(dlci) + bytes([FR_UI, discriminator, 0x00, message]) + elements


def _q933_elements(seq: int, last_seen: int, full: bool) -> bytes:
    """Report-type (0x51) and link-integrity-verification (0x53) elements."""
    report = LMI_FULL_STATUS if full else LMI_LINK_INTEGRITY
    return bytes([0x51, 1, report, 0x53, 2, seq & 0xFF, last_seen & 0xFF])


def lmi_status_enquiry(seq: int, last_seen: int, full: bool = False) -> bytes:
    """An ITU Q.933 Annex A STATUS ENQUIRY (0x75) on DLCI 0: the DTE's keepalive.

    ``seq`` is the sender's current send sequence number and ``last_seen`` the
    last one received from the peer; ``full`` asks for a full status report.
    """
    return _lmi_frame(LMI_DLCI_Q933, NLPID_Q933, LMI_STATUS_ENQUIRY,
                      _q933_elements(seq, last_seen, full))


def lmi_status(seq: int, last_seen: int, dlcis: Iterable[int] = (),
               active: bool = True, new: bool = False,
               full: bool | None = None) -> bytes:
    """An ITU Q.933 Annex A STATUS (0x7D) on DLCI 0: the DCE's answer.

    One PVC status element (0x57) follows per DLCI in ``dlcis``; the report is
    a full status one when ``full`` is true, by default when DLCIs are given.
    """
    dlcis = list(dlcis)
    if full is None:
        full = bool(dlcis)
    elements = _q933_elements(seq, last_seen, full)
    for dlci in dlcis:
        elements += bytes([0x57, 3]) + _pvc_dlci_octets(dlci) + bytes(
            [_pvc_status_byte(active, new)])
    return _lmi_frame(LMI_DLCI_Q933, NLPID_Q933, LMI_STATUS, elements)


def _cisco_lmi_elements(seq: int, last_seen: int, full: bool) -> bytes:
    """Cisco LMI report-type (0x01) and keepalive (0x03) elements."""
    report = LMI_FULL_STATUS if full else LMI_LINK_INTEGRITY
    return bytes([0x01, 1, report, 0x03, 2, seq & 0xFF, last_seen & 0xFF])


def cisco_lmi_status_enquiry(seq: int, last_seen: int, full: bool = False) -> bytes:
    """A Cisco LMI STATUS ENQUIRY (0x75) on DLCI 1023, protocol discriminator
    0x09: the keepalive IOS sends by default."""
    return _lmi_frame(LMI_DLCI_CISCO, NLPID_CISCO_LMI, LMI_STATUS_ENQUIRY,
                      _cisco_lmi_elements(seq, last_seen, full))


def cisco_lmi_status(seq: int, last_seen: int, dlcis: Iterable[int] = (),
                     active: bool = True, new: bool = False,
                     full: bool | None = None, bandwidth: int = 0) -> bytes:
    """A Cisco LMI STATUS (0x7D) on DLCI 1023, with one PVC status element
    (0x07: DLCI, status, 3-byte bandwidth) per DLCI in ``dlcis``."""
    dlcis = list(dlcis)
    if full is None:
        full = bool(dlcis)
    elements = _cisco_lmi_elements(seq, last_seen, full)
    for dlci in dlcis:
        elements += bytes([0x07, 6]) + _pvc_dlci_octets(dlci) + bytes(
            [_pvc_status_byte(active, new)]) + bandwidth.to_bytes(3, "big")
    return _lmi_frame(LMI_DLCI_CISCO, NLPID_CISCO_LMI, LMI_STATUS, elements)


def ip_over_frame_relay(dlci: int, ipv4_packet_bytes: bytes) -> bytes:
    """An IPv4 datagram on ``dlci`` with IETF (RFC 2427) encapsulation:
    Q.922 address, UI control 0x03, NLPID 0xCC."""
    return q922_address(dlci) + bytes([FR_UI, NLPID_IPV4]) + ipv4_packet_bytes


def ip_over_frame_relay_cisco(dlci: int, ipv4_packet_bytes: bytes) -> bytes:
    """An IPv4 datagram on ``dlci`` with Cisco encapsulation (the IOS default):
    Q.922 address followed directly by the Ethernet type 0x0800."""
    return q922_address(dlci) + struct.pack(">H", ETHERTYPE_IPV4) + ipv4_packet_bytes
