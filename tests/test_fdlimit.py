"""Open file limits: a capture raises its soft limit to the hard one, and says so when even that is too few.

Each instance takes two sockets; a lab bigger than the soft limit allows must
be attached all the same, and one bigger than the hard limit must be attached
as far as it goes, with a message, the rest of the lab left alone.
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

import pytest
from conftest import directory_state, wait_until

from pcapng_iou.bench.workers import Worker, start_workers
from pcapng_iou.shell import fdlimit

pytestmark = pytest.mark.lab

INSTANCES = 60
LOW = 64  # below the 2 x 60 sockets the lab needs
#: Runs the capture (or anything) under a given RLIMIT_NOFILE: python -c LIMITED SOFT HARD MODULE ARGS...
LIMITED = ("import resource, runpy, sys; soft, hard = int(sys.argv[1]), int(sys.argv[2]); "
           "resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)); sys.argv = sys.argv[3:]; "
           "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)")


def limited(soft: int, hard: int, module: str, *args: str) -> list:
    return [sys.executable, "-c", LIMITED, str(soft), str(hard), module, *args]


def open_file_limits(pid: int) -> tuple:
    with open(f"/proc/{pid}/limits") as handle:
        for line in handle:
            if line.startswith("Max open files"):
                words = line.split()
                return tuple(int(w) if w.isdigit() else w for w in words[3:5])
    raise AssertionError("no open file limit in /proc")


def hard_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


@pytest.fixture
def herd(workdir):
    directory = os.path.join(workdir, "netio")
    os.mkdir(directory, 0o700)
    worker = Worker.herd(directory, 1, INSTANCES)
    start_workers([worker])
    yield directory
    worker.stop()


def attached(directory: str) -> int:
    names = set(os.listdir(directory))
    return sum(1 for n in range(1, INSTANCES + 1) if f"{n}_real" in names)


def run_capture(directory: str, output: str, soft: int, hard: int) -> subprocess.Popen:
    command = limited(soft, hard, "pcapng_iou", "capture", "-d", directory, "-w", output, "--no-wait", "-q")
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_while_running(condition, process, timeout: float = 60.0) -> None:
    """Wait for ``condition``; the capture ``process`` must not end meanwhile (only a hang is stopped: nothing is timed)."""
    waited = wait_until(lambda: condition() or process.poll() is not None, timeout, interval=0.05)
    assert condition() or process.poll() is None, process.stderr.read().decode()
    assert waited, "gave up waiting"


@pytest.mark.skipif(hard_limit() != resource.RLIM_INFINITY and hard_limit() < 4 * INSTANCES,
                    reason="the hard open file limit here is too low for the test's lab")
def test_a_lab_beyond_the_soft_limit_is_attached_whole(herd, workdir):
    before = directory_state(herd)
    capture = run_capture(herd, os.path.join(workdir, "out.pcapng"), LOW, hard_limit())
    try:
        wait_while_running(lambda: attached(herd) == INSTANCES, capture)
        soft, hard = open_file_limits(capture.pid)
        assert soft == hard > LOW
    finally:
        capture.send_signal(signal.SIGINT)
        assert capture.wait(30) == 0
        errors = capture.stderr.read().decode()
        capture.stderr.close()
    assert "error" not in errors
    assert directory_state(herd) == before


def test_a_lab_beyond_the_hard_limit_is_attached_as_far_as_it_goes(herd, workdir):
    before = directory_state(herd)
    capture = run_capture(herd, os.path.join(workdir, "out.pcapng"), LOW, LOW)
    lines = []
    try:
        wait_while_running(lambda: attached(herd) > 0, capture)
        line = capture.stderr.readline().decode()
        lines.append(line)
        assert "not attached" in line and "open file limit (64; hard limit 64)" in line and "ulimit -Hn" in line
        assert 0 < attached(herd) < INSTANCES
        assert capture.poll() is None  # it goes on capturing the instances it has
    finally:
        capture.send_signal(signal.SIGINT)
        assert capture.wait(30) == 0
        lines += capture.stderr.read().decode().splitlines()
        capture.stderr.close()
    assert sum("not attached" in line for line in lines) == 1  # said once, not once per instance
    assert directory_state(herd) == before


def test_the_budget_counts_two_sockets_an_instance_and_a_reserve():
    budget = fdlimit.FdBudget(in_use=10)
    soft = budget.soft
    if soft != resource.RLIM_INFINITY:
        assert budget.instances == (soft - 10 - fdlimit.RESERVE) // 2
        assert budget.room_for(budget.instances - 1) and not budget.room_for(budget.instances)
    assert budget.soft == budget.hard or budget.hard == resource.RLIM_INFINITY


def test_the_soft_limit_is_raised_in_a_process_that_starts_low():
    code = ("import resource; "
            f"resource.setrlimit(resource.RLIMIT_NOFILE, ({LOW}, 200)); "
            "from pcapng_iou.shell.fdlimit import FdBudget; b = FdBudget(); "
            "print(b.old_soft, b.soft, b.hard, b.raised, resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == [str(LOW), "200", "200", "True", "200"], done.stderr
