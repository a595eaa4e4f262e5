"""Ring buffers and autostop as dumpcap has them: option syntax, file names, when to switch, what to delete.

Pure decisions, no files and no clock: the caller passes the time and does
the opening, closing and deleting (:mod:`pcapng_iou.shell.output`).

``-b filesize:KB``, ``-b duration:SECONDS`` and ``-b files:N`` (keep the
newest N files) write a series of files named as dumpcap names them::

    -w lab.pcapng  ->  lab_00001_20250102030405.pcapng, lab_00002_20250102030501.pcapng, ...

``-a filesize:KB`` stops the capture when the file reaches that size (with a
ring buffer it switches files instead, as dumpcap does), ``-a files:N`` stops
when the N-th file of a ring buffer is done.  A kB is 1000 bytes, as in dumpcap.
"""
from __future__ import annotations

import enum
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Optional

from pcapng_iou.core.words import counted

#: dumpcap counts file sizes in units of 1000 bytes.
KB = 1000
#: dumpcap numbers ring files with 5 digits: 00001 .. 99999, then 00000 again.
NUMBER_MODULO = 100_000
MAX_FILES = NUMBER_MODULO - 1

RING_KEYS = ("filesize", "duration", "files")
AUTOSTOP_KEYS = ("filesize", "files", "duration", "packets")


class WhenFull(enum.Enum):
    """What the capture does once its file reached its size or time."""

    #: Go on in the next file of the series.
    SWITCH = "switch"
    #: Stop the capture.
    STOP = "stop"


class RingOptionError(ValueError):
    """A ``-b``/``-a`` value or combination that cannot work; ``str()`` names the option."""


def _whole(option: str, key: str, text: str, unit: str, most: Optional[int] = None) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise RingOptionError(f"{option} {key}:{text}: expected a whole number of {unit}") from None
    if value < 1:
        raise RingOptionError(f"{option} {key}:{text}: expected at least 1 {unit[:-1] if unit.endswith('s') else unit}")
    if most is not None and value > most:
        raise RingOptionError(f"{option} {key}:{text}: at most {most} {unit}")
    return value


def _seconds(option: str, key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RingOptionError(f"{option} {key}:{text}: expected a number of seconds") from None
    if not 0 < value < float("inf"):
        raise RingOptionError(f"{option} {key}:{text}: expected a finite duration above 0 seconds")
    return value


def _split(option: str, text: str, keys: tuple) -> tuple[str, str]:
    key, sep, value = text.partition(":")
    key = key.strip().lower()
    if not sep or key not in keys:
        known = ", ".join(f"{k}:" for k in keys)
        raise RingOptionError(f"{option} {text}: expected one of {known} followed by a value")
    if not value.strip():
        raise RingOptionError(f"{option} {key}: needs a value after the colon")
    return key, value.strip()


def parse_ring_option(text: str) -> tuple[str, object]:
    """One ``-b KEY:VALUE``: ``("filesize", kB)``, ``("duration", seconds)`` or ``("files", N)``."""
    key, value = _split("-b", text, RING_KEYS)
    if key == "filesize":
        return key, _whole("-b", key, value, "kB")
    if key == "duration":
        return key, _seconds("-b", key, value)
    return key, _whole("-b", key, value, "files", MAX_FILES)


def parse_autostop_option(text: str) -> tuple[str, object]:
    """One ``-a KEY:VALUE``: filesize (kB), files, duration (seconds) or packets."""
    key, value = _split("-a", text, AUTOSTOP_KEYS)
    if key == "filesize":
        return key, _whole("-a", key, value, "kB")
    if key == "duration":
        return key, _seconds("-a", key, value)
    return key, _whole("-a", key, value, "files" if key == "files" else "packets")


@dataclass(frozen=True)
class FileLimits:
    """When the capture switches files or stops because of its files.

    ``ring`` is true when any ``-b`` was given: files are then named as a
    series (:func:`series_name`) from the first one on.
    """

    ring: bool = False
    #: Switch (ring) or stop (single file) once a file holds this many bytes.
    file_bytes: Optional[int] = None
    #: Switch after a file has been open this long.
    file_seconds: Optional[float] = None
    #: Keep only the newest N files (the ring proper); None keeps them all.
    keep_files: Optional[int] = None
    #: Stop when this many files have been written.
    stop_after_files: Optional[int] = None
    #: ``-a duration`` / ``-a packets``, handed on as ``--duration`` / ``--count``.
    stop_seconds: Optional[float] = None
    stop_packets: Optional[int] = None

    @property
    def active(self) -> bool:
        return self.ring or self.file_bytes is not None

    def describe(self) -> str:
        """``"a new file every 64 kB or 60 s, keeping the newest 3"`` and the like."""
        when = []
        if self.file_bytes is not None:
            when.append(f"{self.file_bytes // KB} kB")
        if self.file_seconds is not None:
            when.append(f"{self.file_seconds:g} s")
        text = f"a new file every {' or '.join(when)}"
        text += f", keeping the newest {self.keep_files}" if self.keep_files else ", keeping them all"
        if self.stop_after_files:
            text += f", stopping after {counted(self.stop_after_files, 'file')}"
        return text


def file_limits(ring_options: list, autostop_options: list, to_stdout: bool) -> FileLimits:
    """Combine the parsed ``-b`` and ``-a`` options (a later value of a key wins, as in dumpcap).

    Raises :class:`RingOptionError` for combinations that cannot work.
    """
    ring = dict(ring_options)
    stop = dict(autostop_options)
    if ring and to_stdout:
        raise RingOptionError("-b: a ring buffer writes a series of files; give a file name with -w, "
                              "not standard output")
    sizes = [kb * KB for kb in (ring.get("filesize"), stop.get("filesize")) if kb is not None]
    file_bytes = min(sizes) if sizes else None
    if ring and file_bytes is None and "duration" not in ring:
        raise RingOptionError(f"-b files:{ring['files']}: a ring buffer also needs -b filesize:KB or "
                              f"-b duration:SECONDS to know when to start the next file")
    if "files" in stop and not ring:
        raise RingOptionError(f"-a files:{stop['files']}: needs a ring buffer (-b filesize:KB or "
                              f"-b duration:SECONDS)")
    return FileLimits(
        ring=bool(ring),
        file_bytes=file_bytes,
        file_seconds=ring.get("duration"),
        keep_files=ring.get("files"),
        stop_after_files=stop.get("files"),
        stop_seconds=stop.get("duration"),
        stop_packets=stop.get("packets"),
    )


def series_name(path: str, number: int, when: time.struct_time) -> str:
    """dumpcap's name for file ``number`` of the series ``path``: ``PREFIX_NNNNN_YYYYmmddHHMMSS.SUFFIX``.

    The suffix is the extension of ``path``'s last component (none if it has no dot).
    """
    folder, base = os.path.split(path)
    stem, dot, extension = base.rpartition(".")
    prefix, suffix = (stem, dot + extension) if dot else (base, "")
    name = f"{prefix}_{number % NUMBER_MODULO:05d}_{time.strftime('%Y%m%d%H%M%S', when)}{suffix}"
    return os.path.join(folder, name)


#: Names tried for one ring buffer file before giving up: its own, then "-2", "-3"...
FREE_NAME_ATTEMPTS = 100


def free_name(name: str, attempt: int) -> str:
    """``name`` for the first ``attempt``, then with ``-2``, ``-3``... before its suffix (the name was taken)."""
    if attempt <= 1:
        return name
    folder, base = os.path.split(name)
    stem, dot, extension = base.rpartition(".")
    prefix, suffix = (stem, dot + extension) if dot else (base, "")
    return os.path.join(folder, f"{prefix}-{attempt}{suffix}")


class FileSeries:
    """The files of one capture: names the next one, says which to delete and when to stop.

    ``opened`` counts the files opened so far (the first is number 1).
    """

    def __init__(self, path: str, limits: FileLimits):
        self.path = path
        self.limits = limits
        self.opened = 0
        self._kept: deque = deque()
        #: A name found taken was said (once: a capture beside another of the same name meets it often).
        self.taken_said = False

    def next_file(self, when: time.struct_time) -> tuple[str, list]:
        """Name of the next file, and the older files to delete before opening it (oldest first)."""
        self.opened += 1
        name = series_name(self.path, self.opened, when) if self.limits.ring else self.path
        self._kept.append(name)
        delete = []
        keep = self.limits.keep_files
        while keep is not None and len(self._kept) > keep:
            delete.append(self._kept.popleft())
        return name, delete

    def renamed_last(self, name: str) -> None:
        """The file just named was created as ``name`` (its own name was taken): that one is ours to delete."""
        self._kept[-1] = name

    @property
    def files(self) -> list:
        """The files of the series still kept, oldest first."""
        return list(self._kept)

    def when_full(self) -> WhenFull:
        """What to do when the current file reaches its size or time."""
        if not self.limits.ring:
            return WhenFull.STOP
        stop_after = self.limits.stop_after_files
        if stop_after is not None and self.opened >= stop_after:
            return WhenFull.STOP
        return WhenFull.SWITCH

    def stop_reason(self) -> str:
        if not self.limits.ring:
            return f"file size of {self.limits.file_bytes // KB} kB reached"
        return f"{counted(self.opened, 'file')} written"
