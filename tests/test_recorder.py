"""The recorder: datagrams in, PCAP-NG bytes out."""
from __future__ import annotations

import pcapng
import pytest
from conftest import packet_fields, scan, scan_after_header, tshark_rows

from pcapng_iou.core import blocks, linktypes, netio
from pcapng_iou.core.bays import Bays
from pcapng_iou.core.netmap import parse
from pcapng_iou.core.recorder import Recorder
from pcapng_iou.sim import frames

NETMAP = """\
100:0/0 101:0/0
100:1/0 101:1/0 hdlc
100:2/0 101:2/0 102:2/0
102:1/0 103:1/0 auto
"""
T0 = 1_700_000_000_000_000_000

ARP = frames.arp_request("00:00:0c:00:64:00", "10.0.0.1", "10.0.0.2")
SLARP = [frames.slarp_keepalive(seq, seq - 1) for seq in range(1, 10)]
LCP = [frames.lcp_echo_request(ident, 0x01020304) for ident in range(1, 10)]


def dgram(src, dst, frame: bytes, msg_type: int = 1) -> bytes:
    """A datagram from endpoint ``src`` ("100:0/0") to ``dst``."""
    (sid, sport), (did, dport) = (endpoint(src), endpoint(dst))
    return netio.encode(netio.Header(did, sid, dport, sport, msg_type), frame)


def endpoint(text: str):
    instance, interface = text.split(":")
    bay, unit = interface.split("/")
    return int(instance), netio.port_byte(int(bay), int(unit))


def epbs(data: bytes) -> list:
    """(interface, flags, frame, comments) of every EPB in the bytes after ``start()``."""
    return [(interface, flags, frame, comments) for interface, frame, flags, comments in
            (packet_fields(b) for b in scan_after_header(data) if isinstance(b, pcapng.blocks.EnhancedPacket))]


def idbs(data: bytes) -> list:
    """Link types of the interface description blocks in ``data``, in order."""
    return [b.link_type for b in scan_after_header(data) if isinstance(b, pcapng.blocks.InterfaceDescription)]


def declare_all(rec: Recorder) -> bytes:
    """The blocks of every current recorded link, in link order, as if each had carried a frame already:
    the tests of numbering and comments below then read file ids as link numbers."""
    return b"".join(rec._block_for(i) for i in rec.links.current() if i.recorded)


@pytest.fixture
def recorder() -> Recorder:
    rec = Recorder(parse(NETMAP))
    rec.start()
    declare_all(rec)
    return rec


# -- start ----------------------------------------------------------------------------

def test_start_writes_the_header_and_each_interface_comes_with_its_first_frame():
    rec = Recorder(parse(NETMAP), comment="lab capture")
    data = rec.start()
    found = scan(data)
    assert [type(b).__name__ for b in found] == ["SectionHeader"]
    assert found[0].options["opt_comment"] == "lab capture"
    assert found[0].options["shb_userappl"].startswith("pcapng-iou ")
    assert rec.links.new == []
    data += rec.datagram(dgram("101:1/0", "100:1/0", SLARP[0]), T0)
    data += rec.datagram(dgram("100:0/0", "101:0/0", ARP), T0 + 1)
    data += rec.datagram(dgram("101:0/0", "100:0/0", ARP), T0 + 2)
    found = scan(data)
    assert [type(b).__name__ for b in found] == [
        "SectionHeader", "InterfaceDescription", "EnhancedPacket", "InterfaceDescription", "EnhancedPacket",
        "EnhancedPacket"]
    assert [(b.link_type, b.options["if_name"]) for b in found if hasattr(b, "link_type")] == [
        (104, "100:1/0-101:1/0"), (1, "100:0/0-101:0/0")]
    assert [b.interface_id for b in found if hasattr(b, "packet_data")] == [0, 1, 1]


# -- frames ---------------------------------------------------------------------------

def test_frame_recorded_outbound_and_inbound(recorder):
    out = recorder.datagram(dgram("100:0/0", "101:0/0", ARP), T0 + 5)
    assert out == blocks.enhanced_packet(0, T0 + 5, ARP, blocks.OUTBOUND)
    back = recorder.datagram(dgram("101:0/0", "100:0/0", ARP[:50]), T0 + 9)
    assert back == blocks.enhanced_packet(0, T0 + 9, ARP[:50], blocks.INBOUND)
    interface = recorder.links.interfaces[0]
    assert (interface.frames_out, interface.frames_in, interface.bytes_out, interface.bytes_in) == (
        1, 1, len(ARP), 50)
    assert (interface.first_ns, interface.last_ns) == (T0 + 5, T0 + 9)
    assert recorder.frames_recorded == 2
    assert interface.frames == 2 and interface.bytes == len(ARP) + 50


def test_serial_link_frame(recorder):
    out = recorder.datagram(dgram("101:1/0", "100:1/0", SLARP[0]), T0)
    assert epbs(out) == [(1, blocks.INBOUND, SLARP[0], [])]


@pytest.mark.parametrize("datagram, kind", [
    (b"", "empty"),
    (b"\x00\x64", "empty"),
    (netio.Header(101, 100, 0, 0).pack(), "empty"),
    (netio.Header(101, 100, 0, 0, msg_type=0).pack() + b"xyz", "malformed"),
    (netio.Header(101, 100, 0, 0, msg_type=3).pack() + b"\x00", "malformed"),
])
def test_not_recorded(recorder, datagram, kind):
    assert recorder.datagram(datagram, T0) == b""
    assert (recorder.datagrams_empty, recorder.datagrams_malformed) == (
        (1, 0) if kind == "empty" else (0, 1))
    assert recorder.frames_recorded == 0
    assert recorder.links.interfaces[0].frames == 0


def test_unmapped_frame_gets_interface_block_and_warning(recorder):
    out = recorder.datagram(dgram("200:0/0", "201:0/0", ARP), T0)
    assert idbs(out) == [linktypes.ETHERNET]
    assert epbs(out) == [(4, blocks.OUTBOUND, ARP, [])]
    assert recorder.take_warnings() == [
        "frames between 200:0/0-201:0/0 match no NETMAP line: recorded on an interface of their own as ethernet"]
    assert recorder.take_warnings() == []
    again = recorder.datagram(dgram("201:0/0", "200:0/0", ARP), T0 + 1)
    assert idbs(again) == []
    assert epbs(again) == [(4, blocks.INBOUND, ARP, [])]
    assert recorder.take_warnings() == []


def test_unmapped_without_warning(recorder):
    recorder.links.warn_unmapped = False
    out = recorder.datagram(dgram("200:0/0", "201:0/0", ARP), T0)
    assert idbs(out) == [1]
    assert recorder.take_warnings() == []


# -- comments -------------------------------------------------------------------------

def test_note_goes_on_next_frame_of_affected_links_only(recorder):
    recorder.annotate(102, "instance 102 attached")
    # 100:0/0-101:0/0 does not touch 102
    assert epbs(recorder.datagram(dgram("100:0/0", "101:0/0", ARP), T0))[0][3] == []
    assert epbs(recorder.datagram(dgram("101:2/0", "102:2/0", ARP), T0 + 1))[0][3] == ["instance 102 attached"]
    # only once
    assert epbs(recorder.datagram(dgram("102:2/0", "101:2/0", ARP), T0 + 2))[0][3] == []
    # the auto link 102:1/0-103:1/0 still has it
    assert epbs(recorder.datagram(dgram("103:1/0", "102:1/0", ARP), T0 + 3))[0][3] == ["instance 102 attached"]


def test_annotate_all_and_several_comments(recorder):
    recorder.annotate(100, "first")
    recorder.annotate_all("second")
    assert epbs(recorder.datagram(dgram("100:1/0", "101:1/0", SLARP[0]), T0))[0][3] == ["first", "second"]
    assert epbs(recorder.datagram(dgram("102:1/0", "103:1/0", SLARP[1]), T0))[0][3] == ["second"]


def test_undelivered_comment(recorder):
    recorder.annotate(101, "instance 101 died")
    out = recorder.datagram(dgram("100:0/0", "101:0/0", ARP), T0, undelivered="ECONNREFUSED")
    assert epbs(out) == [(0, blocks.OUTBOUND, ARP, ["instance 101 died", "not delivered: ECONNREFUSED"])]
    assert recorder.undelivered == 1
    assert recorder.links.interfaces[0].undelivered == 1
    out = recorder.datagram(dgram("100:0/0", "101:0/0", ARP), T0 + 1, undelivered="ENOENT")
    assert epbs(out)[0][3] == ["not delivered: ENOENT"]
    assert epbs(recorder.datagram(dgram("100:0/0", "101:0/0", ARP), T0 + 2))[0][3] == []
    assert recorder.undelivered == 2


def test_undelivered_empty_datagram_counts(recorder):
    assert recorder.datagram(b"", T0, undelivered="ENOENT") == b""
    assert recorder.undelivered == 1


# -- shared segments ----------------------------------------------------------------------

def test_shared_copy_not_recorded(recorder):
    first = recorder.datagram(dgram("100:2/0", "102:2/0", ARP), T0)
    assert epbs(first) == [(2, blocks.OUTBOUND, ARP, [])]
    assert recorder.datagram(dgram("100:2/0", "101:2/0", ARP), T0 + 1) == b""
    assert recorder.shared_copies == 1
    assert recorder.frames_recorded == 1
    # the same bytes again: a new frame
    assert epbs(recorder.datagram(dgram("100:2/0", "101:2/0", ARP), T0 + 2)) == [(2, blocks.OUTBOUND, ARP, [])]
    assert recorder.datagram(dgram("100:2/0", "102:2/0", ARP), T0 + 3) == b""
    assert recorder.shared_copies == 2
    assert recorder.links.interfaces[2].frames == 2


def test_undelivered_shared_copy(recorder):
    recorder.datagram(dgram("101:2/0", "100:2/0", ARP), T0)
    assert recorder.datagram(dgram("101:2/0", "102:2/0", ARP), T0 + 1, undelivered="ECONNREFUSED") == b""
    assert recorder.links.interfaces[2].undelivered == 1
    assert recorder.undelivered == 1


# -- automatic link type --------------------------------------------------------------------

def test_auto_switches_after_tracker_agrees(recorder):
    auto = recorder.links.interfaces[3]
    assert (auto.auto, auto.linktype) == (True, linktypes.ETHERNET)
    first = recorder.datagram(dgram("102:1/0", "103:1/0", SLARP[0]), T0)
    second = recorder.datagram(dgram("103:1/0", "102:1/0", SLARP[1]), T0 + 1)
    assert epbs(first + second) == [(3, blocks.OUTBOUND, SLARP[0], []), (3, blocks.INBOUND, SLARP[1], [])]
    third = recorder.datagram(dgram("102:1/0", "103:1/0", SLARP[2]), T0 + 2)
    assert idbs(third) == [linktypes.C_HDLC]
    assert epbs(third) == [(4, blocks.OUTBOUND, SLARP[2], [
        "link type changed from ethernet to hdlc (detected from the frames); earlier frames are on interface 3"])]
    assert auto.replaced_by == 4
    hdlc = recorder.links.interfaces[4]
    assert (hdlc.auto, hdlc.linktype, hdlc.frames) == (True, 104, 1)
    assert recorder.take_warnings() == [
        "102:1/0-103:1/0: frames now look like hdlc, recording on a new interface"]
    # unsure frames and frames of the current type change nothing
    fourth = recorder.datagram(dgram("103:1/0", "102:1/0", SLARP[3]), T0 + 3)
    assert idbs(fourth) == [] and epbs(fourth)[0][0] == 4
    # PPP now: two frames stay, the third switches again
    outs = [recorder.datagram(dgram("102:1/0", "103:1/0", LCP[i]), T0 + 10 + i) for i in range(3)]
    assert [epbs(o)[0][0] for o in outs] == [4, 4, 5]
    assert idbs(outs[2]) == [linktypes.PPP_SERIAL]
    assert epbs(outs[2])[0][3] == [
        "link type changed from hdlc to ppp (detected from the frames); earlier frames are on interface 4"]
    assert [i.linktype for i in recorder.links.current()] == [1, 104, 1, 50]


def test_auto_interleaved_types_never_switch(recorder):
    for i in range(6):
        frame = SLARP[i] if i % 2 else LCP[i]
        out = recorder.datagram(dgram("102:1/0", "103:1/0", frame), T0 + i)
        assert idbs(out) == []
        assert epbs(out)[0][0] == 3


def test_fixed_link_type_is_not_switched(recorder):
    for i in range(5):
        out = recorder.datagram(dgram("100:1/0", "101:1/0", LCP[i]), T0 + i)
        assert epbs(out)[0][0] == 1
    assert recorder.links.interfaces[1].linktype == 104
    assert len(recorder.links.interfaces) == 4


def test_auto_switch_keeps_pending_note():
    """A note waiting on the old interface is written on the first frame of the new one."""
    rec = Recorder(parse("102:1/0 103:1/0 auto\n"))
    rec.start()
    rec.datagram(dgram("102:1/0", "103:1/0", SLARP[0]), T0)
    rec.datagram(dgram("102:1/0", "103:1/0", SLARP[1]), T0 + 1)
    rec.annotate(103, "instance 103 restarted")
    out = rec.datagram(dgram("102:1/0", "103:1/0", SLARP[2]), T0 + 2)
    assert epbs(out)[0][0] == 1
    assert epbs(out)[0][3] == [
        "instance 103 restarted",
        "link type changed from ethernet to hdlc (detected from the frames); earlier frames are on interface 0"]


def test_auto_switch_on_shared_segment_records_each_frame_once():
    """The copies of the frame that switched the link type are not recorded again."""
    rec = Recorder(parse("1:1/0 2:1/0 3:1/0 auto\n"))
    rec.start()
    recorded = []
    for i in range(4):
        for destination in ("2:1/0", "3:1/0"):
            out = rec.datagram(dgram("1:1/0", destination, SLARP[i]), T0 + 10 * i)
            recorded += [(e[0], e[2]) for e in epbs(out)]
    assert recorded == [(0, SLARP[0]), (0, SLARP[1]), (1, SLARP[2]), (1, SLARP[3])]
    assert rec.shared_copies == 4


# -- reload -----------------------------------------------------------------------------------

def test_reload(recorder):
    data, result = recorder.reload(parse(NETMAP.replace("hdlc", "ppp") + "104:0/0 105:0/0\n"), "12:00:00")
    assert result.summary() == "1 added, 1 changed, 0 removed, 3 unchanged"
    assert idbs(data) == []
    out = recorder.datagram(dgram("100:1/0", "101:1/0", LCP[0]), T0)
    assert idbs(out) == [linktypes.PPP_SERIAL]
    serial = epbs(out)
    assert serial == [(4, blocks.OUTBOUND, LCP[0], [
        "NETMAP reload at 12:00:00: link type hdlc -> ppp; earlier frames are on interface 1",
        "NETMAP reloaded at 12:00:00: 1 added, 1 changed, 0 removed, 3 unchanged"])]
    added = epbs(recorder.datagram(dgram("105:0/0", "104:0/0", ARP), T0 + 1))
    assert added == [(5, blocks.INBOUND, ARP, [
        "NETMAP reload at 12:00:00: link added",
        "NETMAP reloaded at 12:00:00: 1 added, 1 changed, 0 removed, 3 unchanged"])]
    kept = epbs(recorder.datagram(dgram("100:0/0", "101:0/0", ARP), T0 + 2))
    assert kept == [(0, blocks.OUTBOUND, ARP, [
        "NETMAP reloaded at 12:00:00: 1 added, 1 changed, 0 removed, 3 unchanged"])]


def test_reload_keeps_note_of_replaced_link(recorder):
    recorder.annotate(101, "instance 101 died")
    recorder.reload(parse(NETMAP.replace("hdlc", "ppp")), "t")
    out = epbs(recorder.datagram(dgram("101:1/0", "100:1/0", LCP[0]), T0))
    assert out[0][0] == 4
    assert out[0][3][0] == "instance 101 died"
    assert out[0][3][1].startswith("NETMAP reload at t: link type hdlc -> ppp")


def test_reload_removed_line_traffic_is_unmapped(recorder):
    data, result = recorder.reload(parse("100:1/0 101:1/0 hdlc\n"), "t")
    assert data == b""
    assert len(result.removed) == 3
    out = recorder.datagram(dgram("100:0/0", "101:0/0", ARP), T0)
    assert idbs(out) == [1]
    assert epbs(out)[0][0] == 4
    assert recorder.links.interfaces[4].unmapped


# -- statistics and the whole file ---------------------------------------------------------------

def test_statistics(recorder):
    recorder.datagram(dgram("100:0/0", "101:0/0", ARP), T0 + 1)
    recorder.datagram(dgram("101:0/0", "100:0/0", ARP), T0 + 2, undelivered="ENOENT")
    data = recorder.statistics(T0 + 100, T0)
    found = scan(Recorder(parse(NETMAP)).start() + declare_all(Recorder(parse(NETMAP))) + data)[5:]
    assert [(b.interface_id, b.options["isb_ifrecv"], b.options["isb_ifdrop"]) for b in found] == [
        (0, 2, 1), (1, 0, 0), (2, 0, 0), (3, 0, 0)]


def test_whole_capture_parses_with_tshark(tmp_path, tshark):
    rec = Recorder(parse(NETMAP), comment="unit test")
    data = rec.start()
    rec.annotate(100, "instance 100 attached")
    data += rec.datagram(dgram("100:0/0", "101:0/0", ARP), T0 + 1_000)
    data += rec.datagram(dgram("101:1/0", "100:1/0", SLARP[0]), T0 + 2_000)
    data += rec.datagram(dgram("100:2/0", "101:2/0", ARP), T0 + 3_000)
    data += rec.datagram(dgram("100:2/0", "102:2/0", ARP), T0 + 3_001)  # copy: not recorded
    data += rec.datagram(dgram("200:0/0", "201:0/0", ARP), T0 + 4_000, undelivered="ENOENT")
    for i in range(3):
        data += rec.datagram(dgram("103:1/0", "102:1/0", LCP[i]), T0 + 5_000 + i)
    data += rec.statistics(T0 + 10_000, T0)
    path = tmp_path / "capture.pcapng"
    path.write_bytes(data)
    rows = tshark_rows(tshark, str(path), "frame.interface_id", "frame.interface_name",
                       "frame.packet_flags_direction", "frame.comment", "frame.protocols", "frame.time_epoch")
    assert [row[0] for row in rows] == ["0", "1", "2", "3", "4", "4", "5"]
    assert [row[1] for row in rows] == [
        "100:0/0-101:0/0", "100:1/0-101:1/0", "100:2/0-101:2/0-102:2/0", "200:0/0-201:0/0",
        "102:1/0-103:1/0", "102:1/0-103:1/0", "102:1/0-103:1/0"]
    assert [row[2] for row in rows] == ["0x00000002", "0x00000001", "0x00000002", "0x00000002",
                                        "0x00000001", "0x00000001", "0x00000001"]
    assert rows[0][3] == "instance 100 attached"
    assert rows[1][3] == "instance 100 attached"
    assert rows[2][3] == "instance 100 attached"
    assert rows[3][3] == "not delivered: ENOENT"
    assert rows[4][3] == ""
    assert rows[6][3].startswith("link type changed from ethernet to ppp")
    assert rows[0][4].endswith("eth:ethertype:arp")
    assert rows[1][4].endswith("chdlc:slarp")
    assert rows[6][4].endswith("ppp:lcp")
    assert rows[0][5] == "1700000000.000001000"
    report = __import__("subprocess").run(["capinfos", str(path)], capture_output=True, text=True).stdout
    assert "Number of interfaces in file: 6" in report
    assert "Number of stat entries = 1" in report
    assert "PPP (4 - ppp)" in report and "Cisco HDLC (28 - chdlc)" in report


# -- a batch at once (the relay's hot path) ---------------------------------------------------

def mixed_batch() -> list:
    """Datagrams that take every way through the recorder: fast path, unmapped (a new
    interface), empty, malformed, a shared-segment copy, a noted link, auto-detection."""
    return [
        dgram("100:0/0", "101:0/0", ARP),
        dgram("101:1/0", "100:1/0", SLARP[0]),
        dgram("200:0/0", "201:0/0", ARP),
        dgram("100:0/0", "101:0/0", ARP[:60]),
        b"",
        netio.Header(101, 100, 0, 0, msg_type=3).pack() + b"\x00",
        dgram("100:2/0", "102:2/0", ARP),
        dgram("100:2/0", "101:2/0", ARP),
        *(dgram("102:1/0", "103:1/0", frame) for frame in SLARP[:4]),
        dgram("101:0/0", "100:0/0", ARP),
    ]


def test_delivered_batch_equals_one_at_a_time():
    one_at_a_time, batched = Recorder(parse(NETMAP)), Recorder(parse(NETMAP))
    for rec in (one_at_a_time, batched):
        rec.start()
        rec.datagram(dgram("100:0/0", "101:0/0", ARP), T0 - 1)  # its route is known now
        rec.annotate(101, "instance 101 restarted")  # so its next frame must carry this
    batch = mixed_batch()
    times = [T0 + 10 * i for i in range(len(batch))]
    expected = b"".join(one_at_a_time.datagram(d, t) for d, t in zip(batch, times))
    assert batched.record(batch, times) == expected
    assert len(epbs(expected)) == len(batch) - 3  # the empty, the malformed and the shared copy
    # 100:1/0's, the unmapped pair's, the shared segment's, the auto link's as Ethernet then as it switched
    # (100:0/0's came before)
    assert idbs(expected) == [linktypes.C_HDLC, linktypes.ETHERNET, linktypes.ETHERNET, linktypes.ETHERNET,
                              linktypes.C_HDLC]
    assert epbs(expected)[0][3] == ["instance 101 restarted"]
    for rec in (one_at_a_time, batched):
        assert (rec.frames_recorded, rec.shared_copies, rec.datagrams_empty, rec.datagrams_malformed) == (
            len(batch) - 2, 1, 1, 1)
    assert [i.frames for i in batched.links.interfaces] == [i.frames for i in one_at_a_time.links.interfaces]
    assert batched.take_warnings() == one_at_a_time.take_warnings()


def test_delivered_empty_batch(recorder):
    assert recorder.record([], []) == b""


# -- each file on its own, snap length, --link ------------------------------------------------

def test_next_file_has_every_current_link_numbered_afresh(tmp_path, tshark):
    rec = Recorder(parse(NETMAP), comment="ring")
    first = rec.start()
    first += rec.datagram(dgram("100:0/0", "101:0/0", ARP), T0)
    data, _ = rec.reload(parse(NETMAP.replace("hdlc", "ppp") + "104:0/0 105:0/0\n"), "t")
    first += data
    assert idbs(data) == []  # the new interfaces join the current file with their first frames
    first += rec.datagram(dgram("100:1/0", "101:1/0", LCP[0]), T0 + 1)
    assert epbs(first)[-1][0] == 1
    first += rec.statistics(T0 + 2, T0)
    assert [b.interface_id for b in scan(first) if type(b).__name__ == "InterfaceStatistics"] == [0, 1]
    second = rec.start_file()
    found = scan(second)
    assert found[0].options["opt_comment"] == "ring"
    assert len(found) == 1
    second += rec.datagram(dgram("100:1/0", "101:1/0", LCP[1]), T0 + 3)
    second += rec.datagram(dgram("105:0/0", "104:0/0", ARP), T0 + 4)
    second += rec.datagram(dgram("100:0/0", "101:0/0", ARP), T0 + 5)
    second += rec.datagram(dgram("100:0/0", "101:0/0", ARP), T0 + 6)  # (the fast way, numbered afresh)
    # Each file numbers the interfaces that carried frames in it, from 0, in the order they did.
    assert [(b.options["if_name"], b.link_type) for b in scan(second)
            if type(b).__name__ == "InterfaceDescription"] == [
        ("100:1/0-101:1/0", linktypes.PPP_SERIAL), ("104:0/0-105:0/0", 1), ("100:0/0-101:0/0", 1)]
    assert [e[0] for e in epbs(second)] == [0, 1, 2, 2]
    second += rec.statistics(T0 + 7, T0)
    stats = [(b.interface_id, b.options["isb_ifrecv"]) for b in scan(second)
             if type(b).__name__ == "InterfaceStatistics"]
    assert stats == [(0, 2), (1, 1), (2, 3)]
    for number, data in enumerate((first, second)):
        path = tmp_path / f"file{number}.pcapng"
        path.write_bytes(data)
        assert tshark_rows(tshark, str(path), "frame.interface_name")  # each file reads on its own


def test_snap_length_cuts_stored_frames_and_keeps_their_length():
    rec = Recorder(parse(NETMAP), snaplen=60)
    data = rec.start()
    long_frame = ARP + bytes(100)
    data += rec.record([dgram("100:0/0", "101:0/0", long_frame), dgram("101:0/0", "100:0/0", ARP[:60])], [T0, T0])
    data += rec.datagram(dgram("100:0/0", "101:0/0", long_frame), T0, undelivered="gone")
    assert [b.snaplen for b in scan(data)[1:] if type(b).__name__ == "InterfaceDescription"] == [60]
    packets = [b for b in scan(data) if type(b).__name__ == "EnhancedPacket"]
    assert [(len(p.packet_data), p.packet_len) for p in packets] == [(60, len(long_frame)), (60, 60),
                                                                     (60, len(long_frame))]
    assert bytes(packets[0].packet_data) == long_frame[:60]
    assert rec.links.interfaces[0].bytes == 2 * len(long_frame) + 60


def test_links_left_out_are_relayed_not_recorded():
    from pcapng_iou.core.selection import LinkSelection, parse_link_name

    selection = LinkSelection([parse_link_name("101:1/0"), parse_link_name("100:9/0-101:9/0")])
    rec = Recorder(parse(NETMAP), selection=selection)
    rec.start()
    assert rec.take_warnings() == [
        "--link 100:9/0-101:9/0 matches no NETMAP line; recorded only if frames between those endpoints show up"]
    rec.annotate(100, "instance 100 attached")
    batch = [dgram("100:0/0", "101:0/0", ARP), dgram("101:1/0", "100:1/0", SLARP[0]),
             dgram("100:2/0", "102:2/0", ARP), dgram("200:0/0", "201:0/0", ARP),
             dgram("100:0/0", "101:0/0", ARP), dgram("100:9/0", "101:9/0", ARP)]
    data = rec.record(batch, [T0] * len(batch))
    assert [(e[0], e[3]) for e in epbs(data)] == [(0, ["instance 100 attached"]), (1, [])]
    # 100:1/0's; 100:9/0-101:9/0 has frames now: it gets its interface
    assert [(b.options["if_name"], b.link_type) for b in scan_after_header(data)
            if type(b).__name__ == "InterfaceDescription"] == [("100:1/0-101:1/0", 104), ("100:9/0-101:9/0", 1)]
    # Unmapped frames of links nobody asked for are no news; those of a selected pair are.
    assert [w.split(":")[0] for w in rec.take_warnings()] == ["frames between 100"]
    assert (rec.frames_recorded, rec.frames_skipped) == (2, 4)
    # The skipped ones stay skipped once their route is known (the fast way), also after a new file.
    rec.start_file()
    assert epbs(rec.record(batch[:1], [T0])) == []
    assert rec.frames_skipped == 5


# -- bay kinds and written link types the frames contradict ------------------------------------

def test_serial_bay_starts_hdlc_and_the_first_sure_frame_settles_it():
    rec = Recorder(parse("1:1/0 2:1/0\n1:1/1 2:1/1\n"), bays={1: Bays(1, 2), 2: Bays(1, 2)})
    assert idbs(rec.start()) == []
    out = rec.datagram(dgram("1:1/0", "2:1/0", SLARP[0]), T0)          # HDLC indeed: nothing changes
    assert idbs(out) == [linktypes.C_HDLC] and epbs(out)[0][0] == 0
    out = rec.datagram(dgram("1:1/1", "2:1/1", LCP[0]), T0 + 1)         # PPP from its first frame
    assert idbs(out) == [linktypes.PPP_SERIAL] and epbs(out)[0][0] == 1
    # (no news: nothing was recorded as the guess; said as info, not as a warning)
    assert rec.take_warnings() == []
    assert rec.take_notices() == ["1:1/1-2:1/1: ppp from its first frame"]
    # afterwards three sure frames are needed, as for any followed link
    outs = [rec.datagram(dgram("1:1/0", "2:1/0", LCP[i]), T0 + 10 + i) for i in range(3)]
    assert [epbs(o)[0][0] for o in outs] == [0, 0, 2]


def test_a_serial_guess_that_recorded_frames_is_put_right_with_a_warning():
    """Frames of no sure type were recorded as the guess (Cisco HDLC) before the first sure one: the
    switch is news then, a warning, and the new interface says where the earlier frames are."""
    rec = Recorder(parse("1:1/0 2:1/0\n"), bays={1: Bays(1, 2), 2: Bays(1, 2)})
    rec.start()
    unsure = dgram("1:1/0", "2:1/0", b"\xff\x03\x12\x34??")
    out = rec.datagram(unsure, T0) + rec.datagram(dgram("1:1/0", "2:1/0", LCP[0]), T0 + 1)
    assert [e[0] for e in epbs(out)] == [0, 1] and idbs(out) == [linktypes.C_HDLC, linktypes.PPP_SERIAL]
    assert rec.take_notices() == []
    assert rec.take_warnings() == ["1:1/0-2:1/0: frames now look like ppp, recording on a new interface"]


def test_a_hdlc_line_carrying_ppp_is_warned_about_once_and_not_switched():
    rec = Recorder(parse("1:1/0 2:1/0 hdlc\n"), reload_hint="kill -HUP 4242")
    rec.start()
    outs = [rec.datagram(dgram("1:1/0", "2:1/0", LCP[i]), T0 + i) for i in range(6)]
    assert [idbs(o) for o in outs] == [[linktypes.C_HDLC]] + [[]] * 5
    assert [epbs(o)[0][0] for o in outs] == [0] * 6
    interface = rec.links.interfaces[0]
    assert (interface.linktype, interface.mismatch, interface.watch) == (104, linktypes.PPP_SERIAL, False)
    assert rec.take_warnings() == [
        "1:1/0-2:1/0: NETMAP line 1 says hdlc, but the frames are ppp; they stay recorded as hdlc (Wireshark "
        "will not decode them). Fix: write ppp on that line (or drop the link type to let the bays decide), "
        "then kill -HUP 4242"]
    assert epbs(outs[2])[0][3] == ["the frames look like ppp, not hdlc as written for this link"]
    assert rec.links.route_cache  # checked once: back on the fast path
    # editing the line (and reloading) clears the mark
    rec.reload(parse("1:1/0 2:1/0 ppp\n"), "t")
    assert rec.links.current()[0].mismatch is None and rec.links.current()[0].linktype == 50


def test_a_hdlc_line_carrying_hdlc_keeps_quiet():
    rec = Recorder(parse("1:1/0 2:1/0 hdlc\n"))
    rec.start()
    for i in range(6):
        rec.datagram(dgram("1:1/0", "2:1/0", SLARP[i]), T0 + i)
    assert rec.take_warnings() == [] and rec.links.interfaces[0].mismatch is None


def test_bays_learnt_after_the_start_change_the_link_with_a_comment():
    rec = Recorder(parse("1:1/0 2:1/0\n"))
    rec.start()
    out = rec.datagram(dgram("1:1/0", "2:1/0", ARP), T0 - 1)
    assert idbs(out) == [linktypes.ETHERNET]
    assert rec.learn_bays(513, None, "12:00") == b""
    assert rec.learn_bays(1, Bays(1, 2), "12:00") == b""
    out = rec.datagram(dgram("1:1/0", "2:1/0", SLARP[0]), T0)
    assert idbs(out) == [linktypes.C_HDLC]
    assert epbs(out)[0][:1] == (1,) and epbs(out)[0][3] == [
        "link type ethernet -> hdlc from the bays of instance 1 (12:00); earlier frames are on interface 0"]


def test_bays_and_lines_before_the_start_write_nothing_early():
    rec = Recorder(parse(""))
    assert rec.learn_bays(1, Bays(1, 2), "t") == b""
    assert rec.extend(parse("1:1/0 2:1/0\n").segments, "t") == b""
    assert idbs(rec.start()) == []
    assert idbs(rec.datagram(dgram("1:1/0", "2:1/0", SLARP[0]), T0)) == [linktypes.C_HDLC]


def test_link_names_checked_against_the_netmap_once_there_is_one():
    from pcapng_iou.core.selection import LinkSelection, parse_link_name

    selection = LinkSelection([parse_link_name("100:0/0-101:0/0"), parse_link_name("104:0/0")])
    rec = Recorder(parse(""), selection=selection)
    rec.start()
    assert rec.take_warnings() == []  # no NETMAP yet: the instances may bring it
    rec.reload(parse(NETMAP), "t1")
    assert rec.take_warnings() == [
        "--link 104:0/0 matches no NETMAP line; recorded only if frames between those endpoints show up"]
    rec.reload(parse(NETMAP + "\n"), "t2")
    assert rec.take_warnings() == []  # said once


def test_limit_records_that_many_frames_and_no_more():
    """``--count N``: a batch that goes past N is cut at N (it was recorded whole before)."""
    recorder = Recorder(parse(NETMAP), limit=3)
    recorder.start()
    batch = [dgram("100:0/0", "101:0/0", ARP + bytes([n])) for n in range(5)]
    empty = dgram("100:0/0", "101:0/0", b"")
    data = recorder.record([empty] + batch, [T0 + n for n in range(6)])
    assert [p[2] for p in epbs(data)] == [ARP + bytes([n]) for n in range(3)]
    assert recorder.frames_recorded == 3 and recorder.full
    assert recorder.record(batch, [T0] * 5) == b""
    assert recorder.datagram(batch[0], T0, "gone") == b""


def test_no_limit_is_never_full(recorder):
    recorder.record([dgram("100:0/0", "101:0/0", ARP)] * 3, [T0] * 3)
    assert recorder.frames_recorded == 3 and not recorder.full


# -- the two ends of a followed link disagree --------------------------------------------------

def test_a_serial_link_whose_ends_differ_stops_flapping():
    """Router 1 sends PPP, router 2 Cisco HDLC: after one switch and back, the link stops following;
    each frame goes to the one interface of the link type it shows (the old HDLC one is used again),
    an unsure frame to the type its sender last showed; one warning; NETMAP reload follows afresh."""
    rec = Recorder(parse("1:1/0 2:1/0\n"), bays={1: Bays(1, 2), 2: Bays(1, 2)}, reload_hint="kill -HUP 7")
    assert idbs(rec.start()) == []
    ppp, hdlc = dgram("1:1/0", "2:1/0", LCP[0]), dgram("2:1/0", "1:1/0", SLARP[0])
    unsure_from_1 = dgram("1:1/0", "2:1/0", b"\xff\x03\x12\x34??")
    out = b"".join(rec.datagram(d, T0 + i) for i, d in enumerate([ppp] + [hdlc] * 3))
    assert idbs(out) == [linktypes.PPP_SERIAL, linktypes.C_HDLC]   # the first sure frame: PPP
    assert [e[0] for e in epbs(out)] == [0, 0, 0, 1]                 # the third HDLC one: back to HDLC
    warnings = rec.take_warnings()
    assert rec.take_notices() == ["1:1/0-2:1/0: ppp from its first frame"]
    assert warnings == [
        "1:1/0-2:1/0: one end sends hdlc and the other ppp (encapsulations differ?): no longer following "
        "the frames; each is recorded on the interface of its own link type (hdlc: a new interface, ppp: "
        "interface #0) until NETMAP is reloaded (kill -HUP 7)"]  # (ids in the file: the guess had no block)
    interfaces = rec.links.interfaces
    assert len(interfaces) == 2 and all(i.replaced_by is None for i in interfaces)
    # An hour of it: no new interface, no new warning, each frame decoded as what it is.
    out = b"".join(rec.datagram(d, T0 + 100 + i) for i, d in enumerate([ppp, hdlc, ppp, ppp, ppp, unsure_from_1,
                                                                        hdlc, hdlc, hdlc, hdlc] * 50))
    assert idbs(out) == [] and rec.take_warnings() == []
    assert [e[0] for e in epbs(out)][:10] == [0, 1, 0, 0, 0, 0, 1, 1, 1, 1]
    assert len(rec.links.interfaces) == 2 and len(rec.links.current()) == 2
    # A new file of a ring buffer starts without them: each comes with its first frame there.
    assert idbs(rec.start_file()) == []
    # kill -HUP: following starts afresh, on the interface the link was on before (PPP)
    rec.reload(parse("1:1/0 2:1/0\n"), "12:00")
    assert [i.number for i in rec.links.current()] == [1]
    out = b"".join(rec.datagram(d, T0 + 10_000 + i) for i, d in enumerate([ppp] * 3))
    assert [e[0] for e in epbs(out)] == [0, 0, 0] and idbs(out) == [linktypes.PPP_SERIAL]


def test_a_followed_link_whose_routers_change_encapsulation_is_information_not_a_warning():
    """The demo's intended HDLC -> PPP switch was printed as a warning (found by a newcomer): frames of
    the old type were seen, so the change is the routers', followed as asked; a guess put right stays a
    warning (above)."""
    rec = Recorder(parse("1:1/0 2:1/0\n"), bays={1: Bays(1, 2), 2: Bays(1, 2)})
    rec.start()
    out = rec.datagram(dgram("1:1/0", "2:1/0", SLARP[0]), T0)
    for number, frame in enumerate(LCP[:3]):
        out += rec.datagram(dgram("1:1/0", "2:1/0", frame), T0 + 1 + number)
    assert [e[0] for e in epbs(out)] == [0, 0, 0, 1] and idbs(out) == [linktypes.C_HDLC, linktypes.PPP_SERIAL]
    assert rec.take_warnings() == []
    assert rec.take_notices() == ["1:1/0-2:1/0: frames now look like ppp, recording on a new interface"]
