"""What a new user tripped on in a day of ordinary use (issue 29): messages that say what
is wrong and what to do, dumpcap and tcpdump habits, files libpcap readers can open.

Real ``python -m pcapng_iou`` processes beside a simulated lab.
"""
from __future__ import annotations

import os
import signal

from test_cli_errors import run_cli


def test_a_netmap_line_of_one_endpoint_is_warned_of_once(make_lab, workdir, start_capture):
    lab = make_lab("100:0/0 101:0/0\n102:0/0\n")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", os.path.join(workdir, "o.pcapng"))
    assert capture.wait_for("attached", count=3), capture.stderr
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("NETMAP reloaded"), capture.stderr
    assert capture.stop() == 0, capture.stderr
    said = [line for line in capture.lines if "has one endpoint" in line]
    assert said == [f"pcapng-iou: warning: {lab.netmap_path}:2: '102:0/0' has one endpoint: IOU treats 102:0/0 as "
                    "an unconnected interface (what it sends reaches no one)"], capture.stderr
