"""Whether a path can be reached at all: a folder above it that this user may not enter
looks, to ``os.path.isdir``, just like a directory that does not exist.

Said as what it is, with what to do, by ``capture`` (which would otherwise wait
for ever for a directory that is there) and ``repair``.
"""
from __future__ import annotations

import os
import stat
from typing import Optional

from pcapng_iou import PROG
from pcapng_iou.shell.capture_options import CaptureError
from pcapng_iou.shell.netiodir import owner_name


def blocking_folder(path: str) -> Optional[str]:
    """The first folder above ``path`` this user may not enter, when that is why ``path`` cannot be looked at."""
    try:
        os.stat(path)
        return None
    except PermissionError:
        pass
    except OSError:
        return None
    absolute = os.path.abspath(path)
    ancestors = []
    parent = os.path.dirname(absolute)
    while parent not in ancestors:
        ancestors.append(parent)
        parent = os.path.dirname(parent)
    for folder in reversed(ancestors):  # from / down
        if os.path.isdir(folder) and not os.access(folder, os.X_OK):
            return folder
    return None


def unreachable(path: str, what: str = "netio directory", command: str = "capture") -> Optional[str]:
    """The message for ``path`` that cannot be reached for lack of permission on a folder above it, or None."""
    folder = blocking_folder(path)
    if folder is None:
        return None
    owner = owner_name(folder)
    try:
        mode = stat.filemode(os.stat(folder).st_mode)
    except OSError:
        mode = "?"
    return (f"{what} {path} cannot be reached: permission denied on {folder} ({mode}, owner {owner}), so "
            f"whether it exists cannot be seen; run {PROG} {command} as {owner} or with sudo, or let this user "
            f"into {folder} (chmod o+x {folder}), or give -d a directory you can reach")


def check_reachable(netio_dir: str) -> None:
    """Raise :class:`CaptureError` when ``netio_dir`` cannot be reached (see :func:`unreachable`)."""
    blocked = unreachable(netio_dir)
    if blocked is not None:
        raise CaptureError(blocked)
