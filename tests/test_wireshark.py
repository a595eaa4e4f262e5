"""Wireshark and tshark as the readers: live standard output, the extcap interface, statistics.

Real processes throughout: simulated IOU instances, ``pcapng-iou capture -w -``
read live by tshark, tshark capturing through the installed extcap, capinfos on
the result.  The extcap is always installed into a temporary personal folder
(HOME and XDG_CONFIG_HOME point into the test's directory), never the real one.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import directory_state, isb_time, read_packets, run_cli, scan, start_cli, tshark_rows, wait_until
from pcapng.blocks import (
    EnhancedPacket,
    InterfaceDescription,
    InterfaceStatistics,
    SectionHeader,
)
from test_capture_e2e import NETMAP as FOUR_LINKS
from test_capture_e2e import protocol_frames

import pcapng_iou
from pcapng_iou.core import netio
from pcapng_iou.sim import frames
from pcapng_iou.app import extcap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(pcapng_iou.__file__)))
TWO_LINKS = "100:0/0 101:0/0\n100:1/0 101:1/0 hdlc\n"
MAC_100, MAC_101 = "aa:bb:cc:00:64:00", "aa:bb:cc:00:65:00"


# --- helpers -------------------------------------------------------------------------------
def extcap_env(workdir: str) -> dict:
    """An environment whose personal Wireshark folders are inside ``workdir``.

    PYTHONPATH makes the extcap that tshark starts run the code under test.
    """
    env = dict(os.environ)
    env.pop("WIRESHARK_CONFIG_DIR", None)
    env["HOME"] = os.path.join(workdir, "home")
    env["XDG_CONFIG_HOME"] = os.path.join(workdir, "home", ".config")
    os.makedirs(env["XDG_CONFIG_HOME"], exist_ok=True)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p)
    return env


def run_tshark(tshark: str, *args, env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([tshark, *args], capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def install_extcap(tshark: str, workdir: str) -> tuple:
    """Install into the temporary personal extcap folder; return (env, path of the executable)."""
    env = extcap_env(workdir)
    result = run_cli("extcap", "--install", env=env)
    assert result.returncode == 0, result.stderr
    path = result.stdout.split()[1]
    assert path.startswith(workdir + os.sep), path  # never the real personal folder
    return env, path


def wait_attached(capture, count):
    assert capture.wait_for("attached", count=count), capture.stderr


class LineReader:
    """Collects the lines a child writes on a pipe, from a thread."""

    def __init__(self, stream):
        self.lines: list = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for raw in stream:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))


class ByteReader:
    def __init__(self, stream):
        self.data = bytearray()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        while True:
            chunk = stream.read1(65536)
            if not chunk:
                return
            self.data += chunk


# --- pcapng-iou capture -w - | tshark / wireshark -k -i - ------------------------------
def test_tshark_decodes_standard_output_live_while_the_capture_runs(make_lab, start_capture, tshark):
    lab = make_lab(TWO_LINKS)
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", "-")
    # As 'wireshark -k -i -' does: a pipe interface, read through dumpcap.
    reader = subprocess.Popen(
        [tshark, "-i", "-", "-l", "-T", "fields", "-E", "separator=|",
         "-e", "frame.interface_id", "-e", "frame.interface_name", "-e", "frame.protocols"],
        stdin=capture.process.stdout, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        rows = LineReader(reader.stdout)
        wait_attached(capture, 2)
        lab[100].send("0/0", frames.arp_request(MAC_100, "10.0.0.1", "10.0.0.2"))
        lab[101].send("1/0", frames.slarp_keepalive(5, 4))
        assert wait_until(lambda: len(rows.lines) >= 2, 20), (rows.lines, capture.stderr)
        assert capture.process.poll() is None  # decoded while the capture still runs
        # A link no NETMAP line names: its interface block is written mid-stream, ahead of its frame.
        # (Ethernet bay 0: the instances run with -e 1 -s 2, and bay kinds type the unmapped pair.)
        header = netio.Header(101, 100, netio.port_byte(0, 3), netio.port_byte(0, 2))
        lab[100].send_raw(101, header.pack() + frames.arp_request(MAC_100, "10.9.9.1", "10.9.9.2"))
        assert wait_until(lambda: len(rows.lines) >= 3, 20), (rows.lines, capture.stderr)
        assert capture.process.poll() is None
        assert capture.stop(signal.SIGINT) == 0, capture.stderr
        assert reader.wait(20) == 0
        rows.thread.join(5)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
        reader.stdout.close()
    assert sorted(rows.lines) == [
        "0|100:0/0-101:0/0|eth:ethertype:arp",
        "1|100:1/0-101:1/0|chdlc:slarp",
        "2|100:0/2-101:0/3|eth:ethertype:arp",
    ]
    assert "Traceback" not in capture.stderr


def test_standard_output_is_pcapng_only_with_statistics_and_comment(make_lab, start_capture, workdir, tshark):
    """Nothing but PCAP-NG on stdout; interface blocks first; at clean close one ISB per interface."""
    lab = make_lab(TWO_LINKS)
    comment = "lab 7 \u2013 R1/R2 \u00fcber serial"
    begun_ns = time.time_ns()
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", "-", "--comment", comment)
    out = ByteReader(capture.process.stdout)
    wait_attached(capture, 2)
    for number in range(3):
        lab[100].send("0/0", frames.ethernet_keepalive(MAC_100))
    for number in range(2):
        lab[101].send("1/0", frames.slarp_keepalive(number + 1, number))
    assert lab[101].wait_received(3) and lab[100].wait_received(2)
    lab[101].kill()
    lab[100].send("0/0", frames.ethernet_keepalive(MAC_100))  # cannot be delivered: a drop
    assert capture.wait_for("instance 101 died", timeout=5), capture.stderr
    assert capture.stop(signal.SIGINT) == 0, capture.stderr
    ended_ns = time.time_ns()
    out.thread.join(5)
    data = bytes(out.data)

    found = scan(data)  # every byte belongs to a block: nothing else went to stdout
    kinds = [type(block) for block in found]
    assert kinds[0] is SectionHeader and kinds.count(SectionHeader) == 1
    assert set(kinds) == {SectionHeader, InterfaceDescription, EnhancedPacket, InterfaceStatistics}
    seen_interfaces = 0
    packet_times = []
    for block in found:
        if isinstance(block, InterfaceDescription):
            seen_interfaces += 1
        elif isinstance(block, EnhancedPacket):
            assert block.interface_id < seen_interfaces  # its interface block came first
            packet_times.append(block.timestamp_high << 32 | block.timestamp_low)
    assert kinds[-2:] == [InterfaceStatistics] * 2 and InterfaceStatistics not in kinds[:-2]  # one per interface

    stats = {}
    for block in found[-2:]:
        stats[block.interface_id] = {
            "start": isb_time(block.options["isb_starttime"]), "end": isb_time(block.options["isb_endtime"]),
            "received": block.options["isb_ifrecv"], "dropped": block.options["isb_ifdrop"],
        }
    assert {i: (s["received"], s["dropped"]) for i, s in stats.items()} == {0: (4, 1), 1: (2, 0)}
    for s in stats.values():
        assert begun_ns <= s["start"] <= min(packet_times)
        assert max(packet_times) <= s["end"] <= ended_ns
    assert len(read_packets(data)) == 6

    path = os.path.join(workdir, "stdout.pcapng")
    with open(path, "wb") as handle:
        handle.write(data)
    info = subprocess.run(["capinfos", path], capture_output=True, text=True, timeout=60).stdout
    assert f"Capture comment:     {comment}" in info, info
    assert "Number of interfaces in file: 2" in info
    assert info.count("Number of stat entries = 1") == 2, info
    rows = tshark_rows(tshark, path, "frame.interface_id", "frame.comment")
    assert [r[0] for r in rows].count("0") == 4 and [r[0] for r in rows].count("1") == 2
    assert any("not delivered" in r[1] for r in rows), rows


def _whole_packets(data: bytes) -> list:
    """The packets of a stream read so far (none while it ends in the middle of a block)."""
    try:
        return read_packets(data)
    except Exception:
        return []


@pytest.mark.lab
def test_a_socket_reader_that_only_stops_sending_keeps_the_capture_going(make_lab, workdir):
    """``-w -`` on a socket (socat, inetd, an SSH session): the reader may shut its own sending side down, as
    socat and ``nc -N`` do at the end of their input, or send something; it is still reading.  Only its
    going away stops the capture."""
    import socket

    lab = make_lab(TWO_LINKS)
    before = directory_state(lab.directory)
    ours, theirs = socket.socketpair()
    process = start_cli("capture", "-d", lab.directory, "-n", lab.netmap_path, "-w", "-", "-f",
                        stdout=theirs.fileno(), stderr=subprocess.PIPE)
    theirs.close()
    try:
        received = bytearray()
        ours.settimeout(20)
        while len(received) < 4:
            received += ours.recv(65536)
        assert received[:4] == b"\x0a\x0d\x0d\x0a"
        ours.sendall(b"hello")  # something comes from the reader ...
        ours.shutdown(socket.SHUT_WR)  # ... and it will send no more
        time.sleep(0.5)
        assert process.poll() is None, process.stderr.read().decode()
        deadline = time.monotonic() + 20
        while not all(os.path.exists(os.path.join(lab.directory, f"{n}_real")) for n in (100, 101)):
            assert time.monotonic() < deadline and process.poll() is None, "the capture did not attach"
            time.sleep(0.05)
        lab[100].send("0/0", frames.arp_request(MAC_100, "10.0.0.1", "10.0.0.2"))
        assert lab[101].wait_received(1)
        while not _whole_packets(bytes(received)):  # -f: the frame comes at once
            received += ours.recv(65536)
        ours.close()  # now it goes away
        assert process.wait(15) == 0
        said = process.stderr.read().decode()
        assert "the reader of standard output went away" in said, said
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    assert directory_state(lab.directory) == before


@pytest.mark.lab
@pytest.mark.parametrize("traffic", [True, False], ids=["frames-flowing", "quiet-lab"])
def test_reader_that_quits_early_stops_the_capture_cleanly(make_lab, start_capture, traffic):
    lab = make_lab(TWO_LINKS)
    before = directory_state(lab.directory)
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", "-")
    wait_attached(capture, 2)
    head = capture.process.stdout.read(16)
    assert head[:4] == b"\x0a\x0d\x0d\x0a"  # a section header block begins
    capture.process.stdout.close()  # the reader goes away: the next write gets EPIPE
    stopped = time.monotonic()
    sent = 0
    while traffic and capture.process.poll() is None and time.monotonic() - stopped < 10:
        lab[100].send("0/0", frames.ethernet_keepalive(MAC_100))
        sent += 1
        time.sleep(0.005)
    assert capture.wait(15) == 0, capture.stderr
    took = time.monotonic() - stopped
    assert "pcapng-iou: the reader of standard output went away" in capture.lines, capture.stderr
    assert "Traceback" not in capture.stderr and "error" not in capture.stderr.lower(), capture.stderr
    assert took < 5, took
    # Every socket is back: same names, the instances' own inodes, and the lab still talks.
    assert directory_state(lab.directory) == before
    lab[100].send("0/0", frames.arp_request(MAC_100, "10.0.0.1", "10.0.0.2"))
    assert lab[101].wait_received(sent + 1)


# --- the extcap protocol ---------------------------------------------------------------
def _fields(line: str) -> dict:
    """``arg {number=0}{call=--x}`` -> {"number": "0", "call": "--x"}."""
    assert line.count("{") == line.count("}"), line
    parts = line.split("{")[1:]
    return dict(part.rstrip("}").split("=", 1) for part in parts)


@pytest.mark.lab
def test_extcap_answers_what_wireshark_asks(workdir):
    env = extcap_env(workdir)
    result = run_cli("extcap", "--extcap-interfaces", "--extcap-version=4.0", env=env)
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("extcap ") and _fields(lines[0])["version"] == pcapng_iou.__version__
    assert "help" in _fields(lines[0])
    assert lines[1:] == ["interface {value=iou}{display=IOU links (pcapng-iou)}"]

    result = run_cli("extcap", "--extcap-interface", "iou", "--extcap-dlts", env=env)
    assert result.returncode == 0
    dlt = _fields(result.stdout.strip())
    assert result.stdout.startswith("dlt ") and (dlt["number"], dlt["name"]) == ("1", "EN10MB")

    # The default netio directory may hold a lab of someone else's: its links would be offered as
    # value lines, so they are left aside here; an empty netio directory offers none.
    result = run_cli("extcap", "--extcap-config", "--extcap-interface", "iou", env=env, cwd=workdir)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert all(line.startswith(("arg ", "value ")) for line in lines)
    args = [_fields(line) for line in lines if line.startswith("arg ")]
    assert [a["call"] for a in args] == ["--netio-dir", "--netmap", "--instances", "--flush", "--link", "--spin"]
    assert [a["number"] for a in args] == ["0", "1", "2", "3", "4", "5"]
    assert args[0]["default"] == f"/tmp/netio{os.getuid()}" and args[0]["type"] == "string"
    assert args[1]["type"] == "fileselect" and args[3]["type"] == "boolflag"
    assert args[4]["type"] == "multicheck"
    assert (args[5]["type"], args[5]["range"], args[5]["default"]) == ("unsigned", "0,10000", "200")
    empty = os.path.join(workdir, "netio")
    os.mkdir(empty)
    result = run_cli("extcap", "--extcap-config", "--extcap-interface", "iou", "--netio-dir", empty, env=env,
                     cwd=workdir)
    assert result.returncode == 0
    assert [_fields(line) for line in result.stdout.splitlines()] == args  # no NETMAP, no lab: no links to offer

    # Options a newer Wireshark may add are let through; others are usage errors.
    result = run_cli("extcap", "--extcap-interfaces", "--extcap-reload-option", "x", "--extcap-something-new=1",
                     env=env)
    assert result.returncode == 0 and "interface {value=iou}" in result.stdout
    assert run_cli("extcap", "--no-such-option", env=env).returncode == 2
    assert run_cli("extcap", "--extcap-interface", "eth0", "--extcap-dlts", env=env).returncode == 2
    # Capture filter check: no output means valid; we record everything, so any filter is refused.
    result = run_cli("extcap", "--extcap-interface", "iou", "--extcap-capture-filter", "", env=env)
    assert (result.returncode, result.stdout) == (0, "")
    result = run_cli("extcap", "--extcap-interface", "iou", "--extcap-capture-filter", "tcp", env=env)
    assert result.returncode == 0 and "display filter" in result.stdout


@pytest.mark.lab
def test_extcap_install_is_listed_by_tshark_and_uninstall_removes_it(tshark, workdir):
    env = extcap_env(workdir)
    folders = run_tshark(tshark, "-G", "folders", env=env).stdout
    expected = dict(line.split(":", 1) for line in folders.splitlines() if ":" in line)
    personal = expected.get("Personal Extcap path",
                            os.path.join(expected["Personal configuration"].strip(), "extcap")).strip()
    assert personal.startswith(workdir + os.sep), personal

    env, path = install_extcap(tshark, workdir)
    assert path == os.path.join(personal, "pcapng-iou")
    assert os.access(path, os.X_OK) and extcap.is_ours(path)
    listing = run_tshark(tshark, "-D", env=env)
    assert listing.returncode == 0, listing.stderr
    assert any(line.endswith(". iou (IOU links (pcapng-iou))") for line in listing.stdout.splitlines()), \
        listing.stdout
    dlts = run_tshark(tshark, "-i", "iou", "-L", env=env)
    assert "EN10MB" in dlts.stdout, dlts
    assert run_cli("extcap", "--install", env=env).returncode == 0  # again: replaced, still one

    result = run_cli("extcap", "--uninstall", env=env)
    assert result.returncode == 0 and path in result.stdout
    assert not os.path.exists(path)
    assert "IOU links" not in run_tshark(tshark, "-D", env=env).stdout
    result = run_cli("extcap", "--uninstall", env=env)
    assert result.returncode == 0 and "no pcapng-iou extcap installed" in result.stdout

    # Somebody else's file of that name is neither replaced nor removed.
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\necho not ours\n")
    assert run_cli("extcap", "--install", env=env).returncode == 1
    assert run_cli("extcap", "--uninstall", env=env).returncode == 1
    with open(path) as handle:
        assert handle.read() == "#!/bin/sh\necho not ours\n"


@pytest.mark.lab
def test_launcher_works_from_any_directory_and_interpreter_path(workdir):
    """The installed file runs whatever the interpreter's path, and ignores the caller's directory."""
    odd = os.path.join(workdir, "my python's dir")
    os.makedirs(odd)
    python = os.path.join(odd, "python")
    os.symlink(sys.executable, python)
    env = extcap_env(workdir)
    target = os.path.join(workdir, "ext")
    result = run_cli("extcap", "--install", "--dir", target, env=env)
    assert result.returncode == 0, result.stderr
    launcher = os.path.join(target, "pcapng-iou")
    with open(launcher, "w") as handle:
        handle.write(extcap.launcher_text(python))
    decoy = os.path.join(workdir, "pcapng_iou")  # a package of that name in the caller's directory
    os.makedirs(decoy)
    with open(os.path.join(decoy, "__init__.py"), "w") as handle:
        handle.write("raise SystemExit('the decoy was imported')\n")
    result = subprocess.run([launcher, "--extcap-interfaces"], capture_output=True, text=True, cwd=workdir,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "interface {value=iou}" in result.stdout


def test_extcap_spin_reaches_the_capture_and_a_bad_one_is_an_extcap_error():
    """Checked by us, not argparse: an argparse error would exit before the FIFO is let go (tshark hangs)."""
    base = ["--extcap-interface", "iou", "--capture", "--fifo", "/nonexistent/fifo"]
    options, _ = extcap._capture_options(extcap.parse_args([*base, "--spin", "200"]))
    assert options.spin_us == 200
    assert extcap._capture_options(extcap.parse_args(base))[0].spin_us == 200
    assert extcap._capture_options(extcap.parse_args([*base, "--spin", "0"]))[0].spin_us == 0
    for bad in ("20000", "fast", "-1"):
        with pytest.raises(extcap.ExtcapError, match="^--spin: "):
            extcap._capture_options(extcap.parse_args([*base, "--spin", bad]))


# --- tshark capturing through the extcap -------------------------------------------------
def test_tshark_captures_a_lab_through_the_extcap(make_lab, tshark, workdir):
    env, _ = install_extcap(tshark, workdir)
    lab = make_lab(FOUR_LINKS)
    before = directory_state(lab.directory)
    output = os.path.join(workdir, "extcap.pcapng")
    duration = 8
    started = time.monotonic()
    run = subprocess.Popen(
        [tshark, "-i", "iou", "-o", f"extcap.iou.netiodir:{lab.directory}",
         "-o", f"extcap.iou.netmap:{lab.netmap_path}", "-o", "extcap.iou.spin:200",
         "-a", f"duration:{duration}", "-w", output],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    try:
        real = [os.path.join(lab.directory, f"{n}_real") for n in (100, 101, 102)]
        assert wait_until(lambda: all(os.path.exists(p) for p in real), 15), os.listdir(lab.directory)
        sent = protocol_frames()
        for sender, interface, receiver, frame, _ in sent:
            assert lab[sender].send(interface, frame) == 1
        for number in (100, 101, 102):
            assert lab[number].wait_received(sum(1 for s in sent if s[2] == number))
        assert time.monotonic() - started < duration, "the lab was too slow to attach; frames may be missed"
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, err
    assert "Error by extcap" not in err.decode(), err
    # tshark stopped the extcap (SIGTERM): every socket went back.
    assert wait_until(lambda: directory_state(lab.directory) == before, 10), os.listdir(lab.directory)

    rows = tshark_rows(tshark, output, "frame.interface_id", "frame.interface_name", "frame.protocols")
    assert len(rows) == len(sent)
    names = {"0/0": "100:0/0-101:0/0", "1/0": "100:1/0-101:1/0", "1/1": "101:1/1-102:1/1",
             "1/2": "102:1/2-100:1/2"}
    got = sorted((row[1], row[2].split(":")) for row in rows)
    for _, interface, _, _, protocol in sent:
        assert any(name == names[interface] and protocol in protos for name, protos in got), (interface, got)
    info = subprocess.run(["capinfos", output], capture_output=True, text=True, timeout=60).stdout
    assert "Number of interfaces in file: 4" in info
    for encapsulation in ("Ethernet", "Cisco HDLC", "PPP", "Frame Relay"):
        assert f"Encapsulation = {encapsulation}" in info, info


def test_extcap_failures_reach_tshark_at_once(make_lab, start_capture, tshark, workdir):
    """An extcap that cannot capture says why, and tshark does not hang waiting for it."""
    env, _ = install_extcap(tshark, workdir)
    lab = make_lab(TWO_LINKS)
    other = start_capture("-d", lab.directory, "-w", os.path.join(workdir, "other.pcapng"))
    wait_attached(other, 2)
    for extra, reason in (((), "already capturing"), (("-f", "tcp"), "capture filters are not supported"),
                          (("-o", "extcap.iou.spin:20000"), "--spin: expected 0 to 10000 microseconds")):
        started = time.monotonic()
        result = run_tshark(tshark, "-i", "iou", "-o", f"extcap.iou.netiodir:{lab.directory}", *extra,
                            "-a", "duration:30", "-w", os.path.join(workdir, "never.pcapng"), env=env)
        assert time.monotonic() - started < 15
        assert result.returncode != 0
        assert reason in result.stderr, result.stderr
    assert other.stop() == 0


def test_extcap_offers_the_links_of_its_netmap_and_records_the_ones_ticked(make_lab, tshark, workdir):
    env, _ = install_extcap(tshark, workdir)
    lab = make_lab(FOUR_LINKS)
    result = run_cli("extcap", "--extcap-config", "--extcap-interface", "iou", "--netmap", lab.netmap_path,
                            env=env)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    values = [_fields(line) for line in result.stdout.splitlines() if line.startswith("value ")]
    assert [(v["arg"], v["value"]) for v in values] == [
        ("4", "100:0/0-101:0/0"), ("4", "100:1/0-101:1/0"), ("4", "101:1/1-102:1/1"), ("4", "102:1/2-100:1/2")]
    assert values[1]["display"] == "100:1/0-101:1/0 (hdlc, NETMAP line 2)"
    # Wireshark asks without the dialog's values: the running instances' NETMAP is found as a capture finds it.
    result = run_cli("extcap", "--extcap-config", "--extcap-interface", "iou", "--netio-dir", lab.directory,
                            env=env)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    found = [_fields(line)["value"] for line in result.stdout.splitlines() if line.startswith("value ")]
    assert found == [v["value"] for v in values]

    # Wireshark joins the ticked links with commas.
    before = directory_state(lab.directory)
    output = os.path.join(workdir, "two-links.pcapng")
    run = subprocess.Popen(
        [tshark, "-i", "iou", "-o", f"extcap.iou.netiodir:{lab.directory}", "-o", f"extcap.iou.netmap:{lab.netmap_path}",
         "-o", "extcap.iou.link:100:1/0-101:1/0,102:1/2", "-a", "duration:6", "-w", output],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        real = [os.path.join(lab.directory, f"{n}_real") for n in (100, 101, 102)]
        assert wait_until(lambda: all(os.path.exists(p) for p in real), 15), os.listdir(lab.directory)
        sent = protocol_frames()
        for sender, interface, receiver, frame, _ in sent:
            assert lab[sender].send(interface, frame) == 1
        for number in (100, 101, 102):  # every frame relayed, recorded or not
            assert lab[number].wait_received(sum(1 for s in sent if s[2] == number))
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, err
    assert wait_until(lambda: directory_state(lab.directory) == before, 10), os.listdir(lab.directory)
    rows = tshark_rows(tshark, output, "frame.interface_name")
    assert sorted({row[0] for row in rows}) == ["100:1/0-101:1/0", "102:1/2-100:1/2"], rows
    assert len(rows) == sum(1 for s in sent if s[1] in ("1/0", "1/2"))


@pytest.mark.lab
def test_extcap_capture_takes_the_netmap_its_dialog_offers(make_lab, tshark, workdir):
    """Started where a ./NETMAP is, with no NETMAP set in the dialog: the dialog offered ./NETMAP's links,
    and the capture must record them as that file says.  It ignored the file (found by a review): the lab's
    own NETMAP, naming no link types, made its link 1/0 Ethernet, as its bays (-e 2) are."""
    env, _ = install_extcap(tshark, workdir)
    lab = make_lab("100:0/0 101:0/0\n100:1/0 101:1/0\n")
    here = os.path.join(workdir, "here")
    os.mkdir(here)
    with open(os.path.join(here, "NETMAP"), "w") as handle:
        handle.write("100:0/0 101:0/0\n100:1/0 101:1/0 hdlc\n")
    result = subprocess.run([sys.executable, "-m", "pcapng_iou", "extcap", "--extcap-config", "--extcap-interface",
                             "iou", "--netio-dir", lab.directory], capture_output=True, text=True, env=env,
                            cwd=here, timeout=60, stdin=subprocess.DEVNULL)
    shown = [_fields(line)["display"] for line in result.stdout.splitlines() if line.startswith("value ")]
    assert shown[1] == "100:1/0-101:1/0 (hdlc, NETMAP line 2)", result.stdout + result.stderr

    output = os.path.join(workdir, "here.pcapng")
    run = subprocess.Popen([tshark, "-i", "iou", "-o", f"extcap.iou.netiodir:{lab.directory}", "-a", "duration:6",
                            "-w", output], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, cwd=here)
    try:
        real = [os.path.join(lab.directory, f"{n}_real") for n in (100, 101)]
        assert wait_until(lambda: all(os.path.exists(p) for p in real), 15), os.listdir(lab.directory)
        assert lab[100].send("1/0", frames.slarp_keepalive(1, 0)) == 1
        assert lab[101].wait_received(1)
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, err
    rows = tshark_rows(tshark, output, "frame.interface_name", "frame.protocols")
    assert [(name, protocols.split(":")[-1]) for name, protocols in rows] == [("100:1/0-101:1/0", "slarp")], rows


@pytest.mark.lab
@pytest.mark.parametrize("case", ["missing directory", "no permission", "NETMAP that does not parse",
                                  "NETMAP that cannot be read"])
def test_wireshark_is_told_why_the_capture_cannot_start(case, tshark, workdir):
    """The reason on stderr and a non-zero exit: tshark prints it, Wireshark shows it in a dialog."""
    from test_hints import locked_directory

    env, _ = install_extcap(tshark, workdir)
    netio_dir = os.path.join(workdir, "netio")
    os.mkdir(netio_dir)
    netmap = os.path.join(workdir, "NETMAP")
    with open(netmap, "w") as handle:
        handle.write("100:0/0 101:0/0\n100:1/0 10x:1/0 hdlc\n")
    prefix, options = [], []
    if case == "missing directory":
        netio_dir = os.path.join(workdir, "no-such-netio")
        reason = f"netio directory {netio_dir} does not exist"
    elif case == "no permission":
        netio_dir, prefix = locked_directory(workdir)
        reason = f"no permission to stand in for the sockets in {netio_dir}"
    elif case == "NETMAP that does not parse":
        options = ["-o", f"extcap.iou.netmap:{netmap}"]
        reason = f"{netmap}:2:9: expected ID:BAY/UNIT, got '10x:1/0'"
    else:
        options = ["-o", f"extcap.iou.netmap:{netmap}.gone"]
        reason = f"{netmap}.gone: cannot read: No such file or directory"
    output = os.path.join(workdir, "never.pcapng")
    started = time.monotonic()
    result = subprocess.run([*prefix, tshark, "-i", "iou", "-o", f"extcap.iou.netiodir:{netio_dir}", *options,
                             "-a", "duration:30", "-w", output], capture_output=True, text=True, env=env,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert time.monotonic() - started < 20, "the capture started instead of failing"
    assert result.returncode != 0, result.stderr
    assert "Error by extcap pipe: " in result.stderr and reason in result.stderr, result.stderr
    assert not os.path.exists(output) or not read_packets(output)


@pytest.mark.lab
def test_extcap_config_validates_the_netio_directory(workdir):
    result = run_cli("extcap", "--extcap-config", "--extcap-interface", "iou", env=extcap_env(workdir), cwd=workdir)
    fields = {f["call"]: f for f in (_fields(line) for line in result.stdout.splitlines() if line.startswith("arg "))}
    netio = fields["--netio-dir"]
    assert netio["required"] == "true"
    pattern = re.compile(netio["validation"])
    assert pattern.fullmatch("/tmp/netio1000") and not pattern.fullmatch("netio1000")
    assert fields["--netmap"]["type"] == "fileselect" and fields["--netmap"]["mustexist"] == "true"


@pytest.mark.lab
def test_extcap_dialog_names_each_link_by_the_bays_of_its_instances(make_lab, workdir):
    """No link type on the lines: the dialog says what a capture would start with, from the running
    instances' bays (a serial link was offered as Ethernet)."""
    lab = make_lab("1:0/0 2:0/0\n1:1/0 2:1/0\n", bays={1: (1, 2), 2: (1, 2)})
    for how in (["--netmap", lab.netmap_path], []):
        result = run_cli("extcap", "--extcap-config", "--extcap-interface", "iou", "--netio-dir", lab.directory,
                                *how)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        shown = [_fields(line)["display"] for line in result.stdout.splitlines() if line.startswith("value ")]
        assert shown == ["1:0/0-2:0/0 (ethernet, NETMAP line 1)", "1:1/0-2:1/0 (hdlc, followed, NETMAP line 2)"], how


def test_a_reader_that_stops_reading_holds_back_the_recording_not_the_lab(make_lab, start_capture, tshark):
    """``-w -`` into a Wireshark that hangs (or is stopped): its pipe fills.  Found by a review: the capture
    then slept in write() and relayed nothing.  Now 103's flood reaches 101 whole while nobody reads, the
    capture waits in memory, and once the reader reads again it gets every frame, in one whole file."""
    lab = make_lab("103:0/0 101:0/1\n")
    before = directory_state(lab.directory)
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", "-")
    assert capture.wait_for("attached", count=2)
    count = 3000  # some 700 kB of capture: ten times what the pipe holds
    assert lab[103].command(f"flood 0/0 {count} 200", timeout=30) == f"sent {count}"
    assert lab[101].wait_received(count, timeout=20), len(lab[101].received)
    capture.process.send_signal(signal.SIGINT)
    written = capture.process.stdout.read()  # the reader reads again, at last
    assert capture.wait(timeout=30) == 0, capture.stderr
    assert directory_state(lab.directory) == before
    decoded = subprocess.run([tshark, "-r", "-", "-T", "fields", "-e", "frame.len"], input=written,
                             capture_output=True, timeout=60)
    assert decoded.returncode == 0, decoded.stderr
    assert decoded.stdout.decode().split() == ["200"] * count  # the frames, without their 8-byte header


@pytest.mark.lab
def test_a_reader_that_never_reads_again_does_not_hold_up_the_stop(make_lab, start_capture):
    """The capture is stopped while its reader, still there, reads nothing: the lab gets its sockets back
    at once, and what the reader did not take is given up on after 5 s, and said."""
    lab = make_lab("103:0/0 101:0/1\n")
    before = directory_state(lab.directory)
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", "-")
    assert capture.wait_for("attached", count=2)
    assert lab[103].command("flood 0/0 3000 200", timeout=30) == "sent 3000"
    assert lab[101].wait_received(3000, timeout=20)
    capture.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 10
    while directory_state(lab.directory) != before:  # the lab is whole again while the reader still hangs
        assert time.monotonic() < deadline, directory_state(lab.directory)
        time.sleep(0.05)
    assert capture.wait(timeout=30) == 0, capture.stderr
    unsent = re.search(r"warning: (\d+) bytes? of the capture never reached the reader of standard output: "
                       r"it took nothing for 5 s", capture.stderr)
    assert unsent and int(unsent.group(1)) > 500_000, capture.stderr
