"""``pcapng-iou split``: one file per interface, each of one link type, for libpcap readers.

A real capture of a simulated lab of two link types is split; capinfos and
tshark read every file written, each as its own link type, with the frames,
times and directions of the original.
"""
from __future__ import annotations

import os
import subprocess

import pytest
from conftest import tshark_rows
from test_cli_errors import run_cli

from pcapng_iou.core.splitting import SplitNames, safe_link_name, timestamp_ns
from pcapng_iou.sim import frames

NETMAP = "100:0/0 101:0/0\n100:1/0 101:1/0 hdlc\n100:2/0 101:2/0\n"


def test_names_are_the_links_in_file_name_safe_characters():
    names = SplitNames("/data/lab.pcapng")
    assert safe_link_name("100:0/0-101:0/0") == "100_0.0-101_0.0"
    assert names.name("100:1/0-101:1/0", 1, 104) == "/data/lab_100_1.0-101_1.0_hdlc.pcapng"
    assert names.name("100:1/0-101:1/0", 3, 50) == "/data/lab_100_1.0-101_1.0_ppp.pcapng"
    assert names.name("100:1/0-101:1/0", 4, 104) == "/data/lab_100_1.0-101_1.0_hdlc_2.pcapng"
    assert names.name("", 5, 1) == "/data/lab_interface5_ethernet.pcapng"
    assert names.name("a b/../c", 6, 1) == "/data/lab_a_b....c_ethernet.pcapng"  # never leaves the folder
    assert SplitNames("x", "/out").name("1:0/0-2:0/0", 0, 1) == "/out/x_1_0.0-2_0.0_ethernet.pcapng"


@pytest.mark.parametrize("units, tsresol, ns", [
    (1_500_000_000_123_456_789, 9, 1_500_000_000_123_456_789),
    (1_500_000_000_123_456, None, 1_500_000_000_123_456_000),   # microseconds when not said
    (1_500_000_000_123, 3, 1_500_000_000_123_000_000),
    (3 << 20, 0x80 | 20, 3_000_000_000),                         # a power of two: 2**-20 s
    (12_345_678_901_234, 12, 12_345_678_901),
])
def test_timestamps_in_any_resolution_become_nanoseconds(units, tsresol, ns):
    assert timestamp_ns(units, tsresol) == ns


def capinfos_type_and_count(path: str) -> tuple:
    result = subprocess.run(["capinfos", "-T", "-m", "-r", "-E", "-c", path], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    name, encapsulation, count = result.stdout.strip().split(",")
    return encapsulation, int(count)


def test_a_capture_of_two_link_types_splits_into_files_libpcap_readers_take(make_lab, workdir, start_capture,
                                                                            tshark):
    lab = make_lab(NETMAP)
    output = os.path.join(workdir, "lab.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output)
    assert capture.wait_for("attached", count=2), capture.stderr
    ping = frames.ping_packet("10.0.0.1", "10.0.0.2", 1, 1)
    for _ in range(3):
        assert lab[100].send("0/0", frames.icmp_over_ethernet("02:00:00:00:00:64", "02:00:00:00:00:65",
                                                             "10.0.0.1", "10.0.0.2", 1, 1)) == 1
    assert lab[101].send("1/0", frames.ip_over_hdlc(ping)) == 1
    assert lab[100].send("1/0", frames.slarp_keepalive(1, 0)) == 1
    assert lab[101].wait_received(3) and lab[100].wait_received(1)
    assert capture.stop() == 0, capture.stderr

    result = run_cli("split", output, cwd=workdir)
    assert result.returncode == 0, result.stderr
    ethernet = os.path.join(workdir, "lab_100_0.0-101_0.0_ethernet.pcapng")
    hdlc = os.path.join(workdir, "lab_100_1.0-101_1.0_hdlc.pcapng")
    assert result.stdout.splitlines() == [f"{ethernet}: 100:0/0-101:0/0, ethernet, 3 frames",
                                          f"{hdlc}: 100:1/0-101:1/0, hdlc, 2 frames"], result.stdout
    # (link 100:2/0-101:2/0 carried nothing: no file)
    assert sorted(n for n in os.listdir(workdir) if n.startswith("lab_")) == [os.path.basename(ethernet),
                                                                              os.path.basename(hdlc)]
    assert capinfos_type_and_count(ethernet) == ("ether", 3)
    assert capinfos_type_and_count(hdlc) == ("chdlc", 2)
    fields = ("frame.time_epoch", "frame.packet_flags_direction", "frame.protocols")
    original = tshark_rows(tshark, output, "frame.interface_id", *fields)
    for number, path in ((0, ethernet), (1, hdlc)):
        assert tshark_rows(tshark, path, *fields) == [row[1:] for row in original if row[0] == str(number)]
    # (sent by two routers, one after the other: the capture may read either socket first)
    assert sorted(row[2] for row in tshark_rows(tshark, hdlc, *fields)) == ["chdlc:ip:icmp:data", "chdlc:slarp"]


@pytest.mark.lab
@pytest.mark.parametrize("content, message", [
    (b"not a capture at all, just words\n" * 4, "not a PCAP-NG file this can read"),
    (None, "No such file or directory"),
])
def test_a_file_that_is_not_a_capture_is_one_error_line(content, message, workdir):
    path = os.path.join(workdir, "bad.pcapng")
    if content is not None:
        with open(path, "wb") as handle:
            handle.write(content)
    result = run_cli("split", path, cwd=workdir)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pcapng-iou: error: {path}: ") and message in lines[0], lines
    assert sorted(os.listdir(workdir)) == (["bad.pcapng"] if content else [])


def _three_frame_capture(path: str) -> int:
    """A capture of one Ethernet link and three ARP requests, as the capture writes it; the offset at which
    its third frame's block starts."""
    from pcapng_iou.core import blocks

    head = (blocks.Section("pcapng-iou test", "").header_bytes()
            + blocks.interface_description(1, "R1 Ethernet0/0 - R2 Ethernet0/0", "", 65535))
    packets = [blocks.enhanced_packet(0, 1_700_000_000_000_000_000 + n, frames.arp_request(
        "02:00:00:00:00:01", "10.0.0.1", f"10.0.0.{n + 2}"), 0, ()) for n in range(3)]
    with open(path, "wb") as handle:
        handle.write(head + b"".join(packets))
    return len(head) + len(packets[0]) + len(packets[1])


@pytest.mark.lab
def test_each_file_split_is_private_as_the_capture_is(workdir, tshark):
    source = os.path.join(workdir, "lab.pcapng")
    _three_frame_capture(source)
    os.chmod(source, 0o644)
    result = run_cli("split", source, cwd=workdir, prefix=("sh", "-c", 'umask 022 && exec "$@"', "sh"))
    assert result.returncode == 0, result.stderr
    written = os.path.join(workdir, "lab_R1_Ethernet0.0_-_R2_Ethernet0.0_ethernet.pcapng")
    assert os.path.exists(written), os.listdir(workdir)
    assert os.stat(written).st_mode & 0o777 == 0o600  # the traffic stays private (it was 0644)


@pytest.mark.lab
def test_a_capture_cut_short_is_split_up_to_its_last_whole_frame(workdir, tshark):
    source = os.path.join(workdir, "cut.pcapng")
    third = _three_frame_capture(source)
    os.truncate(source, third + 20)  # in the middle of the third frame's block
    result = run_cli("split", source, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"pcapng-iou: warning: {source} is cut short after 2 whole frames "
                                          f"(its end is missing): those were split"], result.stderr
    (line,) = result.stdout.splitlines()
    written = line.split(":")[0]
    assert line.endswith(", ethernet, 2 frames") and capinfos_type_and_count(written) == ("ether", 2)
    assert [row[0] for row in tshark_rows(tshark, written, "arp.dst.proto_ipv4")] == ["10.0.0.2", "10.0.0.3"]


@pytest.mark.lab
def test_a_missing_output_folder_is_named_as_such(workdir):
    source = os.path.join(workdir, "lab.pcapng")
    _three_frame_capture(source)
    result = run_cli("split", source, "-o", os.path.join(workdir, "nowhere"), cwd=workdir)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"pcapng-iou: error: output folder {workdir}/nowhere does not exist"]
