"""Reading what an instance tells about itself: real lock files, real processes, the real /proc."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from conftest import wait_until

from pcapng_iou.core.bays import Bays
from pcapng_iou.shell import discovery


@pytest.fixture
def netio_dir(workdir):
    path = os.path.join(workdir, "netio")
    os.mkdir(path)
    return path


def write_lock(netio_dir: str, instance: int, text: str) -> None:
    with open(os.path.join(netio_dir, f"{instance}.lck"), "w") as handle:
        handle.write(text)


@pytest.fixture
def process_in_folder(workdir):
    """``start(argv, netmap_text)``: a real process running in a folder of its own (with a NETMAP)."""
    started = []

    def start(argv, netmap_text=None):
        folder = os.path.join(workdir, f"folder{len(started)}")
        os.mkdir(folder)
        if netmap_text is not None:
            with open(os.path.join(folder, "NETMAP"), "w") as handle:
                handle.write(netmap_text)
        process = subprocess.Popen(argv, cwd=folder, stdout=subprocess.PIPE)
        started.append(process)
        # Until it has run (exec), /proc shows the command line of the process that forked it.
        assert process.stdout.readline() == b"ready\n"
        return process, folder

    yield start
    for process in started:
        process.kill()
        process.wait()
        process.stdout.close()


SLEEPER = "import time; print('ready', flush=True); time.sleep(60)"


@pytest.mark.lab
def test_an_iou_command_line_and_its_folder(netio_dir, process_in_folder):
    process, folder = process_in_folder([sys.executable, "-c", SLEEPER, "-e", "1", "-s", "2", "7"], "7:1/0 8:1/0\n")
    write_lock(netio_dir, 7, f"{process.pid}\n")
    facts = discovery.probe(netio_dir, 7)
    assert (facts.pid, facts.problems, facts.proc_refused) == (process.pid, [], None)
    assert facts.argv[-5:] == ["-e", "1", "-s", "2", "7"] and facts.bays == Bays(1, 2)
    assert facts.cwd == os.path.realpath(folder)
    assert facts.shown_netmap == os.path.join(os.path.realpath(folder), "NETMAP") == facts.netmap_path
    assert discovery.probe(netio_dir, 7, want_cwd=False).cwd is None  # with -n, folders are not read


@pytest.mark.lab
def test_a_process_that_is_not_iou_tells_no_bays(netio_dir, process_in_folder):
    process, folder = process_in_folder([sys.executable, "-c", SLEEPER, "513", "--bridge"])
    write_lock(netio_dir, 513, f"{process.pid}\n")
    facts = discovery.probe(netio_dir, 513)
    assert facts.bays is None and facts.netmap_path is None and facts.problems == []


def test_lock_files_that_hold_no_pid(netio_dir):
    for number, text in ((1, ""), (2, "abc\n"), (3, "12 13\n"), (4, "0\n"), (6, "-5\n")):
        write_lock(netio_dir, number, text)
        facts = discovery.probe(netio_dir, number)
        assert facts.problems == [f"instance {number}: its lock file {netio_dir}/{number}.lck holds no pid"]
    write_lock(netio_dir, 5, "9" * 80)
    assert discovery.probe(netio_dir, 5).problems == [
        f"instance 5: its lock file {netio_dir}/5.lck is 80 bytes, more than the 64 bytes such a file may hold: "
        f"not read"]
    facts = discovery.probe(netio_dir, 9)
    assert facts.problems == [] and facts.bridge  # no lock file at all: a bridge (issue 25), not a problem



def test_a_bridge_without_a_lock_file_draws_no_warning(netio_dir):
    """ubridge and EVE-NG's iol_wrapper bind <id+512> and never take a lock file (issue 25)."""
    bridge = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    bridge.bind(os.path.join(netio_dir, "513"))
    try:
        facts = discovery.probe(netio_dir, 513)
    finally:
        bridge.close()
    assert facts.problems == [] and facts.bridge and facts.pid is None and facts.bays is None


@pytest.mark.lab
def test_a_pid_that_is_gone(netio_dir):
    gone = subprocess.Popen(["true"])
    gone.wait()
    write_lock(netio_dir, 3, f"{gone.pid}\n")
    facts = discovery.probe(netio_dir, 3)
    assert facts.problems == [f"instance 3: its lock file names pid {gone.pid}, which is not running: "
                              f"nothing learnt from it"]
    assert facts.bays is None and facts.proc_refused is None


def test_no_proc_at_all(netio_dir, workdir):
    """Where /proc does not exist (not Linux): a folder without 'self' stands for it."""
    empty = os.path.join(workdir, "noproc")
    os.mkdir(empty)
    write_lock(netio_dir, 1, f"{os.getpid()}\n")
    facts = discovery.probe(netio_dir, 1, proc=empty)
    assert facts.proc_refused == f"{empty} is not available here (not Linux?)" and facts.argv is None


def test_a_broken_file_in_use_is_an_error_any_other_a_warning(workdir):
    sources = discovery.NetmapSources(None)
    for name, text in (("good", "1:0/0 2:0/0\n"), ("was_used", "1:1/0 2:1/0 pp\n"), ("never_used", "3:0/0 x\n")):
        sources.found[name] = os.path.join(workdir, name)
        with open(sources.found[name], "w") as handle:
            handle.write(text)
    merged, warnings, errors = sources.read_found(list(sources.found), in_use=["good", "was_used"])
    assert merged.files == ["good"] and len(merged.segments) == 1
    assert [str(err) for err in errors] == [
        "was_used:1:13: unknown link type 'pp' (use a number or one of: ethernet, frame-relay, hdlc, ppp), "
        "or auto to follow the frames"]
    assert warnings == ["never_used:1:7: unknown link type 'x' (use a number or one of: ethernet, frame-relay, "
                        "hdlc, ppp), or auto to follow the frames (NETMAP of a running instance): ignored"]
    _, warnings, errors = sources.read_found(list(sources.found))      # at the start: nothing is in use yet
    assert errors == [] and len(warnings) == 2


def test_sources_say_where_they_looked(workdir):
    sources = discovery.NetmapSources(None, os.path.join(workdir, "NETMAP"))
    assert sources.discovering and sources.describe() is None
    assert sources.nowhere() == (f"looked for {workdir}/NETMAP and in the working directories of running "
                                 f"instances (none yet)")
    for number in range(1, 11):
        sources.add_found(discovery.InstanceFacts(number))
    assert sources.nowhere().endswith("instances 1, 2, 3, 4, 5, 6, 7, 8 and 2 more")
    nowhere = discovery.NetmapSources(None).nowhere()
    assert nowhere == "looked in the working directories of running instances (none yet)"
    assert discovery.NetmapSources("/lab/NETMAP").describe() == "/lab/NETMAP"


@pytest.mark.lab
def test_a_command_line_of_megabytes_is_not_read(netio_dir):
    """Its owner may give an instance's process any command line: more than 64 KiB is refused unread."""
    words = ["x" * 100_000] * 20                                     # 2 MB of arguments
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", *words],
                               stdin=subprocess.PIPE)
    try:
        # (under load the child's command line may read empty for a moment after the start)
        assert wait_until(lambda: _cmdline_shown(process.pid), 10)
        write_lock(netio_dir, 7, f"{process.pid}\n")
        facts = discovery.probe(netio_dir, 7)
    finally:
        process.stdin.close()
        process.wait()
    assert facts.argv is None
    assert facts.problems == [f"instance 7: cannot read /proc/{process.pid}/cmdline (more than the 65,536 bytes "
                              f"an IOU command line may hold: not read)"]


def _cmdline_shown(pid: int) -> bool:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return bool(handle.read(1))
