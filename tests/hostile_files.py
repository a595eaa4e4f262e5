"""A lab owned by another user, and what that user may do to the files the capture reads.

The capture runs as root (the tests do, in CI); the lab's netio directory,
its instances' folders and the instances themselves belong to uid
:data:`OWNER_UID`, as ``/tmp/netio4242`` would under ``sudo``.  The hostile
edits are run as that user (``setpriv``), so they can do nothing the owner
could not.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from typing import Optional

import pytest

from pcapng_iou.sim.lab import Lab, LabProcess

OWNER_UID = OWNER_GID = 4242
AS_OWNER = ("setpriv", f"--reuid={OWNER_UID}", f"--regid={OWNER_GID}", "--clear-groups")


def need_root() -> None:
    """Skip (fail under CI) where the test cannot act as root and as the owner."""
    if os.geteuid() == 0 and shutil.which("setpriv"):
        return
    message = "needs root and setpriv (a lab owned by another uid)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run_as_owner(*argv: str) -> None:
    """Run ``argv`` as the lab's owner; it must succeed."""
    subprocess.run(AS_OWNER + argv, check=True, capture_output=True, timeout=30)


def owned_lab(workdir: str, netmap_text: str, bays: dict) -> Lab:
    """A lab in ``workdir`` whose directory, folders, NETMAPs and instances are the owner's (one folder each)."""
    os.chmod(workdir, 0o755)
    lab = Lab(os.path.join(workdir, "netio"), netmap_text, os.path.join(workdir, "NETMAP"), own_folders=True,
              bays=bays)
    for root, folders, files in os.walk(workdir):
        for name in folders + files:
            os.lchown(os.path.join(root, name), OWNER_UID, OWNER_GID)
    import pcapng_iou.sim.instance as instance_module

    runner = AS_OWNER + (sys.executable, os.path.realpath(instance_module.__file__))
    for number in sorted(lab.netmap.instances):
        lab.instances[number] = LabProcess(lab.directory, number, os.path.join(lab.folder_of(number), "NETMAP"),
                                           bays=bays[number], runner=runner)
    return lab


def peak_rss_mib(pid: int) -> float:
    """The most memory process ``pid`` has held (VmHWM), in MiB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


class GapMeter:
    """Watches frames arrive at one instance; the longest time nothing arrived, while it runs."""

    def __init__(self, receiver: LabProcess, interval: float = 0.005):
        self.receiver = receiver
        self.interval = interval
        self.longest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "GapMeter":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _watch(self) -> None:
        count, since = len(self.receiver.received), time.monotonic()
        while not self._stop.is_set():
            now, seen = time.monotonic(), len(self.receiver.received)
            if seen != count:
                count, since = seen, now
            self.longest = max(self.longest, now - since)
            time.sleep(self.interval)


def wait_for_line(lines: list, text: str, timeout: float) -> Optional[str]:
    """The first of ``lines`` (growing) that holds ``text``, waited for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(lines):
            if text in line:
                return line
        time.sleep(0.02)
    return None
