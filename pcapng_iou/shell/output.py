"""The capture file on disk (or standard output), with the flush policy.

Created like any file the user makes (their umask applies), never through a
symlink, and flushed either after every frame or at least once a second by
the event loop.  Any write error becomes one :class:`OutputError` that names
the file, so the capture can stop cleanly and say why.
"""
from __future__ import annotations

import errno
import io
import os
import stat
import sys
import time

from pcapng_iou.core.ring import FileSeries


class OutputError(Exception):
    def __init__(self, message: str, broken_pipe: bool = False):
        super().__init__(message)
        self.broken_pipe = broken_pipe


class CaptureFile:
    def __init__(self, path: str, flush_each: bool = False):
        self.path = path
        self.flush_each = flush_each
        self.written = 0
        self.is_stdout = path == "-"
        if self.is_stdout:
            fd = os.dup(sys.stdout.fileno())
            self.display = "standard output"
        else:
            self.display = path
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                fd = os.open(path, flags, 0o666)
            except OSError as err:
                reason = "is a symlink; refusing to write through it" if err.errno == errno.ELOOP else err.strerror
                raise OutputError(f"cannot write {path}: {reason}") from None
        self._stream = io.BufferedWriter(io.FileIO(fd, "wb"), buffer_size=256 * 1024)
        self._dirty = False
        #: A regular file can be deleted (or its folder) while we write: writing goes on into nothing.
        self._regular = not self.is_stdout and stat.S_ISREG(os.fstat(fd).st_mode)

    @property
    def is_regular(self) -> bool:
        """A regular file (not standard output, a pipe or a device)."""
        return self._regular

    def remove(self) -> bool:
        """Delete the file we wrote (after :meth:`close`); True when it was removed."""
        if not self._regular:
            return False
        try:
            os.unlink(self.path)
        except OSError:
            return False
        return True

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def is_pipe(self) -> bool:
        """A pipe, FIFO or socket: its reader can go away while we have nothing to write."""
        mode = os.fstat(self.fileno()).st_mode
        return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)

    def write(self, data: bytes) -> None:
        try:
            self._stream.write(data)
            self.written += len(data)
            if self.flush_each:
                self._stream.flush()
            else:
                self._dirty = True
        except OSError as err:
            raise self._error(err) from None

    def flush(self) -> None:
        if self._dirty:
            try:
                self._stream.flush()
            except OSError as err:
                raise self._error(err) from None
            self._dirty = False
        if self._regular and os.fstat(self._stream.fileno()).st_nlink == 0:
            raise OutputError(f"cannot write {self.display}: the file was deleted (or its folder) while capturing")

    def _error(self, err: OSError) -> OutputError:
        if err.errno in (errno.EPIPE, errno.ECONNRESET):
            return OutputError(f"the reader of {self.display} went away", broken_pipe=True)
        return OutputError(f"cannot write {self.display}: {err.strerror or err}")

    def close(self) -> None:
        try:
            self._stream.close()
        except OSError:
            # What could not be written was already reported; nothing more to save.
            pass


def open_next_file(series: FileSeries, flush_each: bool = False) -> tuple[CaptureFile, list]:
    """Open the next file of ``series``, deleting first the old ones it no longer keeps (as dumpcap).

    Returns the file and warnings about old files that could not be deleted.
    """
    name, delete = series.next_file(time.localtime())
    problems = []
    for old in delete:
        try:
            os.unlink(old)
        except FileNotFoundError:
            pass
        except OSError as err:
            problems.append(f"cannot delete the old ring buffer file {old}: {err.strerror}")
    return CaptureFile(name, flush_each), problems
