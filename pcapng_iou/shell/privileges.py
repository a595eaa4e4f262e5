"""Whose rights the capture uses: the lab owner's for the lab's files, root's only where needed.

A capture run as root (under ``sudo``) on a netio directory that belongs to
an ordinary user must never do, with root's rights, what that user could not
do in their own lab: every name in that directory, and every file the lab
points at (lock files, NETMAPs found through ``/proc``), is in the owner's
hands and can be swapped for a symbolic link at any moment.

So work on the lab's files is done under the owner's *filesystem* identity
(:func:`acting_as`): Linux's ``setfsuid``/``setfsgid`` change the uid and gid
that the kernel checks file access with, and the owner a new file or socket
gets, and nothing else.  While they name an ordinary user, the capture has
none of the capabilities that bypass file permissions (the kernel clears
them), so a link planted towards ``/etc/shadow`` meets the owner's rights,
not root's.  The real and effective uids stay root's: signals, ``/proc`` and
``pidfd_getfd`` (taking over a socket another process holds, which the
kernel allows with real credentials that may trace the holder) keep working.

The filesystem identity belongs to one thread: use :func:`acting_as` on the
thread that does the work (the capture's loop thread does all of it).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
from typing import Iterator, NamedTuple, Optional

_libc = ctypes.CDLL(None, use_errno=True)


class Identity(NamedTuple):
    """A uid and gid to act as."""

    uid: int
    gid: int


class IdentityError(OSError):
    """The kernel refused to let this thread act as another user."""


def lab_owner(directory_stat: os.stat_result) -> Optional[Identity]:
    """Whom to act as in a directory with this ``lstat``: its owner, when we are root and it is not ours.

    None when there is nobody to act as: not root (the kernel already
    checks our own rights), or the directory is root's.
    """
    if os.geteuid() != 0 or directory_stat.st_uid == 0:
        return None
    return Identity(directory_stat.st_uid, directory_stat.st_gid)


def invoking_user(environ: Optional[dict] = None) -> Optional[Identity]:
    """The user who ran ``sudo``, from ``$SUDO_UID``/``$SUDO_GID``, when we are root; else None.

    Files the capture writes for that user (its capture files) are given to them.
    """
    environ = os.environ if environ is None else environ
    if os.geteuid() != 0:
        return None
    uid, gid = environ.get("SUDO_UID", ""), environ.get("SUDO_GID", "")
    if not (uid.isdigit() and gid.isdigit()) or int(uid) == 0:
        return None
    return Identity(int(uid), int(gid))


def _set_filesystem_ids(uid: int, gid: int) -> None:
    # Both calls return the previous id whatever happens; asking again (with -1, which changes
    # nothing) is the only way to learn whether the change took.
    _libc.setfsgid(gid)
    _libc.setfsuid(uid)
    if _libc.setfsuid(-1) != uid or _libc.setfsgid(-1) != gid:
        raise IdentityError(f"cannot act as uid {uid}, gid {gid}")


@contextlib.contextmanager
def acting_as(identity: Optional[Identity]) -> Iterator[None]:
    """Within the block, this thread reaches files with ``identity``'s rights (None: our own)."""
    if identity is None:
        yield
        return
    before = Identity(_libc.setfsuid(-1), _libc.setfsgid(-1))
    _set_filesystem_ids(identity.uid, identity.gid)
    try:
        yield
    finally:
        _set_filesystem_ids(before.uid, before.gid)


def drop_supplementary_groups() -> None:
    """As root, leave every supplementary group (for good, for the whole process).

    Acting as a lab's owner changes the uid and gid files are checked
    against, but the kernel checks the process's supplementary groups too: a
    file readable by the ``root`` group would still be read.  Root itself
    needs no group (it passes file permissions by its capabilities).
    """
    if os.geteuid() == 0 and os.getgroups():
        os.setgroups([])


@contextlib.contextmanager
def creating_with_mode(mode: int) -> Iterator[None]:
    """Files and sockets made in the block get ``mode`` (set through the umask, never by a later chmod).

    A socket's mode cannot be changed through its descriptor, and changing
    it by name would follow whatever that name is by then.  The umask is the
    process's: the block must be short and make nothing else.
    """
    before = os.umask(~mode & 0o777)
    try:
        yield
    finally:
        os.umask(before)
