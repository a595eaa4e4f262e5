"""``pcapng-iou demo --eve``: the real capture on a simulated EVE-NG lab, started before it.

Three routers, each beside its wrapper as EVE-NG runs IOL (see
:mod:`pcapng_iou.sim.evelab`)::

    R1 e0/0 --- R2 e0/0        Ethernet, through wrappers 513 and 514 over UDP
    R1 s1/0 --- R2 s1/0        Cisco HDLC (SLARP keepalives)
    R2 s1/1 --- R3 s1/1        PPP

Every frame toward a router comes from its wrapper through a socket the
wrapper connected once, before the capture started: the file shows both
directions only because the capture takes those connections over.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from typing import Optional

from pcapng_iou.exitstatus import ExitStatus
from pcapng_iou.app.capture_setup import capture_setup
from pcapng_iou.app.demo import _short_temp_dir, this_program
from pcapng_iou.shell.capture import Capture
from pcapng_iou.sim.evelab import EveLab, free_udp_base
from pcapng_iou.ui.console import Reporter

#: Every router: one Ethernet bay, then two serial bays (-e 1 -s 2).
BAYS = {1: (1, 2), 2: (1, 2), 3: (1, 2)}
LINKS = [((1, "0/0"), (2, "0/0")), ((1, "1/0"), (2, "1/0")), ((2, "1/1"), (3, "1/1"))]
#: The wrappers connect this long after the start (EVE-NG's: 3 s).
CONNECT_DELAY_S = 1.0


def run_eve_demo(output: str, duration: Optional[float], quiet: bool = False, interval: float = 0.5,
                 lab_only: bool = False) -> int:
    workdir = tempfile.mkdtemp(prefix="pcapng-iou-eve-", dir=_short_temp_dir())
    lab = EveLab(workdir, os.path.join(workdir, "netio"), BAYS, LINKS, free_udp_base(BAYS),
                 interval=interval, delay=CONNECT_DELAY_S)
    status = ExitStatus.ERROR
    try:
        lab.start()
        for router in (2, 3):
            lab.instances[router].command("encap 1/1 ppp")
        lab.wait_connected()
        if lab_only:
            until = f"for {duration:g} s" if duration else "until Ctrl-C"
            print(f"EVE-NG-style lab running {until}: routers 1 to 3 beside wrappers 513 to 515.\n"
                  f"Capture it from another terminal:\n    {this_program()} capture -d {lab.directory}",
                  file=sys.stderr, flush=True)
            deadline = time.monotonic() + duration if duration else float("inf")
            while time.monotonic() < deadline:
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            return ExitStatus.OK
        options, netmap = capture_setup(output, lab.directory, look_here=False, duration=duration, wait_for_dir=False)
        status = Reporter(quiet=quiet).run(Capture(options, netmap=netmap))
    except KeyboardInterrupt:
        status = ExitStatus.OK
    finally:
        lab.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if status == ExitStatus.OK and output != "-" and not lab_only:
        print(f"\nWrote {output}. Open it with:\n    wireshark {output}\n    tshark -r {output}", file=sys.stderr)
    return status
