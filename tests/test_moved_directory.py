"""Issue 24, item 9: the netio directory moved (or made read-only) while the capture stands in for its instances."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from conftest import directory_state

import hostile
import pytest

pytestmark = pytest.mark.lab


def test_a_directory_moved_mid_capture_gets_its_sockets_back_where_it_now_is(make_lab, start_capture, workdir):
    """``mv netio netio.old`` while capturing: the capture closed its sockets without giving the names back,
    and the moved lab was down until ``repair`` (exit status 0).  Now every socket goes back, in the moved
    directory, and the capture says where."""
    lab = make_lab("100:0/0 101:0/0 102:0/0\n")
    before = directory_state(lab.directory)
    capture = start_capture("-d", lab.directory, "-w", os.path.join(workdir, "moved.pcapng"))
    assert capture.wait_for("attached", count=3), capture.stderr
    moved = lab.directory + ".old"
    os.rename(lab.directory, moved)
    assert capture.wait_for("every socket is back", timeout=10), capture.stderr
    assert f"was moved to {moved}" in capture.stderr
    assert directory_state(moved) == before
    assert capture.stop() == 0, capture.stderr
    assert directory_state(moved) == before
    os.rename(moved, lab.directory)  # (for the lab to stop cleanly)


def test_a_socket_that_cannot_be_put_back_makes_the_exit_status_an_error():
    """The lab's owner made the directory read-only: the names cannot go back (as the owner, whose rights the
    capture uses), which the exit status says, besides the error."""
    hostile.need_root_and_setpriv()
    parent, netio = hostile.hostile_lab()
    lab = hostile.flapping_instances(netio, (7,), up_s=3600)
    capture = subprocess.Popen([sys.executable, "-m", "pcapng_iou", "capture", "-d", netio, "-w",
                                os.path.join(parent, "out.pcapng"), "--duration", "3"],
                               cwd=parent, env=hostile.env(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline_names = {"7", "7_real"}
        for _ in range(200):
            if deadline_names <= set(os.listdir(netio)):
                break
            subprocess.run(["sleep", "0.02"])
        os.chmod(netio, 0o500)
        _, stderr = capture.communicate(timeout=60)
    finally:
        hostile.stop(capture, lab)
        os.chmod(netio, 0o700)
    try:
        assert "instance 7" in stderr and "Permission denied" in stderr, stderr
        assert capture.returncode == 1, stderr
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_another_users_directory_moved_mid_capture_holds_its_own_sockets_afterwards():
    """As root on uid 4242's lab: the owner moves it; the names go back in the moved directory, as the owner."""
    hostile.need_root_and_setpriv()
    parent, netio = hostile.hostile_lab()
    lab = hostile.flapping_instances(netio, (7, 8, 9), up_s=3600)
    capture = None
    try:
        while set(os.listdir(netio)) != {"7", "8", "9"}:
            subprocess.run(["sleep", "0.02"])
        before = directory_state(netio)
        capture = subprocess.Popen([sys.executable, "-m", "pcapng_iou", "capture", "-d", netio, "-w",
                                    os.path.join(parent, "out.pcapng"), "--duration", "4"],
                                   cwd=parent, env=hostile.env(), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while not {"7_real", "8_real", "9_real"} <= set(os.listdir(netio)):
            assert capture.poll() is None
            subprocess.run(["sleep", "0.02"])
        moved = netio + ".old"
        os.rename(netio, moved)  # (by root: the parent folder is root's; in /tmp the owner may do it)
        _, stderr = capture.communicate(timeout=60)
        assert f"was moved to {moved}" in stderr and "every socket is back" in stderr, stderr
        assert capture.returncode == 0, stderr
        assert directory_state(moved) == before
        assert {os.lstat(os.path.join(moved, name)).st_uid for name in before} == {hostile.ATTACKER_UID}
    finally:
        hostile.stop(*[process for process in (capture, lab) if process is not None])
        shutil.rmtree(parent, ignore_errors=True)
