"""Simulated GNS3 bridges (what ubridge's IOL bridges do), for tests and demos; stands alone.

GNS3 joins IOU instance ``id`` to a bridge bound at ``id + 512`` in the netio
directory (the same lock-file convention as IOU), and joins the two bridges of a
drawn link over UDP.  Here one process holds every bridge of a lab and joins
their ports directly::

    python -m pcapng_iou.sim.bridges --dir NETIO 513:0/0=514:0/0 513:1/0=514:1/0

A datagram that router 1 sends to bridge 513 port 0/0 goes to router 2 (514 - 512)
port 0/0, with the header ubridge writes: destination the router and the port,
source the bridge and the same port; sent with ``sendto()`` on the router's path
each time, as ubridge does.  Datagrams for a port no pair names are dropped.
SIGINT or SIGTERM: the bridges leave as IOU does (socket and lock unlinked).
"""
from __future__ import annotations

import argparse
import os
import selectors
import signal
import socket
import sys

from pcapng_iou.core import netio
from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.sim.instance import Instance, default_netio_dir

BRIDGE_OFFSET = 512


def parse_pair(text: str) -> tuple:
    """``513:0/0=514:0/0`` -> ((513, port), (514, port))."""
    try:
        left, right = text.split("=")
        ends = tuple(netmap_mod.parse_endpoint(side.strip()) for side in (left, right))
    except (ValueError, netmap_mod.NetmapError) as err:
        raise argparse.ArgumentTypeError(f"{text!r}: not BRIDGE:B/U=BRIDGE:B/U ({err})") from None
    if any(end.instance <= BRIDGE_OFFSET for end in ends):
        raise argparse.ArgumentTypeError(f"{text!r}: a bridge id is above {BRIDGE_OFFSET}")
    return tuple(end.key for end in ends)


class Bridges:
    """The bridges named by ``pairs``, bound in ``directory``; :meth:`serve` forwards until stopped."""

    def __init__(self, directory: str, pairs):
        self.directory = directory
        self.peer = {}
        for left, right in pairs:
            self.peer[left], self.peer[right] = right, left
        ids = sorted({bridge for bridge, _ in self.peer})
        self.bridges = {bridge: Instance(directory, bridge, netmap_mod.Netmap(())) for bridge in ids}
        self.sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.forwarded = self.dropped = 0

    def start(self) -> None:
        for bridge in self.bridges.values():
            bridge.start()

    def stop(self) -> None:
        for bridge in self.bridges.values():
            bridge.stop()
        self.sender.close()

    def forward(self, bridge: int, datagram: bytes) -> None:
        parsed = netio.data_frame(datagram)
        if parsed is None:
            self.dropped += 1
            return
        header, frame = parsed
        target = self.peer.get((bridge, header.dst_port))
        if target is None:
            self.dropped += 1
            return
        other_bridge, port = target
        router = other_bridge - BRIDGE_OFFSET
        out = netio.Header(router, other_bridge, port, port).pack() + frame
        try:
            self.sender.sendto(out, os.path.join(self.directory, str(router)))
            self.forwarded += 1
        except OSError:
            self.dropped += 1  # the router is not there (yet): ubridge drops it too

    def serve(self, stop: list) -> None:
        with selectors.DefaultSelector() as selector:
            for number, bridge in self.bridges.items():
                selector.register(bridge.sock, selectors.EVENT_READ, number)
            while not stop:
                for key, _ in selector.select(0.2):
                    self.bridges[key.data].receive_all(lambda datagram, n=key.data: self.forward(n, datagram))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pcapng_iou.sim.bridges", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="the netio directory (default: as IOU finds it)")
    parser.add_argument("pairs", nargs="+", type=parse_pair, metavar="BRIDGE:B/U=BRIDGE:B/U")
    args = parser.parse_args(argv)
    bridges = Bridges(args.dir or default_netio_dir(), args.pairs)
    stop: list = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, frame: stop.append(number))
    bridges.start()
    try:
        print("ready", flush=True)
        bridges.serve(stop)
    finally:
        bridges.stop()
    print(f"forwarded {bridges.forwarded} dropped {bridges.dropped}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
