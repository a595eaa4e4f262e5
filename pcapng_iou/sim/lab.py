"""Driving simulated IOU instances from Python: start, talk to, stop or kill them.

Tests and ``pcapng-iou demo`` use :class:`LabProcess` to run
``python -m pcapng_iou.sim.instance [options] <id>`` as a real child process,
started as IOU is (the netio directory in ``$PCAPNG_IOU_NETIO_DIR``, NETMAP in
its working directory), and :class:`Lab` for a whole NETMAP's worth of them:
all in one folder holding NETMAP, or each in a folder of its own holding its
own copy, as GNS3 runs them.  A reader thread per process collects what the
instance reports (frames received, send errors).
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Optional

from pcapng_iou.core import linktypes, netio
from pcapng_iou.core import netmap as netmap_mod

READY_TIMEOUT_S = 10.0


class LabError(Exception):
    pass


class LabProcess:
    """One simulated IOU instance running as a child process."""

    def __init__(self, directory: str, instance: int, netmap_path: Optional[str] = None,
                 speak: bool = False, interval: float = 1.0, quiet: bool = False, extra: tuple = (),
                 bays: tuple = (2, 2), cwd: Optional[str] = None, iou: bool = True, runner: tuple = (), **popen):
        """``netmap_path``: a file named NETMAP is read from the working directory (the process
        runs in its folder), as IOU reads it; any other name is passed with ``--netmap``.
        Without one, the instance runs in ``cwd`` (ours by default) and reads any NETMAP there.
        ``iou=False``: a command line that is not IOU's (the id first, as for a bridge such as
        GNS3's ubridge at id+512).  ``runner``: the words that run the instance instead of
        ``python -m pcapng_iou.sim.instance`` (``setpriv ... python3 .../instance.py``).
        ``popen`` goes to :class:`subprocess.Popen` (``user``, ``umask``...)."""
        self.directory = directory
        self.instance = instance
        command = instance_command(instance, bays, *extra, speak=speak, interval=interval, quiet=quiet)
        if runner:
            command = list(runner) + command[3:]
        if not iou:
            command.insert(len(runner) or 3, command.pop())  # the id first, right after the program
        if netmap_path:
            if os.path.basename(netmap_path) == "NETMAP":
                cwd = os.path.dirname(os.path.abspath(netmap_path))
            else:
                command[-1:-1] = ["--netmap", os.path.abspath(netmap_path)]
        self.cwd = cwd
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                cwd=cwd, env=dict(os.environ, PCAPNG_IOU_NETIO_DIR=os.path.abspath(directory)),
                # A session of its own: Ctrl-C in the terminal (SIGINT to the whole foreground group)
                # stops the demo or the test, which then stops its instances cleanly; they do not die of it.
                start_new_session=True, **popen,
            )
        except OSError as err:  # (a Python this user may not run, a folder gone...)
            raise LabError(f"instance {instance} could not be started: {err.filename or command[0]}: "
                           f"{err.strerror or err}") from None
        self.pid = self.process.pid
        self.received: list = []  # (src_id, "b/u" src, "b/u" dst, frame bytes)
        self.datagrams: list = []  # whole datagrams, with --report-datagrams
        self.errors: list = []
        self._replies: "queue.Queue[str]" = queue.Queue()
        self._started = False
        #: Set when the instance said it is ready, or when its output ended without that (it failed).
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(READY_TIMEOUT_S) or not self._started:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            why = self.process.stderr.read().decode(errors="replace").strip().splitlines()
            self.wait(1.0)
            raise LabError(f"instance {instance} did not start: {why[-1] if why else 'no reason given'}")

    def _read(self) -> None:
        for raw in self.process.stdout:
            line = raw.decode().rstrip("\n")
            words = line.split()
            if not words:
                continue
            if words[0] == "ready":
                self._started = True
                self._ready.set()
            elif words[0] == "recv" and len(words) in (4, 5):
                src = int(words[1]) if words[1] != "-" else None
                frame = bytes.fromhex(words[4]) if len(words) == 5 else b""
                self.received.append((src, words[2], words[3], frame))
            elif words[0] == "datagram":
                self.datagrams.append(bytes.fromhex(words[1]) if len(words) > 1 else b"")
            elif words[0] == "senderr":
                self.errors.append(line)
            else:
                self._replies.put(line)
        self._ready.set()  # its output ended: if it never said "ready", it will not

    def command(self, line: str, timeout: float = 30.0) -> str:
        self.post(line)
        return self.reply(timeout, line.split()[0])

    def post(self, line: str) -> None:
        """Send a command without waiting for its answer (see :meth:`reply`)."""
        self.process.stdin.write((line + "\n").encode())
        self.process.stdin.flush()

    def reply(self, timeout: float = 30.0, what: str = "a command") -> str:
        """The next answer to a command."""
        try:
            return self._replies.get(timeout=timeout)
        except queue.Empty:
            raise LabError(f"instance {self.instance} did not answer {what!r}") from None

    def answered(self) -> bool:
        """Whether an answer waits (a command :meth:`post` ed has finished)."""
        return not self._replies.empty()

    def send(self, interface: str, frame: bytes) -> int:
        """Send ``frame`` out of ``interface`` (``"0/0"``); return the copies sent."""
        reply = self.command(f"send {interface} {frame.hex()}")
        return int(reply.split()[1])

    def send_raw(self, instance: int, datagram: bytes) -> bool:
        return self.command(f"raw {instance} {datagram.hex()}") == "sent 1"

    def stream(self, interface: str, rate: float, size: int = 60) -> None:
        """Start sending numbered frames out of ``interface``, ``rate`` a second, until :meth:`halt`."""
        reply = self.command(f"stream {interface} {rate:g} {size}")
        if reply != "ok":
            raise LabError(f"instance {self.instance}: {reply}")

    def halt(self, interface: str) -> int:
        """Stop the stream out of ``interface``; return how many frames it has sent in all."""
        return int(self.command(f"halt {interface}").split()[2])

    def tally(self) -> dict:
        """What arrived of each flow of numbered frames, keyed ``"<id>:<port byte>"``."""
        reply = self.command("tally")
        return json.loads(reply.partition(" ")[2])

    def frames_from(self, instance: int) -> list:
        return [r[3] for r in list(self.received) if r[0] == instance]

    def wait_received(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` frames (or whole datagrams, with ``--report-datagrams``) came."""
        deadline = time.monotonic() + timeout
        while len(self.received) + len(self.datagrams) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def stop(self, timeout: float = 10.0) -> int:
        """Clean exit (SIGTERM): the instance removes its socket and lock file."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped one would not hear SIGTERM
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> int:
        """SIGKILL: socket and lock file stay behind, as with the real IOU."""
        if self.process.poll() is None:
            self.process.kill()
        return self.wait(10.0)

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream:
                stream.close()
        return code


class Lab:
    """A netio directory, a NETMAP, and one :class:`LabProcess` per instance it names.

    With ``own_folders`` each instance runs in a folder of its own beside NETMAP
    (``iou<id>/``) holding its own copy of NETMAP, as GNS3 runs them; otherwise
    all run in the folder of NETMAP.  Each is started with the bays its NETMAP
    lines need (see :func:`bays_for`), or those ``bays`` gives it (id -> (-e, -s)),
    as a lab whose NETMAP names no link types is started."""

    def __init__(self, directory: str, netmap_text: str, netmap_path: Optional[str] = None,
                 speak: bool = False, interval: float = 1.0, quiet: bool = False, own_folders: bool = False,
                 bays: Optional[dict] = None):
        self.directory = directory
        self.bays = dict(bays or {})
        os.makedirs(directory, mode=0o755, exist_ok=True)
        self.netmap_path = netmap_path or os.path.join(os.path.dirname(directory.rstrip("/")) or ".", "NETMAP")
        self.own_folders = own_folders
        self.speak = speak
        self.interval = interval
        self.quiet = quiet
        self.instances: dict[int, LabProcess] = {}
        self.write_netmap(netmap_text)

    def folder_of(self, number: int) -> str:
        """The working directory of instance ``number``."""
        base = os.path.dirname(os.path.abspath(self.netmap_path))
        return os.path.join(base, f"iou{number}") if self.own_folders else base

    def write_netmap(self, text: str) -> None:
        """Write NETMAP (and each instance's own copy with ``own_folders``)."""
        self.netmap = netmap_mod.parse(text, self.netmap_path)
        paths = [self.netmap_path]
        if self.own_folders:
            paths += [os.path.join(self.folder_of(number), "NETMAP") for number in sorted(self.netmap.instances)]
        for path in paths:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as handle:
                handle.write(text)

    def start(self, *numbers: int) -> "Lab":
        for number in numbers or sorted(self.netmap.instances):
            netmap_path = os.path.join(self.folder_of(number), "NETMAP") if self.own_folders else self.netmap_path
            self.instances[number] = LabProcess(
                self.directory, number, netmap_path, self.speak, self.interval, self.quiet,
                bays=self.bays.get(number) or bays_for(self.netmap, number),
            )
        return self

    def __getitem__(self, number: int) -> LabProcess:
        return self.instances[number]

    def stop(self) -> None:
        for process in self.instances.values():
            if process.process.poll() is None:
                process.stop()
        self.instances.clear()


def instance_command(instance: int, bays: tuple = (2, 2), *options: str, speak: bool = False,
                     interval: float = 1.0, quiet: bool = False) -> list:
    """The command line of a simulated instance, IOU's shape: options, then the id last."""
    command = [sys.executable, "-m", "pcapng_iou.sim.instance", "-e", str(bays[0]), "-s", str(bays[1])]
    if speak:
        command += ["--speak", "--interval", str(interval)]
    if quiet:
        command.append("--quiet")
    return command + list(options) + [str(instance)]


def bays_for(netmap: netmap_mod.Netmap, instance: int) -> tuple:
    """(Ethernet bays, serial bays) for ``instance`` to have every interface NETMAP gives it.

    Lines annotated with a serial link type need serial bays, the others Ethernet
    bays; Ethernet bays come first, as on IOU.  IOU's 2 and 2 where they fit."""
    ethernet, serial = [], []
    for segment in netmap:
        for endpoint in segment.endpoints:
            if endpoint.instance == instance:
                bay = netio.bay_unit(endpoint.port)[0]
                kind = segment.linktype_or(linktypes.ETHERNET)
                (ethernet if kind == linktypes.ETHERNET else serial).append(bay)
    top = max(ethernet + serial, default=-1)
    if serial and max(ethernet, default=-1) < min(serial):
        first_serial = min(serial)
        return first_serial, max(top + 1 - first_serial, min(2, netio.MAX_BAY + 1 - first_serial))
    eth = max(2, top + 1)
    return eth, max(0, min(2, netio.MAX_BAY + 1 - eth))
