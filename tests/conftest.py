"""Shared fixtures and helpers for the pcapng-iou tests.

Markers (registered in setup.cfg): ``lab`` for every test that starts a process (a simulated
instance, a capture, the command line, tshark...), ``terminal`` for tmux sessions, ``remote``
for sshd, ``bench`` for the long measuring harnesses.  ``pytest -m "not lab"`` runs the
in-memory half; a test that starts a process without the ``lab`` marker fails (see
:func:`pytest_runtest_teardown`).
"""
from __future__ import annotations

import io
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pcapng
import pytest

import pcapng_iou
from pcapng_iou.sim.lab import Lab

#: The folder holding the package under test: child processes run this code, whatever their cwd.
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pcapng_iou.__file__)))

#: Fixtures whose tests start processes: such tests are marked ``lab`` without saying so.
PROCESS_FIXTURES = {"make_lab", "start_capture", "tshark", "capinfos", "tmux"}
#: The audit events of a process being started (``os.fork`` is audited from Python 3.11 on).
PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.exec",
                            "os.spawn", "os.system", "pty.spawn"})
_processes_started: list = []


def _note_process_events(event: str, args) -> None:
    if event in PROCESS_EVENTS:
        _processes_started.append(event)


sys.addaudithook(_note_process_events)


def pytest_collection_modifyitems(items):
    for item in items:
        if PROCESS_FIXTURES.intersection(item.fixturenames):
            item.add_marker(pytest.mark.lab)
        if "tmux" in item.fixturenames:
            item.add_marker(pytest.mark.terminal)


def pytest_runtest_setup(item):
    del _processes_started[:]


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    """A test that started a process (its fixtures included) must be marked ``lab``, so that
    ``-m "not lab"`` stays the in-memory half."""
    if _processes_started and item.get_closest_marker("lab") is None:
        events = ", ".join(sorted(set(_processes_started)))
        del _processes_started[:]
        pytest.fail(f"{item.nodeid} starts processes ({events}) but is not marked lab", pytrace=False)


def need(message: str) -> None:
    """A tool or privilege the test cannot run without is missing: fail under CI (the ``CI``
    environment variable is set), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def find_tshark() -> str | None:
    """Path of the tshark program, or None when it is not installed."""
    return shutil.which("tshark") or (
        "/usr/bin/tshark" if os.access("/usr/bin/tshark", os.X_OK) else None)


@pytest.fixture(scope="session")
def tshark() -> str:
    """Path of tshark (see :func:`need`)."""
    path = find_tshark()
    if path is None:
        need("tshark is not installed (apt-get install tshark)")
    return path


@pytest.fixture(scope="session")
def capinfos() -> str:
    """Path of capinfos (see :func:`need`)."""
    path = shutil.which("capinfos")
    if path is None:
        need("capinfos is not installed (apt-get install tshark)")
    return path


# --- real labs and real captures ---------------------------------------------------


def short_tempdir(prefix: str = "iou") -> str:
    """A fresh directory under /tmp: socket paths must stay under 108 bytes."""
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


@pytest.fixture
def workdir():
    path = short_tempdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_lab(workdir):
    """``make_lab(netmap_text, start=True, **kw)``: a Lab in ``workdir/netio``, stopped afterwards."""
    labs = []

    def factory(netmap_text: str, start: bool = True, **kwargs) -> Lab:
        lab = Lab(os.path.join(workdir, "netio"), netmap_text, os.path.join(workdir, "NETMAP"), **kwargs)
        labs.append(lab)
        if start:
            lab.start()
        return lab

    yield factory
    for lab in labs:
        lab.stop()


class CaptureProcess:
    """``pcapng-iou capture`` run as a child process, its stderr collected line by line."""

    def __init__(self, args, cwd=None, env=None, prefix=()):
        """``prefix``: words that run the capture (``setpriv ...``)."""
        self.args = cli_command("capture", *args, prefix=prefix)
        self.process = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=cwd, env=env,
        )
        self.lines: list = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.process.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 10.0, count: int = 1) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(text in line for line in list(self.lines)) >= count:
                return True
            if self.process.poll() is not None:
                time.sleep(0.1)
                return sum(text in line for line in list(self.lines)) >= count
            time.sleep(0.01)
        return False

    def stop(self, signum=signal.SIGINT, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.wait(timeout)

    def wait(self, timeout: float = 20.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code


@pytest.fixture
def start_capture():
    """``start_capture(*args)``: a running capture, killed at the end if a test left it."""
    started = []

    def factory(*args, **kwargs) -> CaptureProcess:
        capture = CaptureProcess(args, **kwargs)
        started.append(capture)
        return capture

    yield factory
    for capture in started:
        if capture.process.poll() is None:
            capture.stop(signal.SIGTERM)
        for stream in (capture.process.stdout, capture.process.stderr):
            stream.close()


def tshark_rows(tshark_path: str, capture_file: str, *fields: str, extra=()) -> list:
    """``tshark -T fields`` over ``capture_file``: one list of field values per frame."""
    command = [tshark_path, "-r", capture_file, "-T", "fields", "-E", "separator=\t", *extra]
    for field in fields:
        command += ["-e", field]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"tshark failed on {capture_file}: {result.stderr}"
    return [line.split("\t") for line in result.stdout.splitlines()]


def directory_state(directory: str) -> dict:
    """Name -> inode of everything in ``directory`` (a name removed while it is read is left out: the capture
    may be tidying up while a test waits for the directory to settle)."""
    state = {}
    for name in sorted(os.listdir(directory)):
        try:
            state[name] = os.lstat(os.path.join(directory, name)).st_ino
        except FileNotFoundError:
            pass
    return state


# --- reading PCAP-NG: one reader for every test, python-pcapng as the independent oracle -------
#: An empty little-endian section header (unknown length): what a piece of a stream is read after.
SECTION_HEADER = struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)


def scan(source) -> list:
    """Every block of a PCAP-NG capture (a file's path, or bytes) as python-pcapng reads it.

    Raises on any block whose lengths do not agree and on stray bytes at the end."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        with open(source, "rb") as handle:
            data = handle.read()
    return list(pcapng.FileScanner(io.BytesIO(data)))


def scan_after_header(data: bytes) -> list:
    """The blocks of a piece of a stream that follows its section header (what a recorder
    writes after ``start()``)."""
    return scan(SECTION_HEADER + data)[1:]


def packet_fields(block) -> tuple:
    """(interface id, frame bytes, epb_flags or 0, [comments]) of an Enhanced Packet Block."""
    options = block.options
    flags = int(options["epb_flags"]) if "epb_flags" in options else 0
    comments = list(options.get_all("opt_comment")) if "opt_comment" in options else []
    return block.interface_id, bytes(block.packet_data), flags, comments


def isb_time(value: int) -> int:
    """A statistics block's start/end time: python-pcapng reads the two 32-bit halves (high
    first, as PCAP-NG stores them) as one little-endian u64; put them back in order."""
    return (value & 0xFFFFFFFF) << 32 | value >> 32


def read_packets(source) -> list:
    """:func:`packet_fields` of each packet of a capture (a path, or bytes)."""
    return [packet_fields(block) for block in scan(source) if isinstance(block, pcapng.blocks.EnhancedPacket)]


@pytest.fixture
def small_filesystem(workdir):
    """A 256 KiB tmpfs mounted for the test (needs root; skipped where mounting is not allowed)."""
    mount_point = os.path.join(workdir, "small")
    os.mkdir(mount_point)
    mount = shutil.which("mount")
    result = subprocess.run([mount, "-t", "tmpfs", "-o", "size=256k", "tmpfs", mount_point],
                             capture_output=True, text=True) if mount else None
    if result is None or result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.strip() if result else 'no mount'}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", mount_point], capture_output=True)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


# --- the command line under test ---------------------------------------------------------
def cli_command(*args: str, prefix=()) -> list:
    """The words that run ``pcapng-iou *args`` from this source tree (``prefix``: ``setpriv ...``)."""
    return [*prefix, sys.executable, "-m", "pcapng_iou", *args]


def cli_env(env=None) -> dict:
    """``env`` (or this process's environment) with the source tree first on PYTHONPATH, so a child
    runs the code under test whatever its working directory."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SOURCE_ROOT, env.get("PYTHONPATH")]))
    return env


def run_cli(*args: str, cwd=None, timeout: float = 60.0, prefix=(), env=None, **kwargs) -> subprocess.CompletedProcess:
    """``pcapng-iou *args`` run to its end, stdin empty, its output as text (captured unless
    ``kwargs`` say where it goes)."""
    if "stdout" not in kwargs and "stderr" not in kwargs:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(cli_command(*args, prefix=prefix), cwd=cwd, env=cli_env(env), text=True, timeout=timeout,
                          **kwargs)


def start_cli(*args: str, prefix=(), env=None, **popen) -> subprocess.Popen:
    """``pcapng-iou *args`` started (stdin empty unless ``popen`` says otherwise); the caller ends it."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(cli_command(*args, prefix=prefix), env=cli_env(env), **popen)
