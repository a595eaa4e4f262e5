"""What the capture says when there is nothing to capture, or it cannot: hints, warnings, refusals.

Real ``python -m pcapng_iou`` processes, real directories, real permissions
(as root, the capability to ignore them is dropped with ``setpriv``), a real
pseudo-terminal for standard output.
"""
from __future__ import annotations

import os
import pty
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import need, run_cli, start_cli


pytestmark = pytest.mark.lab

#: As root, run without the capabilities that bypass file permissions, as any user runs.
OTHER_USER = ["setpriv", "--reuid=4242", "--regid=4242", "--clear-groups", "--"]
DROP_PRIVILEGE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def locked_directory(parent: str) -> tuple:
    """A directory this test's processes may not write into, and the command prefix they need for that."""
    path = os.path.join(parent, "locked")
    os.mkdir(path)
    if os.getuid() != 0:
        os.chmod(path, 0o555)
        return path, []
    if shutil.which("setpriv") is None:
        need("setpriv is not installed (util-linux)")
    os.chown(path, 65534, -1)  # nobody
    return path, DROP_PRIVILEGE


def test_no_permission_on_the_netio_dir_is_one_error_and_no_file(workdir):
    locked, prefix = locked_directory(workdir)
    result = run_cli("capture", "-d", locked, "-w", "out.pcapng", "--duration", "5", cwd=workdir, prefix=prefix)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"pcapng-iou: error: no permission to stand in for the sockets in {locked}: ")
    assert "run pcapng-iou as " in errors[0] and "sudo" in errors[0]
    assert not os.path.exists(os.path.join(workdir, "out.pcapng"))


def test_waiting_for_a_missing_netio_dir_then_ctrl_c_leaves_no_file(workdir):
    missing = os.path.join(workdir, "netio-to-come")
    capture = start_cli("capture", "-d", missing, "-w", "out.pcapng", cwd=workdir, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
    try:
        first = capture.stderr.readline()
        while "waiting for netio directory" not in first:
            assert first, "the capture ended before waiting"
            first = capture.stderr.readline()
        capture.send_signal(signal.SIGINT)
        _, rest = capture.communicate(timeout=30)
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.communicate()
    assert capture.returncode == 0, rest
    assert f"nothing captured: {missing} never appeared; out.pcapng not kept" in rest, rest
    assert os.listdir(workdir) == []


@pytest.mark.parametrize("case", ["empty directory", "no instance running"])
def test_nothing_attached_is_said_once_with_what_to_check(case, make_lab, workdir):
    if case == "empty directory":
        directory = os.path.join(workdir, "netio")
        os.mkdir(directory)
    else:
        lab = make_lab("100:0/0 101:0/0\n")
        for number in (100, 101):
            lab[number].kill()  # SIGKILL: the sockets stay, nobody behind them
        directory = lab.directory
        assert "100" in os.listdir(directory)
    result = run_cli("capture", "-d", directory, "-w", "out.pcapng", "--duration", "8", cwd=workdir)
    assert result.returncode == 0, result.stderr
    hints = [line for line in result.stderr.splitlines() if "no IOU instance attached" in line]
    assert len(hints) == 1, result.stderr
    assert hints[0].startswith("pcapng-iou: warning: ") and directory in hints[0]
    assert "as which user" in hints[0] and "-d" in hints[0]


def test_an_instance_attached_gives_no_hint(make_lab, workdir):
    lab = make_lab("100:0/0 101:0/0\n")
    result = run_cli("capture", "-d", lab.directory, "-w", "out.pcapng", "--duration", "7", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "instance 100 attached" in result.stderr
    assert "no IOU instance attached" not in result.stderr


def test_an_empty_netmap_is_warned_about(workdir):
    directory = os.path.join(workdir, "netio")
    os.mkdir(directory)
    netmap = os.path.join(workdir, "NETMAP")
    with open(netmap, "w") as handle:
        handle.write("# nothing yet\n/* still nothing */\n")
    result = run_cli("capture", "-d", directory, "-n", netmap, "-w", "out.pcapng", "--duration", "1", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert f"pcapng-iou: warning: {netmap}: no links in it (empty, or only comments)" in result.stderr


def test_writing_the_capture_to_a_terminal_is_a_usage_error(workdir):
    directory = os.path.join(workdir, "netio")
    os.mkdir(directory)
    leader, follower = pty.openpty()
    try:
        result = run_cli("capture", "-d", directory, "-w", "-", "--duration", "1", cwd=workdir, stdout=follower,
                     stderr=subprocess.PIPE)
    finally:
        os.close(follower)
        os.set_blocking(leader, False)
        try:
            shown = os.read(leader, 65536)
        except OSError:
            shown = b""
        os.close(leader)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("pcapng-iou: error: refusing to write the capture (binary) to a terminal")
    assert shown == b""
    assert os.listdir(workdir) == ["netio"]


def test_a_capture_without_links_ends_with_one_line_not_an_empty_table(workdir):
    directory = os.path.join(workdir, "netio")
    os.mkdir(directory)
    result = run_cli("capture", "-d", directory, "-w", "out.pcapng", "--duration", "1", cwd=workdir)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "no links: no frame was seen" in lines, result.stderr
    rules = [index for index, line in enumerate(lines) if line.strip() and set(line.strip()) == {"─"}]
    assert not any(b == a + 1 for a, b in zip(rules, rules[1:])), result.stderr
    assert "total (0 interfaces)" not in result.stderr


def test_extcap_without_arguments_names_every_way_to_use_it(workdir):
    result = run_cli("extcap", cwd=workdir)
    assert result.returncode == 2
    last = result.stderr.splitlines()[-1]
    for option in ("--install", "--uninstall", "--where"):
        assert option in last, last


def test_repair_without_permission_says_whose_the_sockets_are(make_lab, workdir):
    """After a capture was killed, ``repair`` run by a user who may not rename the sockets said only
    "Permission denied" (found by a newcomer); now it says whose they are, as ``capture`` does."""
    if os.getuid() != 0:
        pytest.skip("giving the lab to another user takes root")
    lab = make_lab("1:0/0 2:0/0\n")
    killed = start_cli("capture", "-d", lab.directory, "-w", os.path.join(workdir, "killed.pcapng"), "-q", cwd=workdir)
    deadline = time.monotonic() + 20
    while not all(os.path.exists(os.path.join(lab.directory, f"{n}_real")) for n in (1, 2)):
        assert time.monotonic() < deadline and killed.poll() is None
        time.sleep(0.05)
    killed.kill()
    killed.wait()
    names = os.listdir(lab.directory)
    for name in [os.curdir, *names]:
        os.chown(os.path.join(lab.directory, name), 65534, -1, follow_symlinks=False)  # the lab is nobody's
    try:
        # Another ordinary user (root acts as a lab's owner, and so may repair anybody's lab: issue 24).
        os.chmod(workdir, 0o755)
        result = run_cli("repair", "-d", lab.directory, cwd=workdir, prefix=OTHER_USER)
    finally:
        for name in [os.curdir, *names]:
            os.chown(os.path.join(lab.directory, name), 0, -1, follow_symlinks=False)
    assert result.returncode == 1, result.stderr
    assert re.fullmatch(rf"pcapng-iou: error: {re.escape(lab.directory)}/\d_real: Permission denied; it belongs "
                        rf"to nobody: run pcapng-iou repair as nobody, or with sudo\n", result.stderr), result.stderr
    assert run_cli("repair", "-d", lab.directory, cwd=workdir).returncode == 0  # as the owner: put right
    assert sorted(os.listdir(lab.directory)) == ["1", "1.lck", "2", "2.lck"]
