"""The live dashboard in a real terminal: tmux runs the capture, capture-pane reads the screen."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time

import pytest
from conftest import cli_command, directory_state, need, read_packets, short_tempdir

from pcapng_iou.sim import frames

pytestmark = [pytest.mark.lab, pytest.mark.terminal]


@pytest.fixture
def tmux(monkeypatch):
    """tmux, with a server of this test's own: a test that starts a session just after another
    test killed its last one could otherwise reach a server that is shutting down."""
    path = shutil.which("tmux")
    if path is None:
        need("tmux is not installed (apt-get install tmux)")
    folder = short_tempdir("tmux")
    monkeypatch.setenv("TMUX_TMPDIR", folder)
    monkeypatch.delenv("TMUX", raising=False)
    yield path
    subprocess.run([path, "kill-server"], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


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


def _capture_in_tmux(tmux, lab, output: str, name: str, width: int, height: int) -> str:
    """Start the capture of ``lab`` into ``output`` in a tmux session of its own, ``width`` x ``height``,
    which says EXIT=<status> once it ends; the session's name."""
    command = " ".join(shlex.quote(a) for a in cli_command(
        "capture", "-d", lab.directory, "-n", lab.netmap_path, "-w", output))
    session = f"pcapng-iou-{name}-{os.getpid()}"
    # (without COLUMNS and LINES, which the pane's shell may set to another size: the terminal's own is used)
    subprocess.run([tmux, "new-session", "-d", "-s", session, "-x", str(width), "-y", str(height),
                    f"env -u COLUMNS -u LINES {command}; echo EXIT=$?; sleep 30"], check=True)
    return session


def _wait_for_text(tmux, session: str, text: str, timeout: float = 20.0) -> str:
    """The screen once ``text`` is on it."""
    deadline = time.monotonic() + timeout
    screen = _pane(tmux, session)
    while text not in screen:
        assert time.monotonic() < deadline, screen
        time.sleep(0.1)
        screen = _pane(tmux, session)
    return screen


def _frames_on(screen: str, link: str) -> int:
    """Frames → plus frames ← on the table row of ``link`` (its # is the file's interface id, or -)."""
    for line in screen.splitlines():
        match = re.match(rf"^\s*(\d+|-)\s+{re.escape(link)}\s+\S+\s+([\d,]+)\s+([\d,]+)\s", line)
        if match:
            return int(match.group(2).replace(",", "")) + int(match.group(3).replace(",", ""))
    return -1


def test_live_table_counts_rise_and_sigterm_leaves_the_cursor_visible(make_lab, workdir, tmux):
    lab = make_lab("1:0/0 2:0/0\n1:1/0 2:1/0 hdlc\n", speak=True, interval=0.2, quiet=True)
    output = os.path.join(workdir, "tty.pcapng")
    session = _capture_in_tmux(tmux, lab, output, "test", 120, 30)
    try:
        deadline = time.monotonic() + 10
        screen = ""
        while time.monotonic() < deadline and "1:1/0-2:1/0" not in screen:
            time.sleep(0.2)
            screen = _pane(tmux, session)
        assert "1:0/0-2:0/0" in screen and "hdlc" in screen and "undelivered 0" in screen, screen
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


DEMO_LINKS = {"1:0/0-2:0/0": "ethernet", "2:1/1-3:1/1": "ppp", "3:1/2-4:1/2": "frame-relay",
              "1:0/1-3:0/1-4:0/1": "ethernet"}


def _rows(screen: str) -> list:
    """(number, link, type, whole line) of every table row on the screen."""
    rows = []
    for line in screen.splitlines():
        match = re.match(r"^\s*(\d+)\s+(\d+:\S+)\s+(\S+)", line)
        if match:
            rows.append((int(match.group(1)), match.group(2), match.group(3), line))
    return rows


def _replacements_told_apart(rows: list) -> None:
    """Each row "replaced by #N" has a row N of the same link, and their types differ."""
    by_number = {number: (link, kind) for number, link, kind, _ in rows}
    for number, link, kind, line in rows:
        replaced = re.search(r"replaced by #(\d+)\s*$", line)
        if replaced:
            newer = by_number.get(int(replaced.group(1)))
            assert newer is not None and newer[0] == link and newer[1] != kind, (line, by_number)


@pytest.mark.parametrize("width", [80, 120, 200])
def test_demo_in_a_real_terminal_keeps_every_link_and_type_whole(width, workdir, tmux):
    """The default terminal is 80x24: after the switch to PPP, the two rows of 1:1/0-2:1/0 differ by their
    type, the pid is whole, and the summary at exit has every link whole on one line."""
    session = f"pcapng-iou-demo-{os.getpid()}-{width}"
    output = os.path.join(workdir, "demo.pcapng")
    command = " ".join(shlex.quote(a) for a in cli_command("demo", "-w", output, "--duration", "10"))
    subprocess.run([tmux, "new-session", "-d", "-s", session, "-x", str(width), "-y", "24",
                    f"{command}; echo EXIT=$?; sleep 60"], check=True)
    try:
        deadline = time.monotonic() + 60
        screen = ""
        while time.monotonic() < deadline and ("1:1/0-2:1/0", "ppp") not in {r[1:3] for r in _rows(screen)}:
            time.sleep(0.2)
            screen = _pane(tmux, session)
        live = {(number, link): kind for number, link, kind, _ in _rows(screen)}
        assert {("1:1/0-2:1/0", "hdlc"), ("1:1/0-2:1/0", "ppp")} <= {(link, kind) for (_, link), kind in live.items()}, \
            screen
        for link, kind in DEMO_LINKS.items():
            assert kind in {k for (_, name), k in live.items() if name == link}, (link, screen)
        _replacements_told_apart(_rows(screen))
        pid = re.search(r"\bpid (\d+)\b", screen)
        assert pid and f"kill -HUP {pid.group(1)}" in screen, screen
        assert all(len(line) <= width for line in screen.splitlines())
        assert "…" not in "".join(line for line in screen.splitlines() if "pid" in line or "HUP" in line)
        while time.monotonic() < deadline and "EXIT=" not in screen:
            time.sleep(0.2)
            screen = _pane(tmux, session)
        assert "EXIT=0" in screen, screen
        screen = subprocess.run([tmux, "capture-pane", "-p", "-S", "-", "-t", session],  # scrolled lines too
                                capture_output=True, text=True).stdout
        final = screen[screen.rindex("duration of 10 s reached"):]
        final = final[:final.index("pcapng-iou: warning:")] if "pcapng-iou: warning:" in final else final
        rows = _rows(final)
        # Serial bays start as Cisco HDLC: the links configured for PPP and Frame Relay are right from their
        # first frame (the HDLC guesses carried none: not in the file), the HDLC link is replaced when the
        # routers switch.  '#' is the file's interface id: numbered in the order the links' first frames came.
        found = {(link, kind): number for number, link, kind, _ in rows}
        assert set(found) == {
            ("1:0/0-2:0/0", "ethernet"), ("1:1/0-2:1/0", "hdlc"), ("2:1/1-3:1/1", "ppp"),
            ("3:1/2-4:1/2", "frame-relay"), ("1:0/1-3:0/1-4:0/1", "ethernet"), ("1:1/0-2:1/0", "ppp")}, final
        assert sorted(found.values()) == list(range(6)), final
        hdlc_row = [row for row in rows if row[1:3] == ("1:1/0-2:1/0", "hdlc")][0]
        assert hdlc_row[3].rstrip().endswith(f"replaced by #{found['1:1/0-2:1/0', 'ppp']}"), final
        _replacements_told_apart(rows)
        assert "…" not in final
        totals = [line for line in final.splitlines() if line.split()[:1] == ["total"]]
        assert len(totals) == 1 and re.search(r"\d+(\.\d+)? (B|KiB|MiB)\s*$", totals[0]), final
    finally:
        subprocess.run([tmux, "kill-session", "-t", session], capture_output=True)


def _gone(pid: int) -> bool:
    """Whether ``pid`` has ended (an orphan may linger as a zombie until init reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("messages", ["on the terminal", "in a file"])
def test_closing_the_terminal_stops_the_capture_and_gives_the_sockets_back(make_lab, workdir, tmux, messages):
    """SIGHUP reloads the NETMAP while the terminal is there; when it comes because the terminal was closed
    (a window closed, an SSH session dropped), nobody is left to stop the capture: it stops by itself."""
    lab = make_lab("1:0/0 2:0/0\n", speak=True, interval=0.1, quiet=True)
    before = directory_state(lab.directory)
    output = os.path.join(workdir, "hangup.pcapng")
    log = os.path.join(workdir, "hangup.log")
    command = " ".join(shlex.quote(a) for a in cli_command(
        "capture", "-d", lab.directory, "-n", lab.netmap_path, "-w", output))
    if messages == "in a file":
        command += f" 2> {shlex.quote(log)}"
    session = f"pcapng-iou-hangup-{os.getpid()}"
    # exec: the capture leads the terminal's session, as the newcomer who found this ran it.
    subprocess.run([tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "30", f"exec {command}"], check=True)
    deadline = time.monotonic() + 20
    while not all(os.path.exists(os.path.join(lab.directory, f"{n}_real")) for n in (1, 2)):
        assert time.monotonic() < deadline, _pane(tmux, session)
        time.sleep(0.1)
    pid = _capture_pid(output)
    os.kill(pid, signal.SIGHUP)  # the terminal is there: a reload
    deadline = time.monotonic() + 10
    said = lambda: open(log).read() if messages == "in a file" else _pane(tmux, session)  # noqa: E731
    while "NETMAP reloaded" not in said():
        assert time.monotonic() < deadline, said()
        time.sleep(0.1)
    assert not _gone(pid)
    subprocess.run([tmux, "kill-server"], check=True)  # the terminal goes, and SIGHUP comes
    deadline = time.monotonic() + 20
    while not _gone(pid):
        assert time.monotonic() < deadline, "the capture outlived its terminal"
        time.sleep(0.1)
    assert directory_state(lab.directory) == before
    assert read_packets(output), "the file is whole and holds the frames"
    if messages == "in a file":
        assert "stopped by SIGHUP: the terminal was closed" in open(log).read()


def test_a_terminal_held_by_ctrl_s_holds_back_the_dashboard_not_the_lab(make_lab, workdir, tmux):
    """Ctrl-S in the capture's terminal (as a stalled SSH link) makes it take no output: the dashboard
    waits, the relay does not.  Found by a review: the loop slept in write() within a second or two, and
    the routers' frames waited with it.  Ctrl-Q brings the dashboard back; the stop is as usual."""
    lab = make_lab("1:0/0 2:0/0\n")
    before = directory_state(lab.directory)
    output = os.path.join(workdir, "xoff.pcapng")
    session = _capture_in_tmux(tmux, lab, output, "xoff", 120, 40)
    try:
        _wait_for_text(tmux, session, "1:0/0-2:0/0")
        pid = _capture_pid(output)
        subprocess.run([tmux, "send-keys", "-t", session, "C-s"], check=True)
        frame = frames.arp_request("aa:bb:cc:00:01:00", "10.0.0.1", "10.0.0.2")
        for sent in range(1, 41):  # 4 s of redraws, several times what the terminal holds
            lab[1].send("0/0", frame)
            assert lab[2].wait_received(sent, timeout=10), f"frame {sent} not relayed while the terminal is held"
            time.sleep(0.1)
        subprocess.run([tmux, "send-keys", "-t", session, "C-q"], check=True)
        deadline = time.monotonic() + 10
        row = lambda: [line for line in _pane(tmux, session).splitlines() if "1:0/0-2:0/0" in line]  # noqa: E731
        while not re.search(r"\s40\s", " ".join(row()) + " "):  # drawn again once the terminal takes output
            assert time.monotonic() < deadline, _pane(tmux, session)
            time.sleep(0.2)
        os.kill(pid, signal.SIGTERM)
        assert "EXIT=0" in _wait_for_text(tmux, session, "EXIT=", timeout=10)
    finally:
        subprocess.run([tmux, "send-keys", "-t", session, "C-q"], capture_output=True)
        subprocess.run([tmux, "kill-session", "-t", session], capture_output=True)
    assert directory_state(lab.directory) == before
    assert len(read_packets(output)) == 40


def test_warnings_the_dashboard_cut_are_said_whole_at_the_end(make_lab, workdir, tmux):
    """The dashboard shows each message on one line of the screen, cut: a warning's "Fix: ..." was never
    seen whole, not even at the end (found by a newcomer).  Now each warning is said again, whole, after
    the summary."""
    lab = make_lab("1:1/0 2:1/0 ppp\n", speak=True, interval=0.1, quiet=True)
    for number in (1, 2):
        lab[number].command("encap 1/0 hdlc")  # not what the line says
    output = os.path.join(workdir, "cut.pcapng")
    session = _capture_in_tmux(tmux, lab, output, "cut", 80, 30)
    try:
        _wait_for_text(tmux, session, "but the frames are")
        pid = _capture_pid(output)
        os.kill(pid, signal.SIGTERM)
        _wait_for_text(tmux, session, "EXIT=", timeout=10)
        joined = subprocess.run([tmux, "capture-pane", "-p", "-J", "-S", "-", "-t", session],
                                capture_output=True, text=True).stdout  # wrapped lines joined again
    finally:
        subprocess.run([tmux, "kill-session", "-t", session], capture_output=True)
    lines = joined.splitlines()
    starts = [n for n, line in enumerate(lines) if line.startswith("pcapng-iou: warning: 1:1/0-2:1/0: ")]
    assert len(starts) == 1, joined
    said = [lines[starts[0]]]
    for line in lines[starts[0] + 1:]:
        if not line.startswith("    "):
            break
        said.append(line)
    # Wrapped at word boundaries within 80 columns (it broke mid-word, "new int" / "erface 7"), and without
    # "then kill -HUP <pid>" for a process that has exited (found by a newcomer).
    assert all(len(line) <= 80 for line in said), said
    whole = " ".join(line.strip() for line in said)
    assert whole.endswith("Fix: write hdlc on that line (or drop the link type to let the bays decide) before "
                          "the next capture"), said
    assert "kill -HUP" not in whole and "  " not in whole, said
    assert joined.index("total") < joined.index(said[0])  # after the summary
    # The start-up lines were said above the dashboard: they are in the scrollback, whole (they were
    # overwritten by it; found by a newcomer).
    above = joined[:joined.index("pcapng-iou → ")]
    assert f"pcapng-iou: NETMAP {lab.netmap_path}: 1 line" in above, joined
    assert re.search(rf"pcapng-iou: capturing {re.escape(lab.directory)} into {re.escape(output)}\s+\(pid {pid};",
                     above), joined
