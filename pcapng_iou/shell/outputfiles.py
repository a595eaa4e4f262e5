"""Creating a capture file: for its user's eyes only, never through a link, never someone else's file.

Captured traffic is private: a new file is created ``0600`` (``0640`` with
``-g``, the group may read it), as dumpcap does (a umask can only narrow it).
Under ``sudo`` it is given to the user who ran sudo (``SUDO_UID``/``SUDO_GID``)
through its descriptor (``fchown``, never by name: the name may have been
swapped by then), so that they open it without sudo.

A ring buffer's file is created exclusively (``O_EXCL``): a name another
capture already took is never opened, truncated or later deleted by this one
(the caller picks the next free name).  A single ``-w`` file may be written
over, as tcpdump and dumpcap do, but only a regular file: a FIFO or a device
at that path is refused at once (its ``open()`` would wait for a reader, or
write into the device), unless the caller takes any kind (the extcap's FIFO).
An existing file written over keeps its owner and loses any group or other
permission beyond the new file's mode.
"""
from __future__ import annotations

import errno
import os
import stat

from pcapng_iou.shell.labfiles import kind_of
from pcapng_iou.shell.privileges import invoking_user

PRIVATE_MODE = 0o600
GROUP_READ_MODE = 0o640
#: Times a single file is looked for again when it vanishes or appears between two opens.
_ATTEMPTS = 3


class OutputRefused(Exception):
    """The capture file cannot be created or opened; the message is one line naming it."""


def file_mode(group_read: bool) -> int:
    return GROUP_READ_MODE if group_read else PRIVATE_MODE


def create_exclusively(path: str, group_read: bool = False) -> int:
    """A descriptor on a new file ``path`` (FileExistsError when the name is taken: any file, link or FIFO)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, file_mode(group_read))
    try:
        _give_to_invoking_user(fd)
    except OSError:
        os.close(fd)
        raise
    return fd


def open_for_writing(path: str, group_read: bool = False, any_kind: bool = False) -> int:
    """A descriptor to write ``path`` from its start: a new file, or a regular file written over.

    Raises :class:`OutputRefused`, one line naming ``path``.  Never waits, unless ``any_kind``
    (a FIFO's reader is then waited for, as before)."""
    for _ in range(_ATTEMPTS):
        try:
            return create_exclusively(path, group_read)
        except FileExistsError:
            pass
        except OSError as err:
            raise OutputRefused(_cannot(path, err)) from None
        try:
            return _write_over(path, group_read, any_kind)
        except FileNotFoundError:
            continue  # removed in between: create it
        except OSError as err:
            raise OutputRefused(_cannot(path, err)) from None
    raise OutputRefused(f"cannot write {path}: it keeps being removed and made again")


def _write_over(path: str, group_read: bool, any_kind: bool) -> int:
    flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC | (0 if any_kind else os.O_NONBLOCK)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        if err.errno == errno.ENXIO and not any_kind:  # a FIFO nobody reads (or a device not there)
            raise OutputRefused(_not_regular(path, os.lstat(path).st_mode)) from None
        raise
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            os.ftruncate(fd, 0)
            allowed = file_mode(group_read) | 0o100  # (an execute bit of the owner's is theirs to keep)
            if info.st_mode & 0o777 & ~allowed:
                os.fchmod(fd, info.st_mode & 0o7777 & allowed)
        elif not any_kind:
            raise OutputRefused(_not_regular(path, info.st_mode))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _give_to_invoking_user(fd: int) -> None:
    user = invoking_user()
    if user is not None:
        os.fchown(fd, user.uid, user.gid)


def _not_regular(path: str, mode: int) -> str:
    return (f"-w {path}: {kind_of(mode)}, not a regular file: refused (-w - writes to standard output; "
            f"give -w a file name)")


def _cannot(path: str, err: OSError) -> str:
    reason = "is a symlink; refusing to write through it" if err.errno == errno.ELOOP else err.strerror
    return f"cannot write {_with_folder(path)}: {reason}"


def _with_folder(path: str) -> str:
    """``path``, and the folder it is in when the path does not say it (``-w x.pcapng`` run in ``/``)."""
    if os.path.isabs(path):
        return path
    return f"{path} in {os.path.dirname(os.path.abspath(path))}"

