"""The netio directory held open: every name in it reached through one directory descriptor.

A lab's owner can rename, swap or replace any name in their netio directory
at any moment, and the directory itself too.  So the capture opens the
directory once (``O_DIRECTORY | O_NOFOLLOW``) and works through that
descriptor only: ``lstat``, ``link``, ``rename`` and ``unlink`` are the
``*at`` calls, relative to it, and never follow a symbolic link; a socket is
bound or connected by the name ``/proc/self/fd/<fd>/<name>``, which reaches
the directory itself (the kernel follows the descriptor, not a path), wherever
it has been moved meanwhile.  Each of those operations is done with the
owner's filesystem identity (:func:`~pcapng_iou.shell.privileges.acting_as`)
when the directory is another user's: a ``connect`` (which follows a link
planted in place of an instance's socket) meets the owner's rights, and the
sockets we make are the owner's, with the mode asked for through the umask
(no ``chmod`` or ``chown`` by name anywhere: a name can be swapped between
two calls).
"""
from __future__ import annotations

import contextlib
import os
import socket
import stat
from typing import Iterator, Optional

from pcapng_iou.shell import netiodir
from pcapng_iou.shell.privileges import Identity, acting_as, creating_with_mode, lab_owner

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class LabDirectory:
    """One netio directory, open; the owner whose rights its files are reached with (None: ours)."""

    def __init__(self, path: str, fd: int, owner: Optional[Identity]):
        #: The path it was opened by (what messages show; see :meth:`where_now` once it moved).
        self.path = path
        self.fd = fd
        self.owner = owner

    @classmethod
    def open(cls, path: str) -> "LabDirectory":
        """Open ``path`` (not a symbolic link); raises OSError."""
        fd = os.open(path, _DIRECTORY_FLAGS)
        try:
            owner = lab_owner(os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, owner)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # -- where it is ------------------------------------------------------------
    def shown(self, name: str) -> str:
        """``name`` as messages show it: under the path the directory was opened by."""
        return os.path.join(self.path, name)

    def address(self, name: str) -> str:
        """The name a socket binds or connects to for ``name`` in this directory, wherever it is now."""
        return f"/proc/self/fd/{self.fd}/{name}"

    def where_now(self) -> Optional[str]:
        """Where the directory is now (it may have been moved); None once it was removed."""
        try:
            if os.fstat(self.fd).st_nlink == 0:
                return None
            return os.readlink(f"/proc/self/fd/{self.fd}")
        except OSError:
            return None

    # -- the names in it -----------------------------------------------------------
    def names(self) -> list:
        with acting_as(self.owner):
            return os.listdir(self.fd)

    def lstat(self, name: str) -> Optional[os.stat_result]:
        try:
            return os.lstat(name, dir_fd=self.fd)
        except FileNotFoundError:
            return None

    def is_socket(self, name: str) -> bool:
        st = self.lstat(name)
        return st is not None and stat.S_ISSOCK(st.st_mode)

    def lock_state(self, name: str) -> Optional[bool]:
        """:func:`netiodir.lock_state` of the lock file ``name``, opened with the owner's rights."""
        with acting_as(self.owner):
            return netiodir.lock_state(name, dir_fd=self.fd)

    def link(self, existing: str, new: str) -> None:
        with acting_as(self.owner), self._naming_errors():
            os.link(existing, new, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)

    def rename(self, old: str, new: str) -> None:
        with acting_as(self.owner), self._naming_errors():
            os.rename(old, new, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def unlink(self, name: str) -> None:
        with acting_as(self.owner), self._naming_errors():
            os.unlink(name, dir_fd=self.fd)

    @contextlib.contextmanager
    def _naming_errors(self) -> Iterator[None]:
        """An error names the file by its path (the ``*at`` calls give only its name in the directory)."""
        try:
            yield
        except OSError as err:
            if isinstance(err.filename, str) and os.sep not in err.filename:
                err.filename = self.shown(err.filename)
            if isinstance(err.filename2, str) and os.sep not in err.filename2:
                err.filename2 = self.shown(err.filename2)
            raise

    def unlink_if_inode(self, name: str, inode: int) -> bool:
        """Remove ``name`` if it still is the file ``inode`` (and not what replaced it meanwhile)."""
        st = self.lstat(name)
        if st is None or st.st_ino != inode:
            return False
        try:
            self.unlink(name)
        except FileNotFoundError:
            return False
        return True

    # -- sockets ---------------------------------------------------------------------
    def bind(self, sock: socket.socket, name: str, mode: int, owner: Optional[Identity] = None) -> None:
        """Bind ``sock`` at ``name`` with ``mode``, as ``owner`` (else the directory's owner) would."""
        with acting_as(owner or self.owner), creating_with_mode(mode & 0o777):
            sock.bind(self.address(name))

    def connect(self, sock: socket.socket, name: str) -> None:
        """Connect ``sock`` to the socket at ``name``, with the owner's rights (a planted link meets them)."""
        with acting_as(self.owner):
            sock.connect(self.address(name))

    def socket_answers(self, name: str) -> bool:
        """True when some process still has a socket bound at ``name`` (connect works)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
            try:
                self.connect(probe, name)
                return True
            except OSError:
                return False
