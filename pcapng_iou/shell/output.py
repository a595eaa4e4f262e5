"""The capture file on disk (or standard output), with the flush policy.

Created like any file the user makes (their umask applies), never through a
symlink, and flushed either after every frame or at least once a second by
the event loop.  Any write error becomes one :class:`OutputError` that names
the file, so the capture can stop cleanly and say why.

A pipe, FIFO or socket (``-w -`` into Wireshark, the extcap's FIFO) is
written without waiting: what its reader does not take yet waits in memory
(:attr:`CaptureFile.waiting` bytes) for the event loop to send when the
pipe has room again.  A reader that hangs or is stopped thus holds back the
recording, never the relay; one that takes nothing while
:data:`PIPE_BACKLOG_MAX` bytes wait is given up on.
"""
from __future__ import annotations

import collections
import errno
import io
import itertools
import os
import select
import stat
import sys
import time

from pcapng_iou.core.ring import FileSeries

#: Bytes that may wait for a pipe's reader; beyond, the capture stops (the reader hangs?).
PIPE_BACKLOG_MAX = 64 << 20
#: At the end, how long a pipe's reader may take nothing before what still waits for it is dropped.
PIPE_FINAL_PATIENCE_S = 5.0
#: Without flushing each frame, a pipe is written once this much waits (or at the next flush).
PIPE_WRITE_AT = 256 * 1024
#: Buffers handed to one writev() (Linux takes 1024).
_WRITEV_BUFFERS = 512


class OutputError(Exception):
    def __init__(self, message: str, broken_pipe: bool = False):
        super().__init__(message)
        self.broken_pipe = broken_pipe


def _with_folder(path: str) -> str:
    """``path``, and the folder it is in when the path does not say it (``-w x.pcapng`` run in ``/``)."""
    if os.path.isabs(path):
        return path
    return f"{path} in {os.path.dirname(os.path.abspath(path))}"


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
                raise OutputError(f"cannot write {_with_folder(path)}: {reason}") from None
        mode = os.fstat(fd).st_mode
        #: A regular file can be deleted (or its folder) while we write: writing goes on into nothing.
        self._regular = not self.is_stdout and stat.S_ISREG(mode)
        self._pipe = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
        self._fd = fd
        #: Bytes written to us that a pipe's reader has not taken yet (always 0 for a file).
        self.waiting = 0
        #: The pipe took less than was there to send, the last time: the event loop waits for room in it.
        self.pipe_full = False
        #: Bytes a pipe's reader never took: dropped at :meth:`close` after PIPE_FINAL_PATIENCE_S of nothing.
        self.unsent = 0
        self._backlog: collections.deque = collections.deque()
        self._dirty = False
        if self._pipe:
            os.set_blocking(fd, False)  # (put back at close: standard output's pipe may be shared)
            self._stream = None
        else:
            self._stream = io.BufferedWriter(io.FileIO(fd, "wb"), buffer_size=256 * 1024)

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
        return self._fd

    @property
    def is_pipe(self) -> bool:
        """A pipe, FIFO or socket: its reader can go away while we have nothing to write."""
        return self._pipe

    def write(self, data: bytes) -> None:
        if self._pipe:
            if not data:
                return
            self._backlog.append(data)
            self.waiting += len(data)
            self.written += len(data)
            if self.flush_each or self.waiting >= PIPE_WRITE_AT:
                self._send_backlog()
            else:
                self._dirty = True
            return
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
        if self._pipe:
            self._send_backlog()
            return
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

    def _send_backlog(self) -> None:
        """Write what waits for the pipe's reader, as much as the pipe takes now."""
        backlog = self._backlog
        self.pipe_full = False
        try:
            while backlog:
                if len(backlog) == 1:
                    sent = os.write(self._fd, backlog[0])
                else:
                    sent = os.writev(self._fd, list(itertools.islice(backlog, _WRITEV_BUFFERS)))
                self.waiting -= sent
                while backlog and sent >= len(backlog[0]):
                    sent -= len(backlog.popleft())
                if sent:
                    backlog[0] = memoryview(backlog[0])[sent:]
        except BlockingIOError:
            self.pipe_full = True
        except OSError as err:
            raise self._error(err) from None
        self._dirty = False
        if self.waiting > PIPE_BACKLOG_MAX:
            raise OutputError(f"the reader of {self.display} takes nothing: {self.waiting >> 20} MiB of capture "
                              f"wait for it (it hangs, or was stopped?)")

    def close(self) -> None:
        if self._pipe:
            self._close_pipe()
            return
        try:
            self._stream.close()
        except OSError:
            # What could not be written was already reported; nothing more to save.
            pass

    def _close_pipe(self) -> None:
        """Give the reader what waits for it, unless it takes nothing for PIPE_FINAL_PATIENCE_S."""
        writable = select.poll()
        writable.register(self._fd, select.POLLOUT)
        while self.waiting and self.waiting <= PIPE_BACKLOG_MAX:
            if not writable.poll(PIPE_FINAL_PATIENCE_S * 1000):
                break
            try:
                self._send_backlog()
            except OutputError:
                break
        self.unsent, self.waiting = self.waiting, 0
        self._backlog.clear()
        try:
            os.set_blocking(self._fd, True)
        except OSError:
            pass
        os.close(self._fd)


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
