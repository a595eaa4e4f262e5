"""PCAP-NG blocks: our EPB encoder against python-pcapng, and whole files read by Wireshark."""
from __future__ import annotations

import io
import struct
import subprocess

import pcapng.blocks as pblocks
import pytest
from conftest import scan, tshark_rows

from pcapng_iou.core import blocks

TIMESTAMPS = [0, 1, 0xFFFFFFFF, 1 << 32, 1_700_000_000_123_456_789, (1 << 64) - 1]
FRAME_LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 60, 1500, 4096]
COMMENTS = [(), ("x",), ("four",), ("hello",), ("first", "second line"), ("\u00e9t\u00e9",), ("ab", "abcd")]


def reference_epb(interface_id: int, timestamp_ns: int, frame: bytes, flags: int, comments) -> bytes:
    """The same EPB written by python-pcapng."""
    section = pblocks.SectionHeader()
    for linktype in range(interface_id + 1):
        section.new_member(pblocks.InterfaceDescription, link_type=1 if linktype else 104,
                           options={"if_tsresol": b"\x09"})
    options = {}
    if flags:
        options["epb_flags"] = flags
    if comments:
        options["opt_comment"] = list(comments)
    block = section.new_member(
        pblocks.EnhancedPacket,
        interface_id=interface_id,
        timestamp_high=timestamp_ns >> 32,
        timestamp_low=timestamp_ns & 0xFFFFFFFF,
        packet_data=frame,
        options=options,
    )
    buffer = io.BytesIO()
    block._write(buffer)
    return buffer.getvalue()


def make_frame(length: int) -> bytes:
    return bytes((i * 7 + 3) & 0xFF for i in range(length))


@pytest.mark.parametrize("length", FRAME_LENGTHS)
@pytest.mark.parametrize("flags", [0, blocks.INBOUND, blocks.OUTBOUND])
def test_epb_equals_python_pcapng_lengths_flags(length, flags):
    frame = make_frame(length)
    ours = blocks.enhanced_packet(1, 1_700_000_000_123_456_789, frame, flags)
    assert ours == reference_epb(1, 1_700_000_000_123_456_789, frame, flags, ())
    assert len(ours) % 4 == 0


@pytest.mark.parametrize("comments", COMMENTS, ids=lambda c: "|".join(c) or "none")
@pytest.mark.parametrize("flags", [0, blocks.OUTBOUND])
@pytest.mark.parametrize("length", [1, 3, 4, 5, 1500])
def test_epb_equals_python_pcapng_comments(comments, flags, length):
    frame = make_frame(length)
    ours = blocks.enhanced_packet(0, 123_456_789_012, frame, flags, comments)
    assert ours == reference_epb(0, 123_456_789_012, frame, flags, comments)


@pytest.mark.parametrize("timestamp", TIMESTAMPS)
@pytest.mark.parametrize("interface_id", [0, 1, 5])
def test_epb_equals_python_pcapng_timestamps(timestamp, interface_id):
    frame = make_frame(42)
    ours = blocks.enhanced_packet(interface_id, timestamp, frame, blocks.INBOUND, ["c"])
    assert ours == reference_epb(interface_id, timestamp, frame, blocks.INBOUND, ["c"])


def test_epb_known_bytes():
    """One EPB spelled out by hand, so the test does not only trust python-pcapng."""
    ours = blocks.enhanced_packet(2, (5 << 32) + 7, b"abc", blocks.OUTBOUND, ["hi"])
    expected = bytes.fromhex(
        "06000000" "38000000"          # type 6, total length 56
        "02000000"                     # interface 2
        "05000000" "07000000"          # timestamp high, low
        "03000000" "03000000"          # captured, original length
        "61626300"                     # frame + 1 byte of padding
        "0200" "0400" "02000000"       # epb_flags = outbound
        "0100" "0200" "68690000"       # opt_comment "hi" + padding
        "00000000"                     # opt_endofopt
        "38000000"                     # total length again
    )
    assert ours == expected


@pytest.mark.parametrize("flags, comments, options", [
    (0, (), b""),
    (blocks.INBOUND, (), bytes.fromhex("0200040001000000" "00000000")),
    (0, ("abcde",), bytes.fromhex("01000500616263646500000000000000")),
])
def test_epb_empty_frame(flags, comments, options):
    """python-pcapng refuses empty packets: the expected bytes are written by hand."""
    ours = blocks.enhanced_packet(3, (1 << 32) | 2, b"", flags, comments)
    total = 32 + len(options)
    assert ours == struct.pack("<IIIIIII", 6, total, 3, 1, 2, 0, 0) + options + struct.pack("<I", total)


def test_epb_padding_lengths():
    for length in range(0, 9):
        block = blocks.enhanced_packet(0, 0, make_frame(length))
        assert len(block) == 32 + (length + 3) // 4 * 4
        assert struct.unpack_from("<I", block, 4)[0] == len(block)
        assert struct.unpack_from("<I", block, len(block) - 4)[0] == len(block)


def test_section_header_and_interfaces():
    section = blocks.Section("pcapng-iou test", "a comment")
    header = section.header_bytes()
    assert header[:4] == b"\x0a\x0d\x0d\x0a"
    assert header[8:12] == b"\x4d\x3c\x2b\x1a"  # little-endian byte-order magic
    assert b"pcapng-iou test" in header and b"a comment" in header
    data = section.interface_block(104, "100:1/0-101:1/0", "serial")
    second = section.interface_block(1, "100:0/0-101:0/0", "ethernet")
    assert struct.unpack_from("<IIHH", second) == (1, len(second), 1, 0)
    assert struct.unpack_from("<IIHH", data) == (1, len(data), 104, 0)
    assert b"100:1/0-101:1/0" in data and b"serial" in data
    assert struct.pack("<HH", 9, 1) + b"\x09" in data  # if_tsresol = 9: nanoseconds


def reference_idb(linktype: int, name: str, description: str, snaplen: int) -> bytes:
    """The same IDB written by python-pcapng."""
    section = pblocks.SectionHeader()
    block = section.new_member(pblocks.InterfaceDescription, link_type=linktype, snaplen=snaplen,
                               options={"if_name": name, "if_description": description, "if_tsresol": b"\x09"})
    buffer = io.BytesIO()
    block._write(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["", "1", "12", "123", "1234", "100:1/0-101:1/0", "1023:15/3-1022:15/3",
                                  "\u00e9t\u00e9"])
@pytest.mark.parametrize("linktype, snaplen", [(1, 0), (104, 0), (50, 96), (107, 65535), (0xFFFF, 1)])
def test_idb_equals_python_pcapng(name, linktype, snaplen):
    description = f"IOU link {name} (NETMAP line 3), {linktype}"
    assert blocks.interface_description(linktype, name, description, snaplen) == \
        reference_idb(linktype, name, description, snaplen)
    section = blocks.Section("test")
    assert section.interface_block(linktype, name, description, snaplen) == \
        reference_idb(linktype, name, description, snaplen)


def test_interface_statistics_bytes():
    data = blocks.interface_statistics(3, (9 << 32) | 8, (1 << 32) | 2, (3 << 32) | 4, 1000, 7, ["bye"])
    total = len(data)
    assert total % 4 == 0
    assert struct.unpack_from("<IIIII", data) == (5, total, 3, 9, 8)
    assert struct.unpack_from("<I", data, total - 4)[0] == total
    options = data[20:total - 4]
    expected = (
        struct.pack("<HHII", 2, 8, 1, 2)      # isb_starttime, high then low
        + struct.pack("<HHII", 3, 8, 3, 4)    # isb_endtime
        + struct.pack("<HHQ", 4, 8, 1000)     # isb_ifrecv
        + struct.pack("<HHQ", 5, 8, 7)        # isb_ifdrop
        + struct.pack("<HH", 1, 3) + b"bye\x00"
        + b"\x00\x00\x00\x00"
    )
    assert options == expected


# -- whole files read by Wireshark ------------------------------------------------------

ETH_FRAME = bytes.fromhex("ffffffffffff" "aabbcc000100" "0806") + bytes.fromhex(
    "0001080006040001" "aabbcc000100" "0a000001" "000000000000" "0a000002")
HDLC_FRAME = bytes.fromhex("8f008035" "00000002" "00000011" "00000010" "ffff")
T0 = 1_700_000_000_123_456_789


def write_sample(path) -> bytes:
    section = blocks.Section("pcapng-iou test")
    out = section.header_bytes()
    out += section.interface_block(1, "100:0/0-101:0/0", "an Ethernet link")
    out += section.interface_block(104, "100:1/0-101:1/0", "a serial link")
    out += blocks.enhanced_packet(0, T0, ETH_FRAME, blocks.OUTBOUND, ["instance 100 attached"])
    out += blocks.enhanced_packet(1, T0 + 1_000, HDLC_FRAME, blocks.INBOUND)
    out += blocks.enhanced_packet(1, T0 + 2_000, HDLC_FRAME, blocks.OUTBOUND, ["one", "two"])
    out += blocks.enhanced_packet(0, T0 + 3_000, ETH_FRAME)
    end = T0 + 1_000_000_000
    out += blocks.interface_statistics(0, end, T0, end, 2, 0)
    out += blocks.interface_statistics(1, end, T0, end, 2, 5, ["closing"])
    path.write_bytes(out)
    return out


def capinfos(path) -> str:
    result = subprocess.run(["capinfos", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def interface_sections(report: str) -> list:
    """capinfos' per-interface paragraphs, as dicts of 'Key = value' lines."""
    sections = []
    for line in report.splitlines():
        if line.startswith("Interface #"):
            sections.append({})
        elif sections and "=" in line:
            key, _, value = line.strip().partition(" = ")
            sections[-1][key] = value
    return sections


def test_whole_file_capinfos(tmp_path, tshark):
    path = tmp_path / "sample.pcapng"
    write_sample(path)
    report = capinfos(path)
    assert "Number of packets:   4" in report
    assert "File timestamp precision:  nanoseconds (9)" in report
    assert "Capture application: pcapng-iou test" in report
    assert "Number of interfaces in file: 2" in report
    first, second = interface_sections(report)
    assert first["Name"] == "100:0/0-101:0/0"
    assert first["Description"] == "an Ethernet link"
    assert first["Encapsulation"] == "Ethernet (1 - ether)"
    assert second["Name"] == "100:1/0-101:1/0"
    assert second["Encapsulation"] == "Cisco HDLC (28 - chdlc)"
    for interface in (first, second):
        assert interface["Time precision"] == "nanoseconds (9)"
        assert interface["Number of stat entries"] == "1"
        assert interface["Number of packets"] == "2"


def test_whole_file_tshark_fields(tmp_path, tshark):
    path = tmp_path / "sample.pcapng"
    write_sample(path)
    rows = tshark_rows(tshark, str(path), "frame.interface_id", "frame.interface_name", "frame.time_epoch",
                       "frame.packet_flags_direction", "frame.comment", "frame.protocols")
    assert [row[:2] for row in rows] == [["0", "100:0/0-101:0/0"], ["1", "100:1/0-101:1/0"],
                                         ["1", "100:1/0-101:1/0"], ["0", "100:0/0-101:0/0"]]
    assert [row[2] for row in rows] == ["1700000000.123456789", "1700000000.123457789",
                                        "1700000000.123458789", "1700000000.123459789"]
    assert [row[3] for row in rows] == ["0x00000002", "0x00000001", "0x00000002", ""]
    assert [row[4] for row in rows] == ["instance 100 attached", "", "one,two", ""]
    assert rows[0][5].endswith("eth:ethertype:arp")
    assert rows[1][5].endswith("chdlc:slarp")


def test_whole_file_statistics_decoded(tmp_path):
    """The statistics blocks read back with python-pcapng (which reads the counters)."""
    path = tmp_path / "sample.pcapng"
    write_sample(path)
    found = scan(path)
    kinds = [type(b).__name__ for b in found]
    assert kinds == ["SectionHeader", "InterfaceDescription", "InterfaceDescription"] + [
        "EnhancedPacket"] * 4 + ["InterfaceStatistics"] * 2
    stats = found[-2:]
    assert [(s.interface_id, s.options["isb_ifrecv"], s.options["isb_ifdrop"]) for s in stats] == [
        (0, 2, 0), (1, 2, 5)]
    assert stats[1].options["opt_comment"] == "closing"
    packets = found[3:7]
    assert [p.packet_data for p in packets] == [ETH_FRAME, HDLC_FRAME, HDLC_FRAME, ETH_FRAME]
    assert [p.interface_id for p in packets] == [0, 1, 1, 0]


@pytest.mark.parametrize("captured", [0, 1, 2, 3, 4, 5, 60, 100, 101, 1500, 4096])
@pytest.mark.parametrize("flags", [blocks.INBOUND, blocks.OUTBOUND])
def test_a_block_in_parts_is_the_block_packed_at_once(captured, flags):
    frame = bytes(range(256)) * (captured // 256) + bytes(range(captured % 256))
    timestamp_ns = 1_700_000_000_123_456_789
    length, tail = blocks.flagged_tail(captured, flags)
    head = blocks.EPB_HEAD.pack(blocks.EPB_TYPE, length, 3, timestamp_ns >> 32, timestamp_ns & 0xFFFFFFFF,
                                captured, captured)
    assert head + frame + tail == blocks.enhanced_packet(3, timestamp_ns, frame, flags)
    assert len(head + frame + tail) == length
