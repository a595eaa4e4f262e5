"""Issue 24: a lab's owner must never turn the capture, run as root, against the host (netio directory half)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import hostile
import pytest

pytestmark = pytest.mark.lab

INSTANCES = tuple(range(11, 27))


def test_swapping_our_temporary_socket_for_a_link_never_reaches_a_root_file():
    """Attach bound ``<id>.pcapng-iou-new`` and then chmod-ed and chown-ed it by name: a lab owner who swapped
    that name for a link to a root file (renameat2 RENAME_EXCHANGE, in a loop) was given the file.  Hundreds of
    attaches race here against the swap; the victim must come out unchanged."""
    hostile.need_root_and_setpriv()
    parent, netio = hostile.hostile_lab()
    victim = hostile.victim_file(parent)
    before = hostile.fingerprint(victim)
    names = [f"{n}.pcapng-iou-new" for n in INSTANCES] + [f"{n}_real" for n in INSTANCES]
    lab = hostile.flapping_instances(netio, INSTANCES)
    swapper = hostile.racer(netio, victim, names)
    capture = subprocess.Popen([sys.executable, "-m", "pcapng_iou", "capture", "-d", netio, "-w",
                                os.path.join(parent, "out.pcapng"), "--duration", "6"],
                               cwd=parent, env=hostile.env(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = capture.communicate(timeout=60)
    finally:
        hostile.stop(capture, swapper, lab)
    try:
        attaches = stderr.count(" attached")
        assert attaches >= 100, f"only {attaches} attaches raced:\n{stderr[-3000:]}"
        assert hostile.fingerprint(victim) == before, f"the victim changed after {attaches} attaches"
    finally:
        shutil.rmtree(parent, ignore_errors=True)
