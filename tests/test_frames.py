"""The frame builders make frames Wireshark dissects cleanly, on each link type."""
from __future__ import annotations

import os
import struct
import subprocess

import pytest
from pcapng import FileWriter
from pcapng.blocks import EnhancedPacket, InterfaceDescription, SectionHeader

from pcapng_iou.core.linktypes import C_HDLC, ETHERNET, FRELAY, PPP_SERIAL
from pcapng_iou.sim import frames as f

MAC_A = "aa:bb:cc:00:01:00"
MAC_B = "aabb.cc00.0200"
IP_A = "10.0.0.1"
IP_B = "10.0.0.2"
MAGIC_A = 0x1A2B3C4D
MAGIC_B = 0x5E6F7081
DLCI = 102

ICMP = "ip:icmp:data"


def _ping(reply: bool = False) -> bytes:
    if reply:
        return f.ping_packet(IP_B, IP_A, 7, 1, reply=True)
    return f.ping_packet(IP_A, IP_B, 7, 1)


#: (link type, what, frame, frame.protocols as tshark 4.0 prints it)
SAMPLES = [
    (ETHERNET, "arp request", f.arp_request(MAC_A, IP_A, IP_B), "eth:ethertype:arp"),
    (ETHERNET, "arp reply", f.arp_reply(MAC_B, IP_B, MAC_A, IP_A), "eth:ethertype:arp"),
    (ETHERNET, "ping", f.icmp_over_ethernet(MAC_A, MAC_B, IP_A, IP_B, 7, 1),
     "eth:ethertype:" + ICMP),
    (ETHERNET, "pong", f.icmp_over_ethernet(MAC_B, MAC_A, IP_B, IP_A, 7, 1, reply=True),
     "eth:ethertype:" + ICMP),
    (ETHERNET, "cdp", f.cdp(MAC_A, "R1", "Ethernet0/0", IP_A), "eth:llc:cdp"),
    # Odd CDP lengths, last byte below and above 0x7F: Cisco's checksum quirk.
    (ETHERNET, "cdp odd", f.cdp(MAC_A, "R1x", "Ethernet0/0", IP_A), "eth:llc:cdp"),
    (ETHERNET, "cdp odd high",
     f.cdp(MAC_A, "R1x", "Ethernet0/0", IP_A, platform="Cisco IOU\xe9"), "eth:llc:cdp"),
    (ETHERNET, "cdp odd 0x80",
     f.cdp(MAC_A, "R1", "Ethernet0/0", IP_A, platform="Cisco IOU\x80"), "eth:llc:cdp"),
    (ETHERNET, "keepalive", f.ethernet_keepalive(MAC_A), "eth:ethertype:loop:data"),
    (C_HDLC, "slarp keepalive", f.slarp_keepalive(5, 4), "chdlc:slarp"),
    (C_HDLC, "slarp request", f.slarp_request(), "chdlc:slarp"),
    (C_HDLC, "slarp reply", f.slarp_reply(IP_A, "255.255.255.252"), "chdlc:slarp"),
    (C_HDLC, "ip", f.ip_over_hdlc(_ping()), "chdlc:" + ICMP),
    (C_HDLC, "cdp", f.cdp_over_hdlc("R1", "Serial1/0", IP_A), "chdlc:cdp"),
    (PPP_SERIAL, "lcp conf-req", f.lcp_configure_request(1, MAGIC_A), "ppp:lcp"),
    (PPP_SERIAL, "lcp conf-ack", f.lcp_configure_ack(1, MAGIC_A), "ppp:lcp"),
    (PPP_SERIAL, "lcp echo-req", f.lcp_echo_request(2, MAGIC_A), "ppp:lcp"),
    (PPP_SERIAL, "lcp echo-rep", f.lcp_echo_reply(2, MAGIC_B), "ppp:lcp"),
    (PPP_SERIAL, "ipcp conf-req", f.ipcp_configure_request(3, IP_A), "ppp:ipcp"),
    (PPP_SERIAL, "ipcp conf-ack", f.ipcp_configure_ack(3, IP_B), "ppp:ipcp"),
    (PPP_SERIAL, "ip", f.ip_over_ppp(_ping()), "ppp:" + ICMP),
    (FRELAY, "q933 enquiry", f.lmi_status_enquiry(1, 0), "fr:q933"),
    (FRELAY, "q933 full enquiry", f.lmi_status_enquiry(2, 1, full=True), "fr:q933"),
    (FRELAY, "q933 status", f.lmi_status(1, 1), "fr:q933"),
    (FRELAY, "q933 full status", f.lmi_status(2, 2, dlcis=[DLCI, 201]), "fr:q933"),
    (FRELAY, "cisco lmi enquiry", f.cisco_lmi_status_enquiry(1, 0), "fr:lmi"),
    (FRELAY, "cisco lmi status", f.cisco_lmi_status(1, 1, dlcis=[DLCI]), "fr:lmi"),
    (FRELAY, "ip ietf", f.ip_over_frame_relay(DLCI, _ping()), "fr:" + ICMP),
    (FRELAY, "ip cisco", f.ip_over_frame_relay_cisco(DLCI, _ping(reply=True)), "fr:" + ICMP),
]

LINK_TYPES = [ETHERNET, C_HDLC, PPP_SERIAL, FRELAY]

FIELDS = [
    "frame.interface_id",
    "frame.protocols",
    "_ws.expert",
    "_ws.malformed",
    "ip.checksum.status",
    "icmp.checksum.status",
    "cdp.checksum.status",
]
CHECKSUM_GOOD = "1"  # Wireshark's PROTO_CHECKSUM_E_GOOD


def write_capture(path, samples) -> None:
    """One interface per link type, each sample's frame on its interface."""
    shb = SectionHeader(options={})
    interfaces = {
        link_type: shb.new_member(InterfaceDescription, link_type=link_type,
                                  snaplen=65535, options={})
        for link_type in LINK_TYPES
    }
    with open(path, "wb") as stream:
        writer = FileWriter(stream, shb)
        for number, (link_type, _, frame, _) in enumerate(samples):
            packet = shb.new_member(
                EnhancedPacket,
                interface_id=interfaces[link_type].interface_id,
                timestamp_high=0,
                timestamp_low=number,
                packet_len=len(frame),
                packet_data=frame,
            )
            writer.write_block(packet)


def run_tshark(tshark: str, path, tmp_path, *args: str) -> str:
    """tshark's standard output with default preferences (its own config dir)
    and IPv4 header checksums verified."""
    config = tmp_path / "wireshark-config"
    config.mkdir(exist_ok=True)
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(config))
    result = subprocess.run(
        [tshark, "-n", "-r", str(path), "-o", "ip.check_checksum:TRUE", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=120,
        check=False, universal_newlines=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def dissected(tshark, tmp_path_factory):
    """(fields per frame, verbose text) of a capture holding every sample."""
    tmp_path = tmp_path_factory.mktemp("frames")
    path = tmp_path / "samples.pcapng"
    write_capture(path, SAMPLES)
    fields = ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"]
    for field in FIELDS:
        fields += ["-e", field]
    table = run_tshark(tshark, path, tmp_path, *fields)
    rows = [dict(zip(FIELDS, line.split("\t"))) for line in table.splitlines()]
    verbose = run_tshark(tshark, path, tmp_path, "-V")
    return rows, verbose


def test_tshark_reads_every_sample(dissected):
    rows, _ = dissected
    assert len(rows) == len(SAMPLES)


@pytest.mark.parametrize("index", range(len(SAMPLES)), ids=[s[1] + "@" + str(s[0]) for s in SAMPLES])
def test_tshark_dissects_sample(dissected, index):
    rows, _ = dissected
    link_type, what, _, protocols = SAMPLES[index]
    row = rows[index]
    assert row["frame.interface_id"] == str(LINK_TYPES.index(link_type))
    assert row["frame.protocols"] == protocols, what
    assert row["_ws.expert"] == "", what
    assert row["_ws.malformed"] == "", what
    for field in ("ip.checksum.status", "icmp.checksum.status", "cdp.checksum.status"):
        for status in filter(None, row[field].split(",")):
            assert status == CHECKSUM_GOOD, f"{what}: {field} = {status}"
    if ":ip:" in protocols:
        assert row["ip.checksum.status"] == CHECKSUM_GOOD
    if "icmp" in protocols:
        assert row["icmp.checksum.status"] == CHECKSUM_GOOD
    if "cdp" in protocols:
        assert row["cdp.checksum.status"] == CHECKSUM_GOOD


def test_tshark_verbose_has_no_warning(dissected):
    _, verbose = dissected
    for word in ("Malformed", "Expert Info", "Bad checksum", "incorrect", "Exception"):
        assert word not in verbose


# --------------------------------------------------------------------------
# Byte-level checks that need no tshark
# --------------------------------------------------------------------------

def test_ipv4_checksum_known_header():
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert f.ipv4_checksum(header) == 0xB861


def test_ipv4_packet_header():
    packet = f.ipv4_packet(IP_A, IP_B, 1, b"xyz", ttl=64, ident=0x1234)
    assert len(packet) == 23
    assert packet[0] == 0x45
    assert struct.unpack(">H", packet[2:4])[0] == 23
    assert struct.unpack(">H", packet[4:6])[0] == 0x1234
    assert packet[8:10] == bytes([64, 1])
    assert packet[12:20] == bytes([10, 0, 0, 1, 10, 0, 0, 2])
    assert f.ipv4_checksum(packet[:20]) == 0
    assert packet[20:] == b"xyz"


def test_icmp_echo():
    request = f.icmp_echo(7, 9, b"abc")
    reply = f.icmp_echo(7, 9, b"abc", reply=True)
    assert request[0] == 8 and reply[0] == 0
    assert request[4:8] == bytes([0, 7, 0, 9])
    assert f.ipv4_checksum(request) == 0 and f.ipv4_checksum(reply) == 0


def test_mac_notations():
    expected = bytes.fromhex("aabbcc000200")
    for text in ("aa:bb:cc:00:02:00", "aa-bb-cc-00-02-00", "aabb.cc00.0200", expected):
        assert f.mac(text) == expected
    with pytest.raises(ValueError):
        f.mac("aa:bb")


def test_ethernet_pads_to_minimum_only():
    short = f.ethernet(MAC_B, MAC_A, 0x0800, b"x")
    assert len(short) == 60 and short[15:] == b"\x00" * 45
    long = f.ethernet(MAC_B, MAC_A, 0x0800, b"x" * 100)
    assert len(long) == 114


def test_arp_request_layout():
    frame = f.arp_request(MAC_A, IP_A, IP_B)
    assert frame[:6] == b"\xff" * 6 and frame[12:14] == b"\x08\x06"
    assert frame[14:22] == bytes.fromhex("0001080006040001")
    assert frame[32:38] == b"\x00" * 6 and frame[38:42] == bytes([10, 0, 0, 2])


def test_cdp_frame_layout():
    frame = f.cdp(MAC_A, "R1", "Ethernet0/0", IP_A)
    length = struct.unpack(">H", frame[12:14])[0]
    assert frame[:6] == bytes.fromhex("01000ccccccc")
    assert length == len(frame) - 14
    assert frame[14:22] == bytes.fromhex("aaaa0300000c2000")
    assert frame[22:24] == bytes([2, 180])


@pytest.mark.parametrize("pdu", [b"\x02\xb4\x00\x00\x00\x01\x00\x05A",
                                 b"\x02\xb4\x00\x00\x00\x01\x00\x05\xe9",
                                 b"\x02\xb4\x00\x00\x00\x01\x00\x06AB"])
def test_cdp_checksum_even_matches_internet_checksum_and_odd_is_cisco(pdu):
    checksum = f.cdp_checksum(pdu)
    if len(pdu) % 2 == 0:
        assert checksum == f.ipv4_checksum(pdu)
    elif pdu[-1] & 0x80:
        # the last byte b counts as the word 0xFF00 | (b - 1)
        assert checksum == f.ipv4_checksum(pdu[:-1] + bytes([0xFF, pdu[-1] - 1]))
    else:
        assert checksum == f.ipv4_checksum(pdu[:-1] + bytes([0x00, pdu[-1]]))


def test_ethernet_keepalive_is_sent_to_itself():
    frame = f.ethernet_keepalive(MAC_A)
    assert frame[:6] == frame[6:12] == f.mac(MAC_A)
    assert frame[12:20] == bytes.fromhex("9000" "0000" "0100" "0000")
    assert len(frame) == 60


def test_hdlc_and_slarp_layout():
    assert f.hdlc(0x0800, b"p") == b"\x0f\x00\x08\x00p"
    assert f.hdlc(0x0800, b"p", broadcast=True)[:1] == b"\x8f"
    assert f.slarp_keepalive(5, 4) == bytes.fromhex(
        "8f008035" "00000002" "00000005" "00000004" "ffff")
    assert f.slarp_reply(IP_A, "255.255.255.252")[4:16] == bytes.fromhex(
        "00000001" "0a000001" "fffffffc")


def test_ppp_layout():
    assert f.lcp_configure_request(1, 0x01020304) == bytes.fromhex(
        "ff03c021" "0101000e" "010405dc" "050601020304")
    assert f.lcp_echo_reply(2, 0x01020304) == bytes.fromhex("ff03c021" "0a020008" "01020304")
    assert f.ipcp_configure_ack(3, IP_B) == bytes.fromhex("ff038021" "0203000a" "03060a000002")
    assert f.ip_over_ppp(b"P")[:4] == b"\xff\x03\x00\x21"


@pytest.mark.parametrize("dlci, address", [(0, "0001"), (16, "0401"), (102, "1861"),
                                            (1007, "f8f1"), (1023, "fcf1")])
def test_q922_address(dlci, address):
    assert f.q922_address(dlci) == bytes.fromhex(address)


def test_q922_address_range():
    with pytest.raises(ValueError):
        f.q922_address(1024)


def test_lmi_layout():
    assert f.lmi_status_enquiry(1, 0) == bytes.fromhex("0001" "03" "08" "00" "75" "510101" "53020100")
    assert f.lmi_status(3, 2, dlcis=[102]) == bytes.fromhex(
        "0001030800" "7d" "510100" "53020302" "570306b082")
    assert f.cisco_lmi_status_enquiry(1, 0)[:6] == bytes.fromhex("fcf103090075")
    assert f.ip_over_frame_relay(102, b"P") == bytes.fromhex("186103cc") + b"P"
    assert f.ip_over_frame_relay_cisco(102, b"P") == bytes.fromhex("18610800") + b"P"
