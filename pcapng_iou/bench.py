"""``pcapng-iou bench``: what the capture costs on this machine, measured end to end.

Everything runs in a private netio directory under /tmp, as real processes:

* *bench instances* (``python -m pcapng_iou.bench --worker``): each binds
  ``<dir>/<id>`` and holds the fcntl lock on ``<id>.lck`` as IOU does, sends
  to its peers by socket path (so the capture can stand in between) and takes
  commands on stdin: flood a peer, receive a flood, ping, echo.  Every
  datagram carries a sequence number and is compared byte for byte with what
  was sent when it arrives; anything missing, extra or different is counted;
* the real capture, ``python -m pcapng_iou capture -q``, writing a real file
  that is read back and checked frame by frame afterwards.

A round measures first directly (no capture), then through the capture:

* throughput: each pair's sender floods its receiver with blocking sends (a
  full queue makes the sender wait: backpressure, not loss);
* latency: one instance pings another, which echoes; round-trip times;
* cost: the capture process's CPU time (``/proc/PID/stat``) per 100 000
  frames and its peak RSS (``VmHWM``).

Then, each with a capture of its own: memory (peak RSS after a small and a
large flood), attach (a herd of idle instances with N links each: time from
starting the capture until it stands in for all of them) and idle CPU.

Any loss or corruption, a capture that does not exit cleanly, a file that does
not hold exactly the frames relayed or a netio directory not given back as it
was fails the run (exit status 1).  Missed performance targets only fail it
with ``--strict``: they are for the machine they were set on.
"""
from __future__ import annotations

import argparse
import errno
import json
import math
import mmap
import os
import platform
import random
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator, Optional

from pcapng_iou import __version__, netio
from pcapng_iou.cli import positive_int, positive_seconds
from pcapng_iou.lab import take_instance_lock

PROG = "pcapng-iou bench"
PARTS = ("throughput", "latency", "memory", "attach", "idle")

# -- what goes on the wire -----------------------------------------------------------
#: The Ethernet frame of a bench datagram: dst MAC, src MAC, EtherType 0x88B5
#: (local experimental), an 8-byte sequence number, then filler that depends on it.
ETHERTYPE = b"\x88\xb5"
SEQ = struct.Struct(">Q")
HEAD_SIZE = 14
MIN_FRAME = HEAD_SIZE + SEQ.size
MAX_FRAME = netio.MAX_PAYLOAD
#: The filler starts at offset ``seq % PERIOD`` of a fixed random block.
PERIOD = 251
FILLER = random.Random(0x10B).randbytes(MAX_FRAME + PERIOD)
RECEIVE_SIZE = netio.MAX_DATAGRAM

#: Instance ids in the bench directory: the ping pair, then the flood pairs.
PINGER, ECHOER = 11, 12
FIRST_SENDER, FIRST_RECEIVER = 101, 301

#: How long a worker waits for a datagram (or for room to send one) before it gives up.
IDLE_TIMEOUT_S = 10.0
PING_TIMEOUT_S = 2.0
#: How long the driver waits for a worker's answer, on top of what the work should take.
ANSWER_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 20.0
ATTACH_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0

#: The targets the issue set for a 2-core machine (100-byte frames, capture on, no dashboard).
TARGET_RATIO = 0.45
TARGET_ADDED_P50_US = 60.0
TARGET_ADDED_P99_US = 120.0
TARGET_RSS_GROWTH_MB = 5.0
TARGET_ATTACH_S = 2.0
TARGET_IDLE_CPU_PERCENT = 1.0

#: Signals that stop a run early (the capture and the workers are stopped with it).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

PORT = 0  # every bench link is interface 0/0 on both ends


def mac(instance: int) -> bytes:
    return bytes((0x02, 0, 0, instance >> 8, instance & 0xFF, 0))


class Stream:
    """The numbered datagrams that instance ``src`` sends to instance ``dst``."""

    def __init__(self, src: int, dst: int, size: int):
        if not MIN_FRAME <= size <= MAX_FRAME:
            raise ValueError(f"frame size must be {MIN_FRAME}..{MAX_FRAME} bytes, not {size}")
        self.src, self.dst, self.size = src, dst, size
        self.header = netio.Header(dst, src, PORT, PORT).pack()
        self.head = mac(dst) + mac(src) + ETHERTYPE
        #: Header and frame up to the sequence number: what every datagram starts with.
        self.prefix = self.header + self.head
        tail = size - MIN_FRAME
        self.tails = [FILLER[k:k + tail] for k in range(PERIOD)]

    def frame(self, seq: int) -> bytes:
        return self.head + SEQ.pack(seq) + self.tails[seq % PERIOD]

    def datagram(self, seq: int) -> bytes:
        return self.prefix + SEQ.pack(seq) + self.tails[seq % PERIOD]

    def seq_of(self, datagram: bytes) -> Optional[int]:
        """The sequence number a datagram of this stream claims, or None when it is not one."""
        start = len(self.prefix)
        if len(datagram) >= start + SEQ.size and datagram.startswith(self.prefix):
            return SEQ.unpack_from(datagram, start)[0]
        return None


def _timeval(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1_000_000))


def _timed_out(err: OSError) -> bool:
    return isinstance(err, socket.timeout) or err.errno in (errno.EAGAIN, errno.EWOULDBLOCK)


# -- the worker: one bench instance --------------------------------------------------
class BenchInstance:
    """An instance as IOU makes one: a held lock file and a socket bound at ``<dir>/<id>``.

    Sockets are blocking in Python's sense (no poll before each call); the kernel
    timeouts ``SO_RCVTIMEO``/``SO_SNDTIMEO`` keep a lost datagram from hanging it.
    """

    def __init__(self, directory: str, instance: int, size: int):
        self.directory = directory
        self.instance = instance
        self.size = size
        self.path = os.path.join(directory, str(instance))
        self.lock_path = self.path + ".lck"
        self.lock_fd: Optional[int] = None
        self.sock: Optional[socket.socket] = None
        self.sender: Optional[socket.socket] = None
        self.next_out: dict[int, int] = {}
        self.next_in: dict[int, int] = {}
        self._streams: dict[tuple, Stream] = {}

    def start(self) -> None:
        self.lock_fd = take_instance_lock(self.lock_path)
        self.sock = bind_instance_socket(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(IDLE_TIMEOUT_S))
        self.sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(IDLE_TIMEOUT_S))

    def stop(self) -> None:
        """A clean exit, as IOU's: unlink socket and lock file by name."""
        release_instance(self.path, self.lock_path, self.sock, self.lock_fd)
        if self.sender is not None:
            self.sender.close()

    def stream(self, src: int, dst: int) -> Stream:
        key = (src, dst)
        if key not in self._streams:
            self._streams[key] = Stream(src, dst, self.size)
        return self._streams[key]

    def peer_path(self, peer: int) -> str:
        return os.path.join(self.directory, str(peer))

    # -- commands ---------------------------------------------------------------
    def flood(self, peer: int, count: int) -> dict:
        """Send ``count`` numbered datagrams to ``peer`` as fast as it takes them."""
        stream = self.stream(self.instance, peer)
        first = self.next_out.get(peer, 0)
        prefix, tails, pack, sendto, path = stream.prefix, stream.tails, SEQ.pack, self.sender.sendto, self.peer_path(peer)
        error = None
        sent = 0
        start = time.monotonic_ns()
        try:
            for seq in range(first, first + count):
                sendto(prefix + pack(seq) + tails[seq % PERIOD], path)
                sent += 1
        except OSError as err:
            error = "timed out" if _timed_out(err) else (err.strerror or str(err))
        end = time.monotonic_ns()
        self.next_out[peer] = first + sent
        return {"sent": sent, "start_ns": start, "end_ns": end, "error": error}

    def sink(self, peer: int, count: int) -> dict:
        """Receive ``count`` datagrams from ``peer``, each checked byte for byte."""
        stream = self.stream(peer, self.instance)
        seq = self.next_in.get(peer, 0)
        prefix, tails, pack, recv = stream.prefix, stream.tails, SEQ.pack, self.sock.recv
        good = bad = 0
        error = None
        while good + bad < count:
            try:
                datagram = recv(RECEIVE_SIZE)
            except OSError as err:
                error = "nothing more arrived" if _timed_out(err) else (err.strerror or str(err))
                break
            if datagram == prefix + pack(seq) + tails[seq % PERIOD]:
                good += 1
                seq += 1
            else:
                bad += 1
                claimed = stream.seq_of(datagram)
                if claimed is not None and claimed >= seq:
                    seq = claimed + 1  # count the gap as lost, go on from there
        end = time.monotonic_ns()
        self.next_in[peer] = seq
        return {"good": good, "bad": bad, "end_ns": end, "error": error}

    def ping(self, peer: int, count: int) -> dict:
        """``count`` round trips to ``peer``: send one, wait for its echo, check it, time it."""
        out = self.stream(self.instance, peer)
        back = self.stream(peer, self.instance).header
        first = self.next_out.get(peer, 0)
        path, sendto, recv, clock = self.peer_path(peer), self.sender.sendto, self.sock.recv, time.perf_counter_ns
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(PING_TIMEOUT_S))
        rtts = []
        bad = 0
        error = None
        seq = first
        try:
            for seq in range(first, first + count):
                datagram = out.datagram(seq)
                expected = back + datagram[netio.HEADER_SIZE:]
                start = clock()
                sendto(datagram, path)
                reply = recv(RECEIVE_SIZE)
                rtts.append(clock() - start)
                if reply != expected:
                    bad += 1
            seq = first + count
        except OSError as err:
            error = "no answer" if _timed_out(err) else (err.strerror or str(err))
        finally:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(IDLE_TIMEOUT_S))
        self.next_out[peer] = seq
        return {"rtts_ns": rtts, "bad": bad, "error": error}

    def echo(self, peer: int, count: int) -> dict:
        """Answer ``count`` pings of ``peer``: check each, send it back with the header turned round."""
        inbound = self.stream(peer, self.instance)
        back = self.stream(self.instance, peer).header
        seq = self.next_in.get(peer, 0)
        path, sendto, recv = self.peer_path(peer), self.sender.sendto, self.sock.recv
        good = bad = 0
        error = None
        try:
            while good + bad < count:
                datagram = recv(RECEIVE_SIZE)
                if datagram == inbound.datagram(seq):
                    good += 1
                    seq += 1
                else:
                    bad += 1
                    claimed = inbound.seq_of(datagram)
                    if claimed is not None and claimed >= seq:
                        seq = claimed + 1
                sendto(back + datagram[netio.HEADER_SIZE:], path)
        except OSError as err:
            error = "nothing more arrived" if _timed_out(err) else (err.strerror or str(err))
        self.next_in[peer] = seq
        return {"good": good, "bad": bad, "error": error}

    def command(self, words: list) -> dict:
        verb = words[0]
        handlers = {"flood": self.flood, "sink": self.sink, "ping": self.ping, "echo": self.echo}
        if verb not in handlers or len(words) != 3:
            return {"error": f"unknown command {' '.join(words)!r}"}
        return handlers[verb](int(words[1]), int(words[2]))


def bind_instance_socket(path: str) -> socket.socket:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024 * 1024)
    sock.bind(path)
    return sock


def release_instance(path: str, lock_path: str, sock: Optional[socket.socket], lock_fd: Optional[int]) -> None:
    for name in (path, lock_path):
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass
    if sock is not None:
        sock.close()
    if lock_fd is not None:
        os.close(lock_fd)


def child_env() -> dict:
    """The environment of our child processes: they must run this very copy of the package."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _say(line: dict) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _exit_on_signal(signum, frame):
    raise SystemExit(0)


def worker_main(args: argparse.Namespace) -> int:
    """One bench instance (``--id``), or a herd of idle ones (``--herd FIRST-LAST``)."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the driver, which stops us cleanly
    if args.herd:
        return _herd(args.dir, args.herd)
    instance = BenchInstance(args.dir, args.id, args.size)
    try:
        instance.start()
        _say({"ready": args.id, "pid": os.getpid()})
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            _say(instance.command(words))
    finally:
        instance.stop()
    return 0


def _herd(directory: str, span: str) -> int:
    """Many idle instances in one process: each a bound socket and a held lock, as IOU has."""
    first, _, last = span.partition("-")
    held = []
    try:
        for number in range(int(first), int(last or first) + 1):
            path = os.path.join(directory, str(number))
            lock_fd = take_instance_lock(path + ".lck")
            held.append((path, lock_fd, bind_instance_socket(path)))
        _say({"ready": len(held), "pid": os.getpid()})
        for line in sys.stdin:
            if line.strip() == "quit":
                break
    finally:
        for path, lock_fd, sock in held:
            release_instance(path, path + ".lck", sock, lock_fd)
    return 0


# -- the driver's side of a worker ---------------------------------------------------
class BenchError(Exception):
    """The benchmark could not run (a worker or the capture failed to start or answer)."""


class BenchStopped(Exception):
    """A signal stopped the benchmark before the end."""


def _stop_on_signal(signum, frame):
    raise BenchStopped(f"stopped by {signal.Signals(signum).name}")


class Worker:
    """A worker process, driven with command lines; each answers with one JSON line."""

    def __init__(self, command: list, what: str):
        self.what = what
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, bufsize=0, env=child_env())
        self._buffer = b""
        self.pid = self.process.pid

    @classmethod
    def instance(cls, directory: str, number: int, size: int) -> "Worker":
        return cls([sys.executable, "-m", "pcapng_iou.bench", "--worker", "-d", directory,
                    "--id", str(number), "--size", str(size)], f"instance {number}")

    @classmethod
    def herd(cls, directory: str, first: int, last: int) -> "Worker":
        return cls([sys.executable, "-m", "pcapng_iou.bench", "--worker", "-d", directory,
                    "--herd", f"{first}-{last}"], f"instances {first}-{last}")

    def send(self, line: str) -> None:
        try:
            self.process.stdin.write((line + "\n").encode())
        except BrokenPipeError:
            raise BenchError(f"{self.what} exited: {self._stderr()}") from None

    def answer(self, timeout: float = ANSWER_TIMEOUT_S) -> dict:
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self.what} did not answer within {timeout:g} s")
            with selectors.DefaultSelector() as selector:
                selector.register(fd, selectors.EVENT_READ)
                if not selector.select(left):
                    continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise BenchError(f"{self.what} exited: {self._stderr()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def ask(self, line: str, timeout: float = ANSWER_TIMEOUT_S) -> dict:
        self.send(line)
        return self.answer(timeout)

    def _stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        text = self.process.stderr.read().decode(errors="replace").strip()
        return text.splitlines()[-1] if text else f"exit status {self.process.returncode}"

    def stop(self, hurry: bool = False) -> None:
        """Ask the worker to quit; ``hurry`` when it may be busy (a run cut short): SIGTERM, which
        it answers with the same clean exit."""
        if self.process.poll() is None:
            try:
                self.process.stdin.write(b"quit\n")
                self.process.stdin.close()
            except OSError:
                pass
            if hurry:
                self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                stream.close()
            except OSError:
                pass


def start_workers(workers: list) -> None:
    """Wait until every worker has bound its sockets (they start in parallel)."""
    for worker in workers:
        reply = worker.answer(READY_TIMEOUT_S)
        if "ready" not in reply:
            raise BenchError(f"{worker.what} did not start: {reply}")


# -- the capture as a process ----------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """CPU time a process has used: ``/proc/PID/task/*/schedstat`` (nanoseconds, all its
    threads) where the kernel keeps it, else user + system time from ``/proc/PID/stat``
    (clock ticks: too coarse to see under 1 % of a CPU in a few seconds)."""
    try:
        total = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as handle:
                total += int(handle.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kb(pid: int, key: str = "VmHWM") -> int:
    """A ``/proc/PID/status`` figure in kB: ``VmHWM`` is the peak resident set size."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"no {key} in /proc/{pid}/status")


class CaptureRun:
    """``pcapng-iou capture`` as a child process; its stderr lines kept with their arrival times."""

    def __init__(self, netio_dir: str, output: str, netmap_path: str, quiet: bool = True):
        command = [sys.executable, "-m", "pcapng_iou", "capture", "-d", netio_dir, "-w", output,
                   "-n", netmap_path, "--no-wait"]
        if quiet:
            command.append("-q")
        self.output = output
        self.started = time.monotonic()
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, env=child_env())
        self.pid = self.process.pid
        self.lines: list = []  # (monotonic time, text)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.process.stderr:
            self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait_attached(self, netio_dir: str, numbers, timeout: float = ATTACH_TIMEOUT_S) -> float:
        """Wait until the capture stands in for every instance in ``numbers``; return when (monotonic)."""
        wanted = {str(n) for n in numbers}
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            try:
                names = set(os.listdir(netio_dir))
            except FileNotFoundError:
                names = set()
            if all(n + "_real" in names and n + ".pcapng-iou-new" not in names for n in wanted):
                return now
            if self.process.poll() is not None:
                raise BenchError(f"the capture exited with status {self.process.returncode}: {self.text()}")
            if now > deadline:
                raise BenchError(f"the capture did not attach to all {len(wanted)} instances in {timeout:g} s")
            time.sleep(0.002)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_kb(self) -> int:
        return memory_kb(self.pid, "VmHWM")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(5)
        self.process.stderr.close()
        return code


# -- reading back the capture file -------------------------------------------------
@dataclass
class FileCheck:
    frames: int = 0
    wrong: int = 0
    missing: int = 0
    interfaces: int = 0
    statistics_blocks: int = 0
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _flood_frames(stream: Stream, spans) -> Iterator[tuple]:
    for first, count in spans:
        for seq in range(first, first + count):
            yield 2, stream.frame(seq)  # the sender is the first endpoint of its line: outbound


def _ping_frames(stream: Stream, spans) -> Iterator[tuple]:
    for first, count in spans:
        for seq in range(first, first + count):
            frame = stream.frame(seq)
            yield 2, frame  # the ping, outbound
            yield 1, frame  # its echo (same frame, header turned round), inbound


def check_capture_file(path: str, expected: list) -> FileCheck:
    """Walk the PCAP-NG blocks of ``path``: interface ``i`` must hold exactly the
    (direction flags, frame) pairs that ``expected[i]`` yields, in that order."""
    check = FileCheck()
    iterators = [iter(e) for e in expected]

    def problem(text: str) -> None:
        if len(check.problems) < 10:
            check.problems.append(text)

    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < 28:
            problem("the file is too short for a section header")
            return check
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            block_type, length, magic = struct.unpack_from("<III", data, 0)
            if block_type != 0x0A0D0D0A or magic != 0x1A2B3C4D:
                problem("no little-endian section header at the start")
                return check
            offset = length
            while offset + 12 <= size:
                block_type, length = struct.unpack_from("<II", data, offset)
                if length < 12 or length % 4 or offset + length > size:
                    problem(f"block at offset {offset}: bad length {length}")
                    break
                if block_type == 6:
                    check.frames += 1
                    interface, _, _, captured = struct.unpack_from("<IIII", data, offset + 8)
                    frame = data[offset + 28:offset + 28 + captured]
                    options = offset + 28 + captured + (-captured & 3)
                    flags = 0
                    if options + 8 <= offset + length - 4:
                        code, olen = struct.unpack_from("<HH", data, options)
                        if code == 2 and olen == 4:
                            flags = struct.unpack_from("<I", data, options + 4)[0]
                    want = next(iterators[interface], None) if interface < len(iterators) else None
                    if want is None:
                        check.wrong += 1
                        problem(f"frame {check.frames} on interface {interface}: more frames than were relayed")
                    elif want != (flags, frame):
                        check.wrong += 1
                        problem(f"frame {check.frames} on interface {interface}: not what was sent")
                elif block_type == 1:
                    check.interfaces += 1
                elif block_type == 5:
                    check.statistics_blocks += 1
                offset += length
            if offset != size:
                problem(f"{size - offset} bytes after the last whole block")
        finally:
            data.close()
    for number, left in enumerate(iterators):
        missing = sum(1 for _ in left)
        if missing:
            check.missing += missing
            problem(f"interface {number}: {missing} frames relayed but not in the file")
    if check.interfaces != len(expected):
        problem(f"{check.interfaces} interfaces in the file, {len(expected)} expected")
    if check.statistics_blocks != check.interfaces:
        problem("no statistics block per interface: the capture did not close the file cleanly")
    return check


# -- statistics --------------------------------------------------------------------
def percentile(values: list, p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# -- the benchmark -----------------------------------------------------------------
@dataclass
class Settings:
    size: int = 100
    count: int = 200_000
    pairs: int = 1
    pings: int = 10_000
    repeat: int = 5
    memory_small: int = 100_000
    memory_large: int = 1_000_000
    instances: int = 200
    links: int = 4
    idle: float = 3.0
    skip: tuple = ()

    @property
    def warmup(self) -> int:
        return min(200, max(10, self.pings // 10))


class Checks:
    """Every datagram sent, and what became of it."""

    def __init__(self):
        self.sent = 0
        self.verified = 0
        self.lost = 0
        self.corrupt = 0
        self.files = 0
        self.file_frames = 0
        self.failures: list = []

    def fail(self, text: str) -> None:
        self.failures.append(text)

    def as_dict(self) -> dict:
        return {
            "datagrams_sent": self.sent,
            "datagrams_verified": self.verified,
            "lost": self.lost,
            "corrupt": self.corrupt,
            "capture_files_checked": self.files,
            "frames_checked_in_files": self.file_frames,
            "failures": self.failures,
            "passed": not self.failures and self.lost == 0 and self.corrupt == 0,
        }


class Bench:
    def __init__(self, settings: Settings, progress=None):
        self.settings = settings
        self.progress = progress or (lambda text: None)
        self.checks = Checks()
        self.workdir = tempfile.mkdtemp(prefix="pcapng-iou-bench-", dir="/tmp")
        self.netio = os.path.join(self.workdir, "netio")
        os.mkdir(self.netio, 0o700)
        self.netmap_path = os.path.join(self.workdir, "NETMAP")
        self.workers: dict[int, Worker] = {}
        self.captures: list = []
        self.inodes: dict[int, int] = {}
        self.senders = [FIRST_SENDER + i for i in range(settings.pairs)]
        self.receivers = [FIRST_RECEIVER + i for i in range(settings.pairs)]
        #: What the running capture relayed, per NETMAP line: (first seq, count) spans.
        self._spans: list = []
        #: Frames sent so far per sender, and pings: where the next sequence numbers start.
        self._flooded: dict[int, int] = {}
        self._pinged = 0

    # -- set-up ----------------------------------------------------------------
    def _lines(self) -> list:
        """NETMAP lines: the ping pair first, then one line per flood pair."""
        return [(PINGER, ECHOER)] + list(zip(self.senders, self.receivers))

    def start(self) -> None:
        with open(self.netmap_path, "w") as handle:
            handle.write("# pcapng-iou bench\n")
            for a, b in self._lines():
                handle.write(f"{a}:0/0 {b}:0/0\n")
        numbers = [PINGER, ECHOER] + self.senders + self.receivers
        for number in numbers:
            self.workers[number] = Worker.instance(self.netio, number, self.settings.size)
        start_workers(list(self.workers.values()))
        self.inodes = {n: os.lstat(os.path.join(self.netio, str(n))).st_ino for n in numbers}

    def close(self, hurry: bool = False) -> None:
        """Stop the capture and the workers, remove the private directory; not cut short by signals.

        ``hurry`` when the run was cut short: workers may be busy flooding.
        """
        held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            self._close(hurry)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def _close(self, hurry: bool) -> None:
        for capture in self.captures:
            if capture.process.poll() is None:
                capture.stop()
        for worker in self.workers.values():
            worker.stop(hurry)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- the measurements ------------------------------------------------------
    def flood(self, count: int, senders=None) -> float:
        """Every pair floods ``count`` frames at once; frames/s from first send to last arrival."""
        senders = senders or self.senders
        receivers = [self.receivers[self.senders.index(s)] for s in senders]
        for sender, receiver in zip(senders, receivers):
            self.workers[receiver].send(f"sink {sender} {count}")
        for sender, receiver in zip(senders, receivers):
            self.workers[sender].send(f"flood {receiver} {count}")
        floods = [self.workers[s].answer() for s in senders]
        sinks = [self.workers[r].answer() for r in receivers]
        for sender, receiver, out, got in zip(senders, receivers, floods, sinks):
            first = self._flooded.get(sender, 0)
            self._flooded[sender] = first + out["sent"]
            if self._spans:
                self._spans[self._lines().index((sender, receiver))].append((first, out["sent"]))
            self.checks.sent += count
            self.checks.verified += got["good"]
            self.checks.corrupt += got["bad"]
            lost = count - got["good"] - got["bad"]
            self.checks.lost += max(0, lost)
            if out["error"] or got["error"] or got["bad"] or lost:
                self.checks.fail(f"flood {sender} -> {receiver}: sent {out['sent']}/{count}, "
                                 f"{got['good']} arrived intact, {got['bad']} wrong "
                                 f"({out['error'] or got['error'] or 'checked byte for byte'})")
        start = min(f["start_ns"] for f in floods)
        end = max(s["end_ns"] for s in sinks)
        return count * len(senders) / ((end - start) / 1e9)

    def ping(self) -> list:
        """Round trips between the ping pair, in microseconds, warm-up left out."""
        total = self.settings.pings + self.settings.warmup
        pinger = self.workers[PINGER]
        first = self._pinged
        self.workers[ECHOER].send(f"echo {PINGER} {total}")
        result = pinger.ask(f"ping {ECHOER} {total}")
        echo = self.workers[ECHOER].answer()
        done = len(result["rtts_ns"])
        self._pinged = first + done
        if self._spans:
            self._spans[0].append((first, done))
        self.checks.sent += 2 * total
        self.checks.verified += echo["good"] + done - result["bad"]
        self.checks.corrupt += echo["bad"] + result["bad"]
        self.checks.lost += (total - done) * 2
        if result["error"] or result["bad"] or echo["bad"] or done < total:
            self.checks.fail(f"ping {PINGER} <-> {ECHOER}: {done}/{total} answered, "
                             f"{result['bad'] + echo['bad']} wrong ({result['error'] or echo['error'] or 'checked'})")
        return [ns / 1000 for ns in result["rtts_ns"][self.settings.warmup:]]

    def start_capture(self, name: str) -> CaptureRun:
        output = os.path.join(self.workdir, name)
        capture = CaptureRun(self.netio, output, self.netmap_path)
        self.captures.append(capture)
        capture.wait_attached(self.netio, self.inodes)
        self._spans = [[] for _ in self._lines()]
        return capture

    def stop_capture(self, capture: CaptureRun) -> None:
        code = capture.stop()
        if code != 0:
            self.checks.fail(f"the capture exited with status {code}: {capture.text()}")
        self._check_directory()
        size = self.settings.size
        expected = [_ping_frames(Stream(PINGER, ECHOER, size), self._spans[0])]
        for index, (sender, receiver) in enumerate(zip(self.senders, self.receivers), 1):
            expected.append(_flood_frames(Stream(sender, receiver, size), self._spans[index]))
        result = check_capture_file(capture.output, expected)
        self.checks.files += 1
        self.checks.file_frames += result.frames
        for text in result.problems:
            self.checks.fail(f"{os.path.basename(capture.output)}: {text}")
        os.unlink(capture.output)
        self._spans = []

    def _check_directory(self) -> None:
        """The capture must give every instance its own socket back, under its own name."""
        names = set(os.listdir(self.netio))
        for number, inode in self.inodes.items():
            st = os.lstat(os.path.join(self.netio, str(number))) if str(number) in names else None
            if st is None or st.st_ino != inode or f"{number}_real" in names:
                self.checks.fail(f"instance {number}: its socket was not given back after the capture")
        left = names - {name for n in self.inodes for name in (str(n), f"{n}.lck")}
        if left:
            self.checks.fail(f"the capture left files in the netio directory: {', '.join(sorted(left))}")

    def round(self, number: int) -> dict:
        skip = self.settings.skip
        result: dict = {}
        if "throughput" not in skip:
            self.progress(f"round {number}: throughput, direct")
            result["direct_fps"] = self.flood(self.settings.count)
        if "latency" not in skip:
            self.progress(f"round {number}: latency, direct")
            result["direct_rtt_us"] = self.ping()
        self.progress(f"round {number}: starting the capture")
        capture = self.start_capture(f"round{number}.pcapng")
        try:
            if "throughput" not in skip:
                self.progress(f"round {number}: throughput, through the capture")
                cpu = capture.cpu()
                result["captured_fps"] = self.flood(self.settings.count)
                frames = self.settings.count * self.settings.pairs
                result["cpu_s_per_100k"] = (capture.cpu() - cpu) / frames * 100_000
                result["ratio"] = result["captured_fps"] / result["direct_fps"]
            if "latency" not in skip:
                self.progress(f"round {number}: latency, through the capture")
                result["captured_rtt_us"] = self.ping()
            result["peak_rss_kb"] = capture.peak_rss_kb()
        finally:
            self.stop_capture(capture)
        return result

    def memory(self) -> dict:
        small, large = self.settings.memory_small, self.settings.memory_large
        self.progress(f"memory: {small} then {large} frames through one capture")
        capture = self.start_capture("memory.pcapng")
        try:
            cpu = capture.cpu()
            self.flood(small, self.senders[:1])
            after_small = capture.peak_rss_kb()
            self.flood(large - small, self.senders[:1])
            after_large = capture.peak_rss_kb()
            cpu = capture.cpu() - cpu
        finally:
            self.stop_capture(capture)
        return {
            "frames_small": small, "peak_rss_small_kb": after_small,
            "frames_large": large, "peak_rss_large_kb": after_large,
            "growth_mb": (after_large - after_small) / 1024,
            "cpu_s_per_100k": cpu / large * 100_000,
        }

    def herd(self) -> dict:
        """Attach time for many idle instances with several links each, then idle CPU."""
        count, links = self.settings.instances, self.settings.links
        directory = os.path.join(self.workdir, "herd")
        os.mkdir(directory, 0o700)
        netmap_path = os.path.join(self.workdir, "NETMAP.herd")
        lines = herd_netmap(count, links)
        with open(netmap_path, "w") as handle:
            handle.write("".join(line + "\n" for line in lines))
        self.progress(f"attach: {count} idle instances, {links} links each ({len(lines)} NETMAP lines)")
        herd = Worker.herd(directory, 1, count)
        result: dict = {"instances": count, "links_per_instance": links, "netmap_lines": len(lines)}
        try:
            start_workers([herd])
            inodes = {n: os.lstat(os.path.join(directory, str(n))).st_ino for n in range(1, count + 1)}
            capture = CaptureRun(directory, os.path.join(self.workdir, "herd.pcapng"), netmap_path, quiet=False)
            self.captures.append(capture)
            try:
                done = capture.wait_attached(directory, inodes)
                result["attach_s"] = done - capture.started
                scan = next((t for t, line in capture.lines if "capturing" in line), None)
                result["attach_after_startup_s"] = done - scan if scan is not None else None
                if "idle" not in self.settings.skip:
                    self.progress(f"idle: capture CPU over {self.settings.idle:g} s with nothing to relay")
                    time.sleep(0.5)
                    cpu, start = capture.cpu(), time.monotonic()
                    time.sleep(self.settings.idle)
                    cpu, elapsed = capture.cpu() - cpu, time.monotonic() - start
                    result["idle_cpu_percent"] = 100 * cpu / elapsed
                    result["idle_seconds"] = elapsed
            finally:
                code = capture.stop()
            if code != 0:
                self.checks.fail(f"the herd capture exited with status {code}: {capture.text()}")
            names = set(os.listdir(directory))
            given_back = sum(1 for n, inode in inodes.items()
                             if str(n) in names and f"{n}_real" not in names
                             and os.lstat(os.path.join(directory, str(n))).st_ino == inode)
            if given_back != count:
                self.checks.fail(f"herd: {count - given_back} instances did not get their socket back")
        finally:
            herd.stop()
        return result

    def run(self) -> dict:
        settings = self.settings
        started = time.monotonic()
        rounds = []
        memory = herd = None
        try:
            if {"throughput", "latency"} - set(settings.skip) or "memory" not in settings.skip:
                self.start()
                if {"throughput", "latency"} - set(settings.skip):
                    for number in range(1, settings.repeat + 1):
                        rounds.append(self.round(number))
                if "memory" not in settings.skip:
                    memory = self.memory()
                for worker in self.workers.values():
                    worker.stop()
            if not {"attach", "idle"} <= set(settings.skip):
                herd = self.herd()
        except BaseException:
            self.close(hurry=True)
            raise
        self.close()
        return summarise(settings, rounds, memory, herd, self.checks, time.monotonic() - started)


def herd_netmap(count: int, links: int) -> list:
    """NETMAP lines giving each of instances 1..count ``links`` point-to-point links."""
    def endpoint(instance: int, port: int) -> str:
        return f"{instance}:{port % 16}/{port // 16}"

    lines = []
    for k in range(links // 2):
        for i in range(count):
            peer = (i + k + 1) % count
            lines.append(f"{endpoint(i + 1, 2 * k)} {endpoint(peer + 1, 2 * k + 1)}")
    if links % 2:
        half = count // 2
        for i in range(half):
            lines.append(f"{endpoint(i + 1, links - 1)} {endpoint(i + 1 + half, links - 1)}")
        if count % 2:
            lines.append(endpoint(count, links - 1))
    return lines


def _round_to(value: Optional[float], digits: int) -> Optional[float]:
    return None if value is None else round(value, digits)


def summarise(settings: Settings, rounds: list, memory: Optional[dict], herd: Optional[dict],
              checks: Checks, elapsed: float) -> dict:
    def pick(key):
        return [r.get(key) for r in rounds]

    runs = []
    for r in rounds:
        run = {k: r[k] for k in ("direct_fps", "captured_fps", "ratio", "cpu_s_per_100k", "peak_rss_kb") if k in r}
        for side in ("direct", "captured"):
            if f"{side}_rtt_us" in r:
                run[f"{side}_p50_us"] = percentile(r[f"{side}_rtt_us"], 50)
                run[f"{side}_p99_us"] = percentile(r[f"{side}_rtt_us"], 99)
        if "captured_p50_us" in run:
            run["added_p50_us"] = run["captured_p50_us"] - run["direct_p50_us"]
            run["added_p99_us"] = run["captured_p99_us"] - run["direct_p99_us"]
        runs.append(run)

    def med(key, digits):
        return _round_to(median([r.get(key) for r in runs]), digits)

    result: dict = {
        "version": __version__,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "system": f"{platform.system()} {platform.release()}", "machine": platform.machine()},
        "settings": {"frame_size": settings.size, "count": settings.count, "pairs": settings.pairs,
                     "pings": settings.pings, "warmup_pings": settings.warmup, "repeat": settings.repeat,
                     "memory_frames": [settings.memory_small, settings.memory_large],
                     "instances": settings.instances, "links": settings.links, "idle_seconds": settings.idle,
                     "skip": list(settings.skip)},
        "elapsed_s": round(elapsed, 1),
    }
    if runs and "direct_fps" in runs[0]:
        result["throughput"] = {
            "frames_per_round": settings.count * settings.pairs,
            "direct_fps": med("direct_fps", 0), "captured_fps": med("captured_fps", 0),
            "ratio": med("ratio", 3),
        }
        result["cost"] = {
            "cpu_s_per_100k_frames": med("cpu_s_per_100k", 3),
            "cpu_us_per_frame": _round_to(median([r.get("cpu_s_per_100k") for r in runs]) * 10, 2),
            "peak_rss_mb": _round_to(max(r["peak_rss_kb"] for r in runs) / 1024, 1),
        }
    if runs and "direct_p50_us" in runs[0]:
        result["latency"] = {
            "pings_per_round": settings.pings,
            "direct_p50_us": med("direct_p50_us", 1), "direct_p99_us": med("direct_p99_us", 1),
            "captured_p50_us": med("captured_p50_us", 1), "captured_p99_us": med("captured_p99_us", 1),
            "added_p50_us": med("added_p50_us", 1), "added_p99_us": med("added_p99_us", 1),
        }
    if runs:
        result["runs"] = [{k: _round_to(v, 3) for k, v in run.items()} for run in runs]
    if memory is not None:
        result["memory"] = {
            "frames_small": memory["frames_small"], "frames_large": memory["frames_large"],
            "peak_rss_small_mb": round(memory["peak_rss_small_kb"] / 1024, 2),
            "peak_rss_large_mb": round(memory["peak_rss_large_kb"] / 1024, 2),
            "growth_mb": round(memory["growth_mb"], 2),
            "cpu_s_per_100k_frames": round(memory["cpu_s_per_100k"], 3),
        }
    if herd is not None:
        result["attach"] = {k: _round_to(v, 3) if isinstance(v, float) else v
                            for k, v in herd.items() if not k.startswith("idle")}
        if "idle_cpu_percent" in herd:
            result["idle"] = {"cpu_percent": round(herd["idle_cpu_percent"], 2),
                              "seconds": round(herd["idle_seconds"], 1), "instances": herd["instances"]}
    result["checks"] = checks.as_dict()
    result["targets"] = targets(result)
    result["ok"] = result["checks"]["passed"]
    return result


def targets(result: dict) -> list:
    out = []

    def target(name, value, limit, ok):
        if value is not None:
            out.append({"name": name, "value": value, "limit": limit, "met": bool(ok)})

    throughput, latency = result.get("throughput"), result.get("latency")
    if throughput:
        target("throughput ratio (through us / direct)", throughput["ratio"], f">= {TARGET_RATIO}",
               throughput["ratio"] >= TARGET_RATIO)
    if latency:
        target("added round trip p50 (us)", latency["added_p50_us"], f"<= {TARGET_ADDED_P50_US:g}",
               latency["added_p50_us"] <= TARGET_ADDED_P50_US)
        target("added round trip p99 (us)", latency["added_p99_us"], f"<= {TARGET_ADDED_P99_US:g}",
               latency["added_p99_us"] <= TARGET_ADDED_P99_US)
    if "memory" in result:
        target("peak RSS growth (MB)", result["memory"]["growth_mb"], f"<= {TARGET_RSS_GROWTH_MB:g}",
               result["memory"]["growth_mb"] <= TARGET_RSS_GROWTH_MB)
    if "attach" in result and result["attach"].get("attach_s") is not None:
        target("attach time (s)", result["attach"]["attach_s"], f"< {TARGET_ATTACH_S:g}",
               result["attach"]["attach_s"] < TARGET_ATTACH_S)
    if "idle" in result:
        target("idle CPU (%)", result["idle"]["cpu_percent"], f"< {TARGET_IDLE_CPU_PERCENT:g}",
               result["idle"]["cpu_percent"] < TARGET_IDLE_CPU_PERCENT)
    return out


# -- output ----------------------------------------------------------------------------
def _n(value, digits=0) -> str:
    if value is None:
        return "-"
    if digits == 0:
        return f"{value:,.0f}".replace(",", " ")
    return f"{value:,.{digits}f}".replace(",", " ")


def format_table(result: dict) -> str:
    s = result["settings"]
    m = result["machine"]
    rows: list = []
    met = {t["name"]: t for t in result["targets"]}

    def verdict(name: str) -> str:
        t = met.get(name)
        return f"{t['limit']}: {'met' if t['met'] else 'MISSED'}" if t else ""

    rounds = f"median of {s['repeat']} rounds" if s["repeat"] > 1 else "1 round"
    lines = [f"{PROG} ({result['version']}): {s['frame_size']}-byte frames, {m['cpus']} CPUs, "
             f"Python {m['python']}, {rounds}", ""]
    throughput, latency, cost = result.get("throughput"), result.get("latency"), result.get("cost")
    rows.append(("", "direct", "through us", "target"))
    if throughput:
        rows.append((f"throughput, frames/s ({s['pairs']} pair{'s' if s['pairs'] > 1 else ''}, "
                     f"{_n(throughput['frames_per_round'])} frames)",
                     _n(throughput["direct_fps"]), _n(throughput["captured_fps"]), ""))
        rows.append(("  ratio through us / direct", "", _n(throughput["ratio"], 2),
                     verdict("throughput ratio (through us / direct)")))
    if latency:
        rows.append((f"round trip p50, us ({_n(latency['pings_per_round'])} pings)",
                     _n(latency["direct_p50_us"], 1), _n(latency["captured_p50_us"], 1), ""))
        rows.append(("round trip p99, us", _n(latency["direct_p99_us"], 1), _n(latency["captured_p99_us"], 1), ""))
        rows.append(("  added p50, us", "", _n(latency["added_p50_us"], 1), verdict("added round trip p50 (us)")))
        rows.append(("  added p99, us", "", _n(latency["added_p99_us"], 1), verdict("added round trip p99 (us)")))
    if cost:
        rows.append(("capture CPU per 100 000 frames, s", "", _n(cost["cpu_s_per_100k_frames"], 3),
                     f"({_n(cost['cpu_us_per_frame'], 2)} us a frame)"))
        rows.append(("capture peak RSS, MB", "", _n(cost["peak_rss_mb"], 1), ""))
    memory = result.get("memory")
    if memory:
        rows.append((f"peak RSS after {_n(memory['frames_small'])} frames, MB", "",
                     _n(memory["peak_rss_small_mb"], 1), ""))
        rows.append((f"peak RSS after {_n(memory['frames_large'])} frames, MB", "",
                     _n(memory["peak_rss_large_mb"], 1), ""))
        rows.append(("  growth, MB", "", _n(memory["growth_mb"], 2), verdict("peak RSS growth (MB)")))
    attach = result.get("attach")
    if attach and attach.get("attach_s") is not None:
        rows.append((f"attach {attach['instances']} instances x {attach['links_per_instance']} links, s", "",
                     _n(attach["attach_s"], 2), verdict("attach time (s)")))
    idle = result.get("idle")
    if idle:
        rows.append((f"idle CPU, {idle['instances']} instances attached, %", "", _n(idle["cpu_percent"], 2),
                     verdict("idle CPU (%)")))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        lines.append(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip())
    c = result["checks"]
    lines.append("")
    lines.append(f"checks: {_n(c['datagrams_verified'])} of {_n(c['datagrams_sent'])} datagrams arrived intact "
                 f"(checked byte for byte), {c['lost']} lost, {c['corrupt']} corrupt; "
                 f"{c['capture_files_checked']} capture file{'s' if c['capture_files_checked'] != 1 else ''} read back ({_n(c['frames_checked_in_files'])} frames): "
                 f"{'passed' if c['passed'] else 'FAILED'}")
    if s["frame_size"] != 100 or s["pairs"] != 1:
        lines.append("note: the targets were set for 1 pair of 100-byte frames")
    for failure in c["failures"]:
        lines.append(f"  failed: {failure}")
    return "\n".join(lines)


# -- command line ------------------------------------------------------------------------
def _frame_size(text: str) -> int:
    value = positive_int(text)
    if not MIN_FRAME <= value <= MAX_FRAME:
        raise argparse.ArgumentTypeError(f"frame size must be {MIN_FRAME}..{MAX_FRAME} bytes")
    return value


def _memory(text: str) -> tuple:
    small, sep, large = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError("expected SMALL:LARGE, e.g. 100000:1000000")
    small, large = positive_int(small), positive_int(large)
    if large <= small:
        raise argparse.ArgumentTypeError("LARGE must be more than SMALL")
    return small, large


def _parts(text: str) -> list:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    for part in parts:
        if part not in PARTS:
            raise argparse.ArgumentTypeError(f"unknown part {part!r} (choose from {', '.join(PARTS)})")
    return parts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    parser.add_argument("-s", "--size", type=_frame_size, default=defaults.size, metavar="BYTES",
                        help=f"frame size after the 8-byte IOU header (default {defaults.size})")
    parser.add_argument("-c", "--count", type=positive_int, default=defaults.count, metavar="N",
                        help=f"frames each pair floods per round, direct and through us (default {defaults.count})")
    parser.add_argument("-p", "--pairs", type=positive_int, default=defaults.pairs, metavar="N",
                        help=f"instance pairs flooding at once (default {defaults.pairs})")
    parser.add_argument("--pings", type=positive_int, default=defaults.pings, metavar="N",
                        help=f"round trips measured per round (default {defaults.pings})")
    parser.add_argument("-r", "--repeat", type=positive_int, default=defaults.repeat, metavar="N",
                        help=f"rounds; the table shows medians (default {defaults.repeat})")
    parser.add_argument("--memory", type=_memory, default=(defaults.memory_small, defaults.memory_large),
                        metavar="SMALL:LARGE", help="peak RSS after SMALL and after LARGE frames through one "
                                                    "capture (default 100000:1000000)")
    parser.add_argument("--instances", type=positive_int, default=defaults.instances, metavar="N",
                        help=f"idle instances for the attach and idle tests (default {defaults.instances})")
    parser.add_argument("--links", type=positive_int, default=defaults.links, metavar="N",
                        help=f"NETMAP links of each of those instances (default {defaults.links})")
    parser.add_argument("--idle", type=positive_seconds, default=defaults.idle, metavar="SECONDS",
                        help=f"how long idle CPU is measured (default {defaults.idle:g})")
    parser.add_argument("--skip", type=_parts, action="append", default=[], metavar="PART[,PART]",
                        help=f"leave out parts: {', '.join(PARTS)}")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed too")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")


def settings_from(args: argparse.Namespace) -> Settings:
    if args.instances > netio.MAX_ID:
        raise BenchError(f"at most {netio.MAX_ID} instances")
    return Settings(size=args.size, count=args.count, pairs=args.pairs, pings=args.pings, repeat=args.repeat,
                    memory_small=args.memory[0], memory_large=args.memory[1], instances=args.instances,
                    links=args.links, idle=args.idle, skip=tuple(p for group in args.skip for p in group))


def run(args: argparse.Namespace) -> int:
    """``pcapng-iou bench``: 0 when every check passed (and with --strict every target was met)."""
    def progress(text: str) -> None:
        if not args.quiet:
            print(f"{PROG}: {text}", file=sys.stderr, flush=True)

    # Whatever stops the run, its capture and workers are stopped and its directory removed.
    previous = {signum: signal.signal(signum, _stop_on_signal) for signum in STOP_SIGNALS}
    try:
        settings = settings_from(args)
        if settings.pairs > FIRST_RECEIVER - FIRST_SENDER:
            raise BenchError(f"at most {FIRST_RECEIVER - FIRST_SENDER} pairs")
        bench = Bench(settings, progress)
        result = bench.run()
    except BenchError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except BenchStopped as stopped:
        print(f"{PROG}: {stopped}; no results", file=sys.stderr)
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    if not result["ok"]:
        return 1
    if args.strict and not all(t["met"] for t in result["targets"]):
        return 1
    return 0


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pcapng_iou.bench",
                                     description="Measure the capture (as 'pcapng-iou bench'), or run one of "
                                                 "its worker processes (--worker).")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("-d", "--dir", help=argparse.SUPPRESS)
    parser.add_argument("--id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--herd", help=argparse.SUPPRESS)
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
