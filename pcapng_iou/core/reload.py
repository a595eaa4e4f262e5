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
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional, Sequence

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
