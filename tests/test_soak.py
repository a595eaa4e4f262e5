"""``pcapng-iou bench --soak``: a short real soak is exact; its checks catch what they must.

Nothing here is timed: the soak runs for a few seconds and every count it
prints is asserted exactly, not how fast anything went.
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from conftest import cli_command, run_cli

from pcapng_iou.bench.soak import PORT, Soak, SoakSettings
from pcapng_iou.core import netio
from pcapng_iou.sim.numbered import numbered_frame

pytestmark = pytest.mark.bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def result():
    command = cli_command("bench", "--soak", "4", "--capture-every", "1", "--rate", "500",
                          "--hogs", "1", "--json", "-q")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1) and done.stdout.startswith("{"), done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert done.returncode == (0 if result["ok"] else 1)
    return result


@pytest.mark.lab
def test_every_frame_arrived_exactly_once(result):
    assert result["failures"] == []
    assert result["frames_sent"] == result["frames_received"] > 0
    assert (result["losses"], result["duplicates"], result["corrupt"]) == (0, 0, 0)
    assert len(result["streams"]) == 4
    for stream in result["streams"]:
        assert stream["sent"] == stream["received"] > 0


@pytest.mark.lab
def test_every_frame_arrived_in_order(result):
    """Issue 18: captures stopped under a flood beside a CPU hog; detaching seals our socket first."""
    assert result["reorders"] == 0
    assert result["ok"] and result["failures"] == []


@pytest.mark.lab
def test_captures_came_and_went_cleanly(result):
    assert result["captures"] >= 3  # the run goes on until it has had three
    assert result["capture_exit_statuses"] == [0] * result["captures"]
    assert result["reloads_done"] >= 1 and result["reloads_sent"] >= result["reloads_done"]
    assert result["idle_instances_started"] >= 1 and result["idle_instances_failed"] == 0
    assert result["netio_directory_as_before"]
    assert result["capture_fds"]["start"] > 0 and result["capture_rss_kb"]["end"] > 0
    assert result["bench_fds"]["start"] > 0 and result["bench_rss_kb"]["end"] > 0


@pytest.mark.lab
def test_the_hogs_are_gone(result):
    assert len(result["hog_pids"]) == 1
    for pid in result["hog_pids"]:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                state = handle.read().rpartition(")")[2].split()[0]
        except OSError:  # reaped, before or while it is read
            continue
        assert state == "Z"


@pytest.mark.lab
def test_the_printed_summary_names_every_count():
    command = cli_command("bench", "--soak", "1", "--capture-every", "0.5", "--rate", "200",
                          "--streams", "1", "--min-captures", "1", "-q")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    for word in ("reorders", "losses", "duplicates", "corrupt", "captures", "exit statuses", "reloads",
                 "capture fds", "capture RSS", "bench fds", "bench RSS", "netio directory as before: yes"):
        assert word in done.stdout
    verdict, _, problems = done.stdout.rpartition("\n\n")[2].partition("\n")
    assert done.returncode == 0 and verdict.startswith("passed") and not problems, done.stdout + done.stderr


@pytest.mark.lab
@pytest.mark.parametrize("options", [["--hogs", "-1"], ["--size", "40"]])
def test_bad_options_are_refused(options):
    done = run_cli("bench", "--soak", "1", *options, cwd=ROOT)
    assert done.returncode == 2
    assert "error" in done.stderr and "--soak" in done.stderr


@pytest.mark.lab
def test_a_doubled_frame_fails_the_soak():
    """A frame slipped in behind the stream's back must show as a duplicate and fail the run."""
    soak = Soak(SoakSettings(1.0, streams=1, rate=300))
    try:
        soak.start_lab()
        soak.before = {}
        sender, receiver = soak.senders[0], soak.receivers[0]
        soak.instances[sender].stream(PORT, 300, 100)
        deadline = time.monotonic() + 60
        while soak.instances[receiver].tally().get(f"{sender}:0", {"next": 0})["next"] < 10:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        header = netio.Header(receiver, sender, 0, 0).pack()
        assert soak.instances[sender].send_raw(receiver, header + numbered_frame(sender, 0, 3, 100))
        streams = soak.finish()
    finally:
        soak.close()
    assert streams[0]["duplicates"] == 1
    assert any("1 duplicates" in text for text in soak.failures)
