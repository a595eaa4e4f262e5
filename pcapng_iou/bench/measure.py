"""What the bench reads of a running capture: CPU time and peak RSS from ``/proc``,
and ``pcapng-iou capture`` itself as a child process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from pcapng_iou.bench.workers import (
    ATTACH_TIMEOUT_S,
    STOP_TIMEOUT_S,
    BenchError,
    child_env,
)
from pcapng_iou.core.spin import DEFAULT_SPIN_US


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


def interrupt(process: subprocess.Popen, kill) -> int:
    """SIGINT, as Ctrl-C stops a capture; ``kill()`` when it has not ended within STOP_TIMEOUT_S; its status."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        kill()
        return process.wait()


class CaptureRun:
    """``pcapng-iou capture`` as a child process; its stderr lines kept with their arrival times."""

    def __init__(self, netio_dir: str, output: str, netmap_path: str, quiet: bool = True,
                 spin_us: int = DEFAULT_SPIN_US):
        command = [sys.executable, "-m", "pcapng_iou", "capture", "-d", netio_dir, "-w", output,
                   "-n", netmap_path, "--no-wait"]
        if quiet:
            command.append("-q")
        if spin_us != DEFAULT_SPIN_US:
            command += ["--spin", str(spin_us)]
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
        code = interrupt(self.process, self.process.kill)
        self._reader.join(5)
        self.process.stderr.close()
        return code
