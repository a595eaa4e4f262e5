"""What a person reads about interfaces names them by their id in the file: reload messages, a link
set right by its first frame, the rows of the dashboard and the summary, the counts' plurals."""
from __future__ import annotations

import os
import time
import signal
import subprocess

import pytest
from conftest import tshark_rows
from test_dashboard import lines_of, make_status
from test_recorder import LCP, SLARP, T0, dgram, epbs

from pcapng_iou.core import linktypes
from pcapng_iou.core.bays import Bays
from pcapng_iou.core.netmap import parse
from pcapng_iou.core.recorder import Recorder
from pcapng_iou.core.reload import change_notes
from pcapng_iou.ui.dashboard import render, summary

SERIAL_BAYS = Bays(1, 2)


def serial_recorder(text: str) -> Recorder:
    recorder = Recorder(parse(text), bays={n: SERIAL_BAYS for n in (1, 2, 3)})
    recorder.start()
    return recorder


def test_a_link_set_right_by_its_first_frame_has_one_interface_and_one_row():
    """The Cisco HDLC guess of a serial bay that PPP's first frame put right never had a block: no
    row says "replaced by #0", and the notice speaks of no new interface (there was no old one)."""
    recorder = serial_recorder("1:1/1 2:1/1\n")
    out = recorder.datagram(dgram("1:1/1", "2:1/1", LCP[0]), T0)
    assert [e[0] for e in epbs(out)] == [0]
    status = make_status(recorder.links.interfaces, frames_recorded=1)
    live = lines_of(render(status, {}, 120, 30))
    rows = [line for line in live if line.split()[1:2] == ["1:1/1-2:1/1"]]
    assert len(rows) == 1 and rows[0].split()[:3] == ["0", "1:1/1-2:1/1", "ppp"], live
    assert not any("replaced" in line for line in live), live
    assert not any("replaced" in line for line in lines_of(summary(status)))
    assert recorder.take_notices() == ["1:1/1-2:1/1: ppp from its first frame"]


def test_counts_agree_with_their_nouns():
    recorder = serial_recorder("1:1/0 2:1/0\n")
    recorder.datagram(dgram("1:1/0", "2:1/0", SLARP[0]), T0)
    head = lines_of(summary(make_status(recorder.links.interfaces, frames_recorded=1)))[0]
    assert "1 interface in the file" in head, head
    recorder.datagram(dgram("1:1/1", "2:1/1", SLARP[0]), T0 + 1)
    head = lines_of(summary(make_status(recorder.links.interfaces, frames_recorded=2)))[0]
    assert "2 interfaces in the file" in head, head


def test_reload_notes_name_interfaces_by_their_id_in_the_file():
    """Internal numbers (creation order, guesses included) differ from the ids in the file; the
    notes give the ids, as the packet comments and capinfos do."""
    recorder = serial_recorder("1:1/0 2:1/0\n2:1/1 3:1/1\n")
    recorder.datagram(dgram("2:1/1", "3:1/1", LCP[0]), T0)        # ppp from its first frame: file id 0
    recorder.datagram(dgram("1:1/0", "2:1/0", SLARP[0]), T0 + 1)  # hdlc indeed: file id 1
    hdlc = recorder.links.current()[0]
    assert (hdlc.name, hdlc.number, hdlc.file_id) == ("1:1/0-2:1/0", 0, 1)
    out, result = recorder.reload(parse("1:1/0 2:1/0 ppp\n2:1/1 3:1/1 ppp\n"), "12:00:00")
    assert change_notes(result) == [
        "1:1/0-2:1/0: link type hdlc -> ppp, on a new interface from its next frame; its frames so far "
        "are on interface #1",
        "2:1/1-3:1/1: still ppp on the same interface #0, now as written on its NETMAP line"]
    assert result.summary() == "0 added, 1 changed, 0 removed, 1 unchanged"
    out = recorder.datagram(dgram("1:1/0", "2:1/0", LCP[1]), T0 + 2)
    out += recorder.datagram(dgram("2:1/1", "3:1/1", LCP[2]), T0 + 3)
    packets = epbs(out)
    assert [p[0] for p in packets] == [2, 0]  # (the PPP link goes on on its interface: no new block)
    assert any("earlier frames are on interface 1" in c for c in packets[0][3]), packets[0][3]


def test_a_line_that_loses_its_written_serial_type_keeps_its_interface():
    """``ppp`` taken off a line of serial bays: the bays' Cisco HDLC guess would be known wrong (the
    link records PPP): the same interface goes on, following the frames."""
    recorder = serial_recorder("1:1/0 2:1/0 ppp\n")
    recorder.datagram(dgram("1:1/0", "2:1/0", LCP[0]), T0)
    written, = recorder.links.current()
    _, result = recorder.reload(parse("1:1/0 2:1/0\n"), "12:00:00")
    assert result.changed == [] and result.kept_as == [written]
    assert change_notes(result) == ["1:1/0-2:1/0: still ppp on the same interface #0, now followed from its frames"]
    assert (written.auto, written.linktype) == (True, linktypes.PPP_SERIAL)
    out = b"".join(recorder.datagram(dgram("1:1/0", "2:1/0", LCP[i]), T0 + i) for i in range(1, 4))
    assert [p[0] for p in epbs(out)] == [0, 0, 0]


@pytest.mark.lab
def test_reload_says_the_ids_of_the_file(make_lab, start_capture, workdir, tshark, capinfos):
    """The newcomer's run: a serial link on HDLC, one followed to PPP from its first frame, then
    both lines get ``ppp`` written and ``kill -HUP``.  The console named internal numbers ("interface
    1 -> 4", "ppp -> ppp (interface 3 -> 5)") and the PPP link got a second interface for nothing."""
    lab = make_lab("1:1/0 2:1/0\n2:1/1 3:1/1\n", bays={n: (1, 2) for n in (1, 2, 3)})
    output = os.path.join(workdir, "ids.pcapng")
    netmap = os.path.join(workdir, "hup.NETMAP")
    with open(lab.netmap_path) as source, open(netmap, "w") as copy:
        copy.write(source.read())
    capture = start_capture("-d", lab.directory, "-n", netmap, "-w", output)
    assert capture.wait_for("attached", count=3), capture.stderr
    lab[2].send("1/1", LCP[0])
    assert lab[3].wait_received(1) and capture.wait_for("2:1/1-3:1/1: ppp from its first frame"), capture.stderr
    lab[1].send("1/0", SLARP[0])
    assert lab[2].wait_received(1)
    with open(netmap, "w") as edited:
        edited.write("1:1/0 2:1/0 ppp\n2:1/1 3:1/1 ppp\n")
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("NETMAP reloaded", timeout=5), capture.stderr
    assert capture.wait_for("2:1/1-3:1/1: still ppp", timeout=5), capture.stderr
    lab[1].send("1/0", LCP[1])
    assert lab[2].wait_received(2)
    lab[2].send("1/1", LCP[2])
    assert lab[3].wait_received(2)
    assert capture.stop() == 0, capture.stderr
    said = [line for line in capture.lines if "1:1/0-2:1/0: link type" in line or "2:1/1-3:1/1: still" in line]
    assert said == [
        "pcapng-iou: 1:1/0-2:1/0: link type hdlc -> ppp, on a new interface from its next frame; its frames so "
        "far are on interface #1",
        "pcapng-iou: 2:1/1-3:1/1: still ppp on the same interface #0, now as written on its NETMAP line"], \
        capture.stderr
    assert not any("ppp -> ppp" in line for line in capture.lines), capture.stderr
    rows = tshark_rows(tshark, output, "frame.interface_id", "frame.interface_name", "frame.protocols")
    assert [(r[0], r[1], r[2].split(":")[0]) for r in rows] == [
        ("0", "2:1/1-3:1/1", "ppp"), ("1", "1:1/0-2:1/0", "chdlc"), ("2", "1:1/0-2:1/0", "ppp"),
        ("0", "2:1/1-3:1/1", "ppp")]
    info = subprocess.run([capinfos, output], capture_output=True, text=True).stdout
    assert "Number of interfaces in file: 3" in info, info
    assert "3 interfaces in the file" in capture.stderr and "replaced by #2" in capture.stderr, capture.stderr


def test_one_of_a_kind_is_said_in_the_singular():
    from test_dashboard import make_interface

    from pcapng_iou.core.ring import FileLimits, FileSeries
    from pcapng_iou.ui import dashboard

    busy = [make_interface(n, (100, n), (101, n), frames=(n + 1, 0)) for n in range(dashboard.SUMMARY_MAX_ROWS + 1)]
    lines = lines_of(summary(make_status(busy)), width=200)
    assert any("… 1 more link not shown (1 of them with frames)" in line for line in lines), lines
    lines = lines_of(render(make_status(busy[:1]), {}, 120, 4))
    assert lines[-1] == "… 1 link hidden (terminal too small)", lines
    limits = FileLimits(ring=True, file_bytes=1000, stop_after_files=1)
    assert limits.describe().endswith("stopping after 1 file")
    series = FileSeries("lab.pcapng", limits)
    series.next_file(time.localtime(0))
    assert series.stop_reason() == "1 file written"


def test_a_reload_before_a_links_first_frame_speaks_of_no_interface():
    """Nothing was recorded on the link: the file never had its old link type, so no interface is named."""
    recorder = Recorder(parse("1:0/0 2:0/0\n"))
    recorder.start()
    _, result = recorder.reload(parse("1:0/0 2:0/0 ppp\n"), "12:00:00")
    assert change_notes(result) == ["1:0/0-2:0/0: link type ethernet -> ppp (no frame recorded on it yet)"]
    status = make_status(recorder.links.interfaces)
    assert [line.split()[:3] for line in lines_of(render(status, {}, 120, 30)) if "1:0/0-2:0/0" in line] == [
        ["-", "1:0/0-2:0/0", "ppp"]]  # (one row: the one replaced before any frame has none)
