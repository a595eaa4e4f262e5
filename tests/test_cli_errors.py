"""Bad input on the command line: every mistake gives one clear message and leaves the lab alone.

Real ``python -m pcapng_iou`` processes, run in an empty working directory
(so that a file created by mistake shows), next to a running lab whose netio
directory must be exactly as it was afterwards.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import SOURCE_ROOT, directory_state, read_packets, run_cli


pytestmark = pytest.mark.lab


NETMAP = "100:0/0 101:0/0\n"
USAGE_ERROR = re.compile(r"^pcapng-iou(?: \w+)?: error: \S")


@pytest.fixture
def lab(make_lab):
    return make_lab(NETMAP)


@pytest.fixture
def empty_cwd(workdir):
    path = os.path.join(workdir, "cwd")
    os.mkdir(path)
    return path


def assert_lab_untouched(lab, before: dict) -> None:
    assert directory_state(lab.directory) == before
    # And it still works: nobody stands between the instances.
    frame = bytes.fromhex("ffffffffffff020000006400") + b"\x88\xb5" + bytes(46)
    assert lab[100].send("0/0", frame) == 1
    assert lab[101].wait_received(1)
    assert lab[101].frames_from(100) == [frame]


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert "Traceback" not in stderr
    return lines[0]


# -- option syntax: argparse usage errors, status 2 --------------------------------------
BAD_OPTIONS = [
    ["capture", "--bogus"],
    ["capture", "extra-argument"],
    ["capture", "-w"],
    ["capture", "-n"],
    ["capture", "-d"],
    ["capture", "-c", "0"],
    ["capture", "-c", "-3"],
    ["capture", "-c", "ten"],
    ["capture", "-c", "1.5"],
    ["capture", "--count="],
    ["capture", "--duration", "0"],
    ["capture", "--duration", "-1"],
    ["capture", "--duration", "soon"],
    ["capture", "--duration", "nan"],
    ["capture", "-i", "0"],
    ["capture", "-i", "1025"],
    ["capture", "-i", "abc"],
    ["capture", "-i", "-5"],
    ["capture", "-i", "100", "-i", "99999"],
    ["capture", "--linktype", "bogus"],
    ["capture", "--linktype", "70000"],
    ["capture", "--linktype", ""],
    ["capture", "--no-wait=yes"],
    ["capture", "--flush", "--quiet=1"],
    ["capture", "-b", "filesize:0"],
    ["capture", "-b", "bogus:1"],
    ["capture", "-b", "files:3"],
    ["capture", "-b", "files:"],
    ["capture", "-a", "files:2"],
    ["capture", "--link", "100:0/0-"],
    ["capture", "--link", "router1"],
    ["capture", "--name", "R1"],
    ["capture", "--name", "0=R1"],
    ["capture", "--name", "1="],
    ["capture", "-s", "x"],
    ["capture", "-s", "-60"],
    ["frobnicate"],
    ["--bogus"],
    ["repair", "--bogus"],
    ["repair", "-d"],
    ["repair", "--dry-run", "extra"],
    ["demo", "--duration", "0"],
    ["demo", "--bogus"],
    ["demo", "-w"],
    # Abbreviations are not accepted: a misspelt or newer option must never become another one.
    ["capture", "--linkt", "hdlc"],
    ["capture", "--dur", "5"],
    ["capture", "--netio", "/tmp"],
    ["repair", "--dry"],
    ["demo", "--dur", "1"],
    ["bench", "--js"],
    ["--vers"],
]


@pytest.mark.parametrize("argv", BAD_OPTIONS, ids=lambda argv: " ".join(argv) or "nothing")
def test_wrong_option_or_value_is_a_usage_error(argv, lab, empty_cwd):
    before = directory_state(lab.directory)
    # -d and -w come first so that a later wrong option is what fails (repair and demo have no -n).
    lead = []
    if argv[0] == "capture":
        lead = ["-d", lab.directory, "-w", "out.pcapng"]
    elif argv[0] == "repair":
        lead = ["-d", lab.directory]
    args = argv[:1] + lead + argv[1:] if lead else argv
    result = run_cli(*args, cwd=empty_cwd)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    line = one_error_line(result.stderr)  # not argparse's usage block first (found by a newcomer)
    assert USAGE_ERROR.match(line) and re.search(r"\(see pcapng-iou( \w+)? --help\)$", line), result.stderr
    if argv[0] in ("capture", "repair", "demo", "bench"):  # the command's own error ("capture foo" too)
        assert line.startswith(f"pcapng-iou {argv[0]}: error: "), line
    assert os.listdir(empty_cwd) == []
    assert_lab_untouched(lab, before)


def test_no_command_prints_usage_and_fails(empty_cwd):
    result = run_cli(cwd=empty_cwd)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: pcapng-iou")
    assert os.listdir(empty_cwd) == []


@pytest.mark.parametrize("module", ["pcapng_iou.sim.instance", "pcapng_iou.app.bench_command", "pcapng_iou"])
def test_no_program_takes_abbreviations(module, empty_cwd):
    """``--hel`` would be ``--help`` (status 0) if argparse still completed abbreviations."""
    env = dict(os.environ, PYTHONPATH=SOURCE_ROOT)
    result = subprocess.run([sys.executable, "-m", module, "--hel"], cwd=empty_cwd, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=30, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr, result.stdout + result.stderr


# -- things that exist or not: one line, non-zero, nothing touched ---------------------------
def test_missing_netio_dir_with_no_wait(workdir, empty_cwd):
    missing = os.path.join(workdir, "no", "netio")
    result = run_cli("capture", "--no-wait", "-d", missing, "-w", "out.pcapng", cwd=empty_cwd, timeout=10)
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert line.startswith("pcapng-iou: error: ") and missing in line and "does not exist" in line, line
    assert os.listdir(empty_cwd) == []
    assert not os.path.exists(os.path.join(workdir, "no"))


@pytest.mark.parametrize("command", [["capture", "--no-wait", "-w", "out.pcapng"], ["capture", "-w", "out.pcapng"],
                                     ["repair"]])
def test_a_netio_dir_that_is_a_file_is_named_so(command, workdir, empty_cwd):
    """Not "does not exist", and no waiting for ever for a directory that cannot appear."""
    a_file = os.path.join(workdir, "NETMAP")
    with open(a_file, "w") as handle:
        handle.write("1:0/0 2:0/0\n")
    result = run_cli(*command, "-d", a_file, cwd=empty_cwd, timeout=10)
    assert result.returncode == 1, result.stderr
    assert one_error_line(result.stderr) == (f"pcapng-iou: error: {a_file} is not a directory (give -d the netio "
                                             "directory, where the instances' sockets are)")
    assert os.listdir(empty_cwd) == []


@pytest.mark.parametrize("how", ["-n", "./NETMAP"])
def test_the_capture_never_writes_over_the_netmap_it_reads(how, lab, workdir, empty_cwd):
    netmap = os.path.join(empty_cwd, "NETMAP")
    with open(netmap, "w") as handle:
        handle.write("100:0/0 101:0/0\n")
    before = directory_state(lab.directory)
    args = ["-n", netmap, "-w", netmap] if how == "-n" else ["-w", "NETMAP"]
    result = run_cli("capture", "-d", lab.directory, *args, "--duration", "0.5", cwd=empty_cwd)
    assert result.returncode == 2, result.stderr
    assert one_error_line(result.stderr).endswith("that file is the NETMAP in use (" + (
        netmap if how == "-n" else "NETMAP") + "); write the capture elsewhere"), result.stderr
    with open(netmap) as handle:
        assert handle.read() == "100:0/0 101:0/0\n"
    assert_lab_untouched(lab, before)


@pytest.mark.parametrize("target", ["the lab's NETMAP", "the netio directory"])
def test_the_capture_never_writes_over_the_lab_it_found(target, lab, empty_cwd):
    """With no -n, the NETMAP is found in the instances' folders: -w over it replaced the lab's NETMAP with
    the capture, and -w into the netio directory could overwrite a lock file (found by a newcomer)."""
    with open(lab.netmap_path) as handle:
        netmap_text = handle.read()
    before = directory_state(lab.directory)
    output = lab.netmap_path if target == "the lab's NETMAP" else os.path.join(lab.directory, "100.lck")
    result = run_cli("capture", "-d", lab.directory, "-w", output, "--duration", "0.5", cwd=empty_cwd)
    assert result.returncode == 2, result.stderr
    last = result.stderr.splitlines()[-1]
    if target == "the lab's NETMAP":
        assert last == (f"pcapng-iou: error: -w {output}: that file is the lab's NETMAP ({output}, in an "
                        "instance's folder); write the capture elsewhere"), result.stderr
    else:
        assert last == (f"pcapng-iou: error: -w {output}: that is in the netio directory, among the instances' "
                        "sockets and lock files; write the capture elsewhere"), result.stderr
    with open(lab.netmap_path) as handle:
        assert handle.read() == netmap_text
    assert_lab_untouched(lab, before)


def test_a_netio_directory_reached_through_a_link_is_captured(lab, workdir, empty_cwd):
    """-d naming a symbolic link to the netio directory waited for ever for it "to appear" (found by a
    newcomer): the folder it names is captured, and said so."""
    link = os.path.join(workdir, "netio-link")
    os.symlink(lab.directory, link)
    before = directory_state(lab.directory)
    result = run_cli("capture", "-d", link, "-w", "link.pcapng", "--duration", "2", "--no-wait", cwd=empty_cwd)
    assert result.returncode == 0, result.stderr
    assert f"netio directory {link} is a link to {lab.directory}: capturing there" in result.stderr
    assert "instance 100 attached" in result.stderr and "waiting for" not in result.stderr
    assert_lab_untouched(lab, before)


def test_repair_of_a_missing_netio_dir(workdir, empty_cwd):
    missing = os.path.join(workdir, "netio-missing")
    result = run_cli("repair", "-d", missing, cwd=empty_cwd)
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert missing in line and "does not exist" in line
    assert not os.path.exists(missing)


def _unwritable_outputs(workdir: str) -> dict:
    plain = os.path.join(workdir, "plain-file")
    with open(plain, "w") as handle:
        handle.write("keep me\n")
    folder = os.path.join(workdir, "a-folder")
    os.mkdir(folder)
    return {
        "missing folder": (os.path.join(workdir, "gone", "x.pcapng"), "No such file or directory"),
        "parent is a file": (os.path.join(plain, "x.pcapng"), "Not a directory"),
        "is a directory": (folder, "Is a directory"),
    }


@pytest.mark.parametrize("case", ["missing folder", "parent is a file", "is a directory"])
def test_unwritable_output(case, lab, workdir, empty_cwd):
    output, reason = _unwritable_outputs(workdir)[case]
    before = directory_state(lab.directory)
    result = run_cli("capture", "-d", lab.directory, "-n", lab.netmap_path, "-w", output, cwd=empty_cwd)
    assert result.returncode == 1, result.stderr
    line = one_error_line(result.stderr)
    assert line == f"pcapng-iou: error: cannot write {output}: {reason}", line
    assert os.listdir(empty_cwd) == []
    with open(os.path.join(workdir, "plain-file")) as handle:
        assert handle.read() == "keep me\n"
    assert os.listdir(os.path.join(workdir, "a-folder")) == []
    assert_lab_untouched(lab, before)


BAD_NETMAPS = [
    ("100:0/0 101:0/0\n100:0/1 oops\n", 2, 9),
    ("100:0/0 101:0/0\n\n  2000:0/0 101:0/1\n", 3, 3),
    ("100:0/0 101:0/0 frobnitz\n", 1, 17),
    ("100:0/0 101:0/0\n/* never closed\n100:1/0 101:1/0\n", 2, 1),
    ("100:16/0 101:0/0\n", 1, 1),
]


@pytest.mark.parametrize("text, line_number, column", BAD_NETMAPS,
                         ids=["bad endpoint", "id out of range", "unknown link type", "open comment", "bay 16"])
def test_bad_netmap_names_file_line_and_column(text, line_number, column, lab, workdir, empty_cwd):
    before = directory_state(lab.directory)
    bad = os.path.join(workdir, "BADMAP")
    with open(bad, "w") as handle:
        handle.write(text)
    result = run_cli("capture", "-d", lab.directory, "-n", bad, "-w", "out.pcapng", cwd=empty_cwd)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result.stderr)
    match = re.match(r"^pcapng-iou: error: (.+):(\d+):(\d+): (\S.*)$", line)
    assert match, line
    assert match.group(1) == bad
    assert (int(match.group(2)), int(match.group(3))) == (line_number, column), line
    if "link type" in line:  # as --linktype's own error does (found by a newcomer)
        assert line.endswith(", or auto to follow the frames"), line
    assert os.listdir(empty_cwd) == []
    assert_lab_untouched(lab, before)


def test_bad_netmap_found_in_the_working_directory(lab, empty_cwd):
    before = directory_state(lab.directory)
    with open(os.path.join(empty_cwd, "NETMAP"), "w") as handle:
        handle.write("100:0/0 101:0/0\n100:x 101:0/1\n")
    result = run_cli("capture", "-d", lab.directory, "-w", "out.pcapng", cwd=empty_cwd)
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert re.match(r"^pcapng-iou: error: NETMAP:2:1: \S", line), line
    assert os.listdir(empty_cwd) == ["NETMAP"]
    assert_lab_untouched(lab, before)


def test_netmap_that_cannot_be_read(lab, workdir, empty_cwd):
    before = directory_state(lab.directory)
    unreadable = os.path.join(workdir, "NOMAP")
    os.mkdir(unreadable)  # (a -n file that does not exist yet is read on kill -HUP: see test_zeroconf)
    result = run_cli("capture", "-d", lab.directory, "-n", unreadable, "-w", "out.pcapng", cwd=empty_cwd)
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert line == f"pcapng-iou: error: {unreadable}: a directory, not a regular file: not read", line
    assert os.listdir(empty_cwd) == []
    assert_lab_untouched(lab, before)


# -- socket names that do not fit in sun_path (108 bytes with the NUL) ------------------------
def _deep_dir(workdir: str, length: int) -> str:
    """A directory under ``workdir`` whose path is exactly ``length`` bytes."""
    base = os.path.join(workdir, "d")
    path = base + "x" * (length - len(base))
    assert len(path) == length
    os.makedirs(path)
    return path


def test_socket_paths_too_long_for_our_names(make_lab, workdir, empty_cwd):
    """IOU fits (``<dir>/100`` is under 108 bytes), our ``<dir>/100.pcapng-iou-new`` does not."""
    netio_dir = _deep_dir(workdir, 95)
    from pcapng_iou.sim.lab import Lab

    lab = Lab(netio_dir, NETMAP, os.path.join(workdir, "NETMAP"))
    try:
        lab.start()
        before = directory_state(netio_dir)
        result = run_cli("capture", "-d", netio_dir, "-n", lab.netmap_path, "-w", "out.pcapng",
                         cwd=empty_cwd, timeout=15)
        assert result.returncode == 1, result.stderr
        line = one_error_line(result.stderr)
        assert line.startswith("pcapng-iou: error: ") and ("107" in line or "108" in line), line
        assert netio_dir in line, line
        assert os.listdir(empty_cwd) == []
        assert_lab_untouched(lab, before)
    finally:
        lab.stop()


def test_netio_dir_too_deep_for_any_socket(workdir, empty_cwd):
    netio_dir = _deep_dir(workdir, 110)
    before = directory_state(netio_dir)
    result = run_cli("capture", "-d", netio_dir, "-w", "out.pcapng", cwd=empty_cwd, timeout=15)
    assert result.returncode == 1, result.stderr
    line = one_error_line(result.stderr)
    assert line.startswith("pcapng-iou: error: ") and netio_dir in line, line
    assert os.listdir(empty_cwd) == []
    assert directory_state(netio_dir) == before


def test_repair_of_a_deep_netio_dir_does_not_crash(workdir, empty_cwd):
    # The one-capture-per-directory guard is named after the path: it must cope with deep ones too.
    netio_dir = _deep_dir(workdir, 100)
    result = run_cli("repair", "-d", netio_dir, cwd=empty_cwd)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{netio_dir}: nothing to repair\n"
    assert result.stderr == ""


def test_instance_whose_names_do_not_fit_stops_the_capture(start_capture, workdir):
    """Ids of three digits fit in this directory, ids of four do not: the first such instance is an error."""
    netio_dir = _deep_dir(workdir, 88)
    from pcapng_iou.sim.lab import Lab

    lab = Lab(netio_dir, NETMAP + "1000:0/0\n", os.path.join(workdir, "NETMAP"))
    try:
        lab.start(100, 101)
        before = directory_state(netio_dir)
        capture = start_capture("-d", netio_dir, "-n", lab.netmap_path, "-w", os.path.join(workdir, "o.pcapng"))
        assert capture.wait_for("attached", count=2), capture.stderr
        lab.start(1000)
        assert capture.wait(10) == 1, capture.stderr
        errors = [line for line in capture.lines if ": error: " in line]
        assert len(errors) == 1, capture.stderr
        assert errors[0].startswith(f"pcapng-iou: error: {netio_dir}/1000.pcapng-iou-new: path is longer than")
        assert "Traceback" not in capture.stderr
        after = directory_state(netio_dir)
        assert {name: ino for name, ino in after.items() if not name.startswith("1000")} == before
        assert sorted(name for name in after if name.startswith("1000")) == ["1000", "1000.lck"]  # 1000's own
        assert_lab_untouched(lab, after)
    finally:
        lab.stop()


# -- long captures: -b, -a, --link, -s (and --spin) name the option in their message ---------------------------
@pytest.mark.parametrize("args, message", [
    (["-b", "filesize:0"], "argument -b/--ring-buffer: -b filesize:0: expected at least 1 kB"),
    (["-b", "bogus:1"], "argument -b/--ring-buffer: -b bogus:1: expected one of filesize:, duration:, files:"),
    (["-b", "files:3"], "-b files:3: a ring buffer also needs -b filesize:KB or -b duration:SECONDS"),
    (["-b", "filesize:64", "-w", "-"], "-b: a ring buffer writes a series of files; give a file name with -w"),
    (["--link", "100:0/0-"], "argument --link: expected a link name such as 100:0/0-101:0/0"),
    (["-s", "-1"], "argument -s/--snaplen: snap length: expected 1 to 262144 bytes, or 0 for the default "
                   "(262144: frames stored whole), got -1"),
    (["-s", "4294967296"], "argument -s/--snaplen: snap length: expected 1 to 262144 bytes, or 0 for the "
                           "default (262144: frames stored whole), got 4294967296"),
    (["--duration", "inf"], "argument --duration: expected a finite duration above 0 seconds, got inf"),
    (["-d", ""], "argument -d/--netio-dir: expected a path, got an empty one"),
    (["-n", ""], "argument -n/--netmap: expected a path, got an empty one"),
    (["-w", ""], "argument -w/--write: expected a path, got an empty one"),
    (["--comment", "x" * 65536], "argument --comment: at most 65535 bytes (a PCAP-NG option), got 65536"),
    (["--spin", "-1"], "argument --spin: expected 0 to 10000 microseconds, got -1"),
    (["--spin", "fast"], "argument --spin: expected a whole number of microseconds, got 'fast'"),
    (["--spin", "20000"], "argument --spin: expected 0 to 10000 microseconds, got 20000"),
])
def test_long_capture_options_name_the_option(args, message, lab, empty_cwd):
    before = directory_state(lab.directory)
    result = run_cli("capture", "-d", lab.directory, "-w", "out.pcapng", *args, cwd=empty_cwd)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"pcapng-iou capture: error: {message}"), result.stderr
    assert os.listdir(empty_cwd) == []
    assert_lab_untouched(lab, before)


def test_link_matching_no_netmap_line_is_a_warning(lab, workdir, empty_cwd):
    result = run_cli("capture", "-d", lab.directory, "-n", lab.netmap_path, "-w", "out.pcapng", "-c", "1",
                     "--duration", "0.5", "--link", "100:3/0", cwd=empty_cwd)
    assert result.returncode == 0, result.stderr
    assert "pcapng-iou: warning: --link 100:3/0 matches no NETMAP line" in result.stderr


def test_snaplen_0_stores_whole_frames_and_the_longest_comment_fits(lab, workdir, start_capture):
    """-s 0 means whole frames, as with tcpdump and dumpcap; a comment of 65535 bytes is the most an option holds."""
    output = os.path.join(workdir, "whole.pcapng")
    comment = "c" * 65535
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output, "-s", "0", "--comment", comment)
    assert capture.wait_for("attached", count=2), capture.stderr
    frame = bytes.fromhex("ffffffffffff020000006400") + b"\x88\xb5" + bytes(1400)
    lab[100].send("0/0", frame)
    assert lab[101].wait_received(1)
    assert capture.stop() == 0, capture.stderr
    assert [packet[1] for packet in read_packets(output)] == [frame]
    info = subprocess.run(["capinfos", output], capture_output=True, text=True, timeout=60)
    assert info.returncode == 0 and f"Capture comment:     {comment}" in info.stdout, info.stderr


@pytest.mark.parametrize("option, recorded_as", [(["--linktype", "auto"], 104), (["--auto-linktype"], 104),
                                                 ([], 1)])
def test_linktype_auto_follows_the_frames_as_auto_linktype(option, recorded_as, lab, workdir, start_capture):
    """Cisco HDLC on a line with no link type between Ethernet bays: recorded as the frames show with
    auto, as the bays say without."""
    import pcapng.blocks
    from conftest import packet_fields, scan

    from pcapng_iou.sim import frames

    output = os.path.join(workdir, "auto.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output, *option)
    assert capture.wait_for("attached", count=2), capture.stderr
    for _ in range(4):  # a link type is followed once 3 frames in a row show it
        lab[100].send("0/0", frames.slarp_request())
    assert lab[101].wait_received(4)
    assert capture.stop() == 0, capture.stderr
    blocks = scan(output)
    link_types = [block.link_type for block in blocks if isinstance(block, pcapng.blocks.InterfaceDescription)]
    packets = [packet_fields(block) for block in blocks if isinstance(block, pcapng.blocks.EnhancedPacket)]
    assert len(packets) == 4 and link_types[packets[-1][0]] == recorded_as, (link_types, packets)


def test_a_linktype_number_iou_never_carries_is_recorded_with_a_warning(lab, empty_cwd):
    result = run_cli("capture", "-d", lab.directory, "-w", "out.pcapng", "--linktype", "999", "--duration", "0.3",
                     cwd=empty_cwd)
    assert result.returncode == 0, result.stderr
    assert ("pcapng-iou: warning: --linktype 999: not a link type IOU frames come in (ethernet 1, ppp-raw 9, "
            "ppp 50, hdlc 104, frame-relay 107); recorded as asked, but Wireshark will decode them as that"
            in result.stderr.splitlines()), result.stderr


def test_instances_asked_for_that_do_not_run_are_named_with_those_that_do(lab, workdir, start_capture):
    capture = start_capture("-d", lab.directory, "-w", os.path.join(workdir, "i.pcapng"), "-i", "7")
    assert capture.wait_for("no IOU instance attached", timeout=20), capture.stderr
    assert (f"pcapng-iou: warning: no IOU instance attached in 5 s: -i asks for 7, which does not run in "
            f"{lab.directory}; running there: 100, 101") in capture.lines, capture.stderr
    assert capture.stop() == 0
