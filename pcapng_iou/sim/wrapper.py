"""A simulated EVE-NG node wrapper: the bridge beside an instance, as EVE-NG's ``iol_wrapper`` is.

It stands for instance ``ID``'s side of the lab's links, the way EVE-NG runs
every IOL node (see docs and the reference on ``iol_wrapper``):

* it binds ``<ID+512>`` in the netio directory and takes no lock file;
* :data:`CONNECT_DELAY_S` after its start (``--delay``) it connects a socket
  **once** to ``<ID>`` and sends every frame toward the instance through that
  connection (it connects again only after a send failed, and that frame is lost);
* the instance sends to it by name (``<ID+512>``, NETMAP lines ``ID:p ID+512:p``);
* links to other wrappers go over UDP on the loopback, as ``iol_wrapper``'s serial
  links do (Ethernet too, here): wrapper ``N`` listens on UDP port
  ``--udp-base`` + N; ``--link P:PEER:PEERPORT`` joins the instance's port
  P (a port byte or B/U) to port PEERPORT of instance PEER, behind its wrapper.

``--flood B/U`` sends numbered frames (:mod:`pcapng_iou.sim.numbered`, as
from instance ``ID+512``, port B/U) toward the instance through the
connection, as fast as it takes them, until the wrapper stops: the
instance's ``tally`` then says whether any was lost or overtaken.

Reports on stdout: ``ready BRIDGE PID``, ``connected``, then at exit
``flooded N lost M`` and ``bye``.  SIGTERM or SIGINT stop it cleanly (it
removes ``<ID+512>``).  Imports neither the capture's shell nor its ui.
"""
from __future__ import annotations

import argparse
import os
import selectors
import signal
import socket
import sys
import threading
import time
from typing import Dict, Optional, Tuple

if not __package__:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))

from pcapng_iou.core import netio
from pcapng_iou.sim.instance import default_netio_dir, parse_interface
from pcapng_iou.sim.numbered import numbered_frame

PROG = "python -m pcapng_iou.sim.wrapper"
#: EVE-NG's iol_wrapper connects to the instance's socket 3 s after it starts it.
CONNECT_DELAY_S = 3.0
BRIDGE_OFFSET = 512
DEFAULT_UDP_BASE = 32768
FLOOD_SIZE = 60


class Wrapper:
    """The bridge's sockets: ``<id+512>`` (from the instance), the connection to ``<id>``, UDP to other wrappers."""

    def __init__(self, directory: str, instance: int, links: Dict[int, Tuple[int, int]], udp_base: int):
        self.directory = directory
        self.instance = instance
        self.bridge = instance + BRIDGE_OFFSET
        self.links = links
        self.udp_base = udp_base
        self.path = os.path.join(directory, str(self.bridge))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.udp: Optional[socket.socket] = None
        if links:
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", udp_base + instance))
        self.toward: Optional[socket.socket] = None
        self.lock = threading.Lock()
        self.lost = 0

    def connect(self) -> None:
        """Connect once to the instance's socket, as iol_wrapper does; sends go through this connection."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.connect(os.path.join(self.directory, str(self.instance)))
        self.toward = sock

    def to_instance(self, datagram: bytes) -> bool:
        """Send through the connection; a failed send loses the frame and connects again (iol_wrapper's way)."""
        try:
            self.toward.send(datagram)
            return True
        except OSError:
            with self.lock:
                self.lost += 1
                try:
                    self.toward.close()
                    self.connect()
                except OSError:
                    pass
            return False

    def from_instance(self) -> None:
        """A frame the instance sent to us: on over UDP to the wrapper of the instance at the other end."""
        datagram = self.sock.recv(netio.MAX_DATAGRAM)
        header = netio.decode(datagram)
        if header is None or header.dst_port not in self.links or self.udp is None:
            return
        peer, peer_port = self.links[header.dst_port]
        out = netio.Header(peer, peer + BRIDGE_OFFSET, peer_port, peer_port).pack() + datagram[netio.HEADER_SIZE:]
        try:
            self.udp.sendto(out, ("127.0.0.1", self.udp_base + peer))
        except OSError:
            pass  # the other wrapper is not there (yet): UDP loses it, as on EVE-NG

    def from_udp(self) -> None:
        datagram = self.udp.recv(netio.MAX_DATAGRAM)
        if self.toward is not None:
            self.to_instance(datagram)

    def close(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        for sock in (self.sock, self.udp, self.toward):
            if sock is not None:
                sock.close()


def flood(wrapper: Wrapper, port: int, stop: threading.Event, counter: list) -> None:
    """Numbered frames toward the instance through the connection until ``stop``; ``counter[0]`` those sent."""
    header = netio.Header(wrapper.instance, wrapper.bridge, port, port).pack()
    number = 0
    while not stop.is_set():
        if wrapper.to_instance(header + numbered_frame(wrapper.bridge, port, number, FLOOD_SIZE)):
            number += 1
            counter[0] = number


def serve(args: argparse.Namespace, wrapper: Wrapper, report) -> None:
    stopping = threading.Event()
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, frame: stopping.set())
    selector = selectors.DefaultSelector()
    selector.register(wrapper.sock, selectors.EVENT_READ, wrapper.from_instance)
    selector.register(reader, selectors.EVENT_READ, lambda: reader.recv(64))
    connect_at = time.monotonic() + args.delay
    counter, flooder = [0], None
    while not stopping.is_set():
        if wrapper.toward is None and time.monotonic() >= connect_at:
            wrapper.connect()
            report("connected")
            if wrapper.udp is not None:
                selector.register(wrapper.udp, selectors.EVENT_READ, wrapper.from_udp)
            if args.flood is not None:
                flooder = threading.Thread(target=flood, args=(wrapper, args.flood, stopping, counter), daemon=True)
                flooder.start()
        wait = None if wrapper.toward is not None else max(0.0, connect_at - time.monotonic())
        for key, _ in selector.select(wait):
            key.data()
    if flooder is not None:
        flooder.join(10)
    report(f"flooded {counter[0]} lost {wrapper.lost}")


def parse_link(text: str) -> Tuple[int, Tuple[int, int]]:
    """``P:PEER:PEERPORT`` (ports as port bytes or B/U) -> (P, (PEER, PEERPORT))."""
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: expected PORT:PEER:PEERPORT")
    try:
        return _port(parts[0]), (int(parts[1]), _port(parts[2]))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {err}") from None


def _port(text: str) -> int:
    return parse_interface(text) if "/" in text else int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, allow_abbrev=False,
                                     description="Run a simulated EVE-NG node wrapper beside instance ID.")
    parser.add_argument("instance", metavar="ID", type=int, help="the instance it wraps; it binds ID+512")
    parser.add_argument("--netio-dir", metavar="DIR", help="netio directory (default as the instance's)")
    parser.add_argument("--delay", metavar="SECONDS", type=float, default=CONNECT_DELAY_S,
                        help=f"seconds before it connects to the instance (default {CONNECT_DELAY_S:g}, as iol_wrapper)")
    parser.add_argument("--udp-base", metavar="PORT", type=int, default=DEFAULT_UDP_BASE,
                        help=f"wrapper N listens on UDP port PORT+N on 127.0.0.1 (default {DEFAULT_UDP_BASE})")
    parser.add_argument("--link", metavar="P:PEER:PEERPORT", type=parse_link, action="append", default=[],
                        help="join the instance's port P to port PEERPORT of instance PEER (behind its wrapper)")
    parser.add_argument("--flood", metavar="B/U", type=parse_interface,
                        help="send numbered frames toward the instance from port B/U until stopped")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not netio.MIN_ID <= args.instance <= netio.MAX_ID - BRIDGE_OFFSET:
        build_parser().error(f"instance id {args.instance} is out of range 1..{netio.MAX_ID - BRIDGE_OFFSET}")

    def report(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    try:
        wrapper = Wrapper(args.netio_dir or default_netio_dir(), args.instance, dict(args.link), args.udp_base)
    except OSError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    try:
        report(f"ready {wrapper.bridge} {os.getpid()}")
        serve(args, wrapper, report)
    finally:
        wrapper.close()
        report("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
