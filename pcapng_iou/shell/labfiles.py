"""Reading the small files a lab points at (NETMAPs, lock files) so that none can stall or flood the capture.

Whoever owns a lab decides what its names are: a NETMAP in an instance's
folder may be a FIFO (an ``open()`` that waits for a writer for ever), a
64 MB sparse file (read whole, as root), a link to a device or to a file
only root may read.  :func:`read_lab_file` opens without waiting
(``O_NONBLOCK``), takes regular files only (checked on the descriptor, after
the open: the name may change in between), and reads at most ``limit``
bytes.  Anything else is one :class:`LabFileError` with a one-line reason;
the caller warns and skips the file.  The relay never waits on what is read.
"""
from __future__ import annotations

import errno
import os
import stat
from typing import Optional

#: Largest NETMAP read: some 40,000 lines, far beyond any lab.
NETMAP_LIMIT = 1 << 20
#: Largest lock file read: one pid and a newline.
LOCK_LIMIT = 64

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class LabFileError(OSError):
    """A lab file that is not read; ``strerror`` is the reason, one line without the file's name."""


class LabFileRefused(LabFileError):
    """A lab file opened but not read: not a regular file, or too big (the reason says which)."""


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words ("a FIFO", "a regular file"...)."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def read_lab_file(path: str, limit: int, dir_fd: Optional[int] = None, follow_links: bool = True) -> bytes:
    """The bytes of the regular file ``path`` (relative to ``dir_fd`` when given), at most ``limit`` of them.

    Raises :class:`LabFileError` when it cannot be opened, is not a regular
    file, or holds more than ``limit`` bytes.  Never waits: a FIFO or device
    is refused as soon as it is opened.  With ``follow_links`` False, a
    symbolic link is refused too.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError as err:
        if err.errno == errno.ELOOP and not follow_links:
            raise LabFileError(err.errno, "a symbolic link: not followed") from None
        raise LabFileError(err.errno, err.strerror or str(err)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LabFileRefused(errno.EINVAL, f"{kind_of(info.st_mode)}, not a regular file: not read")
        if info.st_size > limit:
            raise LabFileRefused(errno.EFBIG, _too_big(info.st_size, limit))
        chunks = []
        taken = 0
        while taken <= limit:
            chunk = os.read(fd, limit + 1 - taken)
            if not chunk:
                break
            chunks.append(chunk)
            taken += len(chunk)
        if taken > limit:  # it grew while we read
            raise LabFileRefused(errno.EFBIG, _too_big(taken, limit))
        return b"".join(chunks)
    except OSError as err:
        if isinstance(err, LabFileError):
            raise
        raise LabFileError(err.errno, err.strerror or str(err)) from None
    finally:
        os.close(fd)


def _too_big(size: int, limit: int) -> str:
    shown = f"{size:,} bytes" if size < (1 << 20) else f"{size / (1 << 20):,.1f} MiB"
    return f"{shown}, more than the {limit:,} bytes such a file may hold: not read"
