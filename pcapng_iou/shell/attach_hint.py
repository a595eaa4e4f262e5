"""The hint said once when nothing is attached a few seconds in: what to check (the user, -d, -i)."""
from __future__ import annotations

import time
from typing import Callable, Optional

from pcapng_iou.shell import netiodir
from pcapng_iou.shell.labdir import LabDirectory

#: With nothing attached this long after the start, say once what to check.
NOTHING_ATTACHED_HINT_S = 5.0


class NothingAttachedHint:
    def __init__(self, directory: str, wanted: Optional[set], say: Callable[[str, str], None]):
        self.directory = directory
        self.wanted = wanted
        self.say = say
        #: When to look (monotonic clock): None until the directory is there, infinity once said.
        self.due: Optional[float] = None

    def arm(self) -> None:
        """The directory is here: look once :data:`NOTHING_ATTACHED_HINT_S` have passed (from the first time)."""
        if self.due is None:
            self.due = time.monotonic() + NOTHING_ATTACHED_HINT_S

    def check(self, ever_attached: bool, lab: Optional[LabDirectory]) -> None:
        """Once, a few seconds in: nothing attached yet, so say what to check."""
        if self.due is None or ever_attached or time.monotonic() < self.due:
            return
        self.due = float("inf")
        directory = self.directory
        running = running_instances(lab)
        if self.wanted and running:
            asked = ", ".join(map(str, sorted(self.wanted)))
            self.say(f"no IOU instance attached in {NOTHING_ATTACHED_HINT_S:g} s: -i asks for {asked}, which "
                     f"{'does' if len(self.wanted) == 1 else 'do'} not run in {directory}; running there: "
                     f"{', '.join(map(str, running))}", "warning")
            return
        self.say(f"no IOU instance attached in {NOTHING_ATTACHED_HINT_S:g} s: none runs in {directory} "
                 f"(the folder of {netiodir.owner_name(directory)}). Is IOU running, and as which user? It puts its "
                 f"sockets in /tmp/netio<uid of that user>: give that folder with -d", "warning")


def running_instances(lab: Optional[LabDirectory]) -> list:
    """The instances whose lock is held in the netio directory (an instance in use is running)."""
    try:
        names = lab.names() if lab is not None else []
    except OSError:
        return []
    numbers = {netiodir.instance_id(name) for name in names} - {None}
    return sorted(number for number in numbers if lab.lock_state(f"{number}{netiodir.LOCK_SUFFIX}"))
