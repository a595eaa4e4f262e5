"""Long captures end to end: ring buffer (-b/-a), --link selection and -s snap length on a real lab.

Simulated instances flood numbered frames through the real ``pcapng-iou capture``;
capinfos and tshark read every file it writes; the receivers check every frame
arrived exactly, in order and once.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess

import pytest
from conftest import directory_state, read_packets, tshark_rows, wait_until

from pcapng_iou.sim import numbered

pytestmark = pytest.mark.lab

NETMAP = """\
100:0/0 101:0/0
100:1/0 101:1/0
"""
#: dumpcap's names for -w ring.pcapng.
SERIES = re.compile(r"^ring_(\d{5})_(\d{14})\.pcapng$")
FLOOD = 3000
SIZE = 200


def series_files(folder: str) -> list:
    return sorted(name for name in os.listdir(folder) if SERIES.match(name))


def tally(lab_process) -> dict:
    reply = lab_process.command("tally")
    assert reply.startswith("tally "), reply
    return json.loads(reply[len("tally "):])


def test_ring_of_one_link_cut_to_60_bytes(make_lab, start_capture, workdir, tshark, capinfos):
    """The issue's check: -b filesize:64 -b files:3 --link 100:0/0-101:0/0 -s 60 on a flood."""
    lab = make_lab(NETMAP, quiet=True)
    before = directory_state(lab.directory)
    out = os.path.join(workdir, "out")
    os.mkdir(out)
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", os.path.join(out, "ring.pcapng"),
                            "-b", "filesize:64", "-b", "files:3", "--link", "100:0/0-101:0/0", "-s", "60")
    assert capture.wait_for("attached", count=2), capture.stderr
    assert "ring buffer: a new file every 64 kB, keeping the newest 3" in capture.stderr
    for interface in ("0/0", "1/0"):
        assert lab[100].command(f"flood {interface} {FLOOD} {SIZE}") == f"sent {FLOOD}"
    assert wait_until(lambda: sum(f["good"] for f in tally(lab[101]).values()) >= 2 * FLOOD, 60), tally(lab[101])
    assert capture.stop(signal.SIGINT) == 0, capture.stderr
    assert directory_state(lab.directory) == before

    # Every datagram of both links relayed, exactly, in order, once.
    flows = tally(lab[101])
    assert flows == {f"100:{port}": {"next": FLOOD, "good": FLOOD, "reordered": 0, "duplicates": 0,
                                     "corrupt": 0, "missing": 0} for port in (0, 1)}

    # At most 3 files, dumpcap's names, numbered on from the deleted ones.
    names = series_files(out)
    assert os.listdir(out) == names or sorted(os.listdir(out)) == names
    assert 1 <= len(names) <= 3, names
    numbers = [int(SERIES.match(name).group(1)) for name in names]
    # 3000 frames of 60 stored bytes (+ 44 of block) are ~300 kB: about 5 files of 64 kB were written.
    assert numbers == list(range(numbers[0], numbers[0] + len(names))) and numbers[-1] >= 4, names

    recorded = []
    for index, name in enumerate(names):
        path = os.path.join(out, name)
        info = subprocess.run([capinfos, "-M", "-T", "-r", "-I", path], capture_output=True, text=True, timeout=60)
        assert info.returncode == 0, (name, info.stderr)
        report = subprocess.run([capinfos, path], capture_output=True, text=True, timeout=60).stdout
        assert "Number of interfaces in file: 1" in report, report
        assert "Interface #0 info:" in report and "Name = 100:0/0-101:0/0" in report, report
        assert re.search(r"Capture length = 60\b", report), report
        assert "Number of stat entries = 1" in report, report
        if index < len(names) - 1:
            # A full file: past 64 kB by less than one frame's block (no frame split, none left over).
            assert 64_000 <= os.path.getsize(path) < 64_000 + 200, (name, os.path.getsize(path))
        rows = tshark_rows(tshark, path, "frame.interface_name", "frame.cap_len", "frame.len")
        assert rows and all(row == ["100:0/0-101:0/0", "60", str(SIZE)] for row in rows), rows[:3]
        for _, frame, _, _ in read_packets(path):
            recorded.append(numbered.parse(frame))
    # The frames kept are the newest, one after the other across the files, none lost at a switch.
    assert all((instance, port) == (100, 0) for instance, port, _ in recorded)
    kept = [number for *_, number in recorded]
    assert kept == list(range(FLOOD - len(kept), FLOOD)), (kept[:3], kept[-3:])


def capinfos_report(capinfos: str, path: str) -> str:
    result = subprocess.run([capinfos, path], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (path, result.stderr)
    return result.stdout


def interfaces_of(capinfos: str, path: str) -> list:
    """(name, encapsulation) of every interface capinfos finds in ``path``."""
    report = capinfos_report(capinfos, path)
    names = re.findall(r"^\s+Name = (.*)$", report, re.M)
    kinds = re.findall(r"^\s+Encapsulation = .*\((\d+) - ", report, re.M)
    return list(zip(names, map(int, kinds)))


def test_duration_ring_stops_after_n_files_and_the_dashboard_follows(make_lab, workdir, capinfos):
    """-b duration:0.8 -a files:3 in process: the dashboard's status names each file as it is written."""
    from pcapng_iou.core.ring import file_limits
    from pcapng_iou.shell.capture import Capture, CaptureOptions

    lab = make_lab(NETMAP, speak=True, interval=0.2, quiet=True)
    before = directory_state(lab.directory)
    out = os.path.join(workdir, "out")
    os.mkdir(out)
    options = CaptureOptions(netio_dir=lab.directory, output=os.path.join(out, "ring.pcapng"),
                             netmap_path=lab.netmap_path, comment="overnight soak",
                             limits=file_limits([("duration", 0.8)], [("files", 3)], to_stdout=False))
    capture = Capture(options)
    shown = []
    capture.on_tick = lambda status: shown.append(status.output) if status.output not in shown else None
    assert capture.run() == 0
    assert capture.stop.reason == "3 files written"
    assert directory_state(lab.directory) == before
    names = series_files(out)
    assert [int(SERIES.match(name).group(1)) for name in names] == [1, 2, 3]
    assert [os.path.basename(path) for path in shown] == names
    for name in names:
        path = os.path.join(out, name)
        report = capinfos_report(capinfos, path)
        assert "Capture comment:     overnight soak" in report, report
        assert report.count("Number of stat entries = 1") == 2, report
        assert interfaces_of(capinfos, path) == [("100:0/0-101:0/0", 1), ("100:1/0-101:1/0", 1)]
        assert read_packets(path), name  # the routers talk every 0.2 s


def test_reload_mid_file_goes_into_this_file_and_the_next(make_lab, start_capture, workdir, capinfos):
    lab = make_lab("100:0/0 101:0/0\n100:1/0 101:1/0 hdlc\n", speak=True, interval=0.2, quiet=True)
    out = os.path.join(workdir, "out")
    os.mkdir(out)
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", os.path.join(out, "ring.pcapng"),
                            "-b", "duration:1.5")
    assert capture.wait_for("attached", count=2), capture.stderr
    with open(lab.netmap_path, "w") as handle:
        handle.write("100:0/0 101:0/0\n100:1/0 101:1/0 ppp\n100:0/1 101:0/1\n")
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("NETMAP reloaded"), capture.stderr
    reloaded_in = len(series_files(out))
    assert wait_until(lambda: len(series_files(out)) >= reloaded_in + 2, 20), series_files(out)
    assert capture.stop(signal.SIGTERM) == 0, capture.stderr
    # capinfos names encapsulations by Wireshark's numbers: 1 Ethernet, 28 Cisco HDLC, 4 PPP.
    before = [("100:0/0-101:0/0", 1), ("100:1/0-101:1/0", 28)]
    files = [interfaces_of(capinfos, os.path.join(out, name)) for name in series_files(out)]
    # Each file has the interfaces that carried frames in it (their blocks come with their first frame there).
    # Files before the reload: the two links.  The file of the reload: those, and the new PPP interface.
    # Every later file: the current links only, at their current link types (the routers do not speak on
    # the added link: it has no frames, so no interface).
    after = {("100:0/0-101:0/0", 1), ("100:1/0-101:1/0", 4)}
    during = set(before) | after
    for earlier in files[:reloaded_in - 1]:
        assert sorted(earlier) == sorted(before), files
    assert set(files[reloaded_in - 1]) <= during and len(set(files[reloaded_in - 1])) == len(files[reloaded_in - 1])
    assert ("100:1/0-101:1/0", 4) in files[reloaded_in - 1] or files[reloaded_in:], files
    for later in files[reloaded_in:-1]:
        assert set(later) == after and len(later) == 2, files
    assert set(files[-1]) <= after, files  # (the last file may end before any frame came: no interface then)


def test_disk_full_while_rotating(make_lab, small_filesystem, start_capture):
    """A ring on a 256 KiB filesystem with no file limit: one error line, status 1, sockets back, nothing lost."""
    lab = make_lab(NETMAP, quiet=True)
    before = directory_state(lab.directory)
    output = os.path.join(small_filesystem, "ring.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output, "-b", "filesize:64")
    assert capture.wait_for("attached", count=2), capture.stderr
    assert lab[100].command(f"flood 0/0 {FLOOD} {SIZE}") == f"sent {FLOOD}"
    assert capture.wait(30) == 1, capture.stderr
    errors = [line for line in capture.lines if ": error: " in line]
    assert len(errors) == 1, capture.stderr
    assert re.match(rf"^pcapng-iou: error: cannot write {re.escape(small_filesystem)}/ring_000\d\d_\d{{14}}"
                    rf"\.pcapng: No space left on device$", errors[0]), errors
    assert directory_state(lab.directory) == before
    assert wait_until(lambda: tally(lab[101]).get("100:0", {}).get("good") == FLOOD, 30), tally(lab[101])
    flow = tally(lab[101])["100:0"]
    assert (flow["missing"], flow["duplicates"], flow["corrupt"]) == (0, 0, 0), flow


def test_autostop_filesize_on_one_file(make_lab, start_capture, workdir, capinfos):
    lab = make_lab(NETMAP, quiet=True)
    before = directory_state(lab.directory)
    output = os.path.join(workdir, "one.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output, "-a", "filesize:20")
    assert capture.wait_for("attached", count=2), capture.stderr
    assert lab[100].command(f"flood 0/0 {FLOOD} {SIZE}") == f"sent {FLOOD}"
    assert capture.wait(30) == 0, capture.stderr
    assert "pcapng-iou: file size of 20 kB reached" in capture.stderr
    assert directory_state(lab.directory) == before
    assert os.listdir(workdir).count("one.pcapng") == 1 and not series_files(workdir)
    # Stopped at the first frame past 20 kB, none recorded after it (the statistics blocks come on top).
    frames_size = os.path.getsize(output) - 2 * 40
    assert 20_000 <= frames_size < 20_000 + SIZE + 64, os.path.getsize(output)
    assert "Number of stat entries = 1" in capinfos_report(capinfos, output)
    assert wait_until(lambda: tally(lab[101]).get("100:0", {}).get("good") == FLOOD, 30), tally(lab[101])


@pytest.mark.parametrize("option", [["-c", "50"], ["-a", "packets:50"]])
def test_count_records_exactly_that_many_frames_under_a_flood(option, make_lab, start_capture, workdir):
    """The frames still being relayed once the count is reached (same batch, drained at detach) are not recorded."""
    lab = make_lab(NETMAP, quiet=True)
    output = os.path.join(workdir, "fifty.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output, *option)
    assert capture.wait_for("attached", count=2), capture.stderr
    assert lab[100].command(f"flood 0/0 {FLOOD} {SIZE}") == f"sent {FLOOD}"
    assert capture.wait(30) == 0, capture.stderr
    numbers = [numbered.parse(frame)[2] for _, frame, _, _ in read_packets(output)]
    assert numbers == list(range(50)), numbers[-5:]
    assert wait_until(lambda: tally(lab[101]).get("100:0", {}).get("good") == FLOOD, 30), tally(lab[101])
