"""How long the capture takes to stop when many instances take nothing (issue 24): a figure, not a verdict.

``python -m pcapng_iou.bench.stalled_stop [--instances 200]`` makes a private
netio directory under /tmp, binds every instance's socket itself and never
reads them (stalled instances: stopped, or hung), starts the real capture,
then fills each instance's queue and ours through the capture from one peer
(numbered Ethernet frames, as a peer instance sends them), so that the
capture holds frames for every one of them.  It then sends SIGINT and prints
how long the capture took to exit, and its exit status.  Nothing is checked
here: the test suite bounds it generously; this prints the figure.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from pcapng_iou.core import netio
from pcapng_iou.sim.numbered import numbered_frame

PEER = 1000


def _bind_instances(directory: str, count: int) -> list:
    sockets = []
    for number in range(1, count + 1):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(os.path.join(directory, str(number)))
        sockets.append(sock)
    return sockets


def _wait_attached(directory: str, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(name.endswith("_real") for name in os.listdir(directory)) >= count:
            return True
        time.sleep(0.05)
    return False


def _fill(directory: str, count: int) -> tuple:
    """Send to every instance (through the capture) until nothing more is taken.

    Returns how many datagrams were sent, and to how few instances at least (a socket of its own for
    each: one sender's buffer would fill with what the stalled ones hold).
    """
    sent, fewest = 0, None
    for number in range(1, count + 1):
        path = os.path.join(directory, str(number))
        refused_since = None
        sequence = 0
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as peer:
            peer.setblocking(False)
            # The capture reads, sends on until the instance's queue is full, holds a batch: until our sends
            # have been refused for a while, everything fits somewhere.
            while refused_since is None or time.monotonic() - refused_since < 0.05:
                frame = numbered_frame(PEER, 0, sequence)
                datagram = netio.encode(netio.Header(number, PEER, 0, 0), frame)
                try:
                    peer.sendto(datagram, path)
                    sequence += 1
                    refused_since = None
                except BlockingIOError:
                    refused_since = refused_since or time.monotonic()
                    time.sleep(0.002)
        sent += sequence
        fewest = sequence if fewest is None else min(fewest, sequence)
    return sent, fewest or 0


def measure(count: int, output_dir: str) -> tuple:
    """Stop time (s), exit status, datagrams sent to them, the fewest one got, for ``count`` stalled instances."""
    directory = os.path.join(output_dir, "netio")
    os.mkdir(directory)
    sockets = _bind_instances(directory, count)
    capture = subprocess.Popen([sys.executable, "-m", "pcapng_iou", "capture", "-q", "-d", directory, "-w",
                                os.path.join(output_dir, "stalled.pcapng")],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not _wait_attached(directory, count, 60):
            raise RuntimeError("the capture did not attach to every instance in 60 s")
        sent, fewest = _fill(directory, count)
        started = time.monotonic()
        capture.send_signal(signal.SIGINT)
        capture.wait(600)
        took = time.monotonic() - started
        return took, capture.returncode, sent, fewest
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.wait()
        for sock in sockets:
            sock.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pcapng_iou.bench.stalled_stop", description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200, help="stalled instances (default 200)")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="stall", dir="/tmp")
    try:
        took, status, sent, fewest = measure(args.instances, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"stop with {args.instances} stalled instances: {took:.1f} s (exit status {status}; "
          f"{sent} datagrams sent to them, {fewest} at least each, held by the capture or queued)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
