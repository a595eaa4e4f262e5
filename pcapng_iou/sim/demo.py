"""``pcapng-iou demo``: the real capture, on a simulated lab that starts and ends with it.

The lab (four routers, a private netio directory)::

    R1 e0/0 --- R2 e0/0                 Ethernet: ARP, ICMP, CDP, keepalives
    R1 s1/0 --- R2 s1/0                 Cisco HDLC (SLARP), switched to PPP midway
    R2 s1/1 --- R3 s1/1                 PPP: LCP, IPCP, IP
    R3 s1/2 --- R4 s1/2                 Frame Relay: LMI (Q.933 Annex A), IP
    R1 e0/1, R3 e0/1, R4 e0/1           a shared Ethernet segment

Halfway through, R1 and R2 switch their serial link to PPP and the demo
rewrites NETMAP and sends SIGHUP to the capture, as a user would with
``kill -HUP``: the file then holds that link twice, as Cisco HDLC and as PPP.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading

from pcapng_iou.shell.capture import Capture, CaptureOptions
from pcapng_iou.sim.lab import Lab
from pcapng_iou.ui.console import Reporter

NETMAP_BEFORE = """\
# pcapng-iou demo lab: instance:bay/unit pairs, then the link type
1:0/0 2:0/0 ethernet
1:1/0 2:1/0 hdlc
2:1/1 3:1/1 ppp
3:1/2 4:1/2 frame-relay
1:0/1 3:0/1 4:0/1 ethernet   # shared segment
"""
NETMAP_AFTER = NETMAP_BEFORE.replace("1:1/0 2:1/0 hdlc", "1:1/0 2:1/0 ppp  # was hdlc")


def run_demo(output: str, duration: float, quiet: bool = False, interval: float = 0.5) -> int:
    workdir = tempfile.mkdtemp(prefix="pcapng-iou-demo-", dir="/tmp")
    netio_dir = os.path.join(workdir, "netio")
    netmap_path = os.path.join(workdir, "NETMAP")
    lab = Lab(netio_dir, NETMAP_BEFORE, netmap_path, speak=True, interval=interval, quiet=True)
    status = 1
    try:
        lab.start()
        options = CaptureOptions(netio_dir=netio_dir, output=output, netmap_path=netmap_path,
                                 duration=duration, wait_for_dir=False)
        capture = Capture(options)
        switch = threading.Timer(duration / 2, _switch_to_ppp, (lab, capture))
        switch.daemon = True
        switch.start()
        status = Reporter(quiet=quiet).run(capture)
        switch.cancel()
    finally:
        lab.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if status == 0:
        print(f"\nWrote {output}. Open it with:\n    wireshark {output}\n    tshark -r {output}", file=sys.stderr)
    return status


def _switch_to_ppp(lab: Lab, capture: Capture) -> None:
    """What a user does: ``encapsulation ppp`` on both routers, edit NETMAP, ``kill -HUP``."""
    for number in (1, 2):
        lab[number].command("encap 1/0 ppp")
    lab.write_netmap(NETMAP_AFTER)
    os.kill(os.getpid(), __import__("signal").SIGHUP)
