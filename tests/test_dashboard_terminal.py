"""The live dashboard in a real terminal: tmux runs the capture, capture-pane reads the screen."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest


@pytest.fixture
def tmux():
    path = shutil.which("tmux")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is not installed (apt-get install tmux)")
        pytest.skip("tmux is not installed")
    return path


def _pane(tmux, session):
    return subprocess.run([tmux, "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def _cursor_visible(tmux, session) -> str:
    return subprocess.run([tmux, "display", "-p", "-t", session, "#{cursor_flag}"],
                          capture_output=True, text=True).stdout.strip()


def _capture_pid(output: str) -> int:
    """The pid of the python process running our capture (not the shell tmux started it from)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    argv = handle.read().split(b"\0")
            except OSError:
                continue
            if argv[1:4] == [b"-m", b"pcapng_iou", b"capture"] and output.encode() in argv:
                return int(entry)
    raise AssertionError("capture process not found")


def _frames_on(screen: str, link: str) -> int:
    for line in screen.splitlines():
        if link in line:
            numbers = re.findall(r"\s(\d+)\s", line)
            return int(numbers[1]) + int(numbers[2])  # frames → and frames ← after the interface number
    return -1


def test_live_table_counts_rise_and_sigterm_leaves_the_cursor_visible(make_lab, workdir, tmux):
    lab = make_lab("1:0/0 2:0/0\n1:1/0 2:1/0 hdlc\n", speak=True, interval=0.2, quiet=True)
    session = f"pcapng-iou-test-{os.getpid()}"
    output = os.path.join(workdir, "tty.pcapng")
    command = " ".join(shlex.quote(a) for a in [
        sys.executable, "-m", "pcapng_iou", "capture", "-d", lab.directory, "-n", lab.netmap_path, "-w", output])
    subprocess.run([tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "30",
                    f"{command}; echo EXIT=$?; sleep 30"], check=True)
    try:
        deadline = time.monotonic() + 10
        screen = ""
        while time.monotonic() < deadline and "1:1/0-2:1/0" not in screen:
            time.sleep(0.2)
            screen = _pane(tmux, session)
        assert "1:0/0-2:0/0" in screen and "hdlc" in screen and "dropped by us: 0" in screen, screen
        pid = _capture_pid(output)
        first = _frames_on(screen, "1:1/0-2:1/0")
        time.sleep(1.5)
        screen = _pane(tmux, session)
        later = _frames_on(screen, "1:1/0-2:1/0")
        assert later > first >= 0, (first, later, screen)
        assert "active" in screen
        assert _cursor_visible(tmux, session) == "0"  # hidden while the live table draws
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "EXIT=" not in screen:
            time.sleep(0.2)
            screen = _pane(tmux, session)
        assert "EXIT=0" in screen, screen
        assert "stopped by SIGTERM" in screen
        assert "total" in screen  # the summary table at exit
        assert _cursor_visible(tmux, session) == "1"
    finally:
        subprocess.run([tmux, "kill-session", "-t", session], capture_output=True)
