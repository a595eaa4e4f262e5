"""Watching the netio directory with inotify, from inside the event loop.

The watcher owns a pyinotify ``WatchManager`` whose file descriptor the event
loop puts in its selector.  When it is readable, :meth:`DirectoryWatcher.read`
returns what changed: the names touched in the netio directory, and whether
the directory itself appeared or went away.  It never decides anything; the
capture compares the directory with what it knows.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import pyinotify


_DIR_EVENTS = (
    pyinotify.IN_CREATE | pyinotify.IN_DELETE | pyinotify.IN_MOVED_FROM | pyinotify.IN_MOVED_TO
    | pyinotify.IN_DELETE_SELF | pyinotify.IN_MOVE_SELF | pyinotify.IN_ATTRIB
    | pyinotify.IN_DONT_FOLLOW | pyinotify.IN_ONLYDIR
)
_PARENT_EVENTS = (pyinotify.IN_CREATE | pyinotify.IN_MOVED_TO | pyinotify.IN_DELETE | pyinotify.IN_MOVED_FROM
                  | pyinotify.IN_ONLYDIR)


@dataclass
class Changes:
    names: set = field(default_factory=set)
    directory_gone: bool = False
    directory_appeared: bool = False
    overflow: bool = False


class _Collector(pyinotify.ProcessEvent):
    def my_init(self, watcher=None):
        self.watcher = watcher

    def process_default(self, event):
        self.watcher._event(event)


class DirectoryWatcher:
    def __init__(self, directory: str):
        # pyinotify logs each watch it cannot add to stderr (under the dashboard); we say it ourselves.
        logging.getLogger("pyinotify").setLevel(logging.CRITICAL)
        self.directory = os.path.abspath(directory)
        self.parent = os.path.dirname(self.directory)
        self._manager = pyinotify.WatchManager()
        self._notifier = pyinotify.Notifier(self._manager, _Collector(watcher=self), timeout=0)
        self._dir_wd = None
        self._parent_wd = None
        self._changes = Changes()

    def fileno(self) -> int:
        return self._manager.get_fd()

    def watch_directory(self) -> bool:
        """Watch the netio directory; False when it does not exist (then its parent is watched)."""
        self._unwatch_dir()
        if self._parent_wd is None and os.path.isdir(self.parent):
            result = self._manager.add_watch(self.parent, _PARENT_EVENTS, quiet=True)
            wd = result.get(self.parent, -1)
            self._parent_wd = wd if wd >= 0 else None
        result = self._manager.add_watch(self.directory, _DIR_EVENTS, quiet=True)
        wd = result.get(self.directory, -1)
        if wd < 0:
            return False
        self._dir_wd = wd
        return True

    def _unwatch_dir(self) -> None:
        if self._dir_wd is not None:
            try:
                self._manager.rm_watch(self._dir_wd, quiet=True)
            except Exception:  # the kernel already dropped it with the directory
                pass
            self._dir_wd = None

    def _event(self, event) -> None:
        if event.mask & pyinotify.IN_Q_OVERFLOW:
            self._changes.overflow = True
            return
        if event.wd == self._parent_wd:
            if event.name == os.path.basename(self.directory):
                # (the capture holds the directory open: the kernel says IN_DELETE_SELF only once it lets go)
                if event.mask & (pyinotify.IN_DELETE | pyinotify.IN_MOVED_FROM):
                    self._changes.directory_gone = self._dir_wd is not None
                else:
                    self._changes.directory_appeared = True
            return
        if event.wd != self._dir_wd:
            return
        if event.mask & (pyinotify.IN_DELETE_SELF | pyinotify.IN_MOVE_SELF | pyinotify.IN_IGNORED):
            self._changes.directory_gone = True
        elif event.name:
            self._changes.names.add(event.name)

    def read(self) -> Changes:
        self._notifier.read_events()
        self._notifier.process_events()
        changes, self._changes = self._changes, Changes()
        if changes.directory_gone:
            self._unwatch_dir()
        return changes

    def close(self) -> None:
        self._notifier.stop()
