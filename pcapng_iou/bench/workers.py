"""The bench's worker processes and the driver's handle on each.

A worker is the simulated IOU instance (:mod:`pcapng_iou.sim.instance`): one
that floods, sinks, pings or echoes numbered datagrams straight to a peer,
checked byte for byte on arrival (its ``peer`` commands, :mod:`pcapng_iou.sim.peers`),
or a herd of idle ones in one process (``--herd``).
"""
from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time

#: Instance ids in the bench directory: the ping pair, then the flood pairs.
PINGER, ECHOER = 11, 12
FIRST_SENDER, FIRST_RECEIVER = 101, 301

#: How long the driver waits for a worker's answer, on top of what the work should take.
ANSWER_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 20.0
ATTACH_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


#: Signals that stop a run early (the capture and the workers are stopped with it).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def child_env() -> dict:
    """The environment of our child processes: they must run this very copy of the package."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# -- the driver's side of a worker ---------------------------------------------------
class BenchError(Exception):
    """The benchmark could not run (a worker or the capture failed to start or answer)."""


class BenchStopped(Exception):
    """A signal stopped the benchmark before the end."""


def _stop_on_signal(signum, frame):
    raise BenchStopped(f"stopped by {signal.Signals(signum).name}")


class Worker:
    """A simulated instance (or a herd of them) as a worker process, driven with the bench's
    command lines (``flood|sink|ping|echo PEER COUNT``); :meth:`answer` gives each reply as a dict."""

    #: The bench's commands, run by the instance as ``peer VERB PEER COUNT SIZE``.
    PEER_VERBS = ("flood", "sink", "ping", "echo")

    def __init__(self, options: list, what: str, size: int = 0):
        self.what = what
        self.size = size
        # No NETMAP, no report of each frame.  SIGINT ignored: Ctrl-C is for the driver, which then
        # stops its workers cleanly.  (Not a session of their own: the kernel would schedule them
        # as a group apart from the capture, and the figures would change.)
        command = [sys.executable, "-m", "pcapng_iou.sim.instance", "-N", "--quiet", *options]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, bufsize=0, env=child_env(),
                                        preexec_fn=_ignore_sigint)
        self._buffer = b""
        self.pid = self.process.pid

    @classmethod
    def instance(cls, directory: str, number: int, size: int) -> "Worker":
        return cls(["--netio-dir", directory, str(number)], f"instance {number}", size)

    @classmethod
    def herd(cls, directory: str, first: int, last: int) -> "Worker":
        return cls(["--netio-dir", directory, "--herd", str(last), str(first)], f"instances {first}-{last}")

    def send(self, line: str) -> None:
        if line.split()[0] in self.PEER_VERBS:
            line = f"peer {line} {self.size}"
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
        return self._reply(line.decode(errors="replace"))

    @staticmethod
    def _reply(line: str) -> dict:
        """``ready ID PID``, ``peer {json}``, anything else: as a dict."""
        kind, _, rest = line.partition(" ")
        if kind == "ready":
            number, _, pid = rest.partition(" ")
            return {"ready": number, "pid": int(pid)}
        if kind == "peer":
            return json.loads(rest)
        return {"error": line}

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
