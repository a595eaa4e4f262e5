"""Issue 24, item 11 (and issue 29's "8 frames ... could not be delivered" against "undelivered 9"): the
counters of the summary add up, and agree with the warnings, with a killed router and with a stalled one."""
from __future__ import annotations

import os
import re
import signal

from conftest import read_packets
import pytest

pytestmark = pytest.mark.lab


def summary_counts(stderr: str) -> dict:
    line = re.search(r"^frames ([\d,]+) +datagrams relayed ([\d,]+) +malformed ([\d,]+) +undelivered ([\d,]+)"
                     r"(?: +not recorded ([\d,]+))?", stderr, re.M)
    assert line, stderr
    numbers = [int((value or "0").replace(",", "")) for value in line.groups()]
    return dict(zip(("frames", "relayed", "malformed", "undelivered", "unrecorded"), numbers))


def assert_adds_up(counts: dict) -> None:
    assert counts["relayed"] + counts["undelivered"] == counts["frames"] + counts["malformed"] + counts["unrecorded"], \
        counts


def _held_for_a_stopped_router(make_lab, start_capture, workdir, name):
    lab = make_lab("103:0/0 101:0/1\n")
    output = os.path.join(workdir, name)
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output)
    assert capture.wait_for("attached", count=2)
    lab[101].signal(signal.SIGSTOP)
    lab[103].post("flood 0/0 500 100")
    assert capture.wait_for("instance 101 takes no frames (stopped?)", timeout=10), capture.stderr
    return lab, capture, output


def test_with_a_killed_router_the_counts_add_up_and_the_warning_says_them_all(make_lab, start_capture, workdir):
    lab, capture, output = _held_for_a_stopped_router(make_lab, start_capture, workdir, "killed.pcapng")
    lab[101].signal(signal.SIGKILL)
    assert capture.wait_for("instance 101 died", timeout=10), capture.stderr
    lab[103].post("flood 0/0 20 100")  # sent to the dead one's name meanwhile: refused while relaying
    assert capture.stop() == 0
    counts = summary_counts(capture.stderr)
    assert_adds_up(counts)
    warned = sum(int(n) for n in re.findall(r"(\d+) frames? for it could not be delivered", capture.stderr))
    assert warned == counts["undelivered"] >= 1, capture.stderr
    assert len(read_packets(output)) == counts["frames"]


def test_with_a_stalled_router_at_the_stop_the_counts_add_up(make_lab, start_capture, workdir):
    lab, capture, output = _held_for_a_stopped_router(make_lab, start_capture, workdir, "stalled.pcapng")
    try:
        assert capture.stop() == 0
    finally:
        lab[101].signal(signal.SIGCONT)
    counts = summary_counts(capture.stderr)
    assert_adds_up(counts)
    warned = re.search(r"instance 101: (\d+) frames? for it could not be delivered", capture.stderr)
    assert warned and int(warned.group(1)) == counts["undelivered"] >= 1, capture.stderr
    assert len(read_packets(output)) == counts["frames"]


def test_a_router_killed_in_the_middle_of_a_flood_is_warned_about_with_every_frame_it_missed(make_lab,
                                                                                              start_capture, workdir):
    """The first frame sent on after the kill is refused while relaying, the rest are found when the
    instance is buried: the warning counted only the latter (issue 29: "8 frames" against "undelivered 9")."""
    lab = make_lab("103:0/0 101:0/1\n")
    output = os.path.join(workdir, "mid-flood.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output)
    assert capture.wait_for("attached", count=2)
    lab[103].post("flood 0/0 200000 100")
    assert lab[101].wait_received(100, timeout=10)
    lab[101].signal(signal.SIGKILL)
    assert capture.wait_for("instance 101 died", timeout=10), capture.stderr
    assert capture.stop() == 0
    counts = summary_counts(capture.stderr)
    assert_adds_up(counts)
    warned = sum(int(n) for n in re.findall(r"(\d+) frames? for it could not be delivered", capture.stderr))
    assert warned == counts["undelivered"] >= 1, capture.stderr
