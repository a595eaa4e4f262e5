"""``pcapng-iou bench``: what the capture costs on this machine, measured end to end.

Everything runs in a private netio directory under /tmp, as real processes:

* *bench instances* (the simulated instance, ``python -m pcapng_iou.sim.instance``): each binds
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

import os
import shutil
import signal
import tempfile
import time

from pcapng_iou.bench import versus
from pcapng_iou.bench.filecheck import _flood_frames, _ping_frames, check_capture_file
from pcapng_iou.bench.measure import CaptureRun
from pcapng_iou.bench.settings import Settings
from pcapng_iou.bench.report import summarise
from pcapng_iou.bench.workers import (
    ECHOER,
    FIRST_RECEIVER,
    FIRST_SENDER,
    PINGER,
    STOP_SIGNALS,
    Worker,
    herd_netmap,
    start_workers,
)
from pcapng_iou.sim.peers import PeerStream


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
        pairs = max(settings.pairs, settings.crowd)
        self.senders = [FIRST_SENDER + i for i in range(pairs)]
        self.receivers = [FIRST_RECEIVER + i for i in range(pairs)]
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
        senders = senders or self.senders[:self.settings.pairs]
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

    def _crowd_count(self) -> int:
        """Frames each pair of the crowd floods: COUNT in all."""
        return max(1, self.settings.count // self.settings.crowd)

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

    def capture_run(self, netio_dir: str, output: str, netmap_path: str, quiet: bool = True) -> CaptureRun:
        """``pcapng-iou capture`` started as the settings ask (``--spin``)."""
        return CaptureRun(netio_dir, output, netmap_path, quiet=quiet, spin_us=self.settings.spin_us)

    def start_capture(self, name: str) -> CaptureRun:
        output = os.path.join(self.workdir, name)
        capture = self.capture_run(self.netio, output, self.netmap_path)
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
        expected = [_ping_frames(PeerStream(PINGER, ECHOER, size), self._spans[0])]
        for index, (sender, receiver) in enumerate(zip(self.senders, self.receivers), 1):
            expected.append(_flood_frames(PeerStream(sender, receiver, size), self._spans[index]))
        names = [f"{a}:0/0-{b}:0/0" for a, b in self._lines()]
        result = check_capture_file(capture.output, expected, names)
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
        pairs, crowd = self.senders[:self.settings.pairs], self.senders[:self.settings.crowd]
        if "throughput" not in skip:
            self.progress(f"round {number}: throughput, direct")
            result["direct_fps"] = self.flood(self.settings.count, pairs)
            if crowd:
                result["direct_crowd_fps"] = self.flood(self._crowd_count(), crowd)
        if "latency" not in skip:
            self.progress(f"round {number}: latency, direct")
            result["direct_rtt_us"] = self.ping()
        if self.settings.versus and number % 2 == 0:  # (which goes first alternates)
            result.update(versus.measure(self, number))
        self.progress(f"round {number}: starting the capture")
        capture = self.start_capture(f"round{number}.pcapng")
        try:
            if "throughput" not in skip:
                self.progress(f"round {number}: throughput, through the capture")
                cpu = capture.cpu()
                result["captured_fps"] = self.flood(self.settings.count, pairs)
                frames = self.settings.count * self.settings.pairs
                result["cpu_s_per_100k"] = (capture.cpu() - cpu) / frames * 100_000
                result["ratio"] = result["captured_fps"] / result["direct_fps"]
                if crowd:
                    self.progress(f"round {number}: throughput, {len(crowd)} pairs at once, through the capture")
                    result["captured_crowd_fps"] = self.flood(self._crowd_count(), crowd)
                    result["crowd_ratio"] = result["captured_crowd_fps"] / result["direct_crowd_fps"]
            if "latency" not in skip:
                self.progress(f"round {number}: latency, through the capture")
                result["captured_rtt_us"] = self.ping()
            result["peak_rss_kb"] = capture.peak_rss_kb()
        finally:
            self.stop_capture(capture)
        if self.settings.versus and number % 2 == 1:
            result.update(versus.measure(self, number))
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
            capture = self.capture_run(directory, os.path.join(self.workdir, "herd.pcapng"), netmap_path, quiet=False)
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
