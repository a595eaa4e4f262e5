"""A GNS3 lab (project file, 64-line NETMAPs, bridges at id+512) captured with no options: one interface
per drawn link, named as the user knows it, each frame once."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import directory_state, tshark_rows
from test_dashboard_terminal import tmux  # noqa: F401 (a fixture: a tmux server of the test's own)

from pcapng_iou.sim import frames
from pcapng_iou.sim.gns3 import Router, write_project
from pcapng_iou.sim.lab import LabProcess

pytestmark = pytest.mark.lab

R1, R2 = Router("R1", 1), Router("R2", 2)
ETHERNET_NAME = "R1 Ethernet0/0 - R2 Ethernet0/0"
SERIAL_NAME = "R1 Serial1/0 - R2 Serial1/0"
ROUNDS = 20


class BridgesProcess:
    def __init__(self, netio_dir: str, cwd: str, *pairs: str):
        self.process = subprocess.Popen([sys.executable, "-m", "pcapng_iou.sim.bridges", "--dir", netio_dir, *pairs],
                                         cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ready", self.process.stderr.read()

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
        out, _ = self.process.communicate(timeout=10)
        return out


@pytest.fixture
def gns3_lab(workdir):
    netio_dir, project = os.path.join(workdir, "netio"), os.path.join(workdir, "project")
    os.makedirs(netio_dir)
    os.makedirs(os.path.join(workdir, "elsewhere"))
    folders = write_project(project, [R1, R2], [((R1, 0, 0), (R2, 0, 0)), ((R1, 1, 0), (R2, 1, 0))])
    started = []
    try:
        started.append(BridgesProcess(netio_dir, os.path.join(workdir, "elsewhere"), "513:0/0=514:0/0",
                                      "513:1/0=514:1/0"))
        for router in (R1, R2):
            started.append(LabProcess(netio_dir, router.instance, os.path.join(folders[router.instance], "NETMAP"),
                                      bays=(1, 1)))
        yield netio_dir, project, started[1], started[2]
    finally:
        for process in reversed(started):
            process.stop()


def introduce(r1, r2) -> list:
    """Each router sends CDP on both links, R1 first (as IOS does at start, before its other chatter)."""
    sent = []
    for router, name in ((r1, "R1"), (r2, "R2")):
        ethernet = frames.cdp(f"aa:bb:cc:00:0{name[1]}:00", name, "Ethernet0/0", f"10.0.0.{name[1]}")
        serial = frames.cdp_over_hdlc(name, "Serial1/0", f"10.0.1.{name[1]}")
        for interface, frame in (("0/0", ethernet), ("1/0", serial)):
            assert router.send(interface, frame) == 1
            sent.append(frame)
        (r2 if router is r1 else r1).wait_received(2)
    return sent


def exchange(r1, r2) -> list:
    """Both routers send on both links, ROUNDS times; every frame sent, in order of sending."""
    sent = []
    for round_number in range(ROUNDS):
        for router, other, interface, frame in (
                (r1, r2, "0/0", frames.arp_request(f"aa:bb:cc:00:01:{round_number:02x}", "10.0.0.1", "10.0.0.2")),
                (r2, r1, "0/0", frames.arp_request(f"aa:bb:cc:00:02:{round_number:02x}", "10.0.0.2", "10.0.0.1")),
                (r1, r2, "1/0", frames.slarp_keepalive(round_number + 1, round_number)),
                (r2, r1, "1/0", frames.slarp_keepalive(round_number + 100, round_number))):
            assert router.send(interface, frame) == 1
            sent.append(frame)
    return sent


def test_a_gns3_lab_gives_one_named_interface_per_drawn_link_and_each_frame_once(gns3_lab, start_capture, workdir,
                                                                                   tshark):
    netio_dir, project, r1, r2 = gns3_lab
    before = directory_state(netio_dir)
    output = os.path.join(workdir, "gns3.pcapng")
    capture = start_capture("-d", netio_dir, "-w", output, cwd=os.path.join(workdir, "elsewhere"))
    assert capture.wait_for("attached", count=4), capture.stderr
    assert capture.wait_for("GNS3 project: 2 drawn links"), capture.stderr
    sent = exchange(r1, r2)
    assert r1.wait_received(2 * ROUNDS) and r2.wait_received(2 * ROUNDS), (r1.errors, r2.errors)
    assert capture.stop() == 0
    assert directory_state(netio_dir) == before
    rows = tshark_rows(tshark, output, "frame.interface_id", "frame.interface_name", "frame.protocols",
                       "frame.packet_flags_direction", "frame.interface_description", "eth.src")
    assert len(rows) == len(sent)  # each frame once
    names = {row[0]: row[1] for row in rows}
    assert sorted(names.values()) == [ETHERNET_NAME, SERIAL_NAME]
    for row in rows:
        assert row[2].startswith("eth" if row[1] == ETHERNET_NAME else "chdlc"), row
        assert "GNS3 project lab.gns3" in row[4]
    # The direction is the sender's: R1's frames outbound, R2's inbound (R1 is the link's first end).  (By the
    # sender's MAC: the two routers' frames reach the capture through two sockets, in either order.)
    ethernet = [row for row in rows if row[1] == ETHERNET_NAME]
    assert [row[3] for row in ethernet] == ["0x00000002" if row[5].startswith("aa:bb:cc:00:01:") else "0x00000001"
                                            for row in ethernet]
    assert {row[3] for row in ethernet} == {"0x00000001", "0x00000002"}
    assert interfaces_in(output) == 2


def interfaces_in(output: str) -> int:
    capinfos = shutil.which("capinfos") or pytest.fail("capinfos is not installed")
    info = subprocess.run([capinfos, "-I", output], capture_output=True, text=True, timeout=60).stdout
    return int(re.search(r"Number of interfaces in file: (\d+)", info).group(1))


def test_without_the_project_file_cdp_names_the_links_and_joins_their_halves(gns3_lab, start_capture, workdir,
                                                                              tshark):
    netio_dir, project, r1, r2 = gns3_lab
    os.unlink(os.path.join(project, "lab.gns3"))
    before = directory_state(netio_dir)
    output = os.path.join(workdir, "cdp.pcapng")
    capture = start_capture("-d", netio_dir, "-w", output, cwd=os.path.join(workdir, "elsewhere"))
    assert capture.wait_for("attached", count=4), capture.stderr
    sent = introduce(r1, r2)
    sent += exchange(r1, r2)
    assert r1.wait_received(2 * ROUNDS + 2) and r2.wait_received(2 * ROUNDS + 2), (r1.errors, r2.errors)
    assert capture.stop() == 0
    assert directory_state(netio_dir) == before
    rows = tshark_rows(tshark, output, "frame.interface_id", "frame.interface_name", "frame.protocols",
                       "frame.comment")
    assert len(rows) == len(sent)  # each frame once
    assert sorted(bytes_of_frames(output)) == sorted(sent)  # every frame either router sent, exactly once
    names = {row[0]: row[1] for row in rows}
    assert len(names) == 2  # exactly two interfaces carry frames, one per drawn link
    for name in names.values():
        assert re.fullmatch(r"R([12]) (Ethernet0/0|Serial1/0) - R(?!\1)[12] \2", name), name  # both ends named
    assert sorted(names.values()) == [ETHERNET_NAME, SERIAL_NAME]
    for row in rows:
        assert row[2].startswith("eth" if "Ethernet" in row[1] else "chdlc"), row
    assert interfaces_in(output) - len(names) <= 2  # at most 2 interfaces without frames
    assert "R1 Ethernet0/0 - R2 Ethernet0/0" in capture.stderr


def bytes_of_frames(output: str) -> list:
    """The frames of ``output`` as bytes, read by tshark (every frame there, whatever its link type)."""
    tshark = shutil.which("tshark") or pytest.fail("tshark is not installed")
    result = subprocess.run([tshark, "-r", output, "-x"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    found = []
    for dump in result.stdout.split("\n\n"):
        hexes = "".join(line[6:53] for line in dump.splitlines() if re.match(r"^[0-9a-f]{4}  ", line))
        if hexes:
            found.append(bytes.fromhex(hexes.replace(" ", "")))
    return found


def test_without_the_project_file_a_count_stops_on_held_frames_and_loses_none(gns3_lab, start_capture, workdir,
                                                                              tshark):
    """R2 stays silent: R1's frames wait for a far end that never speaks.  ``-c 5`` still stops the capture
    at 5 frames, and the stop writes them, in order, on the link named with what was known."""
    netio_dir, project, r1, r2 = gns3_lab
    os.unlink(os.path.join(project, "lab.gns3"))
    output = os.path.join(workdir, "count.pcapng")
    capture = start_capture("-d", netio_dir, "-w", output, "-c", "5", cwd=os.path.join(workdir, "elsewhere"))
    assert capture.wait_for("attached", count=4), capture.stderr
    sent = [frames.cdp("aa:bb:cc:00:01:00", "R1", "Ethernet0/0", "10.0.0.1")]
    sent += [frames.arp_request(f"aa:bb:cc:00:01:{n:02x}", "10.0.0.1", "10.0.0.2") for n in range(1, 8)]
    # R1's CDP first, through to R2: its copy out of the other bridge pairs the halves (frames cross two
    # sockets, whose datagrams the capture may take in either order: the rest waits for it).
    assert r1.send("0/0", sent[0]) == 1
    assert r2.wait_received(1), "R1's CDP did not reach R2"
    for frame in sent[1:]:
        assert r1.send("0/0", frame) == 1
    assert capture.wait(timeout=30) == 0, capture.stderr
    rows = tshark_rows(tshark, output, "frame.interface_name")
    assert rows == [["R1 Ethernet0/0 - IOU 2 Ethernet0/0"]] * 5
    assert sorted(bytes_of_frames(output)) == sorted(sent[:5])
    assert interfaces_in(output) == 1


def test_list_links_names_the_drawn_links_and_exits(gns3_lab, workdir):
    netio_dir, project, r1, r2 = gns3_lab
    before = directory_state(netio_dir)
    result = subprocess.run([sys.executable, "-m", "pcapng_iou", "capture", "-d", netio_dir, "-D"],
                            cwd=os.path.join(workdir, "elsewhere"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"1. {ETHERNET_NAME}\tethernet\tinstances 1, 2, 513, 514\tNETMAP 1:0/0-513:0/0 and 2:0/0-514:0/0",
        f"2. {SERIAL_NAME}\thdlc\tinstances 1, 2, 513, 514\tNETMAP 1:1/0-513:1/0 and 2:1/0-514:1/0",
        "(124 more NETMAP lines no drawn link uses: the ports not connected)"]
    assert directory_state(netio_dir) == before


@pytest.mark.parametrize("flags, wanted", [
    (("--link", "r1 ethernet0/0"), [ETHERNET_NAME]),
    (("--link", SERIAL_NAME), [SERIAL_NAME]),
    (("-i", "2"), [ETHERNET_NAME, SERIAL_NAME]),
])
def test_link_names_and_instances_select_what_is_recorded_both_ways(gns3_lab, start_capture, workdir, tshark,
                                                                    flags, wanted):
    netio_dir, project, r1, r2 = gns3_lab
    output = os.path.join(workdir, "some.pcapng")
    capture = start_capture("-d", netio_dir, "-w", output, *flags, cwd=os.path.join(workdir, "elsewhere"))
    assert capture.wait_for("attached", count=4), capture.stderr
    sent = exchange(r1, r2)
    assert r1.wait_received(2 * ROUNDS) and r2.wait_received(2 * ROUNDS), (r1.errors, r2.errors)
    assert capture.stop() == 0
    rows = tshark_rows(tshark, output, "frame.interface_name", "frame.packet_flags_direction")
    assert sorted({row[0] for row in rows}) == wanted
    assert len(rows) == len(sent) // 2 * len(wanted)
    assert {row[1] for row in rows} == {"0x00000001", "0x00000002"}  # both directions


def test_names_given_on_the_command_line_come_first(gns3_lab, workdir):
    netio_dir, project, r1, r2 = gns3_lab
    result = subprocess.run([sys.executable, "-m", "pcapng_iou", "capture", "-d", netio_dir, "-D", "--name", "2=core",
                             "--link", "core Serial1/0"], cwd=os.path.join(workdir, "elsewhere"), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["1. R1 Serial1/0 - core Serial1/0"]


def test_the_extcap_dialog_offers_the_drawn_links_by_name(gns3_lab, workdir):
    netio_dir, project, r1, r2 = gns3_lab
    result = subprocess.run([sys.executable, "-m", "pcapng_iou", "extcap", "--extcap-config", "--extcap-interface",
                             "iou", "--netio-dir", netio_dir], cwd=os.path.join(workdir, "elsewhere"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    values = [line for line in result.stdout.splitlines() if line.startswith("value ")]
    assert values == [f"value {{arg=4}}{{value={ETHERNET_NAME}}}{{display={ETHERNET_NAME} (ethernet)}}{{default=false}}",
                      f"value {{arg=4}}{{value={SERIAL_NAME}}}{{display={SERIAL_NAME} (hdlc, followed)}}"
                      "{default=false}"]


@pytest.mark.terminal
def test_at_80_columns_the_dashboard_shows_the_drawn_links_by_name_with_their_file_ids(gns3_lab, workdir, tmux,
                                                                                       tshark):
    """In an 80x24 terminal the links read as the user drew them, whole, never as the NETMAP ids of their
    halves; ``#`` is the interface id Wireshark gives them in the file."""
    from test_dashboard_terminal import _capture_pid, _pane, _wait_for_text

    netio_dir, project, r1, r2 = gns3_lab
    output = os.path.join(workdir, "tty.pcapng")
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "pcapng_iou", "capture", "-d", netio_dir,
                                                  "-w", output])
    session = f"pcapng-iou-gns3-{os.getpid()}"
    subprocess.run([tmux, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c",
                    os.path.join(workdir, "elsewhere"), f"env -u COLUMNS -u LINES {command}; echo EXIT=$?; sleep 30"],
                   check=True)
    try:
        _wait_for_text(tmux, session, "instance 514 attached")
        sent = exchange(r1, r2)
        assert r1.wait_received(2 * ROUNDS) and r2.wait_received(2 * ROUNDS), (r1.errors, r2.errors)
        deadline = time.monotonic() + 20
        while not re.search(rf"frames {len(sent)}\b", _pane(tmux, session)):  # (the header's count, redrawn)
            assert time.monotonic() < deadline, _pane(tmux, session)
            time.sleep(0.1)
        screen = _pane(tmux, session)
        os.kill(_capture_pid(output), signal.SIGTERM)
        _wait_for_text(tmux, session, "EXIT=0", timeout=20)
    finally:
        subprocess.run([tmux, "kill-session", "-t", session], capture_output=True)
    shown = {}
    for line in screen.splitlines():
        assert len(line) <= 80
        for name in (ETHERNET_NAME, SERIAL_NAME):
            found = re.match(rf"^\s*(\d+)  {re.escape(name)}  +(ethernet|hdlc)\s", line)
            if found:
                shown[name] = found.group(1)
    assert "513:" not in screen and "514:" not in screen, screen  # no half-link ids in the table
    in_file = {row[1]: row[0] for row in tshark_rows(tshark, output, "frame.interface_id", "frame.interface_name")}
    assert shown == in_file, screen
