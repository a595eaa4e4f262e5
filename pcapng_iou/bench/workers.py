"""The bench's worker processes: bench instances that flood, sink, ping and echo
numbered datagrams (checked byte for byte on arrival), herds of idle instances,
and the driver's handle on each worker.

Run as ``python -m pcapng_iou.bench.workers --id N -d DIR`` by the benchmark.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import random
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from typing import Optional

from pcapng_iou.bench.options import MAX_FRAME, MIN_FRAME
from pcapng_iou.core import netio
from pcapng_iou.sim.instance import InstanceRunning, take_instance_lock

# -- what goes on the wire -----------------------------------------------------------
#: The Ethernet frame of a bench datagram: dst MAC, src MAC, EtherType 0x88B5
#: (local experimental), an 8-byte sequence number, then filler that depends on it.
ETHERTYPE = b"\x88\xb5"
SEQ = struct.Struct(">Q")
HEAD_SIZE = 14
assert MIN_FRAME == HEAD_SIZE + SEQ.size
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
    try:
        if args.herd:
            return _herd(args.dir, args.herd)
        return _serve(BenchInstance(args.dir, args.id, args.size))
    except InstanceRunning as err:
        print(err, file=sys.stderr)
        return 1


def _serve(instance: BenchInstance) -> int:
    try:
        instance.start()
        _say({"ready": instance.instance, "pid": os.getpid()})
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
        return cls([sys.executable, "-m", "pcapng_iou.bench.run", "--worker", "-d", directory,
                    "--id", str(number), "--size", str(size)], f"instance {number}")

    @classmethod
    def herd(cls, directory: str, first: int, last: int) -> "Worker":
        return cls([sys.executable, "-m", "pcapng_iou.bench.run", "--worker", "-d", directory,
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
