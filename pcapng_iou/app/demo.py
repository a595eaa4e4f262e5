"""``pcapng-iou demo``: the real capture, on a simulated lab that starts and ends with it.

The lab (four routers, a private netio directory)::

    R1 e0/0 --- R2 e0/0                 Ethernet: ARP, ICMP, CDP, keepalives
    R1 s1/0 --- R2 s1/0                 Cisco HDLC (SLARP), switched to PPP midway
    R2 s1/1 --- R3 s1/1                 PPP: LCP, IPCP, IP
    R3 s1/2 --- R4 s1/2                 Frame Relay: LMI (Q.933 Annex A), IP
    R1 e0/1, R3 e0/1, R4 e0/1           a shared Ethernet segment

As on a stock IOU lab, nothing tells the capture the link types: the NETMAP
names none, each router runs in a folder of its own with its own copy (as
GNS3 runs them), started as IOU (``-e 1 -s 2 <id>``: bay 0 Ethernet, bays 1
and 2 serial), and the capture gets no option but the netio directory and the
file.  It finds the NETMAP files in the routers' folders and the bay kinds on
their command lines; serial links start as Cisco HDLC and follow what the
routers are configured for.  Halfway through, R1 and R2 switch their serial
link to PPP (``encapsulation ppp``): the file then holds that link twice, as
Cisco HDLC and as PPP, with no NETMAP edit and no ``kill -HUP``.

With ``--lab-only`` the lab runs without the capture, until Ctrl-C (or
``--duration``), so a newcomer can try ``pcapng-iou capture`` or Wireshark on
it by hand; the switch to PPP comes after :data:`LAB_ONLY_SWITCH_S`.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from typing import Optional

from pcapng_iou import PROG
from pcapng_iou.app.capture_setup import capture_setup
from pcapng_iou.exitstatus import ExitStatus
from pcapng_iou.shell.capture import Capture
from pcapng_iou.sim.lab import Lab
from pcapng_iou.ui.console import Reporter

NETMAP = """\
# pcapng-iou demo lab, as IOU reads it: instance:bay/unit pairs, no link types
1:0/0 2:0/0
1:1/0 2:1/0
2:1/1 3:1/1
3:1/2 4:1/2
1:0/1 3:0/1 4:0/1   # shared segment
"""
#: Every router: one Ethernet bay, then two serial bays.
BAYS = (1, 2)
#: The routers' configuration at the start: (router, interface, encapsulation).
CONFIGURATION = ((2, "1/1", "ppp"), (3, "1/1", "ppp"), (3, "1/2", "frame-relay"), (4, "1/2", "frame-relay"))
#: With --lab-only, R1 and R2 switch their serial link to PPP this long after the start (seconds).
LAB_ONLY_SWITCH_S = 30.0


def run_demo(output: str, duration: Optional[float], quiet: bool = False, interval: float = 0.5,
             lab_only: bool = False) -> int:
    workdir = tempfile.mkdtemp(prefix="pcapng-iou-demo-", dir=_short_temp_dir())
    netio_dir = os.path.join(workdir, "netio")
    lab = Lab(netio_dir, NETMAP, os.path.join(workdir, "NETMAP"), speak=True, interval=interval, quiet=True,
              own_folders=True, bays={number: BAYS for number in (1, 2, 3, 4)})
    status = ExitStatus.ERROR
    try:
        lab.start()
        for number, interface, encapsulation in CONFIGURATION:
            lab[number].command(f"encap {interface} {encapsulation}")
        if lab_only:
            return _run_lab_only(lab, workdir, netio_dir, duration)
        # Not ./NETMAP, wherever the demo is started: the capture finds the lab's own, as on a stock lab.
        options, netmap = capture_setup(output, netio_dir, look_here=False, duration=duration, wait_for_dir=False)
        capture = Capture(options, netmap=netmap)
        switch = threading.Timer(duration / 2, _switch_to_ppp, (lab,))
        switch.daemon = True
        switch.start()
        status = Reporter(quiet=quiet).run(capture)
        switch.cancel()
    finally:
        lab.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if status == ExitStatus.OK and output != "-":  # (what went to standard output is its reader's now)
        print(f"\nWrote {output}. Open it with:\n    wireshark {output}\n    tshark -r {output}", file=sys.stderr)
    return status


def this_program() -> str:
    """How to run this very pcapng-iou from a shell: its name when the shell finds this one under it, else
    the path of the script beside this Python (a virtual environment not activated), else ``python -m``."""
    beside = os.path.join(os.path.dirname(sys.executable), PROG)
    if not os.access(beside, os.X_OK):
        return f"{shlex.quote(sys.executable)} -m pcapng_iou"
    found = shutil.which(PROG)
    if found is not None and os.path.realpath(found) == os.path.realpath(beside):
        return PROG
    return shlex.quote(beside)


def _run_lab_only(lab: Lab, workdir: str, netio_dir: str, duration: Optional[float]) -> int:
    """Keep the lab running, with no capture, until Ctrl-C, SIGTERM or ``duration``."""
    until = f"for {duration:g} s" if duration else "until Ctrl-C"
    print(f"demo lab running {until}: routers 1 to 4, each in a folder of its own under {workdir}\n"
          f"(R1 and R2 switch their serial link 1/0 from HDLC to PPP after {LAB_ONLY_SWITCH_S:g} s).\n"
          f"Capture it from another terminal:\n"
          f"    {this_program()} capture -d {netio_dir}\n"
          f"or in Wireshark (after {this_program()} extcap --install): interface \"IOU links\", "
          f"netio directory {netio_dir}", file=sys.stderr, flush=True)
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    switch = threading.Timer(LAB_ONLY_SWITCH_S, _switch_to_ppp, (lab,))
    switch.daemon = True
    switch.start()
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while not done.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C: the lab is stopped by the caller
    finally:
        switch.cancel()
        signal.signal(signal.SIGTERM, previous)
    print("demo lab stopped", file=sys.stderr)
    return ExitStatus.OK


def _short_temp_dir() -> str:
    """$TMPDIR when socket names fit under it (``<it>/pcapng-iou-demo-XXXXXXXX/netio/4.pcapng-iou-new``
    must stay within 108 bytes), else /tmp."""
    base = tempfile.gettempdir()
    return base if len(base) <= 60 else "/tmp"


def _switch_to_ppp(lab: Lab) -> None:
    """What a user does: ``encapsulation ppp`` on both routers; the capture follows the frames."""
    for number in (1, 2):
        lab[number].command("encap 1/0 ppp")
