"""Shared fixtures for the pcapng-iou tests."""
from __future__ import annotations

import io
import os
import shutil
import struct

import pcapng
import pytest


def find_tshark() -> str | None:
    """Path of the tshark program, or None when it is not installed."""
    return shutil.which("tshark") or (
        "/usr/bin/tshark" if os.access("/usr/bin/tshark", os.X_OK) else None)


@pytest.fixture(scope="session")
def tshark() -> str:
    """Path of tshark.  Without it the test fails under CI (the ``CI``
    environment variable is set) and is skipped elsewhere."""
    path = find_tshark()
    if path is None:
        message = "tshark is not installed (apt-get install tshark)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


# --- real labs and real captures ---------------------------------------------------
import shutil as _shutil
import signal as _signal
import subprocess as _subprocess
import sys as _sys
import tempfile as _tempfile
import threading as _threading
import time as _time

from pcapng_iou.sim.lab import Lab


def short_tempdir(prefix: str = "iou") -> str:
    """A fresh directory under /tmp: socket paths must stay under 108 bytes."""
    return _tempfile.mkdtemp(prefix=prefix, dir="/tmp")


@pytest.fixture
def workdir():
    path = short_tempdir()
    yield path
    _shutil.rmtree(path, ignore_errors=True)


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
        self.args = list(prefix) + [_sys.executable, "-m", "pcapng_iou", "capture"] + list(args)
        self.process = _subprocess.Popen(
            self.args, stdin=_subprocess.DEVNULL, stdout=_subprocess.PIPE, stderr=_subprocess.PIPE,
            cwd=cwd, env=env,
        )
        self.lines: list = []
        self._reader = _threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.process.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 10.0, count: int = 1) -> bool:
        deadline = _time.monotonic() + timeout
        while _time.monotonic() < deadline:
            if sum(text in line for line in list(self.lines)) >= count:
                return True
            if self.process.poll() is not None:
                _time.sleep(0.1)
                return sum(text in line for line in list(self.lines)) >= count
            _time.sleep(0.01)
        return False

    def stop(self, signum=_signal.SIGINT, timeout: float = 20.0) -> int:
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
            capture.stop(_signal.SIGTERM)
        for stream in (capture.process.stdout, capture.process.stderr):
            stream.close()


def tshark_rows(tshark_path: str, capture_file: str, *fields: str, extra=()) -> list:
    """``tshark -T fields`` over ``capture_file``: one list of field values per frame."""
    command = [tshark_path, "-r", capture_file, "-T", "fields", "-E", "separator=\t", *extra]
    for field in fields:
        command += ["-e", field]
    result = _subprocess.run(command, capture_output=True, text=True, timeout=120)
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
    mount = _shutil.which("mount")
    result = _subprocess.run([mount, "-t", "tmpfs", "-o", "size=256k", "tmpfs", mount_point],
                             capture_output=True, text=True) if mount else None
    if result is None or result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.strip() if result else 'no mount'}")
    try:
        yield mount_point
    finally:
        _subprocess.run(["umount", "-l", mount_point], capture_output=True)


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = _time.monotonic() + timeout
    while not predicate():
        if _time.monotonic() > deadline:
            return False
        _time.sleep(interval)
    return True
