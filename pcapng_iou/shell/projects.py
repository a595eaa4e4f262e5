"""Finding and reading the project a lab was drawn in (GNS3's ``.gns3`` file), for link names.

GNS3 runs every IOU node in ``<project>/project-files/iou/<node_id>/``: the
working directory of a running instance (``/proc/<pid>/cwd``, read by
:mod:`pcapng_iou.shell.discovery`) leads to the project folder and its
``<name>.gns3``.  What the file says is decided in :mod:`pcapng_iou.core.drawn`.

Files are read with :func:`read_bounded`: regular files only, never through a
symbolic link, without blocking, at most a few MiB; anything else is one
warning and is skipped (the folders belong to the lab's owner, who may not be
the user running the capture).
"""
from __future__ import annotations

import os
from typing import Iterable, Optional

from pcapng_iou.core import drawn
from pcapng_iou.shell import labfiles

#: A GNS3 project file of a thousand nodes is well under this.
MAX_PROJECT_BYTES = 8 << 20
PROJECT_SUFFIX = ".gns3"


class UnreadableFile(OSError):
    """A file that is not read: not a regular file, too big, or refused (the message says which)."""


def read_bounded(path: str, limit: int) -> bytes:
    """The bytes of regular file ``path``, at most ``limit`` of them; a symbolic link, a FIFO, a
    device or a bigger file raises :class:`UnreadableFile` (so does any error opening it)."""
    try:
        return labfiles.read_lab_file(path, limit, follow_links=False)
    except OSError as err:
        raise UnreadableFile(f"{path}: {err.strerror or err}") from None


def project_folder(cwd: str) -> Optional[str]:
    """The GNS3 project folder of an IOU node that runs in ``cwd``, or None when ``cwd`` is not laid out so."""
    node_folder = os.path.normpath(cwd)
    iou_folder = os.path.dirname(node_folder)
    files_folder = os.path.dirname(iou_folder)
    if os.path.basename(iou_folder) != "iou" or os.path.basename(files_folder) != "project-files":
        return None
    return os.path.dirname(files_folder)


def project_files(folder: str) -> list:
    """The ``.gns3`` files directly in ``folder``, newest first (GNS3 keeps one; backups end otherwise)."""
    try:
        with os.scandir(folder) as entries:
            found = [e for e in entries if e.name.endswith(PROJECT_SUFFIX) and e.is_file(follow_symlinks=False)]
    except OSError:
        return []
    return [e.path for e in sorted(found, key=lambda e: -e.stat(follow_symlinks=False).st_mtime)]


def find_drawing(cwds: Iterable[str]) -> tuple:
    """(the drawn links of the GNS3 project the instances in ``cwds`` run in, or None; warnings)."""
    warnings: list = []
    folders = []
    for cwd in cwds:
        folder = project_folder(cwd) if cwd else None
        if folder is not None and folder not in folders:
            folders.append(folder)
    drawing = drawn.Drawing()
    for folder in folders:
        for path in project_files(folder)[:1]:
            try:
                text = read_bounded(path, MAX_PROJECT_BYTES).decode("utf-8", errors="replace")
                found = drawn.parse_gns3(text, os.path.basename(path))
            except (UnreadableFile, drawn.ProjectError) as err:
                warnings.append(f"{err}: link names and pairs not taken from it")
                continue
            for link in found.links:
                drawing.add(link)
            drawing.routers.update(found.routers)
    return (drawing if drawing else None), warnings


#: How many parents up an IOL's wrapper may be (wrapper, then the shell of its system() call).
WRAPPER_DEPTH = 3
MAX_PROC_BYTES = 64 << 10


def eve_wrapper(pid: int, instance: int, proc: str = "/proc") -> Optional[list]:
    """The command line of the EVE-NG wrapper that runs instance ``instance`` (process ``pid``), or None."""
    from pcapng_iou.core import eve

    for _ in range(WRAPPER_DEPTH):
        try:
            stat_text = read_bounded(os.path.join(proc, str(pid), "stat"), MAX_PROC_BYTES).decode(errors="replace")
            pid = int(stat_text[stat_text.rindex(")") + 2:].split()[1])  # the parent (after the name and state)
            if pid <= 1:
                return None
            argv = read_bounded(os.path.join(proc, str(pid), "cmdline"), MAX_PROC_BYTES).split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        words = [os.fsdecode(word) for word in argv if word]
        if eve.wrapper_options(words, instance) is not None:
            return words
    return None
