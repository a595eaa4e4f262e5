"""Faults, hostile input, churn and privileges, with real processes, real signals and real kernel limits.

Every instance is the simulated IOU of :mod:`pcapng_iou.sim.instance`, as a
real process.  In the labs here 100 and 102 report every frame they get, 103
floods 101 with numbered frames (``flood``), and 101 counts them quietly
(``tally``): "nothing lost, nothing out of order" is a comparison of counts.
As another user it runs as a plain file, with no package installed.
"""
from __future__ import annotations

import collections
import os
import resource
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time

import pytest
from conftest import directory_state, read_packets, run_cli, short_tempdir, start_cli, tshark_rows, wait_until

import pcapng_iou
from pcapng_iou.core.netmap import Netmap
from pcapng_iou.sim import frames
from pcapng_iou.sim.instance import Instance
from pcapng_iou.sim.lab import LabProcess

pytestmark = pytest.mark.lab

NETMAP = "100:0/0 101:0/0\n100:0/1 102:0/1\n"
FLOOD_NETMAP = NETMAP + "103:0/0 101:0/1\n"  # 103 floods 101
FLOW = "103:0"  # 103's numbered frames out of 0/0, as 101 tallies them
INSTANCE_FILE = os.path.join(os.path.dirname(os.path.abspath(pcapng_iou.__file__)), "sim", "instance.py")
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pcapng_iou.__file__)))

#: What 101 counts of 103's flood when every frame came exactly once, in order.
def exact(count: int) -> dict:
    return {"next": count, "good": count, "reordered": 0, "duplicates": 0, "corrupt": 0, "missing": 0}


def flow(sink) -> dict:
    """What ``sink`` received of 103's numbered frames."""
    return sink.tally().get(FLOW, exact(0))


def wait_flow(sink, good: int, timeout: float = 30.0) -> dict:
    """:func:`flow` once ``good`` frames have come (or the time is up)."""
    wait_until(lambda: flow(sink)["good"] >= good, timeout, interval=0.1)
    return flow(sink)


def proc_status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fd_count(pid: int, window_s: float = 0.5) -> int:
    """The descriptors a capture holds at rest: the fewest seen over ``window_s``.  Just after an attach
    the capture asks the kernel who is connected to the instances (a netlink socket and ``/proc`` held
    open for a moment), so a single look may count those too."""
    fewest, until = fd_count(pid), time.monotonic() + window_s
    while time.monotonic() < until:
        time.sleep(0.02)
        fewest = min(fewest, fd_count(pid))
    return fewest


def error_lines(capture) -> list:
    return [line for line in capture.lines if ": error: " in line]


def numbered(number: int) -> bytes:
    return frames.ethernet("ff:ff:ff:ff:ff:ff", "02:00:00:00:64:00", 0x88B5, number.to_bytes(8, "big") + bytes(40))


def start_lab_with_sink(make_lab):
    """The lab of :data:`FLOOD_NETMAP`; 101, the one that gets flooded, and 103, its flooder, report no frame."""
    lab = make_lab(FLOOD_NETMAP, start=False)
    lab.start(100, 102)
    for number in (101, 103):
        lab.instances[number] = LabProcess(lab.directory, number, lab.netmap_path, quiet=True)
    return lab, lab[101], lab[103]


# == Writing the file fails =====================================================================
@pytest.mark.parametrize("flush", [False, True], ids=["buffered", "flush-each"])
def test_disk_full_gives_the_sockets_back_and_fails(flush, make_lab, start_capture, small_filesystem):
    lab = make_lab(NETMAP)
    before = directory_state(lab.directory)
    _fill(small_filesystem)
    output = os.path.join(small_filesystem, "cap.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output, *(["-f"] if flush else []))
    if flush:
        # The very first write fails: the lab is never touched.
        assert capture.wait(15) == 1, capture.stderr
        assert not [line for line in capture.lines if "attached" in line], capture.stderr
    else:
        # ENOSPC shows at the first flush (within a second); frames keep flowing until then and after.
        assert capture.wait_for("attached", count=3), capture.stderr
        lab[100].send("0/0", numbered(1))
        assert lab[101].wait_received(1)
        assert capture.wait(15) == 1, capture.stderr
    assert error_lines(capture) == [f"pcapng-iou: error: cannot write {output}: No space left on device"], \
        capture.stderr
    assert directory_state(lab.directory) == before
    lab[100].send("0/0", numbered(2))
    assert lab[101].wait_received(2 if not flush else 1)
    assert lab[101].frames_from(100)[-1] == numbered(2)


def _fill(folder: str) -> None:
    """Fill the filesystem of ``folder`` to the last byte (a capture file made there takes nothing)."""
    with open(os.path.join(folder, "filler"), "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
        try:
            while True:
                handle.write(b"\0")
        except OSError:
            pass


class _FileSizeLimit:
    """RLIMIT_FSIZE (soft) lowered in this process while a child is started: the child inherits it."""

    def __init__(self, limit: int):
        self.limit = limit

    def __enter__(self):
        self.saved = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.limit, self.saved[1]))

    def __exit__(self, *exc):
        resource.setrlimit(resource.RLIMIT_FSIZE, self.saved)


FLOOD_COUNT = 40000


@pytest.mark.parametrize("fault", ["small filesystem", "file size limit", "folder removed"])
def test_output_failing_mid_capture_loses_no_frame(fault, request, make_lab, start_capture, workdir):
    """The file stops taking data while a flood runs: one error, status 1, sockets back, every frame delivered."""
    lab, sink, flooder = start_lab_with_sink(make_lab)
    before = directory_state(lab.directory)
    if fault == "small filesystem":
        output = os.path.join(request.getfixturevalue("small_filesystem"), "cap.pcapng")
        reason = "No space left on device"
    elif fault == "file size limit":
        output = os.path.join(workdir, "cap.pcapng")
        reason = "File too large"
    else:
        os.mkdir(os.path.join(workdir, "out"))
        output = os.path.join(workdir, "out", "cap.pcapng")
        reason = "the file was deleted"
    args = ("-d", lab.directory, "-n", lab.netmap_path, "-w", output)
    if fault == "file size limit":
        with _FileSizeLimit(64 * 1024):
            capture = start_capture(*args)
    else:
        capture = start_capture(*args)
    assert capture.wait_for("attached", count=4), capture.stderr
    flooder.post(f"flood 0/0 {FLOOD_COUNT} 200")
    if fault == "folder removed":
        assert wait_until(lambda: os.path.getsize(output) > 64 * 1024, 20), capture.stderr
        shutil.rmtree(os.path.join(workdir, "out"))
    assert capture.wait(30) == 1, capture.stderr
    flooding = not flooder.answered()
    errors = error_lines(capture)
    assert len(errors) == 1 and errors[0].startswith(f"pcapng-iou: error: cannot write {output}: {reason}"), \
        capture.stderr
    assert directory_state(lab.directory) == before
    assert flooder.reply(120) == f"sent {FLOOD_COUNT}"
    got = wait_flow(sink, FLOOD_COUNT)
    # Frames still in our queue when the name goes back reach the instance after some sent straight to it:
    # every one exactly once, but not always in order.
    assert dict(got, reordered=0) == exact(FLOOD_COUNT), got
    print(f"{fault}: flood still running when the capture ended: {flooding}; overtaken: {got['reordered']}")


# == The capture is killed under heavy traffic ======================================================
def _recorded_numbers(tshark: str, output: str) -> tuple[list, list, subprocess.CompletedProcess]:
    result = subprocess.run([tshark, "-r", output, "-T", "fields", "-e", "frame.time_epoch", "-e", "eth.type",
                             "-e", "data.data"], capture_output=True, text=True, timeout=120)
    numbers, times = [], []
    for line in result.stdout.splitlines():
        epoch, ethertype, data = line.split("\t")
        if ethertype == "0x88b5":
            numbers.append(int(data[:16], 16))
            times.append(float(epoch))
    return numbers, times, result


@pytest.mark.parametrize("flush", [False, True], ids=["buffered", "flush-each"])
def test_killed_under_heavy_traffic_then_repair(flush, make_lab, start_capture, workdir, tshark):
    lab, sink, flooder = start_lab_with_sink(make_lab)
    before = directory_state(lab.directory)
    output = os.path.join(workdir, "killed.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output, *(["-f"] if flush else []))
    assert capture.wait_for("attached", count=4), capture.stderr
    # As fast as it goes for a while, then a steady trickle: the last second before the kill must be on disk.
    heavy = 30000
    assert flooder.command(f"flood 0/0 {heavy} 100", timeout=120) == f"sent {heavy}"
    flooder.stream("0/0", 500, 100)
    time.sleep(2.5)
    killed_at = time.time()
    capture.process.kill()
    assert capture.wait(10) == -signal.SIGKILL
    sent = flooder.halt("0/0")  # what went out; since the kill our dead socket refuses it ("connection refused")
    assert sent > heavy

    # The lab is broken until repaired: the instance listens at 101_real.
    assert "101_real" in os.listdir(lab.directory)
    fixed = run_cli("repair", "-d", lab.directory)
    assert fixed.returncode == 0, fixed.stderr
    assert "instance 101 runs: renamed" in fixed.stdout and "instance 100 runs: renamed" in fixed.stdout
    assert directory_state(lab.directory) == before

    delivered = flow(sink)
    assert delivered == exact(delivered["next"]), delivered  # from the first, in order, none lost in between
    delivered_count = delivered["next"]
    # The flood goes on where it stopped; what died in our queue stays missing, nothing else.
    assert flooder.command("flood 0/0 5000 100", timeout=120) == "sent 5000"
    got = wait_flow(sink, delivered_count + 5000)
    assert got == dict(exact(sent + 5000), good=delivered_count + 5000, missing=sent - delivered_count), got
    lab[100].send("0/1", numbered(7))
    assert lab[102].wait_received(1) and lab[102].frames_from(100) == [numbered(7)]

    numbers, times, result = _recorded_numbers(tshark, output)
    cut_short = "cut short in the middle of a packet" in result.stderr
    print(f"flush each={flush}: sent {sent}, delivered {delivered_count}, recorded {len(numbers)}; "
          f"tshark status {result.returncode}{' (file cut short)' if cut_short else ''}; "
          f"last recorded frame {killed_at - times[-1]:.2f} s before the kill" if times else "nothing recorded")
    assert result.returncode == 0 or (not flush and result.returncode == 2 and cut_short), result.stderr
    assert numbers == list(range(len(numbers))), "recorded frames are not the first ones, in order"
    # Recorded after forwarding; at most one read and recorded, still waiting for the instance.
    assert len(numbers) <= delivered_count + 1
    if flush:
        assert len(numbers) >= delivered_count - 1
    assert killed_at - times[-1] < 1.8, "more than the last second is missing from the file"


# == An instance stops while others flood ==============================================================
def test_stopped_instance_memory_bounded_others_unaffected(make_lab, start_capture, workdir):
    lab, sink, flooder = start_lab_with_sink(make_lab)
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", os.path.join(workdir, "m.pcapng"))
    assert capture.wait_for("attached", count=4), capture.stderr
    pid = capture.process.pid
    lab[100].send("0/1", numbered(0))
    assert lab[102].wait_received(1)
    time.sleep(0.3)
    baseline = proc_status_kb(pid, "VmRSS")
    count, size = 20000, 1400  # 28 MB: far more than the kernel queues hold
    sink.signal(signal.SIGSTOP)
    try:
        flooder.post(f"flood 0/0 {count} {size}")
        peak = baseline
        started = time.monotonic()
        for number in range(1, 31):
            lab[100].send("0/1", numbered(number))
            peak = max(peak, proc_status_kb(pid, "VmRSS"))
        assert lab[102].wait_received(31, timeout=10), "102 starved by a stopped 101"
        unaffected_s = time.monotonic() - started
        while time.monotonic() - started < 2.0:
            peak = max(peak, proc_status_kb(pid, "VmRSS"))
            time.sleep(0.05)
        assert not flooder.answered(), "the flood got through to a stopped instance: frames were dropped"
        assert capture.process.poll() is None
    finally:
        sink.signal(signal.SIGCONT)
    assert flooder.reply(120) == f"sent {count}"
    got = wait_flow(sink, count)
    assert got == exact(count), got
    assert [f[14:22] for f in lab[102].frames_from(100)] == [n.to_bytes(8, "big") for n in range(31)]
    grown_kb = peak - baseline
    print(f"VmRSS {baseline} kB, peak {peak} kB while {count * size // 10 ** 6} MB waited for a stopped "
          f"instance; 30 frames between the others took {unaffected_s * 1000:.0f} ms")
    assert grown_kb < 8 * 1024, f"memory grew by {grown_kb} kB while an instance was stopped"
    assert capture.stop() == 0


# == Malformed datagrams =================================================================================
def _odd_datagrams() -> list:
    header = struct.pack(">HHBBBB", 101, 100, 0, 0, 1, 0)
    out = [bytes(range(1, 1 + n)) for n in range(8)]  # 0..7 bytes: not even a header
    out.append(header)  # a header and nothing else
    out.append(struct.pack(">HHBBBB", 101, 100, 0, 0, 0, 0) + b"free?" * 20)  # message type 0
    out.append(struct.pack(">HHBBBB", 101, 100, 0, 0, 3, 0) + b"\x01" * 16)  # an L1 keepalive type
    out.append(struct.pack(">HHBBBB", 101, 100, 0, 0, 255, 9) + numbered(1))  # unknown type, odd channel
    big = header + numbered(2)
    out.append(big + bytes(range(256)) * ((65536 - len(big)) // 256) + bytes((65536 - len(big)) % 256))  # 64 KiB
    out.append(struct.pack(">HHBBBB", 999, 998, 0x33, 0x44, 1, 0) + numbered(3))  # ids no NETMAP names
    out.append(struct.pack(">HHBBBB", 0, 65535, 0xFF, 0xFF, 1, 0) + numbered(4))  # ids no IOU can have
    out.append(struct.pack(">HHBBBB", 101, 100, 0x13, 0x21, 1, 0) + numbered(5))  # ports no NETMAP names
    out.append(header + numbered(6))  # and a plain one to end with
    return out


def test_malformed_datagrams_forwarded_unchanged_and_counted(make_lab, start_capture, workdir, tshark):
    lab = make_lab("100:0/0 101:0/0\n", start=False)
    lab.start(100)
    sink = lab.instances[101] = LabProcess(lab.directory, 101, lab.netmap_path, extra=("--report-datagrams",))
    datagrams = _odd_datagrams()
    assert len(datagrams[12]) == 65536
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    target = os.path.join(lab.directory, "101")
    # What the instance gets with nobody in between...
    for datagram in datagrams:
        sender.sendto(datagram, target)
    assert sink.wait_received(len(datagrams))
    assert sink.datagrams == datagrams
    # ...it gets through the capture too.
    output = os.path.join(workdir, "odd.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output)
    assert capture.wait_for("attached", count=2), capture.stderr
    for datagram in datagrams:
        sender.sendto(datagram, target)
    assert sink.wait_received(2 * len(datagrams)), capture.stderr
    assert sink.datagrams[len(datagrams):] == datagrams
    sender.close()
    assert capture.process.poll() is None, capture.stderr
    assert capture.stop() == 0
    assert not error_lines(capture) and "Traceback" not in capture.stderr, capture.stderr
    # 9 without a frame (up to 8 bytes), 3 frames of another message type.
    assert "malformed 12" in capture.stderr and f"datagrams relayed {len(datagrams)}" in capture.stderr, \
        capture.stderr
    packets = read_packets(output)
    recorded = [p[1] for p in packets]
    assert recorded == [d[8:] for d in datagrams[12:]]
    rows = tshark_rows(tshark, output, "frame.len", "frame.interface_name")
    assert [int(row[0]) for row in rows] == [len(d) - 8 for d in datagrams[12:]]
    assert rows[0][1] == rows[-1][1] == "100:0/0-101:0/0"
    assert len({row[1] for row in rows}) == 4, rows  # the three odd ones on interfaces of their own


# == Instances come and go by the thousand ==============================================================
def lifetime(directory: str, number: int) -> Instance:
    """One short life of an instance, in this process: the simulated instance's own start and
    clean exit (lock and pid, socket; unlink both), without a process of its own to start."""
    instance = Instance(directory, number, Netmap())
    instance.start()
    return instance


def test_ten_thousand_instance_lifetimes_leak_nothing(make_lab, start_capture, workdir):
    lab = make_lab("100:0/0 101:0/0\n")
    output = os.path.join(workdir, "churn.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output)
    assert capture.wait_for("attached", count=2), capture.stderr
    pid = capture.process.pid
    settled = directory_state(lab.directory)
    baseline = settled_fd_count(pid)
    cycles, window, ids = 10000, 8, list(range(200, 264))
    living: collections.deque = collections.deque()
    peak = baseline
    started = time.monotonic()
    for cycle in range(cycles):
        if len(living) >= window:
            living.popleft().stop()
        living.append(lifetime(lab.directory, ids[cycle % len(ids)]))
        if cycle % 200 == 0:
            peak = max(peak, fd_count(pid))
            assert capture.process.poll() is None, capture.stderr[-2000:]
    while living:
        living.popleft().stop()
    took = time.monotonic() - started
    assert wait_until(lambda: directory_state(lab.directory) == settled, 20), \
        sorted(set(os.listdir(lab.directory)) - set(settled))
    assert wait_until(lambda: fd_count(pid) == baseline, 10), (baseline, fd_count(pid))
    attaches = sum("attached" in line for line in capture.lines) - 2
    print(f"{cycles} lifetimes in {took:.1f} s; {attaches} attached; fds {baseline}, at most {peak}")
    assert attaches >= 100, "the capture hardly saw the instances come and go"
    # A proxy is two descriptors; a capture running behind may hold one for every id still in the cycle.
    assert peak <= baseline + 2 * len(ids) + 8, (baseline, peak)
    lab[100].send("0/0", numbered(42))
    assert lab[101].wait_received(1)
    assert capture.stop() == 0
    assert "Traceback" not in capture.stderr
    assert [p[1] for p in read_packets(output)] == [numbered(42)]
    assert directory_state(lab.directory) == {k: v for k, v in settled.items() if not k.endswith("_real")} | {
        "100": settled["100_real"], "101": settled["101_real"]}


# == Privileges and files ====================================================================================
def _python_for(uid: int, gid: int) -> str | None:
    """A Python interpreter that ``uid`` may run (ours may live under /root)."""
    for candidate in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        if candidate and os.path.exists(candidate):
            try:
                result = subprocess.run([candidate, "-c", "pass"], user=uid, group=gid, extra_groups=[],
                                        capture_output=True)
            except OSError:
                continue
            if result.returncode == 0:
                return candidate
    return None


def test_root_on_another_users_netio_dir(start_capture):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    import pwd

    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    python = _python_for(user.pw_uid, user.pw_gid)
    if python is None:
        pytest.skip("no Python that user nobody may run")
    base = short_tempdir("iouroot")
    started = []
    try:
        os.chmod(base, 0o755)
        netio_dir = os.path.join(base, "netio65534")
        os.mkdir(netio_dir, 0o755)
        os.chown(netio_dir, user.pw_uid, user.pw_gid)
        # As a plain file: nobody may not see our installed package.
        as_nobody = dict(runner=(python, "-I", INSTANCE_FILE), extra=("-N", "--report-datagrams"), cwd=base,
                         user=user.pw_uid, group=user.pw_gid, extra_groups=[])
        first = LabProcess(netio_dir, 100, umask=0o022, **as_nobody)
        started.append(first)
        second = LabProcess(netio_dir, 101, umask=0o077, **as_nobody)
        started.append(second)
        before = directory_state(netio_dir)
        modes = {name: os.lstat(os.path.join(netio_dir, name)).st_mode for name in ("100", "101")}
        assert modes == {"100": stat.S_IFSOCK | 0o755, "101": stat.S_IFSOCK | 0o700}
        output = os.path.join(base, "root.pcapng")
        saved_umask = os.umask(0o022)
        try:
            capture = start_capture("-d", netio_dir, "-w", output)
        finally:
            os.umask(saved_umask)
        assert capture.wait_for("attached", count=2), capture.stderr
        for name in ("100", "101"):
            ours, theirs = os.lstat(os.path.join(netio_dir, name)), os.lstat(os.path.join(netio_dir, name + "_real"))
            assert ours.st_ino != theirs.st_ino
            assert (ours.st_uid, ours.st_gid, ours.st_mode) == (user.pw_uid, user.pw_gid, theirs.st_mode), name
        for name in os.listdir(netio_dir):  # nothing of root's left in their directory
            st = os.lstat(os.path.join(netio_dir, name))
            assert st.st_uid == user.pw_uid and not st.st_mode & stat.S_IWOTH, name
        # The unprivileged instances still reach each other, through us.
        assert first.send_raw(101, struct.pack(">HHBBBB", 101, 100, 0, 0, 1, 0) + numbered(1))
        assert second.send_raw(100, struct.pack(">HHBBBB", 100, 101, 0, 0, 1, 0) + numbered(2))
        assert first.wait_received(1) and second.wait_received(1)
        assert capture.stop() == 0
        assert stat.S_IMODE(os.stat(output).st_mode) == 0o600  # captured traffic is private (issue 24)
        assert [p[1] for p in read_packets(output)] == [numbered(1), numbered(2)]
        assert directory_state(netio_dir) == before
        assert first.send_raw(101, struct.pack(">HHBBBB", 101, 100, 0, 0, 1, 0) + numbered(3))
        assert second.wait_received(2)
    finally:
        for instance in started:
            instance.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("umask, group_read, mode", [(0o022, False, 0o600), (0o000, False, 0o600),
                                                     (0o022, True, 0o640), (0o077, True, 0o600)])
def test_output_file_is_private_whatever_the_umask(umask, group_read, mode, make_lab, start_capture, workdir):
    """0600 as dumpcap (it was 0644 under umask 022: anyone read the traffic); -g lets the group read; a umask
    can only narrow it."""
    lab = make_lab("100:0/0 101:0/0\n")
    output = os.path.join(workdir, "u.pcapng")
    saved = os.umask(umask)
    try:
        capture = start_capture("-d", lab.directory, "-w", output, *(["-g"] if group_read else []))
    finally:
        os.umask(saved)
    assert capture.wait_for("attached", count=2), capture.stderr
    assert capture.stop() == 0
    assert stat.S_IMODE(os.stat(output).st_mode) == mode


@pytest.mark.parametrize("dangling", [False, True], ids=["to a file", "dangling"])
def test_output_never_written_through_a_planted_symlink(dangling, make_lab, start_capture, workdir):
    lab = make_lab("100:0/0 101:0/0\n")
    before = directory_state(lab.directory)
    victim = os.path.join(workdir, "victim")
    if not dangling:
        with open(victim, "w") as handle:
            handle.write("precious\n")
    output = os.path.join(workdir, "planted.pcapng")
    os.symlink(victim, output)
    capture = start_capture("-d", lab.directory, "-w", output)
    assert capture.wait(10) == 1
    assert error_lines(capture) == [f"pcapng-iou: error: cannot write {output}: is a symlink; refusing to write "
                                    f"through it"], capture.stderr
    assert not [line for line in capture.lines if "attached" in line]
    assert os.path.islink(output)
    if dangling:
        assert not os.path.lexists(victim)
    else:
        with open(victim) as handle:
            assert handle.read() == "precious\n"
    assert directory_state(lab.directory) == before


def test_files_not_ours_in_the_netio_dir_are_never_touched(make_lab, start_capture, workdir):
    lab = make_lab("100:0/0 101:0/0\n")
    d = lab.directory
    outside = os.path.join(workdir, "outside")
    os.mkdir(outside)
    victim_file = os.path.join(outside, "victim.txt")
    with open(victim_file, "w") as handle:
        handle.write("12345\n")
    victim_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    victim_sock.bind(os.path.join(outside, "victim.sock"))
    victim_sock.setblocking(False)
    try:
        os.symlink(os.path.join(outside, "victim.sock"), os.path.join(d, "300"))  # a link to a live socket
        os.symlink(outside, os.path.join(d, "301"))  # to a directory
        open(os.path.join(d, "302"), "w").close()
        os.symlink(victim_file, os.path.join(d, "302.lck"))  # a lock file that is a link
        os.symlink(os.path.join(outside, "victim.sock"), os.path.join(d, "303_real"))  # a "_real" that is a link
        os.mkfifo(os.path.join(d, "304"))
        with open(os.path.join(d, "305.lck"), "w") as handle:
            handle.write("1\n")
        os.symlink(victim_file, os.path.join(d, "101.pcapng-iou-new"))  # our temporary name, planted
        os.symlink(victim_file, os.path.join(d, "306.pcapng-iou-new"))
        os.mkdir(os.path.join(d, "307_real"))
        before = directory_state(d)
        victim_before = os.stat(victim_file)
        capture = start_capture("-d", d, "-w", os.path.join(workdir, "t.pcapng"))
        assert capture.wait_for("instance 100 attached"), capture.stderr
        assert capture.wait_for("101.pcapng-iou-new"), capture.stderr
        lab[100].send("0/0", numbered(1))  # 101 is not attached, but the lab still works
        assert lab[101].wait_received(1)
        assert capture.stop() == 0
        assert "Traceback" not in capture.stderr
        assert directory_state(d) == before
        fixed = run_cli("repair", "-d", d)
        assert fixed.returncode == 0, fixed.stderr
        assert directory_state(d) == before
        after = os.stat(victim_file)
        assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
            victim_before.st_ino, victim_before.st_size, victim_before.st_mtime_ns)
        with open(victim_file) as handle:
            assert handle.read() == "12345\n"
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        probe.sendto(b"still me", os.path.join(outside, "victim.sock"))
        probe.close()
        assert victim_sock.recv(64) == b"still me"
    finally:
        victim_sock.close()


def test_a_capture_whose_stderr_reader_went_away_goes_on_relaying_and_recording(make_lab, workdir):
    """``pcapng-iou capture ... 2>&1 | head -3``: once head has left, messages cannot be written; the
    capture goes on, silent, and stops cleanly when asked."""
    lab = make_lab(NETMAP)
    before = directory_state(lab.directory)
    output = os.path.join(workdir, "silent.pcapng")
    reader, writer = os.pipe()
    process = start_cli("capture", "-d", lab.directory, "-n", lab.netmap_path, "-w", output,
                        stdout=subprocess.DEVNULL, stderr=writer)
    os.close(writer)
    try:
        with os.fdopen(reader, "rb") as stream:
            attached = 0
            while attached < 3:
                line = stream.readline()
                assert line, "the capture stopped before it attached"
                attached += b"attached" in line
        # The reader is gone: the next message (a new instance, a stop) meets a broken pipe.
        lab[100].send("0/0", numbered(1))
        assert lab[101].wait_received(1)
        os.kill(process.pid, signal.SIGHUP)  # a reload says something
        time.sleep(0.5)
        assert process.poll() is None, "the capture died when it could not write a message"
        lab[100].send("0/0", numbered(2))
        assert lab[101].wait_received(2)
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert directory_state(lab.directory) == before
    assert [p[1] for p in read_packets(output)] == [numbered(1), numbered(2)]
