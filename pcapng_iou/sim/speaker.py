"""What a simulated router says on its links, so a capture looks like a real lab.

A :class:`Speaker` runs inside a simulated instance (``--speak``).  Each
interval it sends, on every interface NETMAP gives it, the keepalives and
chatter IOS sends for that encapsulation, and it answers its peers the way a
router would:

* Ethernet: Cisco keepalive (LOOP), ARP, ICMP echo, CDP; answers ARP and echo;
* Cisco HDLC: SLARP keepalives, ICMP echo, CDP; answers echo;
* PPP: LCP configure and echo, IPCP configure, ICMP echo; answers them all;
* Frame Relay: Q.933 Annex A LMI status enquiries, ICMP echo over IETF
  encapsulation on a DLCI; answers enquiries with a status and echo requests.

An unannotated NETMAP line takes the bay's kind from the instance's command
line: Ethernet bays speak Ethernet, serial bays Cisco HDLC, as IOS does by
default.  Addresses are derived from the NETMAP line and the instance id, so every run
of a lab is the same.  ``encap B/U ppp`` on the instance's stdin switches an
interface as ``encapsulation ppp`` would on IOS.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

from pcapng_iou.core import linktypes, netio
from pcapng_iou.core.netmap import Netmap
from pcapng_iou.sim import frames

FR_DLCI = 100
PING_IDENT = 0x1D0
#: Ticks after which a router forgets its neighbours' MAC addresses and asks ARP again.
ARP_REFRESH_TICKS = 8


def router_ip(line: int, instance: int) -> str:
    return f"10.{line % 250}.{instance // 200}.{instance % 200 + 1}"


def router_mac(instance: int, port: int) -> bytes:
    return bytes((0xAA, 0xBB, 0xCC, instance >> 8, instance & 0xFF, port))


@dataclass
class Port:
    """One interface of the simulated router and its protocol state."""

    number: int
    line: int
    linktype: int
    peers: list  # Endpoints
    ip: str
    mac: bytes
    ticks: int = 0
    my_seq: int = 0
    your_seq: int = 0
    ping_seq: int = 0
    lcp_open: bool = False
    magic: int = 0
    peer_macs: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return netio.port_name(self.number)


class Speaker:
    def __init__(self, instance, netmap: Netmap, interval: float = 1.0, only: Optional[frozenset] = None):
        """``only``: the port bytes of the interfaces configured up (None: every one NETMAP wires)."""
        self.instance = instance
        self.interval = interval
        self.ports: dict[int, Port] = {}
        number = instance.instance
        for segment in netmap:
            for endpoint in segment.endpoints:
                if endpoint.instance != number or not instance.has_bay(netio.bay_unit(endpoint.port)[0]):
                    continue  # (a NETMAP line for a bay it has not got: IOU has no such interface to speak on)
                if only is not None and endpoint.port not in only:
                    continue  # shut, as IOS leaves an interface until it is configured
                peers = [e for e in segment.endpoints if e.key != endpoint.key]
                default = instance.bay_linktype(netio.bay_unit(endpoint.port)[0])
                self.ports[endpoint.port] = Port(
                    endpoint.port, segment.line, segment.linktype_or(default), peers,
                    router_ip(segment.line, number), router_mac(number, endpoint.port),
                    magic=(0x1000_0000 * (number % 15 + 1)) | endpoint.port,
                )
        self._next = time.monotonic() + 0.05

    # -- timing ---------------------------------------------------------------------
    def next_due(self) -> float:
        return max(0.0, self._next - time.monotonic())

    def tick(self) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.interval
        for port in self.ports.values():
            port.ticks += 1
            speak = _SPEAKERS.get(port.linktype)
            if speak is not None:
                speak(self, port)

    def set_linktype(self, number: int, linktype: int) -> None:
        port = self.ports[number]
        port.linktype = linktype
        port.lcp_open = False
        port.my_seq = port.your_seq = 0

    # -- sending ----------------------------------------------------------------------
    def _to_all(self, port: Port, frame: bytes) -> None:
        self.instance.send(port.number, frame)

    def _to(self, port: Port, peer_instance: int, peer_port: int, frame: bytes) -> None:
        header = netio.Header(peer_instance, self.instance.instance, peer_port, port.number)
        self.instance.send_raw(peer_instance, header.pack() + frame)

    def _ping(self, port: Port, peer) -> bytes:
        port.ping_seq += 1
        return frames.ping_packet(port.ip, router_ip(port.line, peer.instance), PING_IDENT, port.ping_seq)

    # -- per encapsulation --------------------------------------------------------------
    def _ethernet(self, port: Port) -> None:
        if port.ticks % ARP_REFRESH_TICKS == 0:
            port.peer_macs.clear()
        if port.ticks % 3 == 1:  # CDP first: a capture knows who is at each end from the first frames
            self._to_all(port, frames.cdp(port.mac, f"R{self.instance.instance}", f"Ethernet{port.name}", port.ip))
        self._to_all(port, frames.ethernet_keepalive(port.mac))
        for peer in port.peers:
            peer_ip = router_ip(port.line, peer.instance)
            peer_mac = port.peer_macs.get(peer.key)
            if peer_mac is None:
                self._to_all(port, frames.arp_request(port.mac, port.ip, peer_ip))
            else:
                self._to(port, peer.instance, peer.port, frames.ethernet(
                    peer_mac, port.mac, frames.ETHERTYPE_IPV4, self._ping(port, peer)))

    def _hdlc(self, port: Port) -> None:
        port.my_seq += 1
        if port.ticks % 3 == 1:
            self._to_all(port, frames.cdp_over_hdlc(f"R{self.instance.instance}", f"Serial{port.name}", port.ip))
        self._to_all(port, frames.slarp_keepalive(port.my_seq, port.your_seq))
        for peer in port.peers:
            self._to(port, peer.instance, peer.port, frames.ip_over_hdlc(self._ping(port, peer)))

    def _ppp(self, port: Port) -> None:
        if not port.lcp_open:
            self._to_all(port, frames.lcp_configure_request(port.ticks & 0xFF, port.magic))
            return
        self._to_all(port, frames.lcp_echo_request(port.ticks & 0xFF, port.magic))
        if port.ticks % 5 == 2:
            self._to_all(port, frames.ipcp_configure_request(port.ticks & 0xFF, port.ip))
        for peer in port.peers:
            self._to(port, peer.instance, peer.port, frames.ip_over_ppp(self._ping(port, peer)))

    def _frame_relay(self, port: Port) -> None:
        port.my_seq = port.my_seq % 255 + 1
        self._to_all(port, frames.lmi_status_enquiry(port.my_seq, port.your_seq, full=port.ticks % 6 == 1))
        for peer in port.peers:
            self._to(port, peer.instance, peer.port, frames.ip_over_frame_relay(FR_DLCI, self._ping(port, peer)))

    # -- answering -------------------------------------------------------------------------
    def answer(self, header: netio.Header, frame: bytes) -> None:
        port = self.ports.get(header.dst_port)
        if port is None or not frame:
            return
        reply = None
        kind = port.linktype
        if kind == linktypes.ETHERNET:
            reply = self._answer_ethernet(port, header, frame)
        elif kind == linktypes.C_HDLC and frame[:2] in (b"\x0f\x00", b"\x8f\x00"):
            protocol = frame[2:4]
            if protocol == b"\x80\x35" and len(frame) >= 16 and frame[4:8] == b"\x00\x00\x00\x02":
                port.your_seq = int.from_bytes(frame[8:12], "big")
            elif protocol == b"\x08\x00":
                reply = self._echo_reply(port, frame[4:], frames.ip_over_hdlc)
        elif kind in (linktypes.PPP_SERIAL, linktypes.PPP) and frame[:2] == b"\xff\x03":
            reply = self._answer_ppp(port, frame)
        elif kind == linktypes.FRELAY and len(frame) > 5:
            if frame[:2] == frames.q922_address(0) and frame[3] == frames.NLPID_Q933 and frame[5] == 0x75:
                seq = frame[-2] if len(frame) >= 12 else 0
                port.your_seq = seq
                full = len(frame) >= 9 and frame[8] == 0x00
                reply = frames.lmi_status(port.my_seq or 1, seq, [FR_DLCI] if full else [], full=full)
            elif frame[2:4] == bytes((frames.FR_UI, frames.NLPID_IPV4)):
                reply = self._echo_reply(port, frame[4:], lambda p: frames.ip_over_frame_relay(FR_DLCI, p))
        if reply is not None:
            self._to(port, header.src_id, header.src_port, reply)

    def _echo_reply(self, port: Port, packet: bytes, wrap):
        """Wrapped ICMP echo reply when ``packet`` is an echo request to ``port``'s address."""
        if len(packet) < 28 or packet[9] != frames.IP_PROTO_ICMP or packet[20] != 8:
            return None
        if packet[16:20] != frames.ipv4(port.ip):
            return None
        ihl = (packet[0] & 0x0F) * 4
        icmp = packet[ihl:]
        ident, seq = int.from_bytes(icmp[4:6], "big"), int.from_bytes(icmp[6:8], "big")
        src = ".".join(str(b) for b in packet[12:16])
        reply = frames.ipv4_packet(port.ip, src, frames.IP_PROTO_ICMP,
                                   frames.icmp_echo(ident, seq, icmp[8:], reply=True))
        return wrap(reply)

    def _answer_ethernet(self, port: Port, header: netio.Header, frame: bytes):
        if len(frame) < 14:
            return None
        ethertype = frame[12:14]
        src_mac = frame[6:12]
        if ethertype == b"\x08\x06" and len(frame) >= 42:
            # Requests and replies both teach the sender's address, as ARP does.
            port.peer_macs[(header.src_id, header.src_port)] = src_mac
            if frame[20:22] == b"\x00\x01" and frame[38:42] == frames.ipv4(port.ip):
                sender_ip = ".".join(str(b) for b in frame[28:32])
                return frames.arp_reply(port.mac, port.ip, src_mac, sender_ip)
        elif ethertype == b"\x08\x00":
            return self._echo_reply(port, frame[14:], lambda p: frames.ethernet(
                src_mac, port.mac, frames.ETHERTYPE_IPV4, p))
        return None

    def _answer_ppp(self, port: Port, frame: bytes):
        protocol, code = frame[2:4], frame[4] if len(frame) > 4 else 0
        ident = frame[5] if len(frame) > 5 else 0
        if protocol == b"\xc0\x21":
            if code == 1:  # Configure-Request: agree to what the peer asks
                port.lcp_open = True
                return frames.ppp_control(frames.PPP_LCP, 2, ident, frame[8:])
            if code == 9 and len(frame) >= 12:  # Echo-Request
                return frames.lcp_echo_reply(ident, port.magic)
        elif protocol == b"\x80\x21" and code == 1:
            return frames.ppp_control(frames.PPP_IPCP, 2, ident, frame[8:])
        elif protocol == b"\x00\x21":
            return self._echo_reply(port, frame[4:], frames.ip_over_ppp)
        return None


_SPEAKERS = {
    linktypes.ETHERNET: Speaker._ethernet,
    linktypes.C_HDLC: Speaker._hdlc,
    linktypes.PPP_SERIAL: Speaker._ppp,
    linktypes.PPP: Speaker._ppp,
    linktypes.FRELAY: Speaker._frame_relay,
}
