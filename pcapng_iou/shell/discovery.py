"""What the running instances tell about themselves, read from ``/proc``; and the NETMAP files in use.

An IOU instance's lock file ``<id>.lck`` holds its pid.  ``/proc/<pid>/cmdline``
is its command line (bay kinds: :mod:`pcapng_iou.core.bays` decides), and
``/proc/<pid>/cwd`` is the folder it read its ``NETMAP`` from.  Only our own
processes are readable there, unless we are root; elsewhere than on Linux
there is no ``/proc`` at all: then nothing is learnt, and the capture goes on
as it would without this (NETMAP and ``--linktype`` alone).

:class:`NetmapSources` keeps which NETMAP files a capture uses: the ``-n``
file (or ``./NETMAP``) alone, or else the files in the working directories of
the running instances, merged by :mod:`pcapng_iou.core.netmaps`.

I/O only: what the files say is decided in the core.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from typing import Iterable, Optional

from pcapng_iou.core import bays as bays_mod
from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.core.netmaps import NetmapSet
from pcapng_iou.core.words import counted
from pcapng_iou.shell import labfiles, netiodir, netmapfile

PROC = "/proc"
NETMAP_NAME = "NETMAP"
#: A lock file is one pid and a newline: anything longer is not an IOU lock file.
MAX_LOCK_BYTES = labfiles.LOCK_LIMIT
#: An IOU command line is a few hundred bytes; its owner could make one of megabytes.
MAX_COMMAND_LINE_BYTES = 64 * 1024
#: Files named in one message before "and N more".
MAX_FILES_SHOWN = 4


@dataclass
class InstanceFacts:
    """What was read about one running instance.  Fields left None could not be read."""

    instance: int
    pid: Optional[int] = None
    #: When that process started (clock ticks since boot): a pid used again by a later process differs here.
    started: Optional[int] = None
    argv: Optional[list] = None
    #: Its working directory as the kernel names it, and the path to read its NETMAP through.
    cwd: Optional[str] = None
    netmap_path: Optional[str] = None
    #: One line for each thing that could not be read.
    problems: list = field(default_factory=list)
    #: /proc refused (another user's process, not root) or does not exist (not Linux).
    proc_refused: Optional[str] = None
    #: It has no lock file: not an IOU instance but a bridge (ubridge, EVE-NG's iol_wrapper at id+512).
    bridge: bool = False

    @property
    def bays(self) -> Optional[bays_mod.Bays]:
        """Its bays when its command line is IOU's, else None (it tells nothing)."""
        return bays_mod.parse_command_line(self.argv, self.instance) if self.argv else None

    @property
    def shown_netmap(self) -> Optional[str]:
        return os.path.join(self.cwd, NETMAP_NAME) if self.cwd else None


def read_lock_pid(lock_path: str) -> Optional[int]:
    """The pid written in an instance's lock file, or None when it holds no pid.

    Raises :class:`~pcapng_iou.shell.labfiles.LabFileError` (an OSError) when it is not
    a regular file of at most 64 bytes, or cannot be read."""
    text = labfiles.read_lab_file(lock_path, MAX_LOCK_BYTES, follow_links=False)
    words = text.split()
    if len(words) != 1 or not words[0].isdigit() or len(words[0]) > 10:
        return None
    pid = int(words[0])
    return pid if pid > 0 else None


def process_uids(pid: int, proc: str = PROC) -> Optional[tuple]:
    """(real, effective) uid of process ``pid``, from the ``Uid:`` line of its status; None when unreadable."""
    try:
        with open(os.path.join(proc, str(pid), "status"), "rb") as handle:
            for line in handle:
                if line.startswith(b"Uid:"):
                    real, effective = line.split()[1:3]
                    return int(real), int(effective)
    except (OSError, ValueError):
        return None
    return None


def process_start(pid: int, proc: str = PROC) -> Optional[int]:
    """When process ``pid`` started (clock ticks since boot), or None when it cannot be read."""
    try:
        with open(os.path.join(proc, str(pid), "stat"), "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()  # (its name, in brackets, may hold anything)
        return int(fields[19])  # field 22 of stat(5), counted after the name
    except (OSError, IndexError, ValueError):
        return None


def probe(netio_dir: str, instance: int, want_cwd: bool = True, proc: str = PROC,
          owner_uid: Optional[int] = None) -> InstanceFacts:
    """Read what instance ``instance`` of ``netio_dir`` tells about itself.  Never raises OSError.

    With ``owner_uid`` (the directory's owner), the pid its lock file names counts only when
    that process's real and effective uids are the owner's: anyone who may write the lock
    file could name any process, and its folder would be read."""
    facts = InstanceFacts(instance)
    lock = netiodir.Paths(netio_dir, instance).lock
    try:
        facts.pid = read_lock_pid(lock)
    except OSError as err:
        if err.errno == errno.ENOENT:
            facts.bridge = True  # IOU always takes one; bridges never do: nothing to learn, nothing wrong
            return facts
        if isinstance(err, labfiles.LabFileRefused):
            facts.problems.append(f"instance {instance}: its lock file {lock} is {err.strerror}")
        else:
            facts.problems.append(f"instance {instance}: cannot read its lock file {lock} ({err.strerror})")
        return facts
    if facts.pid is None:
        facts.problems.append(f"instance {instance}: its lock file {lock} holds no pid")
        return facts
    if not os.path.isdir(os.path.join(proc, "self")):
        facts.proc_refused = f"{proc} is not available here (not Linux?)"
        return facts
    if owner_uid is not None and not _owned_by(facts, owner_uid, proc):
        return facts
    base = os.path.join(proc, str(facts.pid))
    facts.started = process_start(facts.pid, proc)
    try:
        raw = _read_command_line(os.path.join(base, "cmdline"))
        words = raw.split(b"\0")
        if words[-1] == b"":
            words.pop()  # the NUL that ends the last word
        facts.argv = [os.fsdecode(word) for word in words]
    except OSError as err:
        _note_proc_error(facts, err, os.path.join(base, "cmdline"))
        return facts
    if want_cwd:
        _read_cwd(facts, base)
    return facts


def _read_command_line(path: str) -> bytes:
    # (Not through labfiles: /proc/<pid>/cmdline reads as empty when opened with O_NONBLOCK.)
    with open(path, "rb") as handle:
        raw = handle.read(MAX_COMMAND_LINE_BYTES + 1)
    if len(raw) > MAX_COMMAND_LINE_BYTES:
        raise labfiles.LabFileRefused(errno.EFBIG, f"more than the {MAX_COMMAND_LINE_BYTES:,} bytes an IOU "
                                                   f"command line may hold: not read")
    return raw


def _owned_by(facts: InstanceFacts, owner_uid: int, proc: str) -> bool:
    uids = process_uids(facts.pid, proc)
    if uids is None:
        facts.problems.append(f"instance {facts.instance}: its lock file names pid {facts.pid}, "
                              f"which is not running: nothing learnt from it")
    elif uids != (owner_uid, owner_uid):
        facts.problems.append(f"instance {facts.instance}: its lock file names pid {facts.pid}, a process of uid "
                              f"{uids[1]}, not of the directory's owner (uid {owner_uid}): nothing learnt from it")
    else:
        return True
    facts.pid = None
    return False


def _read_cwd(facts: InstanceFacts, base: str) -> None:
    link = os.path.join(base, "cwd")
    try:
        cwd = os.readlink(link)
        removed = os.stat(link).st_nlink == 0
    except OSError as err:
        _note_proc_error(facts, err, link)
        return
    if removed:
        deleted = " (deleted)"  # what the kernel appends to the name of a removed folder
        cwd = cwd[:-len(deleted)] if cwd.endswith(deleted) else cwd
        facts.problems.append(f"instance {facts.instance}: its working directory {cwd} was removed: no NETMAP from it")
        return
    facts.cwd = cwd
    # By its name when we see it so (it can be read again after the instance exits), else through
    # /proc (the folder was renamed, or sits in another mount namespace).
    for path in (os.path.join(cwd, NETMAP_NAME), os.path.join(link, NETMAP_NAME)):
        if os.path.isfile(path):
            facts.netmap_path = path
            return


def _note_proc_error(facts: InstanceFacts, err: OSError, path: str) -> None:
    if err.errno in (errno.EACCES, errno.EPERM):
        facts.proc_refused = (f"cannot read {path} of instance {facts.instance} ({err.strerror}: "
                              f"another user's process?  Run as that user, or as root)")
    elif err.errno in (errno.ENOENT, errno.ESRCH):
        facts.problems.append(f"instance {facts.instance}: its lock file names pid {facts.pid}, "
                              f"which is not running: nothing learnt from it")
    else:
        facts.problems.append(f"instance {facts.instance}: cannot read {path} ({err.strerror})")


def _files_text(files: list) -> str:
    shown = files[:MAX_FILES_SHOWN]
    more = len(files) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


class NetmapSources:
    """Where a capture's NETMAP comes from.

    ``fixed_path`` (``-n``, or ``./NETMAP`` found at the start) is the only file
    when given.  Else the files in the working directories of the instances, in
    the order met; ``look_here`` is the ``./NETMAP`` looked for too (None: none).
    """

    def __init__(self, fixed_path: Optional[str], look_here: Optional[str] = None):
        self.fixed_path = fixed_path
        self.look_here = os.path.abspath(look_here) if look_here else None
        #: Shown name -> path to read it through, for the files found in instances' folders.
        self.found: dict[str, str] = {}
        self.instances_asked: set = set()

    @property
    def discovering(self) -> bool:
        return self.fixed_path is None

    def describe(self) -> Optional[str]:
        """What the dashboard shows as the NETMAP in use."""
        if self.fixed_path is not None:
            return self.fixed_path
        if not self.found:
            return None
        return next(iter(self.found)) if len(self.found) == 1 else f"{len(self.found)} files from the instances"

    def add_found(self, facts: InstanceFacts) -> Optional[str]:
        """Remember the NETMAP of the instance ``facts`` describes; its shown name when it is new."""
        self.instances_asked.add(facts.instance)
        shown = facts.shown_netmap
        if facts.netmap_path is None or shown in self.found:
            return None
        self.found[shown] = facts.netmap_path
        return shown

    def nowhere(self) -> str:
        """Where NETMAP was looked for, when none is in use."""
        asked = sorted(self.instances_asked)
        if asked:
            ids = ", ".join(map(str, asked[:8])) + (f" and {len(asked) - 8} more" if len(asked) > 8 else "")
            where = f"in the working directories of instances {ids}"
        else:
            where = "in the working directories of running instances (none yet)"
        return f"looked for {self.look_here} and {where}" if self.look_here else f"looked {where}"

    def read_found(self, names: Iterable[str], in_use: Iterable[str] = ()) -> tuple[NetmapSet, list, list]:
        """Read and merge the found files ``names``; (the merge, warnings, errors).

        A file that does not parse or cannot be read is left out with a warning naming it
        (file:line:col), unless it is one of ``in_use`` (files whose lines the capture uses
        now): its :class:`~pcapng_iou.core.netmap.NetmapError` is then in the errors, and the
        caller refuses the reload rather than drop the file's links."""
        in_use = set(in_use)
        merged = NetmapSet()
        warnings = []
        errors = []
        for shown in names:
            try:
                netmap = netmapfile.read(self.found[shown], shown)
            except netmap_mod.NetmapError as err:
                if shown in in_use:
                    errors.append(err)
                else:
                    warnings.append(f"{err} (NETMAP of a running instance): ignored")
                continue
            warnings += merged.add(netmap)[1]
        return merged, warnings, errors

    def summary(self, merged: NetmapSet) -> str:
        """The line that says which files are used."""
        if not merged.files:
            return f"no NETMAP in use ({self.nowhere()})"
        lines = len(merged.segments)
        return (f"NETMAP from the instances' working directories: {_files_text(merged.files)} "
                f"({counted(lines, 'line')} in all)")
