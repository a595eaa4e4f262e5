"""The simulated IOU instance behaves as IOU does on its command line, working directory
and netio directory: real processes, real sockets, real /proc."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import need, wait_until

import pcapng_iou
from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.sim import frames
from pcapng_iou.sim.instance import NETIO_DIR_ENV, default_netio_dir
from pcapng_iou.sim.lab import Lab, LabError, LabProcess, bays_for

INSTANCE_FILE = os.path.join(os.path.dirname(pcapng_iou.__file__), "sim", "instance.py")
FRAME = frames.ethernet("ff:ff:ff:ff:ff:ff", "02:00:00:00:64:00", 0x88B5, bytes(46))


def proc_cmdline(pid: int) -> list:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read().rstrip(b"\0").decode().split("\0")


@pytest.mark.lab
@pytest.mark.parametrize("how", ["module", "file"])
def test_help_exits_0(how, tmp_path):
    # As a file it runs with no package installed (-I: no site-packages, no PYTHONPATH) from anywhere.
    command = [sys.executable, "-m", "pcapng_iou.sim.instance"] if how == "module" else \
        [sys.executable, "-I", INSTANCE_FILE]
    result = subprocess.run(command + ["--help"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "-e N" in result.stdout and "ID" in result.stdout


@pytest.mark.lab
def test_run_as_a_plain_file_without_the_package_installed(workdir):
    netio_dir = os.path.join(workdir, "netio")
    with open(os.path.join(workdir, "NETMAP"), "w") as handle:
        handle.write("100:0/0 101:0/0\n")
    peer = LabProcess(netio_dir, 101, os.path.join(workdir, "NETMAP"))
    try:
        process = subprocess.Popen([sys.executable, "-I", INSTANCE_FILE, "100"], cwd=workdir,
                                   env={NETIO_DIR_ENV: netio_dir}, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = process.communicate(f"send 0/0 {FRAME.hex()}\nquit\n".encode(), timeout=30)
        assert process.returncode == 0, err
        assert out.decode().splitlines() == [f"ready 100 {process.pid}", "sent 1", "bye"]
        assert peer.wait_received(1) and peer.frames_from(100) == [FRAME]
    finally:
        peer.stop()


def test_command_line_is_ious_and_netmap_comes_from_the_working_directory(make_lab):
    lab = make_lab("100:0/0 101:0/0\n100:1/0 101:1/0\n")
    for number, process in lab.instances.items():
        cmdline = proc_cmdline(process.pid)
        assert cmdline[-1] == str(number)
        assert cmdline[cmdline.index("-e") + 1] == "2" and cmdline[cmdline.index("-s") + 1] == "2"
        assert "--netmap" not in cmdline
        assert os.readlink(f"/proc/{process.pid}/cwd") == os.path.dirname(lab.netmap_path)
    assert lab[100].send("1/0", FRAME) == 1
    assert lab[101].wait_received(1) and lab[101].received[0] == (100, "1/0", "1/0", FRAME)


@pytest.mark.lab
def test_each_instance_in_a_folder_of_its_own(workdir):
    lab = Lab(os.path.join(workdir, "netio"), "100:0/0 101:0/0\n", os.path.join(workdir, "NETMAP"),
              own_folders=True)
    try:
        lab.start()
        folders = set()
        for number, process in lab.instances.items():
            folder = os.readlink(f"/proc/{process.pid}/cwd")
            assert folder == lab.folder_of(number) == os.path.join(workdir, f"iou{number}")
            with open(os.path.join(folder, "NETMAP")) as handle:
                assert handle.read() == "100:0/0 101:0/0\n"
            folders.add(folder)
        assert len(folders) == 2
        assert lab[101].send("0/0", FRAME) == 1
        assert lab[100].wait_received(1) and lab[100].frames_from(101) == [FRAME]
    finally:
        lab.stop()


@pytest.mark.lab
def test_no_netmap_in_the_folder_means_no_links_and_N_ignores_it(workdir):
    netio_dir = os.path.join(workdir, "netio")
    alone = LabProcess(netio_dir, 100, cwd=workdir)  # no NETMAP there
    with open(os.path.join(workdir, "NETMAP"), "w") as handle:
        handle.write("102:0/0 103:0/0\n")
    ignoring = LabProcess(netio_dir, 102, extra=("-N",), cwd=workdir)
    reading = LabProcess(netio_dir, 103, cwd=workdir)
    try:
        assert alone.send("0/0", FRAME) == 0
        assert ignoring.send("0/0", FRAME) == 0
        assert reading.send("0/0", FRAME) == 1  # the same NETMAP, read
        assert ignoring.wait_received(1)
        assert reading.received == []
    finally:
        for process in (alone, ignoring, reading):
            process.stop()


def test_default_netio_dir_is_ious(monkeypatch):
    monkeypatch.delenv(NETIO_DIR_ENV, raising=False)
    assert default_netio_dir() == f"/tmp/netio{os.getuid()}"
    monkeypatch.setenv(NETIO_DIR_ENV, "/tmp/elsewhere")
    assert default_netio_dir() == "/tmp/elsewhere"


#: Run a command with a private, empty tmpfs over the netio directory (its first argument), in a
#: mount namespace of its own: the real directory, and any lab running in it, stay untouched.
PRIVATE_NETIO_DIR = 'mount -t tmpfs -o mode=0700 tmpfs "$0" && exec "$@"'


def in_a_private_netio_dir(directory: str, command: list) -> list:
    """``command`` run with ``directory`` hidden behind a tmpfs of its own (root, or a user namespace)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        need("needs unshare (util-linux)")
    as_root = [] if os.geteuid() == 0 else ["--map-root-user"]
    probe = subprocess.run([unshare, *as_root, "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        need(f"cannot make a mount namespace here: {probe.stderr.decode().strip()}")
    return [unshare, *as_root, "--mount", "--propagation", "private", "sh", "-c", PRIVATE_NETIO_DIR, directory,
            *command]


@pytest.mark.lab
def test_binds_in_tmp_netio_uid_by_default(workdir):
    """Without ``$PCAPNG_IOU_NETIO_DIR`` the instance binds in ``/tmp/netio<uid>``: a private one, seen
    through ``/proc/<pid>/root``, so that a lab running in the real one is neither touched nor seen."""
    uid = os.getuid() if os.geteuid() == 0 else 0  # a user namespace maps us to root
    directory = f"/tmp/netio{uid}"
    made = not os.path.lexists(directory)
    if made:
        os.mkdir(directory, 0o700)  # the mount point; removed again below
    before = set(os.listdir(directory))
    env = {k: v for k, v in os.environ.items() if k != NETIO_DIR_ENV}
    command = in_a_private_netio_dir(directory, [sys.executable, "-m", "pcapng_iou.sim.instance", "-N", "100"])
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, cwd=workdir)
    try:
        assert process.stdout.readline().decode() == f"ready 100 {process.pid}\n", process.stderr.read()
        seen = f"/proc/{process.pid}/root{directory}"
        assert sorted(os.listdir(seen)) == ["100", "100.lck"]
        with open(os.path.join(seen, "100.lck")) as handle:
            assert handle.read() == f"{process.pid}\n"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
        if made:
            with contextlib.suppress(OSError):  # not if a lab started in it meanwhile: then it is theirs
                os.rmdir(directory)
    assert process.returncode == 0
    assert made or set(os.listdir(directory)) == before


@pytest.mark.lab
def test_second_instance_with_the_same_id_is_refused(workdir):
    netio_dir = os.path.join(workdir, "netio")
    first = LabProcess(netio_dir, 100)
    try:
        with pytest.raises(LabError, match=r"did not start: .*100\.lck is locked: that instance already runs"):
            LabProcess(netio_dir, 100)
        assert first.process.poll() is None
    finally:
        first.stop()


@pytest.mark.parametrize("argv, message", [
    (["-e", "10", "-s", "7", "100"], "-e 10 -s 7: IOU has 0..16 bays in all"),
    (["1025"], "instance id 1025 is out of range 1..1024"),
    (["100", "-x"], "unrecognized arguments: -x"),
])
@pytest.mark.lab
def test_bad_command_lines(argv, message):
    result = subprocess.run([sys.executable, "-m", "pcapng_iou.sim.instance", *argv],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr, result.stderr


@pytest.mark.lab
def test_serial_bays_speak_cisco_hdlc_unless_netmap_says_otherwise(workdir):
    netio_dir = os.path.join(workdir, "netio")
    with open(os.path.join(workdir, "NETMAP"), "w") as handle:
        handle.write("100:1/0 101:1/0\n")
    # 100 has bay 1 serial (-e 1 -s 1); 101 listens and does not speak.
    listener = LabProcess(netio_dir, 101, os.path.join(workdir, "NETMAP"))
    speaker = LabProcess(netio_dir, 100, os.path.join(workdir, "NETMAP"), speak=True, interval=0.1,
                         bays=(1, 1))
    try:
        assert listener.wait_received(2)
        # CDP first (protocol 0x2000), then the SLARP keepalive (0x8035): Cisco HDLC both
        assert [frame[:4] for *_, frame in listener.received[:2]] == [b"\x8f\x00\x20\x00", b"\x8f\x00\x80\x35"]
    finally:
        speaker.stop()
        listener.stop()


@pytest.mark.lab
def test_an_instance_speaks_only_on_the_bays_its_command_line_gives_it(workdir):
    """EVE-NG's NETMAP names 64 ports; an instance started with -e 1 -s 1 has bays 0 and 1 only (issue 25)."""
    ports = _ports_spoken_on(workdir, 3.0)
    assert ports and {port & 0x0F for port in ports} == {0, 1}, sorted(ports)


def _ports_spoken_on(workdir: str, seconds: float, *extra: str) -> set:
    """The ports instance 100 (-e 1 -s 1, speaking) sends on toward its bridge 612 in ``seconds``, every one of
    its 64 ports wired to the bridge as EVE-NG's NETMAP does."""
    netio_dir = os.path.join(workdir, "netio")
    with open(os.path.join(workdir, "NETMAP"), "w") as handle:
        handle.writelines(f"100:{port} 612:{port}\n" for port in range(64))
    os.makedirs(netio_dir)
    bridge = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    bridge.bind(os.path.join(netio_dir, "612"))
    bridge.settimeout(0.2)
    speaker = LabProcess(netio_dir, 100, os.path.join(workdir, "NETMAP"), speak=True, interval=0.05, bays=(1, 1),
                         extra=extra)
    ports = set()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                ports.add(bridge.recv(65536)[5])
            except socket.timeout:
                pass
    finally:
        bridge.close()  # first: a full queue would hold its sends
        speaker.stop()
    return ports


@pytest.mark.lab
def test_speak_on_names_the_interfaces_configured_up(workdir):
    """GNS3's and EVE-NG's NETMAPs wire every port to the bridge; IOS speaks only on the interfaces it was
    told to bring up: the demo --eve lab showed 33 interfaces for 3 links."""
    ports = _ports_spoken_on(workdir, 2.0, "--speak-on", "0/0,1/0")
    assert ports == {0x00, 0x01}, sorted(ports)


def test_speak_on_refuses_what_is_not_an_interface():
    from pcapng_iou.sim.instance_cli import build_parser

    assert build_parser().parse_args(["--speak-on", "0/0,1/3", "1"]).speak_on == {0x00, 0x31}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--speak-on", "eth0", "1"])


def test_lab_gives_each_instance_the_bays_its_lines_need():
    netmap = netmap_mod.parse("1:0/0 2:0/0 ethernet\n1:1/0 2:1/0 hdlc\n3:5/2 4:0/0\n4:2/0 5:2/0 ppp\n")
    assert bays_for(netmap, 1) == (1, 2)  # Ethernet bay 0, serial bay 1
    assert bays_for(netmap, 3) == (6, 2)  # an unannotated line counts as Ethernet
    assert bays_for(netmap, 4) == (2, 2)
    assert bays_for(netmap, 9) == (2, 2)  # IOU's defaults


@pytest.mark.lab
def test_flood_and_stream_share_a_numbering_and_flood_stops_at_the_first_refusal(workdir):
    netio_dir = os.path.join(workdir, "netio")
    with open(os.path.join(workdir, "NETMAP"), "w") as handle:
        handle.write("100:0/0 101:0/0\n")
    sender = LabProcess(netio_dir, 100, os.path.join(workdir, "NETMAP"), quiet=True)
    receiver = LabProcess(netio_dir, 101, os.path.join(workdir, "NETMAP"), quiet=True)
    try:
        assert sender.command("flood 0/0 50 60") == "sent 50"
        sender.stream("0/0", 500)
        time.sleep(0.2)
        streamed = sender.halt("0/0")
        assert streamed > 50
        assert sender.command("flood 0/0 10 60") == "sent 10"
        assert wait_until(lambda: receiver.tally().get("100:0", {}).get("good") == streamed + 10)
        assert receiver.tally()["100:0"] == {"next": streamed + 10, "good": streamed + 10, "reordered": 0,
                                             "duplicates": 0, "corrupt": 0, "missing": 0}
        receiver.stop()
        assert sender.command("flood 0/0 10 60") == "sent 0"
        assert sender.errors[-1] == "senderr 101 ENOENT"
    finally:
        sender.stop()
        receiver.stop()


@pytest.mark.lab
def test_signal_ends_a_blocked_flood_at_once_and_cleanly(workdir):
    netio_dir = os.path.join(workdir, "netio")
    with open(os.path.join(workdir, "NETMAP"), "w") as handle:
        handle.write("100:0/0 101:0/0\n")
    receiver = LabProcess(netio_dir, 101, os.path.join(workdir, "NETMAP"), quiet=True)
    sender = LabProcess(netio_dir, 100, os.path.join(workdir, "NETMAP"), quiet=True)
    receiver.signal(signal.SIGSTOP)  # its queue fills; the flood blocks
    try:
        sender.process.stdin.write(b"flood 0/0 100000 1000\n")
        time.sleep(1.0)
        started = time.monotonic()
        assert sender.stop(timeout=5) == 0
        assert time.monotonic() - started < 3
        assert not {"100", "100.lck"} & set(os.listdir(netio_dir))
    finally:
        receiver.signal(signal.SIGCONT)
        receiver.stop()


@pytest.mark.lab
def test_herd_holds_every_instance_and_quits_cleanly(workdir):
    netio_dir = os.path.join(workdir, "netio")
    os.mkdir(netio_dir)
    herd = subprocess.Popen([sys.executable, "-m", "pcapng_iou.sim.instance", "-N", "--netio-dir", netio_dir,
                             "--herd", "40", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert herd.stdout.readline() == f"ready 1-40 {herd.pid}\n"
        assert sorted(os.listdir(netio_dir)) == sorted([str(n) for n in range(1, 41)] +
                                                       [f"{n}.lck" for n in range(1, 41)])
        probe = ("import sys; from pcapng_iou.shell import netiodir; "
                 "print(all(netiodir.lock_state(f'{sys.argv[1]}/{n}.lck') for n in range(1, 41)))")
        assert subprocess.run([sys.executable, "-c", probe, netio_dir], capture_output=True, text=True,
                              check=False).stdout == "True\n"
        out, _ = herd.communicate("quit\n", timeout=10)
        assert (herd.returncode, out) == (0, "bye\n")
        assert os.listdir(netio_dir) == []
    finally:
        if herd.poll() is None:
            herd.kill()


@pytest.mark.lab
def test_a_sink_written_before_its_traffic_sees_all_of_it(workdir):
    """The bench writes ``peer sink`` to the receiver, then starts the flood.  A receiver that was
    slow to run (a loaded host: here stopped while both arrive) found its command and the first
    datagrams ready at once, and its own loop could take them before the sink ran: the bench then
    reported frames lost that the kernel had delivered."""
    from pcapng_iou.sim.peers import PeerStream

    netio_dir = os.path.join(workdir, "netio")
    stream = PeerStream(101, 301, 100)
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    answers = []
    for _ in range(5):  # the order the loop saw them in was up to epoll: try it more than once
        receiver = LabProcess(netio_dir, 301, None, quiet=True)
        try:
            receiver.signal(signal.SIGSTOP)
            receiver.post("peer sink 101 8 100")
            time.sleep(0.05)
            for seq in range(8):
                sender.sendto(stream.datagram(seq), os.path.join(netio_dir, "301"))
            receiver.signal(signal.SIGCONT)
            answers.append(json.loads(receiver.reply(timeout=30).partition(" ")[2]))
        finally:
            receiver.signal(signal.SIGCONT)
            receiver.stop()
    sender.close()
    assert [(a["good"], a["bad"], a["error"]) for a in answers] == [(8, 0, None)] * 5


@pytest.mark.lab
def test_bench_traffic_the_loop_read_before_its_sink_goes_to_that_sink(workdir):
    """After a command, the receiver's loop went on with its socket's readiness from before the command,
    and on a loaded host the driver had by then written the next sink and the sender started its flood:
    the loop took the first queueful of it (11 datagrams, CI saw the bench report them lost).  Here the
    datagrams come before the sink outright, so the loop surely reads them first."""
    from pcapng_iou.sim.peers import PeerStream

    netio_dir = os.path.join(workdir, "netio")
    stream = PeerStream(101, 301, 100)
    path = os.path.join(netio_dir, "301")
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver = LabProcess(netio_dir, 301, None, quiet=True)
    try:
        sender.sendto(stream.datagram(0), path)
        first = json.loads(receiver.command("peer sink 101 1 100").partition(" ")[2])
        for seq in range(1, 6):
            sender.sendto(stream.datagram(seq), path)
        time.sleep(0.3)  # the loop reads them, with no command running
        second = json.loads(receiver.command("peer sink 101 5 100").partition(" ")[2])
    finally:
        receiver.stop()
        sender.close()
    assert [(a["good"], a["bad"], a["error"]) for a in (first, second)] == [(1, 0, None), (5, 0, None)]


@pytest.mark.lab
def test_an_instance_whose_program_cannot_run_is_a_lab_error(workdir):
    """The demo run by a user who may not run the virtual environment's Python ended in a traceback
    (found by a newcomer): a program that cannot be started is a LabError, which the demo says in one line."""
    with pytest.raises(LabError, match=r"^instance 100 could not be started: /nonexistent/python: No such file"):
        LabProcess(os.path.join(workdir, "netio"), 100, runner=("/nonexistent/python",))
