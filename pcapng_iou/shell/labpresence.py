"""The netio directory coming and going: entering it (repairing what an earlier capture left), and its loss.

A directory that is not there yet is waited for (inotify on its parent, and
a look every second); once there it is held open
(:class:`~pcapng_iou.shell.labdir.LabDirectory`) and every instance in it is
looked at.  A directory removed is waited for again; one moved elsewhere gets
its sockets back where it is now.  What the instances did is handed to the
capture (``settle``).
"""
from __future__ import annotations

from typing import Callable, Optional

from pcapng_iou.shell import netiodir, preflight, repair
from pcapng_iou.shell.attach_hint import NothingAttachedHint
from pcapng_iou.shell.capture_options import CaptureError
from pcapng_iou.shell.instances import Instances
from pcapng_iou.shell.labdir import LabDirectory
from pcapng_iou.shell.watcher import DirectoryWatcher


class LabPresence:
    def __init__(self, directory: str, instances: Instances, hint: NothingAttachedHint,
                 say: Callable[[str, str], None], settle: Callable[[list], None], record_deferred: Callable[[], None]):
        self.directory = directory
        self.instances = instances
        self.hint = hint
        self.say = say
        self.settle = settle
        self.record_deferred = record_deferred
        #: Set by the capture once it runs.
        self.watcher: Optional[DirectoryWatcher] = None
        #: Whether the directory is there now, and whether it ever was (else nothing was captured).
        self.present = False
        self.ever_present = False

    def enter(self, first: bool = False) -> None:
        directory = self.directory
        self.present = self.watcher.watch_directory()
        if not self.present:
            self.say(f"waiting for netio directory {directory} to appear (start an IOU instance, or Ctrl-C)")
            return
        if not first:
            self.say(f"netio directory {directory} is here")
        self.ever_present = True
        preflight.check_permission(directory)
        self.hint.arm()
        warning = netiodir.check_dir_mode(directory)
        if warning:
            self.say(warning, "warning")
        self.instances.first_scan = first
        if self.instances.lab is not None:
            self.instances.lab.close()
        try:
            self.instances.lab = LabDirectory.open(directory)
        except OSError as err:
            raise CaptureError(f"netio directory {directory}: cannot open it ({err.strerror})") from None
        self._repair_leftovers()
        self.settle(self.instances.rescan())
        self.instances.first_scan = False

    def _repair_leftovers(self) -> None:
        directory = self.directory
        try:
            left = repair.leftovers(self.instances.lab)
            if left:
                self.say(f"found sockets left by an earlier capture (instances {', '.join(map(str, left))}): "
                         f"repairing")
                for action in repair.repair(self.instances.lab):
                    self.say(action.text)
        except OSError as err:
            self.say(f"cannot repair {directory}: {err.filename or directory}: {err.strerror}", "error")

    def gone(self) -> None:
        """The netio directory was removed, or moved: then our sockets go back where it is now."""
        lab = self.instances.lab
        now_at = lab.where_now() if lab is not None else None
        if now_at is None:
            self.say(f"netio directory {self.directory} was removed", "warning")
        else:
            self.record_deferred()
            self.say(f"netio directory {self.directory} was moved to {now_at}: giving its instances their "
                     f"sockets back there", "warning")
            self.settle(self.instances.give_back_all())
            if not self.instances.not_given_back:
                self.say(f"{now_at}: every socket is back (capturing {self.directory} when it is there again)")
        self.instances.forget_all()
        self.present = False
        self.enter()
