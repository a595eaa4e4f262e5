"""Open files: what a capture of a big lab needs, and the limit it runs under.

Standing in for one instance takes two sockets (ours at ``<id>``, and the one
that forwards to the instance), so a lab of 1,000 instances needs more than
2,000 descriptors, beyond the usual soft limit of 1,024.  At start the capture
raises its soft ``RLIMIT_NOFILE`` to the hard limit (no privilege needed), and
keeps a few descriptors in hand for its files (the output, a new ring-buffer
file, lock files it reads): an instance it has no room for is not attached,
with a message that says so and how to raise the limit.
"""
from __future__ import annotations

import os
import resource
from typing import Optional

from pcapng_iou.core.words import counted

#: Descriptors a capture needs per instance it stands in for.
PER_INSTANCE = 2
#: Descriptors kept free for everything else: the output file and the next one of a ring buffer,
#: lock files read to tell live instances from dead ones, /proc files, the NETMAP on reload.
RESERVE = 32
#: Enough for every instance id (1..1024) and the reserve; asked for when the hard limit is unlimited.
WANTED = 1024 * PER_INSTANCE + 64 + RESERVE


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


class FdBudget:
    """How many instances this process can stand in for, the soft limit raised first."""

    def __init__(self, in_use: Optional[int] = None):
        self.old_soft, self.hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.soft = self.old_soft
        self.error: Optional[str] = None
        target = self.hard if self.hard != resource.RLIM_INFINITY else max(WANTED, self.old_soft)
        if self.old_soft != resource.RLIM_INFINITY and self.old_soft < target:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, self.hard))
                self.soft = target
            except (ValueError, OSError) as err:
                self.error = f"cannot raise the open file limit from {self.old_soft} to {target}: {err}"
        self.in_use = open_descriptors() if in_use is None else in_use

    @property
    def raised(self) -> bool:
        return self.soft != self.old_soft

    @property
    def instances(self) -> int:
        """Most instances there is room for."""
        if self.soft == resource.RLIM_INFINITY:
            return 1 << 30
        return max(0, (self.soft - self.in_use - RESERVE) // PER_INSTANCE)

    def room_for(self, attached: int) -> bool:
        """Is there room for one more instance beside ``attached`` ones?"""
        return attached < self.instances

    def describe(self) -> str:
        return (f"the open file limit ({self.soft}; hard limit {self.hard}) leaves room for "
                f"{counted(self.instances, 'instance')}")

    def full_message(self, number: int) -> str:
        return (f"instance {number} not attached: {self.describe()}, and each takes {PER_INSTANCE} sockets; "
                f"raise the hard limit (ulimit -Hn, or nofile in /etc/security/limits.conf) and start again")
