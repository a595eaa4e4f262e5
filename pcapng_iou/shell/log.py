"""The capture's one log: what the capture and its parts say goes through it.

The capture makes one :class:`Log` and hands its :meth:`Log.say` to every
part (the instances, the learning, the recording).  Each message becomes an
:class:`~pcapng_iou.core.status.Event`, is kept (the last
:data:`EVENT_LOG_SIZE`, for the dashboard) and passed to the sink (the
console).  While the start may still fail, messages are held back
(:meth:`Log.hold`): an output that cannot be opened is then the one thing said.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

from pcapng_iou.core.status import Event

EVENT_LOG_SIZE = 200


class Log:
    def __init__(self, sink: Callable[[Event], None] = lambda event: None):
        #: Where each message goes as it is said (the console; replaced once it is there).
        self.sink = sink
        self.events: list[Event] = []
        self._held: Optional[list] = None

    def say(self, text: str, level: str = "info") -> None:
        event = Event(time.time_ns(), text, level)
        self.events.append(event)
        del self.events[:-EVENT_LOG_SIZE]
        if self._held is not None:
            self._held.append(event)
        else:
            self.sink(event)

    def hold(self) -> None:
        """Keep what is said from now on, until :meth:`release` or :meth:`drop`."""
        self._held = []

    def release(self) -> None:
        """Pass on what was held back, in order, and say things at once again."""
        held, self._held = self._held or [], None
        for event in held:
            self.sink(event)

    def drop(self) -> None:
        """Forget what was held back (an error is said instead), and say things at once again."""
        self._held = None
