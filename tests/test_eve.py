"""EVE-NG: peers that send to an instance through a connection of their own (issue 25).

Real processes: simulated instances beside simulated wrappers that connect
once to the instance's socket (as EVE-NG's iol_wrapper), the real capture,
tshark as the oracle, the kernel's own answers (sock_diag, pidfd_getfd,
ptrace) and a real seccomp filter for a kernel that lacks pidfd_getfd.
"""
from __future__ import annotations

import collections
import os
import re
import platform
import socket
import struct
import subprocess
import sys
import time

import pytest

from conftest import directory_state, read_packets, tshark_rows
from pcapng_iou.core import oneway, unixdiag
from pcapng_iou.core.status import InterfaceView
from pcapng_iou.shell import sockdiag
from pcapng_iou.sim.evelab import EveLab, free_udp_base
from pcapng_iou.sim.numbered import source_mac

SERIAL_LINK = "1:1/0-513:1/0"
LINKS = [((1, "1/0"), (2, "1/0")), ((1, "0/0"), (2, "0/0"))]
SERIAL_FROM_R1, SERIAL_FROM_R2 = "0x00000002", "0x00000001"  # outbound / inbound at instance 1's side


@pytest.fixture
def eve_lab(workdir):
    made = []

    def factory(bays=None, links=LINKS, **kwargs) -> EveLab:
        lab = EveLab(workdir, os.path.join(workdir, "netio"), bays or {1: (1, 1), 2: (1, 1)}, links,
                     free_udp_base((1, 2)), **kwargs)
        made.append(lab)
        return lab

    yield factory
    for lab in made:
        lab.stop()


def serial_directions(tshark, output) -> collections.Counter:
    # The interface is named after the routers (issue 26); its description names the NETMAP line.
    rows = tshark_rows(tshark, output, "frame.interface_description", "frame.packet_flags_direction",
                       "frame.protocols")
    serial = [row for row in rows if re.search(rf"(?<![\d:]){re.escape(SERIAL_LINK)}(?![\d/])", row[0])]
    assert serial and all(row[2].startswith("chdlc") for row in serial), serial[:3]
    return collections.Counter(row[1] for row in serial)


# -- the kernel's answer, read in memory ------------------------------------------------------------
def _message(inode: int, *attributes: tuple) -> bytes:
    body = unixdiag.DIAG_MESSAGE.pack(socket.AF_UNIX, socket.SOCK_DGRAM, 7, 0, inode, 1, 2)
    for kind, payload in attributes:
        length = unixdiag.ATTRIBUTE.size + len(payload)
        body += unixdiag.ATTRIBUTE.pack(length, kind) + payload + bytes(-length % 4)
    return unixdiag.NLMSG_HEADER.pack(16 + len(body), unixdiag.SOCK_DIAG_BY_FAMILY, 2, 1, 0) + body


def test_a_dump_is_read_socket_by_socket():
    data = (_message(10, (unixdiag.UNIX_DIAG_NAME, b"/tmp/netio0/1"), (unixdiag.UNIX_DIAG_VFS, struct.pack("=II", 77, 5)))
            + _message(11, (unixdiag.UNIX_DIAG_PEER, struct.pack("=I", 10)), (unixdiag.UNIX_DIAG_UID, struct.pack("=I", 0)))
            + _message(12, (unixdiag.UNIX_DIAG_PEER, struct.pack("=I", 0))))
    sockets, done = unixdiag.parse_replies(data)
    assert not done and [s.inode for s in sockets] == [10, 11, 12]
    assert sockets[0].name == b"/tmp/netio0/1" and sockets[0].vfs == (77, 5)
    assert sockets[1].peer == 10 and sockets[1].uid == 0 and sockets[2].peer is None
    assert unixdiag.bound_at(sockets, 77, 5) == 10
    assert unixdiag.senders_to(sockets, 10) == [11] and unixdiag.senders_to(sockets, 10, ignore=[11]) == []
    assert unixdiag.parse_replies(unixdiag.NLMSG_HEADER.pack(20, unixdiag.NLMSG_DONE, 2, 1, 0) + bytes(4)) == ([], True)


def test_an_error_or_a_cut_answer_is_one_clear_error():
    error = unixdiag.NLMSG_HEADER.pack(20, unixdiag.NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -13)
    with pytest.raises(unixdiag.DiagError) as raised:
        unixdiag.parse_replies(error)
    assert raised.value.errno == 13
    with pytest.raises(unixdiag.DiagError, match="does not fit"):
        unixdiag.parse_replies(_message(10, (unixdiag.UNIX_DIAG_NAME, b"x"))[:-4])


def test_the_kernel_names_who_is_connected_to_a_socket(workdir):
    path = os.path.join(workdir, "1")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as instance, \
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        instance.bind(path)
        sender.connect(path)
        sockets = sockdiag.unix_sockets()
        st = os.lstat(path)
        target = unixdiag.bound_at(sockets, st.st_ino, sockdiag.file_device(st))
        assert target == os.fstat(instance.fileno()).st_ino
        inode = os.fstat(sender.fileno()).st_ino
        assert unixdiag.senders_to(sockets, target) == [inode]
        holders = sockdiag.holders([inode])[inode]
        assert [(h.pid, h.fd) for h in holders] == [(os.getpid(), sender.fileno())]


def _view(number: int, *endpoints: tuple) -> InterfaceView:
    return InterfaceView(number, "", 1, "", endpoints, False, True, None, None, 0, 0, 0, 0, 0, 0)


def test_one_direction_marks_the_links_to_the_bridge_else_every_link():
    views = [_view(0, (1, 0), (513, 0)), _view(1, (1, 16), (513, 16)), _view(2, (2, 0), (514, 0)),
             _view(3, (3, 0), (4, 0))]
    assert oneway.one_way_links(views, {1}) == {0, 1}
    assert oneway.one_way_links(views, {3}) == {3}
    assert oneway.one_way_links(views, set()) == frozenset()


# -- the capture on an EVE-NG-style lab -----------------------------------------------------------------
def test_both_directions_when_the_capture_starts_after_the_lab(eve_lab, start_capture, workdir, tshark):
    lab = eve_lab(interval=0.1, delay=0.3).start()
    lab.wait_connected()
    before = directory_state(lab.directory)
    output = os.path.join(workdir, "eve.pcapng")
    capture = start_capture("-d", lab.directory, "-w", output)
    assert capture.wait_for("attached", count=4), capture.stderr
    time.sleep(2.5)
    assert capture.stop() == 0, capture.stderr
    assert directory_state(lab.directory) == before
    directions = serial_directions(tshark, output)
    assert directions[SERIAL_FROM_R1] >= 10 and directions[SERIAL_FROM_R2] >= 10, directions
    assert "lock file" not in capture.stderr and "bridge 513 attached" in capture.stderr
    assert "one direction" not in capture.stderr and "undelivered 0" in capture.stderr
    assert all(counts.get("lost") == 0 for counts in lab.stop().values())


def test_both_directions_when_the_capture_starts_before_the_lab(eve_lab, start_capture, workdir, tshark):
    lab = eve_lab(interval=0.1, delay=0.3)
    output = os.path.join(workdir, "eve.pcapng")
    capture = start_capture("-d", lab.directory, "-w", output)
    time.sleep(0.5)
    lab.start()
    lab.wait_connected()
    assert capture.wait_for("attached", count=4), capture.stderr
    time.sleep(2.0)
    assert capture.stop() == 0, capture.stderr
    time.sleep(1.0)  # the wrappers go on sending through their connections, given back to the routers
    listing = sorted(os.listdir(lab.directory))
    assert listing == ["1", "1.lck", "2", "2.lck", "513", "514"]
    directions = serial_directions(tshark, output)
    assert directions[SERIAL_FROM_R1] >= 10 and directions[SERIAL_FROM_R2] >= 10, directions
    # Each router brings its NETMAP as it attaches, R1 (and its serial keepalives) before R2: whatever was
    # written before R2's line came in, the serial link's last interface names both lines and both ends.
    last = {}
    for interface_id, name, description in tshark_rows(tshark, output, "frame.interface_id", "frame.interface_name",
                                                        "frame.interface_description"):
        link = name.split(" - ")[0]  # (a name learnt later differs: "R1 Serial1/0 - IOU 2 Ethernet1/0" at first)
        last[link] = max(last.get(link, (-1,)), (int(interface_id), name, description))
    assert last["R1 Serial1/0"][1] == "R1 Serial1/0 - R2 Serial1/0", last
    assert "NETMAP 1:1/0-513:1/0 and 2:1/0-514:1/0" in last["R1 Serial1/0"][2], last
    assert "lock file" not in capture.stderr
    assert all(counts.get("lost") == 0 for counts in lab.stop().values())


def test_order_is_kept_through_takeover_and_give_back(eve_lab, start_capture, workdir):
    """A wrapper floods numbered frames through its connection while captures attach and give back."""
    lab = eve_lab(bays={1: (1, 1)}, links=[], speak=False, delay=0.2)
    lab.start(flood={1: "1/0"})
    wrapper = lab.wrappers[1]
    wrapper.expect("connected", 10)
    for round_number in range(4):
        output = os.path.join(workdir, f"order{round_number}.pcapng")
        capture = start_capture("-d", lab.directory, "-w", output)
        assert capture.wait_for("attached", count=2), capture.stderr
        time.sleep(0.5)
        assert capture.stop() == 0, capture.stderr
        assert "overtaken" not in capture.stderr, capture.stderr
        assert any(p[1][6:12] == source_mac(513, 1) for p in read_packets(output))  # its frames went through us
    time.sleep(0.3)
    counts = wrapper.stop()
    tally = lab.instances[1].tally()["513:1"]
    assert counts["lost"] == 0 and counts["flooded"] > 0, counts
    # Every frame once, in order: as many good ones as were sent, and every other count (reordered, seen
    # twice, corrupt, missing) nought.
    assert tally["good"] == tally["next"] == counts["flooded"], (tally, counts)
    assert not [key for key, value in tally.items() if value and key not in ("good", "next")], tally


# -- never silent: a kernel without pidfd_getfd ----------------------------------------------------------
NO_PIDFD_GETFD = r"""
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
program = b"".join(struct.pack("=HBBI", *op) for op in (
    (0x20, 0, 0, 0),                     # load the system call's number
    (0x15, 0, 1, 438),                   # pidfd_getfd?
    (0x06, 0, 0, 0x00050000 | 38),       # then fail with ENOSYS, as a kernel older than 5.6
    (0x06, 0, 0, 0x7FFF0000)))           # else allow
buffer = ctypes.create_string_buffer(program)
fprog = struct.pack("=HxxxxxxQ", 4, ctypes.addressof(buffer))
assert libc.prctl(38, 1, 0, 0, 0) == 0   # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) == 0, ctypes.get_errno()  # SECCOMP_MODE_FILTER
os.execv(sys.argv[1], sys.argv[1:])
"""


def test_a_sender_that_cannot_be_taken_over_is_said_once_and_marked(eve_lab, start_capture, workdir, tshark):
    if platform.machine() != "x86_64":
        pytest.skip("the seccomp filter here is written for x86_64")
    lab = eve_lab(bays={1: (1, 1)}, links=[], interval=0.1, delay=0.2).start()
    lab.wait_connected()
    before = directory_state(lab.directory)
    output = os.path.join(workdir, "blind.pcapng")
    capture = start_capture("-d", lab.directory, "-w", output,
                            prefix=(sys.executable, "-c", NO_PIDFD_GETFD))
    assert capture.wait_for("cannot take over", timeout=15), capture.stderr
    time.sleep(1.0)
    assert capture.stop() == 0, capture.stderr
    warnings = [line for line in capture.lines if "cannot take over" in line]
    wrapper_pid = lab.wrappers[1].pid
    assert len(warnings) == 1 and f"pid {wrapper_pid} (" in warnings[0], warnings
    assert "function not implemented" in warnings[0] and "restart that node" in warnings[0], warnings[0][80:200]
    # The summary's row: the link of instance 1's Serial1/0 to its wrapper, named after the router (issue 26).
    assert any("1 Serial1/0" in line and "one direction" in line for line in capture.lines), capture.stderr
    comments = [c for p in read_packets(output) for c in p[3]]
    assert any(c.startswith("one direction") for c in comments), comments
    assert directory_state(lab.directory) == before


def test_the_eve_demo_records_both_directions(workdir, tshark):
    output = os.path.join(workdir, "demo.pcapng")
    result = subprocess.run([sys.executable, "-m", "pcapng_iou", "demo", "--eve", "-w", output, "--duration", "3",
                             "-q"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    directions = serial_directions(tshark, output)
    assert directions[SERIAL_FROM_R1] >= 3 and directions[SERIAL_FROM_R2] >= 3, directions
    assert "lock file" not in result.stderr and "one direction" not in result.stderr


def test_the_eve_demo_shows_each_drawn_link_once_named_by_its_nodes(workdir, tshark):
    """Its routers run under iol_wrapper's command line, as on EVE-NG: the titles name them and the serial
    links' -l pair their halves, so the PPP link (no CDP on it) was two interfaces named "IOU 2 Serial1/1"
    and "IOU 3 Serial1/1"."""
    output = os.path.join(workdir, "demo.pcapng")
    result = subprocess.run([sys.executable, "-m", "pcapng_iou", "demo", "--eve", "-w", output, "--duration", "4",
                             "-q"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = tshark_rows(tshark, output, "frame.interface_name", "frame.protocols", "frame.interface_description")
    links = {name: {protocols.split(":")[0] for n, protocols, _ in rows if n == name} for name, _, _ in rows}
    # Each link's description names both its NETMAP lines (R1-R2's named one: R1's half was made when R1
    # brought its NETMAP, before R2 brought the other line).
    for name, _, description in rows:
        assert " - " not in name or " and " in description.split("NETMAP ", 1)[1], (name, description)
    # The Ethernet link's halves are paired by CDP, which the capture hears only after it starts: on a busy
    # machine a half may carry frames on its own interface first (see the README), never a serial half.
    for half in ("R1 Ethernet0/0", "R2 Ethernet0/0"):
        assert links.pop(half, {"eth"}) == {"eth"}, links
    assert links == {"R1 Ethernet0/0 - R2 Ethernet0/0": {"eth"}, "R1 Serial1/0 - R2 Serial1/0": {"chdlc"},
                     "R2 Serial1/1 - R3 Serial1/1": {"ppp"}}, links
