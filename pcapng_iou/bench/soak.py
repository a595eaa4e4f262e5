"""``pcapng-iou bench --soak SECONDS``: a busy lab, a capture that comes and goes, every frame checked.

The scenario (issue 18), all real processes in a private netio directory:

* four streams of numbered frames (:mod:`pcapng_iou.sim.numbered`), each
  from one simulated instance to another at about 2,500 frames a second;
  the receivers check every frame: exact bytes, in order, once;
* the real capture (``pcapng-iou capture``, a child process) started, left
  running about 3 s, stopped with SIGINT, started again, ...;
* while it runs, NETMAP rewritten (a link type flips) and reloaded with
  ``kill -HUP`` every 0.3 s;
* an idle instance started and one exiting every 0.3 s (ids taken in turn);
* optionally N busy processes (``--hogs``), as on a user's loaded host.

At the end it prints counts: frames, captures, reloads, reorders, losses,
duplicates, corrupt frames, file descriptors and RSS of the capture processes
and of the bench at start and end, every capture's exit status, and whether
the netio directory is as it was.  Any failed check makes the exit status 1.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Optional

from pcapng_iou.bench import PROG
from pcapng_iou.bench.measure import CaptureRun, memory_kb
from pcapng_iou.bench.options import SoakSettings
from pcapng_iou.core.words import counted
from pcapng_iou.bench.part import run_part
from pcapng_iou.bench.workers import STOP_SIGNALS, BenchError, child_env
from pcapng_iou.exitstatus import ExitStatus
from pcapng_iou.shell import netiodir
from pcapng_iou.sim import numbered
from pcapng_iou.sim.lab import LabError, LabProcess, instance_command

FIRST_SENDER, FIRST_RECEIVER = 101, 201
#: Idle instances that come and go take these ids in turn: enough that one has exited when its turn is
#: back, even when a loaded host takes seconds to start a Python process.
CHURN_IDS = tuple(range(901, 917))
PORT = "0/0"
#: How long the receivers may take to catch up with the last frames sent.
SETTLE_S = 10.0
ATTACH_TIMEOUT_S = 60.0


@dataclass
class CaptureRecord:
    number: int
    pid: int
    start_fds: int = 0
    start_rss_kb: int = 0
    end_fds: int = 0
    end_rss_kb: int = 0
    exit_status: Optional[int] = None
    reloads_sent: int = 0
    reloads_done: int = 0
    errors: list = field(default_factory=list)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid: int) -> int:
    return memory_kb(pid, "VmRSS")


def directory_state(directory: str) -> dict:
    """Every name in the netio directory with its inode and mode: what "as before" compares."""
    state = {}
    for name in os.listdir(directory):
        st = netiodir.lstat(os.path.join(directory, name))
        if st is not None:
            state[name] = (st.st_ino, st.st_mode)
    return state


class Soak:
    def __init__(self, settings: SoakSettings, progress=None):
        self.settings = settings
        self.progress = progress or (lambda text: None)
        self.workdir = tempfile.mkdtemp(prefix="pcapng-iou-soak-", dir="/tmp")
        self.netio = os.path.join(self.workdir, "netio")
        os.mkdir(self.netio, 0o700)
        self.netmap_path = os.path.join(self.workdir, "NETMAP")
        self.senders = [FIRST_SENDER + i for i in range(settings.streams)]
        self.receivers = [FIRST_RECEIVER + i for i in range(settings.streams)]
        self.instances: dict = {}
        self.hogs: list = []
        self.hog_pids: list = []
        self.churning: dict = {}  # id -> Popen
        self.churn_started = self.churn_failed = self.churn_skipped = 0
        self.captures: list = []
        self.capture: Optional[CaptureRun] = None
        self.record: Optional[CaptureRecord] = None
        self.failures: list = []
        self._flip = False
        self._churn_turn = 0

    # -- the lab --------------------------------------------------------------
    def write_netmap(self) -> None:
        """The stream links, and the idle instances' serial links: one flips HDLC/PPP at each reload."""
        self._flip = not self._flip
        kind = "hdlc" if self._flip else "ppp"
        lines = ["# pcapng-iou bench --soak"]
        lines += [f"{s}:{PORT} {r}:{PORT}" for s, r in zip(self.senders, self.receivers)]
        lines += [f"{CHURN_IDS[0]}:2/0 {CHURN_IDS[1]}:2/0 {kind}"]
        lines += [f"{a}:2/0 {b}:2/0 hdlc" for a, b in zip(CHURN_IDS[2::2], CHURN_IDS[3::2])]
        temp = self.netmap_path + ".new"
        with open(temp, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        os.rename(temp, self.netmap_path)  # the capture never reads half a file

    def start_lab(self) -> None:
        self.write_netmap()
        for number in self.senders + self.receivers:
            self.instances[number] = LabProcess(self.netio, number, self.netmap_path, quiet=True)
        for _ in range(self.settings.hogs):
            self.hogs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                              stdin=subprocess.DEVNULL))
            self.hog_pids.append(self.hogs[-1].pid)

    def churn(self) -> None:
        """Start the next idle instance (it exits by itself); reap those that have."""
        for number, process in list(self.churning.items()):
            if process.poll() is not None:
                del self.churning[number]
                if process.returncode != 0:
                    self.churn_failed += 1
                    self.failures.append(f"idle instance {number} exited with status {process.returncode}")
        number = CHURN_IDS[self._churn_turn % len(CHURN_IDS)]
        self._churn_turn += 1
        if number in self.churning:
            self.churn_skipped += 1  # still starting or stopping (a loaded host): its turn passes
            return
        command = instance_command(number, (2, 2), "--netio-dir", self.netio, "--no-stdin",
                                   "--duration", f"{self.settings.churn_every:g}", quiet=True)
        # Started as IOU is: NETMAP read from the working directory.
        self.churning[number] = subprocess.Popen(command, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                 env=child_env())
        self.churn_started += 1

    def stop_churn(self) -> None:
        for process in self.churning.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait()
        for number, process in self.churning.items():
            if process.returncode != 0:
                self.churn_failed += 1
                self.failures.append(f"idle instance {number} exited with status {process.returncode}")
        self.churning.clear()

    def close(self) -> None:
        """Stop everything we started and remove the private directory; not cut short by signals."""
        held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            if self.capture is not None and self.capture.process.poll() is None:
                self.capture.stop()
            for hog in self.hogs:
                hog.kill()
                hog.wait()
            for process in self.churning.values():
                process.terminate()
                process.wait()
            for process in self.instances.values():
                if process.process.poll() is None:
                    process.stop()
            shutil.rmtree(self.workdir, ignore_errors=True)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    # -- the timeline ---------------------------------------------------------
    def busy_until(self, deadline: float, done=None) -> None:
        """Churn (and reload, while a capture runs) until ``deadline`` or until ``done()``."""
        settings = self.settings
        while True:
            now = time.monotonic()
            if now >= self._next_churn:
                self.churn()
                self._next_churn = max(self._next_churn + settings.churn_every, now)
            if self.record is not None and now >= self._next_reload:
                self.reload()
                self._next_reload = max(self._next_reload + settings.reload_every, now)
            if done is not None and done():
                return
            if now >= deadline:
                return
            wake = min(deadline, self._next_churn, self._next_reload if self.record else deadline)
            time.sleep(max(0.0, min(wake - time.monotonic(), 0.01 if done else 1.0)))

    def reload(self) -> None:
        self.write_netmap()
        os.kill(self.capture.pid, signal.SIGHUP)
        self.record.reloads_sent += 1

    def attached(self) -> bool:
        if self.capture.process.poll() is not None:
            raise BenchError(f"the capture exited with status {self.capture.process.returncode}: "
                             f"{self.capture.text()}")
        names = set(os.listdir(self.netio))
        return all(f"{n}{netiodir.REAL_SUFFIX}" in names and f"{n}{netiodir.TEMP_SUFFIX}" not in names
                   for n in self.instances)

    def capture_cycle(self, number: int, end: float) -> None:
        output = os.path.join(self.workdir, f"soak{number}.pcapng")
        self.capture = CaptureRun(self.netio, output, self.netmap_path, quiet=False)
        record = CaptureRecord(number, self.capture.pid)
        self.captures.append(record)
        give_up = time.monotonic() + ATTACH_TIMEOUT_S
        self.busy_until(give_up, self.attached)
        if not self.attached():
            raise BenchError(f"capture {number} did not attach within {ATTACH_TIMEOUT_S:g} s")
        record.start_fds, record.start_rss_kb = fd_count(record.pid), rss_kb(record.pid)
        self.record = record
        self._next_reload = time.monotonic() + self.settings.reload_every
        self.busy_until(min(end, time.monotonic() + self.settings.capture_every))
        record.end_fds, record.end_rss_kb = fd_count(record.pid), rss_kb(record.pid)
        self.record = None
        record.exit_status = self.capture.stop()
        lines = [text for _, text in self.capture.lines]
        record.reloads_done = sum("NETMAP reloaded" in text for text in lines)
        record.errors = [text for text in lines if "error:" in text]
        self.capture = None
        if record.exit_status != 0:
            self.failures.append(f"capture {number} exited with status {record.exit_status}")
        for text in record.errors:
            self.failures.append(f"capture {number}: {text}")
        self.check_given_back(f"after capture {number}")
        try:
            os.unlink(output)
        except FileNotFoundError:
            self.failures.append(f"capture {number} wrote no file")

    def check_given_back(self, when: str) -> None:
        """Every stream instance has its own socket back under its own name; nothing of ours is left."""
        state = directory_state(self.netio)
        for number in self.instances:
            if state.get(str(number)) != self.before.get(str(number)):
                self.failures.append(f"{when}: instance {number}'s socket is not its own")
        ours = [name for name in state if name.endswith((netiodir.REAL_SUFFIX, netiodir.TEMP_SUFFIX))]
        # An idle instance that exits as the capture stops can leave <id>_real for a moment; only ours count.
        ours = [name for name in ours if int(name.split("_")[0].split(".")[0]) in self.instances]
        if ours:
            self.failures.append(f"{when}: left in the netio directory: {', '.join(sorted(ours))}")

    # -- the run --------------------------------------------------------------
    def run(self) -> dict:
        settings = self.settings
        started = time.monotonic()
        self.progress(f"soak: starting {2 * settings.streams} instances and {settings.hogs} CPU hogs")
        try:
            self.start_lab()
            self.before = directory_state(self.netio)
            # The bench's own figures are taken with the lab up, so that what they compare is the soak itself.
            bench_start = {"fds": fd_count(os.getpid()), "rss_kb": rss_kb(os.getpid())}
            streaming = time.monotonic()
            for sender in self.senders:
                self.instances[sender].stream(PORT, settings.rate, settings.size)
        except LabError as err:
            raise BenchError(str(err)) from None
        self._next_churn = time.monotonic()
        self._next_reload = float("inf")
        end = time.monotonic() + settings.seconds
        number = 0
        # On a loaded host a capture may take seconds to start: the run goes on until it has had its cycles.
        while time.monotonic() < end or number < settings.min_captures:
            number += 1
            left = max(0.0, end - time.monotonic())
            self.progress(f"soak: capture {number} ({left:.0f} s left, "
                          f"at least {counted(settings.min_captures, 'capture')})")
            self.capture_cycle(number, end if number >= settings.min_captures else float("inf"))
            self.busy_until(time.monotonic() + settings.gap)
        self.progress("soak: stopping the streams and counting")
        streams = self.finish()
        streamed = time.monotonic() - streaming
        self.stop_churn()
        for hog in self.hogs:
            hog.kill()
            hog.wait()
        self.hogs = []
        bench_end = {"fds": fd_count(os.getpid()), "rss_kb": rss_kb(os.getpid())}
        after = directory_state(self.netio)
        directory_same = after == self.before
        if not directory_same:
            changed = sorted(set(after) ^ set(self.before) | {n for n in after if after[n] != self.before.get(n)})
            self.failures.append(f"the netio directory is not as before: {', '.join(changed)}")
        result = self.summary(streams, directory_same, bench_start, bench_end, time.monotonic() - started)
        result["rate_per_stream"] = round(result["frames_sent"] / len(streams) / streamed)
        return result

    def finish(self) -> list:
        """Halt the senders, let the receivers catch up, and compare what each got with what was sent."""
        totals = {s: self.instances[s].halt(PORT) for s in self.senders}
        results = []
        for sender, receiver in zip(self.senders, self.receivers):
            flow = f"{sender}:0"
            deadline = time.monotonic() + SETTLE_S
            while True:
                seen = self.instances[receiver].tally().get(flow, {"next": 0, "good": 0, "reordered": 0,
                                                                    "duplicates": 0, "corrupt": 0, "missing": 0})
                if (seen["next"] >= totals[sender] and not seen["missing"]) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            lost = seen["missing"] + max(0, totals[sender] - seen["next"])
            result = {"sender": sender, "receiver": receiver, "sent": totals[sender], "received": seen["good"],
                      "reorders": seen["reordered"], "losses": lost, "duplicates": seen["duplicates"],
                      "corrupt": seen["corrupt"]}
            results.append(result)
            for key in ("reorders", "losses", "duplicates", "corrupt"):
                if result[key]:
                    self.failures.append(f"stream {sender} -> {receiver}: {result[key]} {key}")
            errors = self.instances[sender].errors
            if errors:
                self.failures.append(f"instance {sender} could not send: {errors[0]} ({len(errors)} times)")
        return results

    def summary(self, streams: list, directory_same: bool, bench_start: dict, bench_end: dict,
                elapsed: float) -> dict:
        s = self.settings
        captures = self.captures

        def total(key):
            return sum(stream[key] for stream in streams)

        return {
            "settings": {"seconds": s.seconds, "streams": s.streams, "rate": s.rate, "size": s.size,
                         "capture_every": s.capture_every, "reload_every": s.reload_every,
                         "churn_every": s.churn_every, "hogs": s.hogs, "min_captures": s.min_captures},
            "elapsed_s": round(elapsed, 1),
            "frames_sent": total("sent"), "frames_received": total("received"),
            "reorders": total("reorders"), "losses": total("losses"), "duplicates": total("duplicates"),
            "corrupt": total("corrupt"),
            "streams": streams,
            "captures": len(captures),
            "capture_exit_statuses": [c.exit_status for c in captures],
            "reloads_sent": sum(c.reloads_sent for c in captures),
            "reloads_done": sum(c.reloads_done for c in captures),
            "idle_instances_started": self.churn_started, "idle_turns_skipped": self.churn_skipped,
            "idle_instances_failed": self.churn_failed,
            "capture_fds": {"start": captures[0].start_fds, "end": captures[-1].end_fds,
                            "most": max(c.end_fds for c in captures)} if captures else None,
            "capture_rss_kb": {"start": captures[0].start_rss_kb, "end": captures[-1].end_rss_kb,
                               "most": max(c.end_rss_kb for c in captures)} if captures else None,
            "bench_fds": {"start": bench_start["fds"], "end": bench_end["fds"]},
            "bench_rss_kb": {"start": bench_start["rss_kb"], "end": bench_end["rss_kb"]},
            "netio_directory_as_before": directory_same,
            "hog_pids": self.hog_pids,
            "failures": self.failures,
            "ok": not self.failures,
        }


def format_summary(result: dict) -> str:
    s = result["settings"]
    fds, rss = result["capture_fds"] or {}, result["capture_rss_kb"] or {}
    lines = [
        f"{PROG} --soak {s['seconds']:g}: {s['streams']} streams x {s['rate']:g} frames/s of {s['size']} bytes, "
        f"capture restarted every {s['capture_every']:g} s, NETMAP reloaded every {s['reload_every']:g} s, "
        f"an idle instance every {s['churn_every']:g} s, {s['hogs']} CPU hog{'s' if s['hogs'] != 1 else ''}",
        "",
        f"  frames      {result['frames_sent']} sent, {result['frames_received']} received "
        f"({result['rate_per_stream']} frames/s a stream on average)",
        f"  reorders    {result['reorders']}",
        f"  losses      {result['losses']}",
        f"  duplicates  {result['duplicates']}",
        f"  corrupt     {result['corrupt']}",
    ]
    for stream in result["streams"]:
        lines.append(f"    {stream['sender']} -> {stream['receiver']}: {stream['sent']} sent, "
                     f"{stream['received']} received, {stream['reorders']} reordered, {stream['losses']} lost, "
                     f"{stream['duplicates']} doubled, {stream['corrupt']} corrupt")
    lines += [
        f"  captures    {result['captures']}, exit statuses: "
        f"{' '.join(str(code) for code in result['capture_exit_statuses'])}",
        f"  reloads     {result['reloads_sent']} sent (kill -HUP), {result['reloads_done']} done",
        f"  idle instances  {result['idle_instances_started']} started and exited, one every "
        f"{result['elapsed_s'] / max(1, result['idle_instances_started']):.2f} s "
        f"({result['idle_turns_skipped']} turns skipped: the previous one still running, "
        f"{result['idle_instances_failed']} failed)",
        f"  capture fds  {fds.get('start')} at start, {fds.get('end')} at end (most {fds.get('most')})",
        f"  capture RSS  {rss.get('start')} kB at start, {rss.get('end')} kB at end (most {rss.get('most')})",
        f"  bench fds    {result['bench_fds']['start']} at start, {result['bench_fds']['end']} at end",
        f"  bench RSS    {result['bench_rss_kb']['start']} kB at start, {result['bench_rss_kb']['end']} kB at end",
        f"  netio directory as before: {'yes' if result['netio_directory_as_before'] else 'NO'}",
        "",
    ]
    if result["ok"]:
        lines.append(f"passed ({result['elapsed_s']:g} s)")
    else:
        lines.append(f"FAILED ({len(result['failures'])} problems):")
        lines += [f"  {text}" for text in result["failures"][:20]]
    return "\n".join(lines)


# -- command line ---------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    """``pcapng-iou bench --soak``: 0 when every frame arrived exactly once, in order, and all else checked."""
    if args.hogs < 0 or args.size < numbered.MIN_SIZE:
        what = "--hogs must be 0 or more" if args.hogs < 0 else f"--frame-size must be {numbered.MIN_SIZE} or more"
        print(f"{PROG}: error: {what} with --soak", file=sys.stderr)
        return ExitStatus.USAGE
    settings = SoakSettings(args.soak, streams=args.streams, rate=float(args.rate), size=args.size,
                            capture_every=args.capture_every, reload_every=args.reload_every,
                            churn_every=args.churn_every, hogs=args.hogs, min_captures=args.min_captures)

    def work(progress) -> dict:
        soak = Soak(settings, progress)
        try:
            return soak.run()
        finally:
            soak.close()

    result = run_part(args, work, format_summary)
    return ExitStatus.OK if result is not None and result["ok"] else ExitStatus.ERROR

