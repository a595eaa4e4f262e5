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

===============================  ==========================================
``send B/U HEX``                 send a frame out of interface B/U to its peers
``raw ID HEX``                   send HEX as a whole datagram to instance ID
``flood B/U COUNT SIZE``         send COUNT numbered frames of SIZE bytes as
                                 fast as the peers take them; stops at the
                                 first that cannot be sent
``stream B/U RATE SIZE``         send numbered frames out of B/U, RATE a
                                 second, until halted
``halt B/U``                     stop that stream; says how many numbered
                                 frames B/U has sent in all
``tally``                        what arrived of each flow of numbered
                                 frames (JSON)
``peer VERB PEER COUNT SIZE``    the benchmark's traffic straight to instance
                                 PEER: VERB is flood, sink, ping or echo
                                 (:mod:`pcapng_iou.sim.peers`); JSON reply
``encap B/U NAME``               change the encapsulation ``--speak`` uses
``quit``                         exit cleanly
===============================  ==========================================

Reports: ``ready ID PID``, ``recv SRC_ID SRC_B/U DST_B/U HEX`` for every
frame received (``datagram HEX``, header and all, with
``--report-datagrams``), ``sent N``/``senderr DST why``, ``ok``,
``streamed B/U N``, ``tally {...}``, ``peer {...}``, ``bye``.  Numbered
frames (see :mod:`pcapng_iou.sim.numbered`) are checked on arrival: exact,
in order, once; those of ``flood`` and ``stream`` on a port share one
numbering.  With ``--herd LAST`` the process is the idle instances
ID..LAST, each bound and locked, reading nothing, until ``quit``.
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
from pcapng_iou.exitstatus import ExitStatus
from pcapng_iou.sim import netmap_reader
from pcapng_iou.sim.instance_cli import (DEFAULT_ETHERNET_BAYS, DEFAULT_SERIAL_BAYS, MAX_BAYS, NETIO_DIR_ENV, PROG,
                                         build_parser)
from pcapng_iou.sim.numbered import Tally, numbered_frame
from pcapng_iou.sim.peers import bench_datagram_to
from pcapng_iou.sim.streams import Stream, flood

SEND_TIMEOUT_S = 5.0



def parse_interface(text: str) -> int:
    bay, _, unit = text.partition("/")
    return netio.port_byte(int(bay), int(unit))


class InstanceRunning(Exception):
    """The instance's lock file is held: that instance already runs."""


class _Stopped(Exception):
    """A signal came while a command was blocked in a send or receive: end at once."""


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
        self._sender: Optional[socket.socket] = None  # made at the first send: a herd of idle ones needs none
        self.sent = 0
        self.received = 0

    @property
    def sender(self) -> socket.socket:
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.settimeout(SEND_TIMEOUT_S)
        return self._sender

    def has_bay(self, bay: int) -> bool:
        """Whether its command line gave it that bay (``-e`` Ethernet bays, then ``-s`` serial ones)."""
        return bay < self.ethernet_bays + self.serial_bays

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
        if self._sender is not None:
            self._sender.close()

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


def run(args: argparse.Namespace) -> int:
    netmap = _read_netmap(args)
    out = sys.stdout

    def report(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    numbers = range(args.instance, (args.herd or args.instance) + 1)
    instances = [Instance(args.netio_dir, number, netmap, report, args.ethernet_bays, args.serial_bays)
                 for number in numbers]
    stop_signals: list = []
    busy = []  # not empty while a command may block for long (flood, peer commands)

    def on_signal(number, frame) -> None:
        stop_signals.append(number)
        if busy:
            raise _Stopped()

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # what our starter ignores stays ignored
            signal.signal(signum, on_signal)
    started = []
    try:
        for instance in instances:
            instance.start()
            started.append(instance)
        if args.herd:
            return _idle(args, reader, stop_signals, report)
        session = Session(args, instances[0], netmap, report, busy)
        try:
            return session.serve(reader, stop_signals)
        finally:
            session.close()
    except _Stopped:
        return ExitStatus.OK
    finally:
        for instance in started:
            instance.stop()
        report("bye")


def _read_netmap(args: argparse.Namespace) -> netmap_mod.Netmap:
    """NETMAP as IOU finds it: in the working directory (no file, no links), unless ``-N``; read by the
    simulated instance's own reader (:mod:`pcapng_iou.sim.netmap_reader`), not the capture's parser."""
    if args.ignore_netmap:
        return netmap_mod.Netmap()
    if args.netmap:
        return netmap_reader.read_file(args.netmap)
    return netmap_reader.read_working_directory_netmap()


def _idle(args, reader: socket.socket, stop_signals: list, report) -> int:
    """A herd: every instance bound and locked, none reading; ``quit`` or a signal ends them all."""
    report(f"ready {args.instance}-{args.herd} {os.getpid()}")
    selector = selectors.DefaultSelector()
    selector.register(reader, selectors.EVENT_READ)
    lines = _stdin_lines(selector, eof_is_quit=True) if not args.no_stdin else (lambda key: [])
    while not stop_signals:
        for key, _ in selector.select():
            if key.fileobj is reader:
                _drain(reader)
            elif any(words[:1] == ["quit"] for words in lines(key)):
                return ExitStatus.OK
    return ExitStatus.OK


def _drain(reader: socket.socket) -> None:
    try:
        reader.recv(64)
    except BlockingIOError:
        pass


def _stdin_lines(selector: selectors.BaseSelector, eof_is_quit: bool = False):
    """Register stdin (when it can wait in a selector); return a function giving the words of each
    complete line once stdin is readable (nothing for other keys).  At the end of stdin an
    instance goes on (it is stopped by a signal), a herd quits."""
    fd = sys.stdin.fileno()
    try:
        selector.register(fd, selectors.EVENT_READ, "stdin")
        os.set_blocking(fd, False)
    except (PermissionError, ValueError):
        return lambda key: []  # stdin is a plain file or /dev/null: no commands to wait for
    buffered = [b""]

    def lines(key) -> list:
        if key.data != "stdin":
            return []
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return []
        if not chunk:
            selector.unregister(fd)
            return [["quit"]] if eof_is_quit else []
        buffered[0] += chunk
        *complete, buffered[0] = buffered[0].split(b"\n")
        return [line.decode().split() for line in complete]

    return lines


class Session:
    """One running instance: its socket, its commands, its streams and what it received."""

    def __init__(self, args: argparse.Namespace, instance: Instance, netmap: netmap_mod.Netmap, report,
                 busy: list):
        self.args = args
        self.busy = busy
        self.instance = instance
        self.report = report
        self.speaker = None
        if args.speak:
            from pcapng_iou.sim.speaker import Speaker

            self.speaker = Speaker(instance, netmap, interval=args.interval, only=args.speak_on)
        self.tally = Tally()
        self.streams: dict = {}
        self.peers = None  # the bench's peer commands, set up at the first

    def close(self) -> None:
        if self.peers is not None:
            self.peers.close()

    def on_datagram(self, datagram: bytes) -> None:
        if bench_datagram_to(datagram, self.instance.instance) and self.peer_traffic().took(datagram):
            return
        if self.args.report_datagrams:
            self.report(f"datagram {datagram.hex()}")
            return
        header = netio.decode(datagram)
        if header is None:
            self.report(f"recv - - - {datagram.hex()}")
            return
        self.tally.frame(datagram[netio.HEADER_SIZE:])
        if self.speaker is not None:
            self.speaker.answer(header, datagram[netio.HEADER_SIZE:])
        if not self.args.quiet:
            self.report(f"recv {header.src_id} {netio.port_name(header.src_port)} "
                        f"{netio.port_name(header.dst_port)} {datagram[netio.HEADER_SIZE:].hex()}")

    def serve(self, reader: socket.socket, stop_signals: list) -> int:
        self.report(f"ready {self.instance.instance} {os.getpid()}")
        selector = selectors.DefaultSelector()
        selector.register(self.instance.sock, selectors.EVENT_READ, "socket")
        selector.register(reader, selectors.EVENT_READ, "signal")
        lines = _stdin_lines(selector) if not self.args.no_stdin else (lambda key: [])
        deadline = time.monotonic() + self.args.duration if self.args.duration else None
        while not stop_signals:
            timeout = self._next_due(time.monotonic())
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                timeout = left if timeout is None else min(timeout, left)
                if left == 0:
                    break
            events = selector.select(timeout)
            # Commands before datagrams: a peer command (sink, echo) written before the traffic it is
            # to read must see all of it, not have its first datagrams taken by this loop.
            events.sort(key=lambda event: event[0].data == "socket")
            for key, _ in events:
                if key.data == "socket":
                    self.instance.receive_all(self.on_datagram)
                elif key.data == "signal":
                    _drain(reader)
                for words in lines(key):
                    if self.command(words) == "quit":
                        stop_signals.append(0)
            if self.speaker is not None:
                self.speaker.tick()
            now = time.monotonic()
            for stream in self.streams.values():
                if stream.rate:
                    stream.tick(now)
        return ExitStatus.OK

    def _next_due(self, now: float) -> Optional[float]:
        due = [stream.due_in(now) for stream in self.streams.values() if stream.rate]
        if self.speaker is not None:
            due.append(self.speaker.next_due())
        return min(due, default=None)

    def command(self, words: list) -> Optional[str]:
        if not words:
            return None
        verb = words[0]
        handler = getattr(self, "do_" + verb, None)
        if verb == "quit":
            return "quit"
        try:
            if handler is None or (verb == "encap" and self.speaker is None):
                self.report(f"error unknown command {verb!r}")
            else:
                self.busy.append(verb)
                handler(*words[1:])
        except (TypeError, ValueError) as err:
            self.report(f"error {verb}: {err}")
        finally:
            self.busy.clear()
        return None

    # -- the commands (see the module's docstring) -----------------------------------------------
    def do_send(self, interface: str, frame: str) -> None:
        self.report(f"sent {self.instance.send(parse_interface(interface), bytes.fromhex(frame))}")

    def do_raw(self, instance: str, datagram: str = "") -> None:
        self.report(f"sent {int(self.instance.send_raw(int(instance), bytes.fromhex(datagram)))}")

    def do_encap(self, interface: str, name: str) -> None:
        self.speaker.set_linktype(parse_interface(interface), linktypes.parse(name))
        self.report("ok")

    def do_flood(self, interface: str, count: str, size: str) -> None:
        port, size = parse_interface(interface), int(size)
        self.report(f"sent {flood(self.instance, self._stream(port, size), int(count), size)}")

    def do_stream(self, interface: str, rate: str, size: str) -> None:
        port, rate, size = parse_interface(interface), float(rate), int(size)
        if rate <= 0:
            raise ValueError("the rate must be above 0")
        stream = self._stream(port, size)
        stream.size = size
        stream.set_rate(rate, time.monotonic())
        self.report("ok")

    def do_halt(self, interface: str) -> None:
        stream = self.streams.get(parse_interface(interface))
        if stream is not None:
            stream.set_rate(0.0, time.monotonic())
        self.report(f"streamed {interface} {stream.total if stream else 0}")

    def do_tally(self) -> None:
        # What already waits in the socket arrived before the question (commands run first in a wake-up).
        self.instance.receive_all(self.on_datagram)
        self.report("tally " + json.dumps(self.tally.as_dict(), separators=(",", ":")))

    def peer_traffic(self):
        """The bench's peer commands (:class:`pcapng_iou.sim.peers.PeerTraffic`), set up at first need."""
        if self.peers is None:
            from pcapng_iou.sim.peers import PeerTraffic

            self.peers = PeerTraffic(self.instance.directory, self.instance.instance, self.instance.sock)
        return self.peers

    def do_peer(self, verb: str, peer: str, count: str, size: str) -> None:
        answer = self.peer_traffic().command(verb, int(peer), int(count), int(size))
        self.report("peer " + json.dumps(answer, separators=(",", ":")))

    def _stream(self, port: int, size: int) -> Stream:
        numbered_frame(self.instance.instance, port, 0, size)  # refuses a size it cannot build
        return self.streams.setdefault(port, Stream(self.instance, port, size))


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not netio.MIN_ID <= args.instance <= netio.MAX_ID:
        parser.error(f"instance id {args.instance} is out of range 1..1024")
    if args.ethernet_bays < 0 or args.serial_bays < 0 or args.ethernet_bays + args.serial_bays > MAX_BAYS:
        parser.error(f"-e {args.ethernet_bays} -s {args.serial_bays}: IOU has 0..{MAX_BAYS} bays in all")
    if args.herd is not None and not args.instance <= args.herd <= netio.MAX_ID:
        parser.error(f"--herd {args.herd}: the last instance must be {args.instance}..{netio.MAX_ID}")
    args.netio_dir = args.netio_dir or default_netio_dir()
    try:
        return run(args)
    except netmap_mod.NetmapError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return ExitStatus.USAGE
    except (InstanceRunning, OSError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return ExitStatus.ERROR


if __name__ == "__main__":
    sys.exit(main())
