"""The reload decision (``kill -HUP``): which NETMAP the capture uses from now on, if any.

The shell reads what there is to read (the ``-n`` file, the NETMAP files of
the instances' folders through :mod:`pcapng_iou.shell.learning`) and hands
the results here; :func:`decide_reload` answers, without I/O:

- any error (a ``-n`` file or a file in use that does not parse) refuses the
  whole reload: the NETMAP in use stays;
- else a ``-n`` file read is used;
- else, discovering, the merge of the files found is used, or an empty map
  when every file found before is gone;
- else nothing is in use, and nothing changes but the rescan.

What a reload used changes is a :class:`ReloadResult` (made by the link
table), and :func:`change_notes` says it in the file's words: an interface is
named by its id in the file, as ``#`` on the dashboard, capinfos and the
packet comments give it.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from pcapng_iou.core import linktypes
from pcapng_iou.core.linkchoice import FROM_LINE
from pcapng_iou.core.netmap import Netmap


class ReloadStep(enum.Enum):
    #: A file did not parse: keep the NETMAP in use, and say why.
    REFUSE = "refuse"
    #: Use :attr:`ReloadPlan.netmap` from now on.
    USE = "use"
    #: No NETMAP is in use, and none was found: only the directory is looked at again.
    NONE_IN_USE = "none in use"


@dataclass(frozen=True)
class ReloadPlan:
    step: ReloadStep
    netmap: Optional[Netmap] = None
    #: The errors that refused it, the first one first.
    errors: tuple = ()
    #: The NETMAP used is the merge of the files the instances' folders hold (its summary is said).
    merged: bool = False


def decide_reload(fixed_given: bool, fixed: Optional[Netmap], fixed_error: Optional[Exception],
                  found_errors: Sequence[Exception], merged: Optional[Netmap], lines_in_use: int) -> ReloadPlan:
    """What a reload does.

    ``fixed_given``: a ``-n`` file (or ``./NETMAP``) is the one in use; ``fixed``
    is what it read, or ``fixed_error`` why it could not be read.
    ``found_errors``: the files in use of the instances' folders that could not
    be read; ``merged``: their merge (None when no file is in use there).
    ``lines_in_use``: how many lines the NETMAP in use has now.
    """
    errors = list(found_errors)
    if fixed_given:
        if fixed_error is not None:
            errors = [fixed_error]
        if errors:
            return ReloadPlan(ReloadStep.REFUSE, errors=tuple(errors))
        return ReloadPlan(ReloadStep.USE, netmap=fixed)
    if errors:
        return ReloadPlan(ReloadStep.REFUSE, errors=tuple(errors))
    if merged is not None:
        return ReloadPlan(ReloadStep.USE, netmap=merged, merged=True)
    if lines_in_use:
        return ReloadPlan(ReloadStep.USE, netmap=Netmap())  # every file found before is gone
    return ReloadPlan(ReloadStep.NONE_IN_USE)


@dataclass
class ReloadResult:
    """What a NETMAP reload changed, line by line (the Interfaces of :mod:`pcapng_iou.core.links`)."""

    added: list = field(default_factory=list)
    changed: list = field(default_factory=list)  # (old Interface, new Interface)
    removed: list = field(default_factory=list)
    kept: int = 0
    #: Kept lines whose link type stays but is now kept another way (written on the line, or followed):
    #: the same interface goes on, nothing changes in the file (counted in ``kept``).
    kept_as: list = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.changed)} changed", f"{len(self.removed)} removed"]
        return ", ".join(parts) + f", {self.kept} unchanged"


def _interface_ref(interface) -> str:
    """An interface as a person finds it in the file: ``#N``, its id there (none before its first frame)."""
    return f" #{interface.file_id}" if interface.file_id is not None else ""


def change_notes(result: ReloadResult) -> List[str]:
    """One line per link whose recording a reload changed, or whose link type it now keeps another way."""
    notes = []
    for old, new in result.changed:
        change = f"{new.name}: link type {linktypes.name(old.linktype)} -> {linktypes.name(new.linktype)}"
        if not old.frames:
            notes.append(f"{change} (no frame recorded on it yet)")  # (the file never had the old type)
            continue
        earlier = "" if old.file_id is None else f"; its frames so far are on interface #{old.file_id}"
        notes.append(f"{change}, on a new interface from its next frame{earlier}")
    for interface in result.kept_as:
        how = ("followed from its frames" if interface.auto else
               "as written on its NETMAP line" if interface.origin == FROM_LINE else f"by {interface.origin}")
        notes.append(f"{interface.name}: still {interface.linktype_name} on the same interface"
                     f"{_interface_ref(interface)}, now {how}")
    return notes
