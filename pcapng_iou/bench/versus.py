"""``pcapng-iou bench --versus 'CMD'``: another sniffer measured beside ours, in the same rounds.

Each round floods and pings the same instances directly, through our capture
and through the other sniffer (which goes first alternates from round to
round), so that all three see the same machine at nearly the same moment:
on a shared machine only figures of one run can be compared.

The command is split as a shell would (``shlex``) and may use ``{dir}`` (the
netio directory), ``{netmap}`` (its NETMAP file) and ``{out}`` (a path for
its capture: a file or a folder, removed afterwards).  The sniffer must stand
in for the instances as IOUsniffer does (``<id>`` moved to ``<id>_real``),
stop cleanly on SIGINT and put every socket back.  Its CPU is that of the
process started (let a shell wrapper ``exec`` it).  Its capture is not read
back: only the datagrams are checked, byte for byte, as always.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time

from pcapng_iou.bench.measure import cpu_seconds, interrupt
from pcapng_iou.bench.workers import ATTACH_TIMEOUT_S, BenchError

#: After it stands in for every instance, the sniffer is given this long to settle (IOUsniffer polls).
SETTLE_S = 0.3


def command_words(template: str, netio_dir: str, netmap: str, out: str) -> list:
    """The sniffer's command line with its placeholders filled in."""
    try:
        words = shlex.split(template)
    except ValueError as err:
        raise BenchError(f"--versus {template!r}: {err}") from None
    try:
        return [word.format(dir=netio_dir, netmap=netmap, out=out) for word in words]
    except (KeyError, IndexError, ValueError) as err:
        raise BenchError(f"--versus {template!r}: unknown placeholder {err} (use {{dir}}, {{netmap}}, {{out}})") \
            from None


class OtherSniffer:
    """The other sniffer as a child process."""

    def __init__(self, template: str, netio_dir: str, netmap: str, out: str):
        self.out = out
        self.words = command_words(template, netio_dir, netmap, out)
        try:
            self.process = subprocess.Popen(self.words, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as err:
            raise BenchError(f"--versus: cannot run {self.words[0]}: {err.strerror}") from None

    def wait_attached(self, netio_dir: str, numbers) -> None:
        """Until ``<id>_real`` is there for every instance (the sniffer stands in for them all)."""
        wanted = [os.path.join(netio_dir, f"{number}_real") for number in numbers]
        deadline = time.monotonic() + ATTACH_TIMEOUT_S
        while not all(os.path.lexists(path) for path in wanted):
            if self.process.poll() is not None:
                raise BenchError(f"--versus: {self.words[0]} exited with status {self.process.returncode} "
                                 "before it stood in for the instances")
            if time.monotonic() > deadline:
                raise BenchError(f"--versus: {self.words[0]} did not stand in for the instances "
                                 f"in {ATTACH_TIMEOUT_S:g} s")
            time.sleep(0.01)
        time.sleep(SETTLE_S)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> int:
        """SIGINT, as to a capture; killed (its whole session) if it does not end in time."""
        code = interrupt(self.process, lambda: os.killpg(self.process.pid, signal.SIGKILL))
        if os.path.isdir(self.out) and not os.path.islink(self.out):
            shutil.rmtree(self.out, ignore_errors=True)
        elif os.path.lexists(self.out):
            os.unlink(self.out)
        return code


def measure(bench, number: int) -> dict:
    """One round through the other sniffer: throughput (its ratio to this round's direct), round trips, CPU."""
    settings = bench.settings
    sniffer = OtherSniffer(settings.versus, bench.netio, bench.netmap_path,
                           os.path.join(bench.workdir, f"versus{number}.out"))
    result: dict = {}
    try:
        sniffer.wait_attached(bench.netio, bench.inodes)
        if "throughput" not in settings.skip:
            bench.progress(f"round {number}: throughput, through --versus")
            cpu = sniffer.cpu()
            result["versus_fps"] = bench.flood(settings.count, bench.senders[:settings.pairs])
            result["versus_cpu_s_per_100k"] = (sniffer.cpu() - cpu) / (settings.count * settings.pairs) * 100_000
        if "latency" not in settings.skip:
            bench.progress(f"round {number}: latency, through --versus")
            result["versus_rtt_us"] = bench.ping()
    finally:
        code = sniffer.stop()
    if code not in (0, -signal.SIGINT, 128 + signal.SIGINT):
        bench.checks.fail(f"--versus: {sniffer.words[0]} exited with status {code}")
    bench._check_directory()
    return result


def round_figures(measured: dict, run: dict) -> None:
    """Add the other sniffer's figures of one round to ``run`` (see report._round_figures)."""
    from pcapng_iou.bench.report import percentile

    if "versus_fps" in measured:
        run["versus_fps"] = measured["versus_fps"]
        run["versus_ratio"] = measured["versus_fps"] / measured["direct_fps"]
        run["versus_cpu_s_per_100k"] = measured["versus_cpu_s_per_100k"]
    if "versus_rtt_us" in measured:
        run["versus_p50_us"] = percentile(measured["versus_rtt_us"], 50)
        run["versus_p99_us"] = percentile(measured["versus_rtt_us"], 99)
        if "direct_p50_us" in run:
            run["versus_added_p50_us"] = run["versus_p50_us"] - run["direct_p50_us"]
            run["versus_added_p99_us"] = run["versus_p99_us"] - run["direct_p99_us"]


#: The figures compared, how they are named, their digits, and whether less is better.
COMPARED = (("ratio", "versus_ratio", "throughput ratio to direct", 3, False),
            ("added_p50_us", "versus_added_p50_us", "added round trip p50, us", 1, True),
            ("added_p99_us", "versus_added_p99_us", "added round trip p99, us", 1, True),
            ("cpu_s_per_100k", "versus_cpu_s_per_100k", "CPU per frame, us", 2, True))


def summary(runs: list, command: str, median) -> dict:
    """Medians and ranges of ours and theirs side by side, with ours / theirs (of the medians)."""
    figures = []
    for ours_key, their_key, name, digits, _ in COMPARED:
        ours = [r[ours_key] for r in runs if r.get(ours_key) is not None]
        theirs = [r[their_key] for r in runs if r.get(their_key) is not None]
        if not ours or not theirs:
            continue
        scale = 10 if ours_key == "cpu_s_per_100k" else 1  # (s per 100 000 frames -> us a frame)
        ours_median, their_median = median(ours) * scale, median(theirs) * scale
        figures.append({
            "name": name, "ours": round(ours_median, digits), "theirs": round(their_median, digits),
            "ours_range": [round(min(ours) * scale, digits), round(max(ours) * scale, digits)],
            "theirs_range": [round(min(theirs) * scale, digits), round(max(theirs) * scale, digits)],
            "ours_over_theirs": round(ours_median / their_median, 2) if their_median else None,
        })
    return {"command": command, "figures": figures}


def table_lines(versus: dict) -> list:
    """The side-by-side table of :func:`summary`."""
    rows = [("", "pcapng-iou", "--versus", "ours / theirs")]
    for figure in versus["figures"]:
        rows.append((figure["name"],
                     f"{figure['ours']:g} ({figure['ours_range'][0]:g}-{figure['ours_range'][1]:g})",
                     f"{figure['theirs']:g} ({figure['theirs_range'][0]:g}-{figure['theirs_range'][1]:g})",
                     "-" if figure["ours_over_theirs"] is None else f"{figure['ours_over_theirs']:.2f}x"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"side by side with --versus {versus['command']} (same rounds; medians, lowest-highest round):"]
    lines += [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}" for r in rows]
    return lines
