"""The netio directory: where it is, which files in it are instances, who is alive.

Names in ``/tmp/netio<uid>``::

    100          the socket of instance 100 (ours while we capture)
    100_real     the instance's own socket, moved aside while we capture
    100.lck      the instance's lock file (fcntl write lock held while it runs)
    100.pcapng-iou-new   our socket for a moment, before it is renamed over ``100``

Only these are ever touched; symlinks are never followed.
"""
from __future__ import annotations

import errno
import fcntl
import os
import pwd
import re
import socket
import stat
import struct
from typing import Optional

from pcapng_iou.core import netio

REAL_SUFFIX = "_real"
LOCK_SUFFIX = ".lck"
TEMP_SUFFIX = ".pcapng-iou-new"
_INSTANCE_NAME = re.compile(r"^[1-9][0-9]{0,3}$")
#: ``sun_path`` holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107


def default_dir() -> str:
    """``/tmp/netio<uid>``, the uid being ``$SUDO_UID`` when set (sudo keeps the user's labs)."""
    uid = os.environ.get("SUDO_UID", "")
    if not (uid.isascii() and uid.isdigit()):  # not set, or not a uid (set by hand?): ours
        uid = str(os.getuid())
    return f"/tmp/netio{uid}"


def instance_id(name: str) -> Optional[int]:
    """The instance id a directory entry name stands for, or None."""
    if _INSTANCE_NAME.match(name):
        number = int(name)
        if netio.MIN_ID <= number <= netio.MAX_ID:
            return number
    return None


#: Suffixes of the names that belong to an instance besides its socket.
SUFFIXES = (REAL_SUFFIX, LOCK_SUFFIX, TEMP_SUFFIX)


def split_name(name: str) -> tuple[Optional[int], str]:
    """``"100_real"`` -> ``(100, "_real")``; ``"100"`` -> ``(100, "")``; not an instance's -> ``(None, "")``."""
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            number = instance_id(name[: -len(suffix)])
            return (number, suffix) if number is not None else (None, "")
    return instance_id(name), ""


def instance_of(name: str) -> Optional[int]:
    """The instance a directory entry belongs to (its socket, lock, moved-aside or temporary socket)."""
    return split_name(name)[0]


class Paths:
    """The file names that belong to one instance in one netio directory."""

    def __init__(self, directory: str, instance: int):
        self.instance = instance
        self.socket = os.path.join(directory, str(instance))
        self.real = self.socket + REAL_SUFFIX
        self.lock = self.socket + LOCK_SUFFIX
        self.temp = self.socket + TEMP_SUFFIX

    def longest(self) -> str:
        return max((self.socket, self.real, self.temp), key=len)


def lstat(path: str) -> Optional[os.stat_result]:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def same_file(one: str, other: str) -> bool:
    """Whether two paths name one file; False when either is not there (yet): nothing to overwrite."""
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def is_socket(st: Optional[os.stat_result]) -> bool:
    return st is not None and stat.S_ISSOCK(st.st_mode)


def unlink_if_inode(path: str, inode: int) -> bool:
    """Remove ``path`` if it still is the file ``inode`` (and not what replaced it meanwhile)."""
    st = lstat(path)
    if st is not None and st.st_ino == inode:
        os.unlink(path)
        return True
    return False


def _remove(path: str, inode: Optional[int], dry_run: bool) -> bool:
    """Remove the socket at ``path`` (only if it is ``inode``, when given); False if there was none."""
    st = lstat(path)
    if not is_socket(st) or (inode is not None and st.st_ino != inode):
        return False
    if not dry_run:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
    return True


def remove_dead_instance(paths: "Paths", socket_inode: Optional[int] = None,
                         real_inode: Optional[int] = None, dry_run: bool = False) -> list:
    """Clean up after an instance that died without doing it itself; return the paths removed.

    ``<id>_real`` and ``<id>`` go when they are sockets (the given inodes, when
    given: a file that replaced them meanwhile is someone else's); the lock
    file goes only when nobody holds it.  With ``dry_run``, what would go.
    """
    removed = [path for path, inode in ((paths.real, real_inode), (paths.socket, socket_inode))
               if _remove(path, inode, dry_run)]
    if lock_state(paths.lock) is False:
        if not dry_run:
            try:
                os.unlink(paths.lock)
            except FileNotFoundError:
                return removed
        removed.append(paths.lock)
    return removed


def lock_state(lock_path: str) -> Optional[bool]:
    """True when the instance holding ``lock_path`` runs, False when the lock is free.

    None when there is no lock file to ask (tools other than IOU may not make one).
    """
    try:
        fd = os.open(lock_path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO, errno.EACCES, errno.EISDIR):
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        query = struct.pack("hhllhh", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
        lock_type = struct.unpack("hhllhh", answer)[0]
        return lock_type != fcntl.F_UNLCK
    finally:
        os.close(fd)


def socket_answers(path: str) -> bool:
    """True when some process still has a socket bound at ``path`` (connect works)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def check_dir_mode(directory: str) -> Optional[str]:
    """A warning when others than the owner may write into ``directory``."""
    st = os.stat(directory)
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
        return f"{directory} is writable by other users: anyone could plant files in it"
    return None


def owner_name(path: str) -> str:
    """The user name of the owner of ``path`` (``uid 1000`` when it has none, ``?`` when it is gone)."""
    try:
        uid = os.stat(path).st_uid
    except OSError:
        return "?"
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class AlreadyCapturing(Exception):
    """Another pcapng-iou holds this netio directory."""


class DirectoryGuard:
    """Makes sure one pcapng-iou at a time stands in a netio directory.

    An abstract UNIX socket named after the directory's real path: nothing is
    written into the directory, and the kernel frees the name when the holder
    dies, however it dies.
    """

    def __init__(self, directory: str):
        self.directory = directory
        self.name = b"\0pcapng-iou:" + os.path.realpath(directory).encode()
        if len(self.name) > 108:  # an abstract name is limited to sun_path too: use a digest of a deep path
            import hashlib

            self.name = b"\0pcapng-iou:sha256:" + hashlib.sha256(self.name).hexdigest().encode()
        self.sock: Optional[socket.socket] = None

    def acquire(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(self.name)
            sock.listen(8)
        except OSError as err:
            sock.close()
            if err.errno != errno.EADDRINUSE:
                raise
            raise AlreadyCapturing(self._holder_message()) from None
        sock.setblocking(False)
        self.sock = sock

    def _holder_message(self) -> str:
        who = "another pcapng-iou"
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(self.name)
            creds = probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            who = f"another pcapng-iou (pid {struct.unpack('3i', creds)[0]})"
        except OSError:
            pass
        finally:
            probe.close()
        return f"{who} is already capturing {self.directory}"

    def release(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
