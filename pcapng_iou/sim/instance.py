"""A simulated IOU instance: what tests, the benchmark and ``pcapng-iou demo`` run.

It is a real process that behaves as IOU does, from its command line to its
netio directory.  Like IOU it is started as ``[options] <id>`` with the
instance id as the last argument, ``-e N`` Ethernet and ``-s N`` serial bays
(2 and 2 by default; Ethernet bays come first, 4 units each), and it reads
``NETMAP`` from its current working directory.  In the netio directory
(``/tmp/netio<uid>`` as IOU's, or ``$PCAPNG_IOU_NETIO_DIR``, or
``--netio-dir``) it takes an fcntl write lock on ``<id>.lck`` and writes its
pid there, binds ``<id>``, sends frames to the peers NETMAP names (by socket
path, with a correct header), reads its socket without blocking, and on a
clean exit (SIGTERM, SIGINT, SIGHUP, ``quit``) unlinks its socket and lock
file.  SIGKILL leaves both behind, as with the real thing.

Run one by hand, in a folder holding a NETMAP::

    python -m pcapng_iou.sim.instance --speak -e 1 -s 1 100

It also runs as a plain file (``python pcapng_iou/sim/instance.py``): it then
imports the package it sits in from beside itself, so it needs nothing
installed.  IOU's other options (``-n -m -L -l -u -N -q -d -t -C -R -U -W -b
-c``) are accepted; ``-N`` (ignore NETMAP) is the only one that changes
anything.  It reads commands on stdin, one per line, and reports on stdout:

==========================  ===============================================
``send B/U HEX``            send a frame out of interface B/U to its peers
``raw ID HEX``              send HEX as a whole datagram to instance ID
``flood B/U COUNT SIZE``    send COUNT numbered frames of SIZE bytes
``stream B/U RATE SIZE``    send numbered frames out of B/U, RATE a second, until halted
``halt B/U``                stop that stream; says how many frames it sent
``tally``                   what arrived of each flow of numbered frames (JSON)
``encap B/U NAME``          change the encapsulation ``--speak`` uses there
``quit``                    exit cleanly
==========================  ===============================================

Reports: ``ready ID PID``, ``recv SRC_ID SRC_B/U DST_B/U HEX`` for every
frame received, ``sent N``/``senderr DST why``, ``ok``, ``streamed B/U N``,
``tally {...}``, ``bye``.  Numbered frames (see :mod:`pcapng_iou.sim.numbered`)
are checked on arrival: exact, in order, once.
"""
from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import selectors
import signal
import socket
import sys
import time
from typing import Optional

if not __package__:
    # Run as a plain file: the package this file belongs to is two folders up.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))

from pcapng_iou.core import linktypes, netio
from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.sim.numbered import Tally, numbered_frame

PROG = "python -m pcapng_iou.sim.instance"
#: Where the netio directory is named when it is not IOU's ``/tmp/netio<uid>``
#: (the command line stays IOU's: options, then the id).
NETIO_DIR_ENV = "PCAPNG_IOU_NETIO_DIR"
#: IOU's defaults: 2 Ethernet bays, then 2 serial bays; 16 bays at most (a port byte's low nibble).
DEFAULT_ETHERNET_BAYS = DEFAULT_SERIAL_BAYS = 2
MAX_BAYS = netio.MAX_BAY + 1
SEND_TIMEOUT_S = 5.0


def parse_interface(text: str) -> int:
    bay, _, unit = text.partition("/")
    return netio.port_byte(int(bay), int(unit))


class InstanceRunning(Exception):
    """The instance's lock file is held: that instance already runs."""


def default_netio_dir() -> str:
    """IOU's netio directory, ``/tmp/netio<uid>``, unless ``$PCAPNG_IOU_NETIO_DIR`` names another."""
    return os.environ.get(NETIO_DIR_ENV) or f"/tmp/netio{os.getuid()}"


def take_instance_lock(lock_path: str) -> int:
    """Take an instance's lock as IOU does: fcntl write lock on the whole file, then our pid in it.

    Raises :class:`InstanceRunning` when another process holds it."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise InstanceRunning(f"{lock_path} is locked: that instance already runs") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


class Instance:
    """One simulated IOU router bound in a netio directory."""

    def __init__(self, directory: str, instance: int, netmap: netmap_mod.Netmap, report=None,
                 ethernet_bays: int = DEFAULT_ETHERNET_BAYS, serial_bays: int = DEFAULT_SERIAL_BAYS):
        self.directory = directory
        self.instance = instance
        self.netmap = netmap
        self.ethernet_bays = ethernet_bays
        self.serial_bays = serial_bays
        self.path = os.path.join(directory, str(instance))
        self.lock_path = self.path + ".lck"
        self.report = report or (lambda line: None)
        self.lock_fd: Optional[int] = None
        self.sock: Optional[socket.socket] = None
        self.sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sender.settimeout(SEND_TIMEOUT_S)
        self.sent = 0
        self.received = 0

    def bay_linktype(self, bay: int) -> int:
        """The encapsulation IOU gives a bay by default: Ethernet bays first, then serial ones (Cisco HDLC)."""
        return linktypes.ETHERNET if bay < self.ethernet_bays else linktypes.C_HDLC

    # -- life -------------------------------------------------------------------
    def start(self) -> None:
        os.makedirs(self.directory, exist_ok=True)
        self.lock_fd = take_instance_lock(self.lock_path)
        try:
            os.unlink(self.path)  # a stale socket from an earlier run
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024 * 1024)
        sock.bind(self.path)
        sock.setblocking(False)
        self.sock = sock

    def stop(self) -> None:
        """Clean exit as IOU does it: unlink socket and lock by name."""
        for path in (self.path, self.lock_path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        if self.sock is not None:
            self.sock.close()
        if self.lock_fd is not None:
            os.close(self.lock_fd)
        self.sender.close()

    # -- traffic ---------------------------------------------------------------
    def send(self, port: int, frame: bytes) -> int:
        """Send ``frame`` out of ``port`` to every peer on its NETMAP line; return copies sent."""
        copies = 0
        for peer in self.netmap.peers(self.instance, port):
            header = netio.Header(peer.instance, self.instance, peer.port, port)
            if self.send_raw(peer.instance, header.pack() + frame):
                copies += 1
        return copies

    def send_raw(self, instance: int, datagram: bytes) -> bool:
        target = os.path.join(self.directory, str(instance))
        try:
            self.sender.sendto(datagram, target)
        except OSError as err:
            reason = errno.errorcode.get(err.errno, str(err)) if err.errno else "timeout"
            self.report(f"senderr {instance} {reason}")
            return False
        self.sent += 1
        return True

    def receive_all(self, handle) -> None:
        while True:
            try:
                datagram = self.sock.recv(netio.MAX_DATAGRAM)
            except BlockingIOError:
                return
            self.received += 1
            handle(datagram)


class Stream:
    """Numbered frames sent out of one port at a steady rate (catching up after a stall)."""

    #: Most frames sent in one go before the instance looks at its socket and stdin again.
    BURST = 256
    #: After a frame could not be sent, how long before it is tried again.
    RETRY_S = 0.01

    def __init__(self, instance: Instance, port: int, size: int):
        self.instance, self.port, self.size = instance, port, size
        self.rate = 0.0
        self.first = 0  # number of the first frame since the rate was last set
        self.sent = 0  # frames sent since then
        self.started = self.not_before = 0.0

    @property
    def total(self) -> int:
        return self.first + self.sent

    def set_rate(self, rate: float, now: float) -> None:
        """Send ``rate`` frames a second from now on (0: halt); the numbering goes on."""
        self.first, self.sent = self.total, 0
        self.rate = rate
        self.started = self.not_before = now

    def due_in(self, now: float) -> float:
        return max(0.0, self.started + self.sent / self.rate - now, self.not_before - now)

    def tick(self, now: float) -> None:
        if now < self.not_before:
            return
        due = min(int((now - self.started) * self.rate) + 1 - self.sent, self.BURST)
        for _ in range(due):
            frame = numbered_frame(self.instance.instance, self.port, self.total, self.size)
            if not self.instance.send(self.port, frame):
                # Peer down, or it did not take it in time: the same number goes again later.
                self.not_before = now + self.RETRY_S
                return
            self.sent += 1


def run(args: argparse.Namespace) -> int:
    netmap = _read_netmap(args)
    out = sys.stdout

    def report(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    instance = Instance(args.netio_dir, args.instance, netmap, report, args.ethernet_bays, args.serial_bays)
    speaker = None
    if args.speak:
        from pcapng_iou.sim.speaker import Speaker

        speaker = Speaker(instance, netmap, interval=args.interval)
    stop_signals = []
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda number, frame: stop_signals.append(number))
    instance.start()
    try:
        return _serve(args, instance, speaker, reader, stop_signals, report)
    finally:
        instance.stop()
        report("bye")


def _read_netmap(args: argparse.Namespace) -> netmap_mod.Netmap:
    """NETMAP as IOU finds it: in the working directory (no file, no links), unless ``-N``."""
    if args.ignore_netmap:
        return netmap_mod.Netmap()
    if args.netmap:
        return netmap_mod.load(args.netmap)
    if not os.path.exists("NETMAP"):
        return netmap_mod.Netmap()
    return netmap_mod.load("NETMAP", os.path.join(os.getcwd(), "NETMAP"))


def _serve(args, instance: Instance, speaker, reader: socket.socket, stop_signals: list, report) -> int:
    report(f"ready {args.instance} {os.getpid()}")

    tally = Tally()
    streams: dict = {}

    def on_datagram(datagram: bytes) -> None:
        header = netio.decode(datagram)
        if header is None:
            report(f"recv - - - {datagram.hex()}")
            return
        tally.frame(datagram[netio.HEADER_SIZE:])
        if speaker is not None:
            speaker.answer(header, datagram[netio.HEADER_SIZE:])
        if not args.quiet:
            report(f"recv {header.src_id} {netio.port_name(header.src_port)} "
                   f"{netio.port_name(header.dst_port)} {datagram[netio.HEADER_SIZE:].hex()}")

    selector = selectors.DefaultSelector()
    selector.register(instance.sock, selectors.EVENT_READ, "socket")
    selector.register(reader, selectors.EVENT_READ, "signal")
    commands = None
    if not args.no_stdin:
        commands = os.fdopen(sys.stdin.fileno(), "rb", buffering=0, closefd=False)
        try:
            selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
            os.set_blocking(sys.stdin.fileno(), False)
        except (PermissionError, ValueError):
            commands = None  # stdin is a plain file or /dev/null: no commands to wait for
    buffered = b""
    deadline = time.monotonic() + args.duration if args.duration else None
    while not stop_signals:
        timeout = speaker.next_due() if speaker else None
        if streams:
            now = time.monotonic()
            soonest = min((stream.due_in(now) for stream in streams.values() if stream.rate), default=None)
            if soonest is not None:
                timeout = soonest if timeout is None else min(timeout, soonest)
        if deadline is not None:
            left = max(0.0, deadline - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
            if left == 0:
                break
        for key, _ in selector.select(timeout):
            if key.data == "socket":
                instance.receive_all(on_datagram)
            elif key.data == "signal":
                try:
                    reader.recv(64)
                except BlockingIOError:
                    pass
            elif key.data == "stdin":
                try:
                    chunk = commands.read(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(sys.stdin.fileno())
                    continue
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    words = line.decode().split()
                    if words and words[0] in ("stream", "halt", "tally"):
                        _stream_command(instance, streams, tally, words, report)
                    elif _command(instance, speaker, words, report) == "quit":
                        stop_signals.append(0)
        if speaker is not None:
            speaker.tick()
        if streams:
            now = time.monotonic()
            for stream in streams.values():
                if stream.rate:
                    stream.tick(now)
    return 0


def _command(instance: Instance, speaker, words: list, report) -> Optional[str]:
    if not words:
        return None
    verb = words[0]
    try:
        if verb == "quit":
            return "quit"
        if verb == "send":
            copies = instance.send(parse_interface(words[1]), bytes.fromhex(words[2]))
            report(f"sent {copies}")
        elif verb == "raw":
            ok = instance.send_raw(int(words[1]), bytes.fromhex(words[2] if len(words) > 2 else ""))
            report(f"sent {int(ok)}")
        elif verb == "flood":
            port, count, size = parse_interface(words[1]), int(words[2]), int(words[3])
            sent = 0
            for number in range(count):
                sent += instance.send(port, numbered_frame(instance.instance, port, number, size))
            report(f"sent {sent}")
        elif verb == "encap" and speaker is not None:
            speaker.set_linktype(parse_interface(words[1]), linktypes.parse(words[2]))
            report("ok")
        else:
            report(f"error unknown command {verb!r}")
    except (IndexError, ValueError) as err:
        report(f"error {verb}: {err}")
    return None


def _stream_command(instance: Instance, streams: dict, tally: Tally, words: list, report) -> None:
    """``stream``, ``halt`` and ``tally``; ``streams`` holds every stream started, by port."""
    verb = words[0]
    try:
        if verb == "tally":
            report("tally " + json.dumps(tally.as_dict(), separators=(",", ":")))
        elif verb == "stream":
            port, rate, size = parse_interface(words[1]), float(words[2]), int(words[3])
            if rate <= 0:
                raise ValueError("the rate must be above 0")
            numbered_frame(instance.instance, port, 0, size)  # refuses a size it cannot build
            stream = streams.setdefault(port, Stream(instance, port, size))
            stream.size = size
            stream.set_rate(rate, time.monotonic())
            report("ok")
        elif verb == "halt":
            stream = streams.get(parse_interface(words[1]))
            if stream is not None:
                stream.set_rate(0.0, time.monotonic())
            report(f"streamed {words[1]} {stream.total if stream else 0}")
    except (IndexError, ValueError) as err:
        report(f"error {verb}: {err}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        usage=f"{PROG} [-e N] [-s N] [IOU options] [--netio-dir DIR] [--speak ...] ID",
        description="Run one simulated IOU instance, started as IOU is: options, then the instance id. "
                    "NETMAP is read from the working directory.",
        epilog="IOU's flags -L -l -q -d -t -C -R -U -W are accepted too, without effect.")
    parser.add_argument("instance", metavar="ID", type=int, help="instance id (1..1024), the last argument as for IOU")
    iou = parser.add_argument_group("IOU's options")
    iou.add_argument("-e", dest="ethernet_bays", metavar="N", type=int, default=DEFAULT_ETHERNET_BAYS,
                     help=f"Ethernet bays, numbered first (default {DEFAULT_ETHERNET_BAYS})")
    iou.add_argument("-s", dest="serial_bays", metavar="N", type=int, default=DEFAULT_SERIAL_BAYS,
                     help=f"serial bays, numbered after the Ethernet ones (default {DEFAULT_SERIAL_BAYS})")
    iou.add_argument("-N", dest="ignore_netmap", action="store_true", help="ignore the NETMAP file")
    for option, what in (("-n", "nvram KB"), ("-m", "memory MB"), ("-u", "UDP port base"),
                         ("-b", "IOS debug string"), ("-c", "configuration file")):
        iou.add_argument(option, metavar="X", help=f"{what} (accepted, no effect)")
    for flag in ("-L", "-l", "-q", "-d", "-t", "-C", "-R", "-U", "-W"):
        iou.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    own = parser.add_argument_group("the simulation's own options")
    own.add_argument("--netio-dir", metavar="DIR", default=None,
                     help=f"netio directory (default ${NETIO_DIR_ENV}, else /tmp/netio<uid> as IOU)")
    own.add_argument("--netmap", metavar="FILE", help="read this NETMAP instead of the one in the working directory")
    own.add_argument("--speak", action="store_true",
                     help="talk like a router: keepalives, ARP, ping, CDP, LCP, LMI")
    own.add_argument("--interval", metavar="SECONDS", type=float, default=1.0, help="seconds between keepalives with --speak")
    own.add_argument("--duration", metavar="SECONDS", type=float, help="exit cleanly after this many seconds")
    own.add_argument("--quiet", action="store_true", help="do not report received frames")
    own.add_argument("--no-stdin", action="store_true", help="take no commands on stdin")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not netio.MIN_ID <= args.instance <= netio.MAX_ID:
        parser.error(f"instance id {args.instance} is out of range 1..1024")
    if args.ethernet_bays < 0 or args.serial_bays < 0 or args.ethernet_bays + args.serial_bays > MAX_BAYS:
        parser.error(f"-e {args.ethernet_bays} -s {args.serial_bays}: IOU has 0..{MAX_BAYS} bays in all")
    args.netio_dir = args.netio_dir or default_netio_dir()
    try:
        return run(args)
    except netmap_mod.NetmapError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except (InstanceRunning, OSError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
