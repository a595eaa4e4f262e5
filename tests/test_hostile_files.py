"""Issue 24, the files read and written: a lab's owner turns its files against a capture run as root.

Each test is an attack that worked before: a huge NETMAP, a FIFO NETMAP,
a NETMAP linked to a secret, a lock file naming root's process, capture
files others could read or that were root's, two ring captures of one name,
a FIFO at ``-w``.
"""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from conftest import directory_state, read_packets, wait_until
from hostile_files import GapMeter, OWNER_GID, OWNER_UID, owned_lab, need_root, peak_rss_mib, run_as_owner

from pcapng_iou.sim import frames

pytestmark = pytest.mark.lab

NETMAP = "1:0/0 2:0/0\n"
BAYS = {1: (1, 0), 2: (1, 0)}
SECRET = "s3cret-token:hunter2-do-not-show"


@pytest.fixture
def lab(workdir):
    need_root()
    lab = owned_lab(workdir, NETMAP, BAYS)
    yield lab
    lab.stop()


@pytest.fixture
def elsewhere(workdir):
    path = os.path.join(workdir, "elsewhere")
    os.mkdir(path)
    return path


def started(start_capture, lab, workdir, elsewhere, *extra, env=None):
    output = os.path.join(workdir, "out.pcapng")
    capture = start_capture("-d", lab.directory, "-w", output, *extra, cwd=elsewhere, env=env)
    assert capture.wait_for("attached", count=2), capture.stderr
    return capture, output


def test_a_huge_sparse_netmap_is_refused_without_stalling_the_relay(lab, workdir, elsewhere, start_capture):
    capture, _ = started(start_capture, lab, workdir, elsewhere)
    netmap = os.path.join(lab.folder_of(2), "NETMAP")
    run_as_owner("truncate", "-s", "64M", netmap)                  # sparse: 64 MB of nothing, at once
    lab[1].stream("0/0", 200)
    with GapMeter(lab[2]) as meter:
        time.sleep(0.5)
        capture.process.send_signal(signal.SIGHUP)
        reloaded = capture.wait_for("reload", timeout=60)
        time.sleep(0.5)
    lab[1].halt("0/0")
    peak = peak_rss_mib(capture.process.pid)
    print(f"\nsparse 64 MB NETMAP + kill -HUP: longest relay gap {meter.longest * 1000:.0f} ms, "
          f"capture's peak RSS {peak:.1f} MiB")
    assert reloaded, "no word of the reload within 60 s"
    refused = [line for line in capture.lines if "reload refused" in line]
    assert refused == [f"pcapng-iou: error: reload refused, keeping the previous NETMAP: {netmap}: 64.0 MiB, "
                       f"more than the 1,048,576 bytes such a file may hold: not read"], capture.stderr
    assert meter.longest < 3.0 and peak < 300
    assert capture.stop() == 0, capture.stderr


def test_a_huge_netmap_found_at_the_start_is_one_warning(lab, workdir, elsewhere, start_capture):
    netmap = os.path.join(lab.folder_of(2), "NETMAP")
    run_as_owner("truncate", "-s", "64M", netmap)
    capture, _ = started(start_capture, lab, workdir, elsewhere)
    peak = peak_rss_mib(capture.process.pid)
    print(f"\nsparse 64 MB NETMAP at the start: capture's peak RSS {peak:.1f} MiB")
    assert (f"pcapng-iou: warning: {netmap}: 64.0 MiB, more than the 1,048,576 bytes such a file may hold: "
            f"not read (NETMAP of a running instance): ignored") in capture.lines, capture.stderr
    assert peak < 300
    lab[1].send("0/0", frames.arp_request("aa:bb:cc:00:01:00", "10.0.0.1", "10.0.0.2"))
    assert lab[2].wait_received(1), capture.stderr
    assert capture.stop() == 0, capture.stderr


def test_a_fifo_netmap_and_kill_hup_block_nothing(lab, workdir, elsewhere, start_capture):
    before = directory_state(lab.directory)
    capture, _ = started(start_capture, lab, workdir, elsewhere)
    netmap = os.path.join(lab.folder_of(2), "NETMAP")
    run_as_owner("rm", netmap)
    run_as_owner("mkfifo", netmap)
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("reload refused", timeout=10), capture.stderr
    assert f"{netmap}: a FIFO, not a regular file: not read" in capture.stderr
    lab[1].send("0/0", frames.arp_request("aa:bb:cc:00:01:00", "10.0.0.1", "10.0.0.2"))
    assert lab[2].wait_received(1), capture.stderr                # relaying goes on
    began = time.monotonic()
    assert capture.stop(signal.SIGINT, timeout=10) == 0, capture.stderr
    print(f"\nFIFO NETMAP + kill -HUP: stopped {time.monotonic() - began:.2f} s after SIGINT")
    assert directory_state(lab.directory) == before


def _secret_file(workdir: str) -> str:
    path = os.path.join(workdir, "shadow")
    with open(path, "w") as handle:
        handle.write(SECRET + "\n")
    os.chmod(path, 0o600)                                         # root's alone
    return path


def test_a_netmap_linked_to_a_secret_is_read_with_the_owners_rights(lab, workdir, elsewhere, start_capture):
    secret = _secret_file(workdir)
    netmap = os.path.join(lab.folder_of(2), "NETMAP")
    run_as_owner("ln", "-sf", secret, netmap)
    capture, output = started(start_capture, lab, workdir, elsewhere)
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("reload", timeout=10), capture.stderr
    assert capture.stop() == 0, capture.stderr
    assert f"{netmap}: cannot read: Permission denied" in capture.stderr
    assert "hunter2" not in capture.stderr
    with open(output, "rb") as handle:
        assert b"hunter2" not in handle.read()


def test_a_lock_file_naming_roots_process_tells_nothing(lab, workdir, elsewhere, start_capture):
    folder = os.path.join(workdir, "roots")
    os.mkdir(folder, 0o700)
    with open(os.path.join(folder, "NETMAP"), "w") as handle:
        handle.write(SECRET + "\n")
    roots_process = subprocess.Popen(["sleep", "60"], cwd=folder)
    try:
        for number in (1, 2):                                       # the instances hold their locks still
            lock = os.path.join(lab.directory, f"{number}.lck")
            assert wait_until(lambda: os.path.exists(lock), 10)
            run_as_owner("sh", "-c", f"echo {roots_process.pid} > {lock}")
        capture, _ = started(start_capture, lab, workdir, elsewhere)
        capture.process.send_signal(signal.SIGHUP)
        assert capture.wait_for("reload", timeout=10), capture.stderr
        assert capture.stop() == 0, capture.stderr
    finally:
        roots_process.kill()
        roots_process.wait()
    assert f"a process of uid 0, not of the directory's owner (uid {OWNER_UID}): nothing learnt" in capture.stderr
    assert "hunter2" not in capture.stderr


# -- the files written ---------------------------------------------------------------------------

@pytest.mark.parametrize("sudo, group", [(False, False), (True, False), (True, True)],
                         ids=["root", "sudo", "sudo-group-read"])
def test_capture_and_ring_files_are_private_and_the_sudo_users(sudo, group, lab, workdir, elsewhere,
                                                                start_capture):
    env = {name: value for name, value in os.environ.items() if name not in ("SUDO_UID", "SUDO_GID")}
    if sudo:
        env.update(SUDO_UID=str(OWNER_UID), SUDO_GID=str(OWNER_GID))
    extra = ("-g",) if group else ()
    ring_dir = os.path.join(workdir, "ring")
    os.mkdir(ring_dir)
    old_umask = os.umask(0o022)
    try:
        single, output = started(start_capture, lab, workdir, elsewhere, *extra, env=env)
        ring = start_capture("-d", lab.directory, "-w", os.path.join(ring_dir, "r.pcapng"), "-b", "filesize:1",
                             "-b", "files:3", *extra, cwd=elsewhere, env=env)
    finally:
        os.umask(old_umask)
    assert single.stop() == 0, single.stderr
    assert ring.wait_for("attached", count=2), ring.stderr
    for _ in range(40):
        lab[1].send("0/0", frames.arp_request("aa:bb:cc:00:01:00", "10.0.0.1", "10.0.0.2") + bytes(200))
    assert ring.stop() == 0, ring.stderr
    files = [output] + [os.path.join(ring_dir, name) for name in sorted(os.listdir(ring_dir))]
    assert len(files) >= 3
    owner = (OWNER_UID, OWNER_GID) if sudo else (0, 0)
    mode = 0o640 if group else 0o600
    for path in files:
        info = os.stat(path)
        assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (mode, *owner), path
    read_packets(open(output, "rb").read())


def test_ring_files_of_a_name_taken_by_another_capture_are_never_touched(lab, workdir, elsewhere, start_capture):
    """Another capture of the same -w holds the names of this second and the next ones: ours go beside them."""
    ring_dir = os.path.join(workdir, "ring")
    os.mkdir(ring_dir)
    now = time.time()
    theirs = {}
    for ahead in range(0, 8):
        stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(now + ahead))
        for number in range(1, 31):
            path = os.path.join(ring_dir, f"r_{number:05d}_{stamp}.pcapng")
            theirs[path] = f"another capture's file {number} {stamp}".encode()
            with open(path, "wb") as handle:
                handle.write(theirs[path])
    ring = start_capture("-d", lab.directory, "-w", os.path.join(ring_dir, "r.pcapng"), "-b", "filesize:1",
                         "-b", "files:2", cwd=elsewhere)
    assert ring.wait_for("attached", count=2), ring.stderr
    for _ in range(40):
        lab[1].send("0/0", frames.arp_request("aa:bb:cc:00:01:00", "10.0.0.1", "10.0.0.2") + bytes(200))
    assert ring.stop() == 0, ring.stderr
    for path, content in theirs.items():
        with open(path, "rb") as handle:
            assert handle.read() == content, path
    ours = sorted(set(os.listdir(ring_dir)) - {os.path.basename(path) for path in theirs})
    assert len(ours) == 2 and all(name.endswith("-2.pcapng") for name in ours), ours   # (files:2 kept)
    assert "exists (another capture's?): writing" in ring.stderr


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_w_path_that_is_not_a_regular_file_is_refused_at_once(kind, lab, workdir, elsewhere):
    path = os.path.join(workdir, "fifo") if kind == "fifo" else "/dev/null"
    if kind == "fifo":
        os.mkfifo(path)
    result = subprocess.run([sys.executable, "-m", "pcapng_iou", "capture", "-d", lab.directory, "-w", path],
                            cwd=elsewhere, capture_output=True, text=True, timeout=15)
    what = "a FIFO" if kind == "fifo" else "a character device"
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"pcapng-iou: error: -w {path}: {what}, not a regular file: refused (-w - writes to standard output; "
        f"give -w a file name)"], result.stderr
