"""End to end: simulated IOU processes, the real ``pcapng-iou capture``, tshark as the judge."""
from __future__ import annotations

import os
import signal
import time

import pytest

from conftest import directory_state, read_packets, tshark_rows

from pcapng_iou.sim import frames

pytestmark = pytest.mark.lab

NETMAP = """\
100:0/0 101:0/0            # Ethernet (default)
100:1/0 101:1/0 hdlc
101:1/1 102:1/1 ppp
102:1/2 100:1/2 frame-relay
"""

MAC_100, MAC_101 = "aa:bb:cc:00:64:00", "aa:bb:cc:00:65:00"


def protocol_frames():
    """(sender, interface, receiver, frame, protocol tshark must name) for every link, both ways."""
    ping = frames.ping_packet("10.0.0.1", "10.0.0.2", 7, 1)
    pong = frames.ping_packet("10.0.0.2", "10.0.0.1", 7, 1, reply=True)
    return [
        (100, "0/0", 101, frames.arp_request(MAC_100, "10.0.0.1", "10.0.0.2"), "arp"),
        (101, "0/0", 100, frames.arp_reply(MAC_101, "10.0.0.2", MAC_100, "10.0.0.1"), "arp"),
        (100, "0/0", 101, frames.cdp(MAC_100, "R100", "Ethernet0/0", "10.0.0.1"), "cdp"),
        (100, "1/0", 101, frames.slarp_keepalive(1, 0), "slarp"),
        (101, "1/0", 100, frames.ip_over_hdlc(pong), "chdlc"),
        (101, "1/1", 102, frames.lcp_configure_request(1, 0x11223344), "lcp"),
        (102, "1/1", 101, frames.lcp_configure_ack(1, 0x11223344), "lcp"),
        (102, "1/2", 100, frames.lmi_status_enquiry(1, 0), "q933"),
        (100, "1/2", 102, frames.ip_over_frame_relay(100, ping), "fr"),
    ]


def wait_attached(capture, count):
    assert capture.wait_for("attached", count=count), capture.stderr


def test_capture_records_every_link_with_its_link_type(make_lab, start_capture, workdir, tshark):
    lab = make_lab(NETMAP)
    netio_dir = lab.directory
    before = directory_state(netio_dir)
    output = os.path.join(workdir, "lab.pcapng")
    capture = start_capture("-d", netio_dir, "-n", lab.netmap_path, "-w", output)
    wait_attached(capture, 3)
    assert sorted(os.listdir(netio_dir)) == sorted(
        list(before) + ["100_real", "101_real", "102_real"]
    )
    # The instance's own socket sits at <id>_real while we capture.
    for number in (100, 101, 102):
        assert os.lstat(os.path.join(netio_dir, f"{number}_real")).st_ino == before[str(number)]

    sent = protocol_frames()
    for sender, interface, receiver, frame, _ in sent:
        assert lab[sender].send(interface, frame) == 1
    for number in (100, 101, 102):
        expected = sum(1 for s in sent if s[2] == number)
        assert lab[number].wait_received(expected), (number, lab[number].received)

    assert capture.stop(signal.SIGINT) == 0, capture.stderr
    # Byte-identical delivery, at the right instance, from the right sender.
    for sender, interface, receiver, frame, _ in sent:
        assert frame in lab[receiver].frames_from(sender)
    # The directory is exactly as found: same names, the instances' own inodes.
    assert directory_state(netio_dir) == before

    rows = tshark_rows(tshark, output, "frame.interface_id", "frame.protocols", "frame.packet_flags_direction",
                       "frame.interface_name")
    packets = read_packets(output)
    assert len(rows) == len(packets) == len(sent)
    link_of = {"0/0": "100:0/0-101:0/0", "1/0": "100:1/0-101:1/0", "1/1": "101:1/1-102:1/1", "1/2": "102:1/2-100:1/2"}
    # Frames to different instances pass different sockets, and the simulated instances send on their own
    # time: match frames by content, not order, and links by name (interfaces are numbered by first frame).
    recorded = {packet[1]: (packet, row) for packet, row in zip(packets, rows)}
    interface_of = {}
    for sender, interface, receiver, frame, protocol in sent:
        (interface_id, data, flags, _), row = recorded[frame]
        assert interface_id == int(row[0]) and row[3] == link_of[interface], row
        assert interface_of.setdefault(interface, interface_id) == interface_id  # one interface a link
        assert protocol in row[1].split(":"), row
        # Direction: outbound when the sender is the first endpoint written on the line.
        first_on_line = {"0/0": 100, "1/0": 100, "1/1": 101, "1/2": 102}[interface]
        assert int(row[2], 16) == (2 if sender == first_on_line else 1), row
    assert sorted(interface_of.values()) == [0, 1, 2, 3]  # four links, four interfaces

    info = __import__("subprocess").run(["capinfos", output], capture_output=True, text=True).stdout
    assert "Number of interfaces in file: 4" in info
    for encapsulation in ("Ethernet", "Cisco HDLC", "PPP", "Frame Relay"):
        assert f"Encapsulation = {encapsulation}" in info, info
    assert "nanoseconds" in info


def test_attach_and_detach_under_steady_traffic_lose_nothing(make_lab, start_capture, workdir):
    """Frames flow without pause while a capture attaches and detaches three times."""
    lab = make_lab("100:0/0 101:0/0\n", quiet=False)
    total = 0
    output = os.path.join(workdir, "x.pcapng")
    numbers = []
    for round_ in range(3):
        capture = start_capture("-d", lab.directory, "-w", output, "-q")
        for number in range(total, total + 200):
            frame = bytes.fromhex("ffffffffffff02000000006488b5") + number.to_bytes(4, "big") + b"\0" * 42
            lab[100].send("0/0", frame)
            numbers.append(number)
            if number == total + 100:
                time.sleep(0.3)  # the capture attaches somewhere in here
        total += 200
        # (stopped only once attached: a SIGINT while Python still imports is not what this tests)
        deadline = time.monotonic() + 20
        while not os.path.exists(os.path.join(lab.directory, "101_real")) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert capture.stop() == 0, capture.stderr
    assert lab[101].wait_received(total)
    time.sleep(0.2)
    got = [int.from_bytes(f[14:18], "big") for f in lab[101].frames_from(100)]
    assert got == numbers  # none lost, none doubled, in order


def test_short_and_unknown_datagrams_are_relayed_not_recorded(make_lab, start_capture, workdir, tshark):
    lab = make_lab("100:0/0 101:0/0\n")
    output = os.path.join(workdir, "m.pcapng")
    capture = start_capture("-d", lab.directory, "-w", output)
    wait_attached(capture, 2)
    odd = [b"", b"\x00\x65", bytes(8), bytes.fromhex("006500640000") + b"\x07\x00" + b"x" * 60]
    for datagram in odd:
        assert lab[100].send_raw(101, datagram)
    good = frames.arp_request(MAC_100, "10.0.0.1", "10.0.0.2")
    lab[100].send("0/0", good)
    assert lab[101].wait_received(len(odd) + 1)
    assert capture.stop() == 0
    assert [r[3] for r in lab[101].received][-1] == good
    rows = tshark_rows(tshark, output, "frame.protocols")
    assert rows == [["eth:ethertype:arp"]]


def test_frames_between_endpoints_no_line_names_get_their_own_interface(make_lab, start_capture, workdir, tshark):
    lab = make_lab("100:0/0 101:0/0\n")
    output = os.path.join(workdir, "u.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output)
    wait_attached(capture, 2)
    from pcapng_iou.core import netio

    header = netio.Header(101, 100, netio.port_byte(3, 0), netio.port_byte(2, 0))
    lab[100].send_raw(101, header.pack() + frames.arp_request(MAC_100, "10.9.9.1", "10.9.9.2"))
    assert lab[101].wait_received(1)
    assert capture.wait_for("match no NETMAP line"), capture.stderr
    assert capture.stop() == 0
    rows = tshark_rows(tshark, output, "frame.interface_id", "frame.interface_name")
    assert rows == [["0", "100:2/0-101:3/0"]]  # the only interface that carried frames


def test_sigterm_stops_cleanly_and_count_stops_by_itself(make_lab, start_capture, workdir):
    lab = make_lab("100:0/0 101:0/0\n")
    before = directory_state(lab.directory)
    output = os.path.join(workdir, "c.pcapng")
    capture = start_capture("-d", lab.directory, "-w", output, "-c", "3")
    wait_attached(capture, 2)
    for _ in range(5):
        lab[100].send("0/0", frames.ethernet_keepalive(MAC_100))
    assert capture.wait(15) == 0
    assert "3 frames recorded" in capture.stderr
    assert directory_state(lab.directory) == before
    assert lab[101].wait_received(5)

    capture = start_capture("-d", lab.directory, "-w", output)
    wait_attached(capture, 2)
    assert capture.stop(signal.SIGTERM) == 0
    assert directory_state(lab.directory) == before


def test_count_cuts_a_batch_at_the_count(make_lab, start_capture, workdir):
    """Five frames read in one batch with ``-c 3``: three recorded, all five delivered."""
    lab = make_lab("100:0/0 101:0/0\n")
    output = os.path.join(workdir, "c3.pcapng")
    capture = start_capture("-d", lab.directory, "-w", output, "-c", "3")
    wait_attached(capture, 2)
    sent = [frames.ethernet("ff:ff:ff:ff:ff:ff", MAC_100, 0x88B5, bytes([n]) * 46) for n in range(5)]
    capture.process.send_signal(signal.SIGSTOP)  # so that the five wait for it together
    try:
        for frame in sent:
            lab[100].send("0/0", frame)
    finally:
        capture.process.send_signal(signal.SIGCONT)
    assert capture.wait(15) == 0
    assert "3 frames recorded" in capture.stderr
    assert lab[101].wait_received(5) and lab[101].frames_from(100) == sent
    assert [p[1] for p in read_packets(output)] == sent[:3]
