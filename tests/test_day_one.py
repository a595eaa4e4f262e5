"""What a new user tripped on in a day of ordinary use (issue 29): messages that say what
is wrong and what to do, dumpcap and tcpdump habits, files libpcap readers can open.

Real ``python -m pcapng_iou`` processes beside a simulated lab.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import start_cli
from test_cli_errors import SOURCE_ROOT, run_cli
from test_dashboard_terminal import tmux  # noqa: F401 (a fixture: a tmux server of the test's own)

#: A user who is not root and owns nothing here.
OTHER_UID = 4243


def run_as_other_user(*args: str, cwd: str) -> subprocess.CompletedProcess:
    """``python -m pcapng_iou ARGS`` as uid :data:`OTHER_UID` (the tests run as root in CI)."""
    if os.getuid() != 0 or shutil.which("setpriv") is None:
        message = "needs root and setpriv (util-linux)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    env = dict(os.environ, PYTHONPATH=SOURCE_ROOT)
    return subprocess.run(["setpriv", f"--reuid={OTHER_UID}", f"--regid={OTHER_UID}", "--clear-groups",
                           sys.executable, "-m", "pcapng_iou", *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60, env=env)


def test_a_netmap_line_of_one_endpoint_is_warned_of_once(make_lab, workdir, start_capture):
    lab = make_lab("100:0/0 101:0/0\n102:0/0\n")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", os.path.join(workdir, "o.pcapng"))
    assert capture.wait_for("attached", count=3), capture.stderr
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("NETMAP reloaded"), capture.stderr
    assert capture.stop() == 0, capture.stderr
    said = [line for line in capture.lines if "has one endpoint" in line]
    assert said == [f"pcapng-iou: warning: {lab.netmap_path}:2: '102:0/0' has one endpoint: IOU treats 102:0/0 as "
                    "an unconnected interface (what it sends reaches no one)"], capture.stderr


@pytest.fixture
def lab(make_lab):
    return make_lab("100:0/0 101:0/0\n")


@pytest.fixture
def empty_cwd(workdir):
    path = os.path.join(workdir, "cwd")
    os.mkdir(path)
    return path


@pytest.mark.parametrize("args, message", [
    (["-f", "icmp"], "capture filters (-f FILTER, as with dumpcap and tcpdump) are not supported: -f is --flush "
                     "here. Record only some links with --link NAME or some instances with -i ID, and filter in "
                     "Wireshark with a display filter (tshark -Y 'icmp')"),
    (["--flush", "tcp port 80", "-q"], "capture filters (-f FILTER"),
    (["-i", "1:0/0-2:0/0"], "argument -i/--instance: expected an instance id 1..1024, got '1:0/0-2:0/0' "
                            "(to record one link, use --link 1:0/0-2:0/0)"),
    (["-s", "-1"], "argument -s/--snaplen: snap length: expected 1 to 262144 bytes, or 0 for the default "
                   "(262144: frames stored whole), got -1"),
    (["-f", "-q", "stray"], "unrecognized arguments: stray"),
])
def test_dumpcap_habits_are_answered(args, message, lab, empty_cwd):
    result = run_cli("capture", "-d", lab.directory, "-w", "out.pcapng", *args, cwd=empty_cwd)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [line for line in result.stderr.splitlines() if line], result.stderr
    assert result.stderr.startswith(f"pcapng-iou capture: error: {message}"), result.stderr
    assert os.listdir(empty_cwd) == []


@pytest.mark.parametrize("text, snaplen", [("0", 0), ("262144", 0), ("96", 96)])
def test_snaplen_0_is_the_default_as_for_dumpcap(text, snaplen):
    from pcapng_iou.app.cli import build_parser

    assert build_parser().parse_args(["capture", "-s", text]).snaplen == snaplen
    assert build_parser().parse_args(["capture"]).snaplen in (None, 0)


def test_a_ring_buffer_without_w_has_one_time_in_its_names(lab, empty_cwd):
    result = run_cli("capture", "-d", lab.directory, "-b", "filesize:1000", "--duration", "0.5", "-q", cwd=empty_cwd)
    assert result.returncode == 0, result.stderr
    names = os.listdir(empty_cwd)
    assert len(names) == 1 and re.fullmatch(r"iou_00001_\d{14}\.pcapng", names[0]), names


@pytest.mark.lab
def test_capture_help_is_wrapped():
    result = run_cli("capture", "--help", cwd="/")
    assert result.returncode == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 80, result.stdout


@pytest.mark.lab
def test_a_file_that_cannot_be_written_names_its_folder(workdir):
    """``cd / && pcapng-iou capture`` as a user: "cannot write iou-...pcapng: Permission denied" named no folder."""
    netio, cwd = os.path.join(workdir, "netio"), os.path.join(workdir, "cwd")
    os.mkdir(netio)
    os.mkdir(cwd, 0o755)  # root's: the user cannot write there
    os.chown(netio, OTHER_UID, OTHER_UID)
    os.chmod(workdir, 0o755)
    result = run_as_other_user("capture", "-d", netio, "--no-wait", cwd=cwd)
    assert result.returncode == 1, result.stderr
    assert re.fullmatch(rf"pcapng-iou: error: cannot write iou-\d{{8}}-\d{{6}}\.pcapng in {cwd}: Permission denied\n",
                        result.stderr), result.stderr


@pytest.mark.lab
@pytest.mark.parametrize("command", [["capture", "-w", "out.pcapng", "--duration", "20"], ["repair"]])
def test_a_netio_directory_behind_a_closed_folder_is_said_unreachable(command, workdir):
    """As another user, the netio directory in a root-only folder was "waited for", then "never appeared"
    (capture), or "does not exist" (repair): it is there, but cannot be reached (found by a newcomer)."""
    closed = os.path.join(workdir, "closed")
    netio = os.path.join(closed, "netio")
    os.makedirs(netio)
    os.chmod(closed, 0o700)  # root's
    cwd = os.path.join(workdir, "cwd")
    os.mkdir(cwd)
    os.chown(cwd, OTHER_UID, OTHER_UID)
    os.chmod(workdir, 0o755)
    result = run_as_other_user(command[0], "-d", netio, *command[1:], cwd=cwd)
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        f"pcapng-iou: error: netio directory {netio} cannot be reached: permission denied on {closed} "
        f"(drwx------, owner root), so whether it exists cannot be seen; run pcapng-iou {command[0]} as root or with "
        f"sudo, or let this user into {closed} (chmod o+x {closed}), or give -d a directory you can reach\n")
    assert os.listdir(cwd) == []


def test_extcap_without_running_routers_says_which_directory_through_tshark(tshark, workdir):
    """tshark -i iou with no router running printed an empty "tshark: " line and 0 packets."""
    from test_wireshark import install_extcap, run_tshark

    env, _ = install_extcap(tshark, workdir)
    netio = os.path.join(workdir, "netio")
    os.mkdir(netio)
    result = run_tshark(tshark, "-i", "iou", "-o", f"extcap.iou.netiodir:{netio}", "-a", "duration:2",
                        "-w", os.path.join(workdir, "none.pcapng"), env=env)
    me = pwd.getpwuid(os.getuid()).pw_name
    assert (f"Error by extcap pipe: pcapng-iou extcap: error: no IOU instance ran in {netio} (the folder of "
            f"{me}): nothing was captured. Start the lab; or, if IOU runs as another user, give its folder "
            f"/tmp/netio<uid of that user> in the options of IOU links (the gear)") in result.stderr, result.stderr
    assert not re.search(r"^tshark: *$", result.stderr, re.MULTILINE), result.stderr


@pytest.mark.lab
def test_the_extcap_says_nothing_ran_before_wireshark_reads_the_end_of_the_capture(workdir):
    """The message came after the FIFO was closed: dumpcap, which reports the end as soon as it reads it,
    sometimes had nothing to show yet, and tshark printed an empty "tshark: " line (under load)."""
    import select

    netio, fifo = os.path.join(workdir, "netio"), os.path.join(workdir, "fifo")
    os.mkdir(netio)
    os.mkfifo(fifo)
    extcap = start_cli("extcap", "--capture", "--extcap-interface", "iou", "--fifo", fifo, "--netio-dir", netio,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    said_by_the_end = []
    try:
        with open(fifo, "rb") as reader:  # as dumpcap: the extcap writes into the FIFO we read
            time.sleep(1)
            extcap.send_signal(signal.SIGTERM)  # as Wireshark stops a capture
            reader.read()
            said_by_the_end.append(bool(select.select([extcap.stderr], [], [], 0)[0]))
        said = extcap.stderr.read().decode()
        extcap.wait(30)
    finally:
        if extcap.poll() is None:
            extcap.kill()
            extcap.wait()
        extcap.stderr.close()
    assert f"no IOU instance ran in {netio}" in said, said
    assert said_by_the_end == [True], "the end of the capture reached the FIFO's reader before the message"


def test_extcap_against_another_users_lab_points_to_the_pipe_that_works(tshark, workdir):
    """"run pcapng-iou as root" cannot be acted on from Wireshark: the way that works is said."""
    from test_hints import locked_directory
    from test_wireshark import install_extcap

    env, _ = install_extcap(tshark, workdir)
    netio, prefix = locked_directory(workdir)
    result = subprocess.run([*prefix, tshark, "-i", "iou", "-o", f"extcap.iou.netiodir:{netio}", "-a", "duration:20",
                             "-w", os.path.join(workdir, "never.pcapng")], capture_output=True, text=True, env=env,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    assert (f"no permission to stand in for the sockets in {netio}: it belongs to nobody. Wireshark cannot capture "
            f"it as you: capture from a terminal and pipe into Wireshark, as in: sudo pcapng-iou capture -d {netio} "
            "-w - | wireshark -k -i -") in result.stderr, result.stderr
    assert "run pcapng-iou as" not in result.stderr


def test_information_the_dashboard_cut_is_said_whole_after_the_summary(make_lab, workdir, tmux):
    """At 60 columns the live view cuts "1:1/0-2:1/0: frames now look like ppp, recording on a new interface"
    with "…"; information was never said again, whole (warnings were)."""
    from test_dashboard_terminal import _capture_in_tmux, _capture_pid, _wait_for_text

    lab = make_lab("1:1/0 2:1/0\n", speak=True, interval=0.05, quiet=True, bays={1: (1, 2), 2: (1, 2)})
    output = os.path.join(workdir, "info.pcapng")
    session = _capture_in_tmux(tmux, lab, output, "info", 60, 24)
    try:
        _wait_for_text(tmux, session, "instance 2 attached")
        # HDLC frames on the link first (else its first frame is PPP, and nothing changes: a race under load)
        _wait_for_text(tmux, session, "active")
        for number in (1, 2):
            lab[number].command("encap 1/0 ppp")  # the routers change: followed, said as information
        screen = _wait_for_text(tmux, session, "frames now look like ppp")
        titles = next(line for line in screen.splitlines() if line.split()[:2] == ["#", "link"])
        assert titles.split()[3] == "frames", screen  # (→ and ←, or their total: see test_dashboard)
        os.kill(_capture_pid(output), signal.SIGTERM)
        _wait_for_text(tmux, session, "EXIT=", timeout=10)
        joined = subprocess.run([tmux, "capture-pane", "-p", "-S", "-", "-t", session],
                                capture_output=True, text=True).stdout
    finally:
        subprocess.run([tmux, "kill-session", "-t", session], capture_output=True)
    from pcapng_iou.ui.aftermath import wrapped

    after = joined[joined.index("total"):]
    said = "pcapng-iou: 1:1/0-2:1/0: frames now look like ppp, recording on a new interface"
    assert "\n".join(wrapped(said, 60)) in after, joined


def _screen_frames(screen: str) -> int:
    found = re.search(r"^frames ([\d,]+)\s", screen, re.MULTILINE)
    return int(found.group(1).replace(",", "")) if found else -1


def test_the_dashboard_is_not_left_stale_by_a_redraw_the_machine_slowed(make_lab, workdir, tmux):
    """The dashboard showed "frames 0" for seconds while the frames went on (found by a newcomer, on a
    GNS3 lab whose IOU instances kept the CPUs busy).  The cause: the time to the next redraw was 20 times
    what the last redraw took by the wall clock, and a redraw during which the capture was not given the
    CPU counted the time it waited: one such redraw froze the view for seconds.  Here the capture is
    stopped and let run in short bursts, so that redraws are cut in two by a wait."""
    from pcapng_iou.core.redraw import redraw_interval

    assert redraw_interval(0.002) == 0.25 and redraw_interval(0.05) == 1.0 and redraw_interval(3.0) == 2.0
    from test_dashboard_terminal import _capture_in_tmux, _capture_pid, _pane, _wait_for_text

    lab = make_lab("1:0/0 2:0/0\n", speak=True, interval=0.01, quiet=True)
    output = os.path.join(workdir, "stale.pcapng")
    session = _capture_in_tmux(tmux, lab, output, "stale", 80, 24)
    try:
        _wait_for_text(tmux, session, "active")
        pid = _capture_pid(output)
        for _ in range(40):  # each redraw, due when it runs again, is likely cut by the next stop
            os.kill(pid, signal.SIGSTOP)
            time.sleep(0.2)
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.002)
        shown = _screen_frames(_pane(tmux, session))
        # A redraw is due every 0.25 s (2 s at most); one cut by a stop of 0.2 s put the next off by 4 s.
        deadline = time.monotonic() + 3
        while _screen_frames(_pane(tmux, session)) <= shown and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _screen_frames(_pane(tmux, session)) > shown, _pane(tmux, session)
    finally:
        subprocess.run([tmux, "kill-session", "-t", session], capture_output=True)
