"""kill -HUP reloads, link-type changes, shared segments and auto-detection, with real processes."""
from __future__ import annotations

import os
import signal
import subprocess

import pytest

from conftest import read_packets, tshark_rows

from pcapng_iou.core import netio
from pcapng_iou.sim import frames

pytestmark = pytest.mark.lab

SERIAL = "100:1/0 101:1/0 hdlc\n"


def hup(capture, count):
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("NETMAP reloaded", count=count, timeout=5) or \
        capture.wait_for("reload refused", timeout=1), capture.stderr


def test_reload_switches_a_serial_link_from_hdlc_to_ppp(make_lab, start_capture, workdir, tshark):
    lab = make_lab(SERIAL)
    output = os.path.join(workdir, "hup.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output)
    assert capture.wait_for("attached", count=2)
    for seq in range(1, 4):
        lab[100].send("1/0", frames.slarp_keepalive(seq, seq - 1))
    assert lab[101].wait_received(3)
    lab.write_netmap("100:1/0 101:1/0 ppp\n100:0/1 101:0/1\n")  # encapsulation ppp, and a new link
    hup(capture, 1)
    assert "1 added, 1 changed, 0 removed" in capture.stderr
    for ident in range(1, 4):
        lab[100].send("1/0", frames.lcp_configure_request(ident, 0xABCD0000 + ident))
        lab[101].send("1/0", frames.lcp_configure_ack(ident, 0xABCD0000 + ident))
    # The running instances read NETMAP when they started (as IOU does): address the new link by hand.
    # (On an Ethernet bay: the instances run with -e 1 -s 2, and bay kinds decide an untyped line.)
    header = netio.Header(100, 101, netio.port_byte(0, 1), netio.port_byte(0, 1))
    assert lab[101].send_raw(100, header.pack() + frames.arp_request("aa:bb:cc:00:65:20", "10.2.0.2", "10.2.0.1"))
    assert lab[101].wait_received(6) and lab[100].wait_received(4)
    assert capture.stop() == 0

    rows = tshark_rows(tshark, output, "frame.interface_id", "frame.interface_name", "frame.protocols",
                       "frame.comment")
    by_interface = {}
    for interface_id, name, protocols, _ in rows:
        by_interface.setdefault(interface_id, set()).add(protocols)
    assert by_interface["0"] == {"chdlc:slarp"}
    assert by_interface["1"] == {"ppp:lcp"}
    assert by_interface["2"] == {"eth:ethertype:arp"}
    assert {r[1] for r in rows if r[0] in ("0", "1")} == {"100:1/0-101:1/0"}
    first_ppp = next(r for r in rows if r[0] == "1")
    assert "link type hdlc -> ppp" in first_ppp[3] and "earlier frames are on interface 0" in first_ppp[3]
    info = subprocess.run(["capinfos", output], capture_output=True, text=True).stdout
    assert "Number of interfaces in file: 3" in info
    assert "since the NETMAP reload at" in info


def test_broken_netmap_on_reload_keeps_the_old_map(make_lab, start_capture, workdir, tshark):
    lab = make_lab(SERIAL)
    output = os.path.join(workdir, "bad.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output)
    assert capture.wait_for("attached", count=2)
    with open(lab.netmap_path, "w") as handle:
        handle.write("100:1/0 101:1/0 ppp\n100:1/1 10x:1/1\n")
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("reload refused", timeout=5), capture.stderr
    assert f"{lab.netmap_path}:2:9: expected ID:BAY/UNIT, got '10x:1/1'" in capture.stderr
    lab[100].send("1/0", frames.slarp_keepalive(9, 8))
    assert lab[101].wait_received(1)
    assert capture.process.poll() is None
    assert capture.stop() == 0
    assert tshark_rows(tshark, output, "frame.interface_id", "frame.protocols") == [["0", "chdlc:slarp"]]


def test_removed_line_traffic_becomes_unmapped(make_lab, start_capture, workdir):
    lab = make_lab("100:0/0 101:0/0\n100:1/0 101:1/0 hdlc\n")
    output = os.path.join(workdir, "rm.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output)
    assert capture.wait_for("attached", count=2)
    lab.write_netmap("100:0/0 101:0/0\n")
    hup(capture, 1)
    assert "0 added, 0 changed, 1 removed" in capture.stderr
    header = netio.Header(101, 100, netio.port_byte(1, 0), netio.port_byte(1, 0))
    lab[100].send_raw(101, header.pack() + frames.slarp_keepalive(1, 0))
    assert lab[101].wait_received(1)
    assert capture.wait_for("match no NETMAP line")
    assert capture.stop() == 0
    assert [(p[0], p[1]) for p in read_packets(output)] == [(0, frames.slarp_keepalive(1, 0))]  # the only interface that carried frames


SHARED = "100:0/0 101:0/0 102:0/0\n"


def test_shared_segment_records_each_transmission_once(make_lab, start_capture, workdir, tshark):
    lab = make_lab(SHARED)
    output = os.path.join(workdir, "shared.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output)
    assert capture.wait_for("attached", count=3)
    arp = frames.arp_request("aa:bb:cc:00:64:00", "10.1.0.100", "10.1.0.101")
    keepalive = frames.ethernet_keepalive("aa:bb:cc:00:64:00")
    # Broadcasts: the lab unicasts one copy to each other member, as IOU does.
    assert lab[100].send("0/0", arp) == 2
    assert lab[100].send("0/0", keepalive) == 2
    assert lab[100].send("0/0", keepalive) == 2  # the same bytes again: a second transmission
    # A unicast: one copy, to 101 only.
    reply = frames.arp_reply("aa:bb:cc:00:65:00", "10.1.0.101", "aa:bb:cc:00:64:00", "10.1.0.100")
    header = netio.Header(100, 101, 0, 0)
    assert lab[101].send_raw(100, header.pack() + reply)
    assert lab[101].wait_received(3) and lab[102].wait_received(3) and lab[100].wait_received(1)
    assert capture.stop() == 0
    packets = read_packets(output)
    assert sorted(p[1] for p in packets) == sorted([arp, keepalive, keepalive, reply])
    assert {p[0] for p in packets} == {0}
    rows = tshark_rows(tshark, output, "frame.protocols")
    assert sorted(r[0] for r in rows) == sorted(
        ["eth:ethertype:arp", "eth:ethertype:arp", "eth:ethertype:loop:data", "eth:ethertype:loop:data"])


def test_auto_link_follows_an_encapsulation_change(make_lab, start_capture, workdir, tshark):
    lab = make_lab("100:1/0 101:1/0 auto\n")
    output = os.path.join(workdir, "auto.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output)
    assert capture.wait_for("attached", count=2)
    slarp = [frames.slarp_keepalive(n, n - 1) for n in range(1, 6)]
    lcp = [frames.lcp_echo_request(n, 0x01020304) for n in range(1, 6)]
    for frame in slarp:
        lab[100].send("1/0", frame)
    assert lab[101].wait_received(5)
    assert capture.wait_for("frames now look like hdlc", timeout=5), capture.stderr
    for frame in lcp:
        lab[100].send("1/0", frame)
    assert lab[101].wait_received(10)
    assert capture.wait_for("frames now look like ppp", timeout=5), capture.stderr
    assert capture.stop() == 0
    rows = tshark_rows(tshark, output, "frame.interface_id", "frame.protocols")
    # The line starts as Ethernet; three confident frames of a new kind switch it.
    assert rows[2:5] == [["1", "chdlc:slarp"]] * 3
    assert rows[7:10] == [["2", "ppp:lcp"]] * 3
    info = subprocess.run(["capinfos", output], capture_output=True, text=True).stdout
    assert "Encapsulation = Cisco HDLC" in info and "Encapsulation = PPP" in info
