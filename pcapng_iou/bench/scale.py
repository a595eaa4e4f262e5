"""``pcapng-iou bench --scale 100,1000``: how the capture's costs grow with the size of the lab.

For each lab size N (instances 1..N, each with ``--scale-lines`` NETMAP lines
of its own to other instances, so 16 N lines by default), in a private netio
directory, with real processes (a herd process holding N idle instances,
and a flooding pair of bench instances, 1021 and 1022, beside them):

* attach, the instances starting after the capture (each one an inotify
  event), then a capture started when they are all there;
* RSS and open file descriptors of the capture with all attached;
* idle CPU with all attached;
* CPU per frame while the pair floods through the capture;
* reload: ``kill -HUP`` until the capture says the NETMAP is reloaded;
* stop: SIGINT until the capture has given every socket back and exited;

and, in this process, on the same NETMAP: parsing it, one dashboard refresh
(status snapshot, rates, drawing at 80x24 and 200x60) and what it shows, and
the exit summary.  Each figure is printed per size with the ratio between
the largest and the smallest size: about N_max/N_min for totals and about 1
for per-frame costs is linear growth; its square would be quadratic.
"""
from __future__ import annotations

import io
import os
import random
import re
import shutil
import signal
import statistics
import tempfile
import time

from pcapng_iou.bench import PROG
from pcapng_iou.bench.measure import CaptureRun, cpu_seconds, memory_kb
from pcapng_iou.bench.settings import SCALE_MAX
from pcapng_iou.bench.workers import (
    BenchError,
    Worker,
    herd_netmap,
    start_workers,
)
from pcapng_iou.core import netio
from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.shell import netiodir

SENDER, RECEIVER = SCALE_MAX + 1, SCALE_MAX + 2
FLOOD_FRAMES = 50_000
RELOADS = 3
IDLE_S = 2.0
ATTACH_TIMEOUT_S = 300.0
POLL_S = 0.01


def scale_netmap(count: int, lines_each: int) -> list:
    """``lines_each`` point-to-point lines started by each of instances 1..count, then the flooding pair."""
    return herd_netmap(count, 2 * lines_each) + [f"{SENDER}:0/0 {RECEIVER}:0/0"]


# -- the capture, as a process ----------------------------------------------------------------
class ScaleRun:
    """One lab size: a herd, a flooding pair and the captures, in a directory of their own."""

    def __init__(self, workdir: str, count: int, lines_each: int, progress):
        self.count = count
        self.progress = progress
        self.directory = os.path.join(workdir, f"netio{count}")
        os.mkdir(self.directory, 0o700)
        self.netmap_path = os.path.join(workdir, f"NETMAP.{count}")
        self.lines = scale_netmap(count, lines_each)
        with open(self.netmap_path, "w") as handle:
            handle.write("".join(line + "\n" for line in self.lines))
        self.output = os.path.join(workdir, f"scale{count}.pcapng")
        self.numbers = list(range(1, count + 1)) + [SENDER, RECEIVER]
        self.workers: list = []
        self.failures: list = []
        self.inodes: dict = {}

    def all_attached(self, capture: CaptureRun) -> bool:
        if capture.process.poll() is not None:
            raise BenchError(f"the capture exited with status {capture.process.returncode}: {capture.text()}")
        names = set(os.listdir(self.directory))
        return all(f"{n}{netiodir.REAL_SUFFIX}" in names and f"{n}{netiodir.TEMP_SUFFIX}" not in names
                   for n in self.numbers)

    def wait_attached(self, capture: CaptureRun) -> float:
        deadline = time.monotonic() + ATTACH_TIMEOUT_S
        while not self.all_attached(capture):
            if time.monotonic() > deadline:
                raise BenchError(f"the capture did not attach to {len(self.numbers)} instances "
                                 f"in {ATTACH_TIMEOUT_S:g} s")
            time.sleep(POLL_S)
        return time.monotonic()

    def start_lab(self) -> None:
        self.workers = [Worker.herd(self.directory, 1, self.count),
                        Worker.instance(self.directory, SENDER, 100), Worker.instance(self.directory, RECEIVER, 100)]
        start_workers(self.workers)
        self.inodes = {n: self.instance_inode(n) for n in self.numbers}

    def instance_inode(self, number: int) -> int:
        """The inode of instance ``number``'s own socket, whether a capture has moved it aside or not."""
        paths = netiodir.Paths(self.directory, number)
        while True:
            real = netiodir.lstat(paths.real)
            if real is not None:
                return real.st_ino
            st = os.lstat(paths.socket)
            if netiodir.lstat(paths.real) is None:  # not attached in between: that was the instance's
                return st.st_ino

    def stop_lab(self) -> None:
        for worker in self.workers:
            worker.stop()

    def start_capture(self) -> CaptureRun:
        return CaptureRun(self.directory, self.output, self.netmap_path, quiet=False)

    def stop_capture(self, capture: CaptureRun) -> float:
        started = time.monotonic()
        code = capture.stop()
        elapsed = time.monotonic() - started
        if code != 0:
            self.failures.append(f"{self.count} instances: the capture exited with status {code}: {capture.text()}")
        names = set(os.listdir(self.directory))
        back = sum(1 for n, inode in self.inodes.items()
                   if str(n) in names and f"{n}{netiodir.REAL_SUFFIX}" not in names
                   and os.lstat(os.path.join(self.directory, str(n))).st_ino == inode)
        if self.inodes and back != len(self.inodes):
            self.failures.append(f"{self.count} instances: {len(self.inodes) - back} sockets not given back")
        if os.path.exists(self.output):
            os.unlink(self.output)
        return elapsed

    @staticmethod
    def wait_line(capture: CaptureRun, text: str, after: int) -> float:
        """When the capture printed a line holding ``text`` among its lines from index ``after`` on."""
        deadline = time.monotonic() + ATTACH_TIMEOUT_S
        while True:
            for when, line in capture.lines[after:]:
                if text in line:
                    return when
            if capture.process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"the capture never said {text!r}: {capture.text()}")
            time.sleep(POLL_S)

    def late_attach(self) -> float:
        """Capture first, instances after (each attach answers an inotify event): from the moment
        the last instance is up until the capture stands in for all of them."""
        capture = self.start_capture()
        try:
            self.wait_line(capture, "capturing", 0)
            self.start_lab()
            ready = time.monotonic()
            done = self.wait_attached(capture)
        finally:
            self.stop_capture(capture)
        return done - ready

    def measure(self) -> dict:
        result: dict = {"instances": self.count, "netmap_lines": len(self.lines)}
        self.progress(f"scale: {self.count} instances, {len(self.lines)} NETMAP lines: instances starting "
                      "after the capture")
        try:
            result["attach_late_s"] = self.late_attach()
            self.progress(f"scale: {self.count} instances: a capture started with all of them there")
            capture = self.start_capture()
            try:
                done = self.wait_attached(capture)
                scan = self.wait_line(capture, "capturing", 0)
                result["attach_s"] = done - capture.started
                result["attach_after_startup_s"] = done - scan
                result["rss_kb"] = memory_kb(capture.pid, "VmRSS")
                result["fds"] = len(os.listdir(f"/proc/{capture.pid}/fd"))
                time.sleep(0.5)
                cpu, start = cpu_seconds(capture.pid), time.monotonic()
                time.sleep(IDLE_S)
                result["idle_cpu_percent"] = 100 * (cpu_seconds(capture.pid) - cpu) / (time.monotonic() - start)
                result.update(self.flood(capture))
                result["reload_s"] = self.reloads(capture)
                result["peak_rss_kb"] = memory_kb(capture.pid, "VmHWM")
            finally:
                result["stop_s"] = self.stop_capture(capture)
        finally:
            self.stop_lab()
        return result

    def flood(self, capture: CaptureRun) -> dict:
        sender, receiver = self.workers[1], self.workers[2]
        cpu = cpu_seconds(capture.pid)
        receiver.send(f"sink {SENDER} {FLOOD_FRAMES}")
        sent = sender.ask(f"flood {RECEIVER} {FLOOD_FRAMES}")
        got = receiver.answer()
        cpu = cpu_seconds(capture.pid) - cpu
        if sent["error"] or got["error"] or got["bad"] or got["good"] != FLOOD_FRAMES:
            self.failures.append(f"{self.count} instances: flood {sent['sent']} sent, {got['good']} arrived intact, "
                                 f"{got['bad']} wrong ({sent['error'] or got['error'] or 'checked'})")
        return {"flood_frames": FLOOD_FRAMES, "cpu_us_per_frame": cpu / FLOOD_FRAMES * 1e6}

    def reloads(self, capture: CaptureRun) -> float:
        times = []
        for _ in range(RELOADS):
            after = len(capture.lines)
            sent = time.monotonic()
            os.kill(capture.pid, signal.SIGHUP)
            times.append(self.wait_line(capture, "NETMAP reloaded", after) - sent)
        return statistics.median(times)


# -- in this process: parsing and the dashboard -------------------------------------------------
def _best_time(action, repeat: int = 5) -> float:
    """The shortest of ``repeat`` runs: what it costs when other processes leave the CPU alone."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def in_process(lines: list, workdir: str) -> dict:
    """Parse the NETMAP, then time a dashboard refresh and the exit summary on a capture of it."""
    from rich.console import Console

    from pcapng_iou.shell.capture import Capture, CaptureOptions
    from pcapng_iou.ui import dashboard

    text = "".join(line + "\n" for line in lines)
    result = {"parse_s": _best_time(lambda: netmap_mod.parse(text, "NETMAP"), 3)}
    netmap = netmap_mod.parse(text, "NETMAP")
    capture = Capture(CaptureOptions(netio_dir=workdir, output=os.path.join(workdir, "unused.pcapng")), netmap=netmap)
    recorder = capture.recorder
    recorder.start()
    # Traffic on one line in eight, so the busiest-first order has work to do.
    chosen = random.Random(18).sample(list(netmap), max(1, len(lines) // 8))
    now = time.time_ns()
    for segment in chosen:
        a, b = segment.endpoints[0], segment.endpoints[1]
        datagram = netio.Header(b.instance, a.instance, b.port, a.port).pack() + bytes(60)
        recorder.datagram(datagram, now)
    result["reload_in_process_s"] = _best_time(lambda: recorder.reload(netmap, "now"), 3)
    meter = dashboard.RateMeter()
    meter.sample(now - 1_000_000_000, capture.status().interfaces)
    for width, height in ((80, 24), (200, 60)):
        sink = io.StringIO()
        console = Console(file=sink, width=width, height=height, force_terminal=True, color_system="standard")

        def refresh():
            status = capture.status()
            rates = meter.sample(status.now_ns, status.interfaces)
            console.print(dashboard.render(status, rates, width, height))

        result[f"refresh_{width}x{height}_ms"] = _best_time(refresh) * 1000
        sink.seek(0)
        sink.truncate()
        refresh()
        shown = sink.getvalue().splitlines()
        result[f"refresh_{width}x{height}_lines"] = len(shown)
        hidden = next((line for line in shown if "hidden" in line), "")
        result[f"refresh_{width}x{height}_hidden"] = _strip_ansi(hidden).strip()
    sink = io.StringIO()
    console = Console(file=sink, width=dashboard.SUMMARY_WIDTH, force_terminal=False)
    start = time.perf_counter()
    console.print(dashboard.summary(capture.status()))
    result["summary_s"] = time.perf_counter() - start
    result["summary_lines"] = len(sink.getvalue().splitlines())
    return result


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# -- the whole part -----------------------------------------------------------------------------
def run_scale(sizes: tuple, lines_each: int, progress) -> dict:
    workdir = tempfile.mkdtemp(prefix="pcapng-iou-scale-", dir="/tmp")
    runs: list = []
    failures: list = []
    try:
        for count in sizes:
            run = ScaleRun(workdir, count, lines_each, progress)
            try:
                figures = run.measure()
            finally:
                failures += run.failures
            progress(f"scale: {count} instances: NETMAP parse and dashboard, in this process")
            figures.update(in_process(run.lines, workdir))
            runs.append(figures)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"lines_per_instance": lines_each, "runs": runs, "failures": failures, "ok": not failures}


#: (label, key, format): rows of the printed table.
ROWS = (
    ("NETMAP lines", "netmap_lines", "{:,.0f}"),
    ("attach, instances started after: behind by", "attach_late_s", "{:.2f} s"),
    ("attach, capture started with all there", "attach_s", "{:.2f} s"),
    ("  of which after start-up", "attach_after_startup_s", "{:.2f} s"),
    ("RSS with all attached", "rss_kb", "{:,.0f} kB"),
    ("open file descriptors", "fds", "{:,.0f}"),
    ("idle CPU, all attached", "idle_cpu_percent", "{:.1f} %"),
    ("CPU per frame, one pair flooding", "cpu_us_per_frame", "{:.1f} us"),
    ("reload (kill -HUP until done)", "reload_s", "{:.3f} s"),
    ("stop (every socket given back)", "stop_s", "{:.2f} s"),
    ("NETMAP parse, in process", "parse_s", "{:.3f} s"),
    ("links reload, in process", "reload_in_process_s", "{:.3f} s"),
    ("dashboard refresh 80x24", "refresh_80x24_ms", "{:.1f} ms"),
    ("dashboard refresh 200x60", "refresh_200x60_ms", "{:.1f} ms"),
    ("exit summary (every link)", "summary_s", "{:.2f} s"),
    ("  its lines", "summary_lines", "{:,.0f}"),
)


def format_scale(result: dict) -> str:
    runs = result["runs"]
    lines = [f"{PROG} --scale: {result['lines_per_instance']} NETMAP lines per instance, idle instances in one "
             f"herd process, a pair flooding {FLOOD_FRAMES:,} frames beside them", ""]
    head = ["", *[f"{r['instances']:,} instances" for r in runs]]
    if len(runs) > 1:
        head.append(f"x{runs[-1]['instances'] / runs[0]['instances']:g} size")
    table = [head]
    for label, key, form in ROWS:
        row = [label] + [form.format(r[key]) if r.get(key) is not None else "-" for r in runs]
        if len(runs) > 1:
            first, last = runs[0].get(key), runs[-1].get(key)
            row.append(f"x{last / first:.1f}" if first and last is not None else "")
        table.append(row)
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        lines.append("  ".join([row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]))
    lines.append("")
    for r in runs:
        for size in ("80x24", "200x60"):
            lines.append(f"dashboard at {size}, {r['instances']:,} instances: {r[f'refresh_{size}_lines']} lines; "
                         f"{r[f'refresh_{size}_hidden'] or 'nothing hidden'}")
    lines.append("")
    lines.append("passed" if result["ok"] else "FAILED:\n" + "\n".join(f"  {t}" for t in result["failures"]))
    return "\n".join(lines)
