"""Which frames on a shared segment are extra copies of one transmission (pure, no I/O).

On a NETMAP line of three or more members a sender unicasts one copy of each
frame to every other member; a capture records the transmission once.
"""
from __future__ import annotations

from collections import deque
from typing import Deque

EndpointKey = tuple[int, int]

#: How long a shared-segment copy may wait for its siblings (ns) and how many wait at most.
COPY_WINDOW_NS = 2_000_000_000
COPY_BACKLOG = 1024


class SharedCopies:
    """Tells first transmissions from the extra copies sent on a shared segment.

    On a segment of N members a sender unicasts one copy of each frame to the
    N-1 others.  A copy is new when the same (sender, bytes) was already seen
    going to the same destination; otherwise it belongs to the oldest earlier
    frame that has not yet reached that destination.  Copies arrive through
    different sockets, so no order across destinations is assumed.
    """

    def __init__(self, members: int):
        self.others = members - 1
        self._waiting: dict[EndpointKey, Deque[list]] = {}

    def is_new(self, sender: EndpointKey, destination: EndpointKey, frame: bytes, now_ns: int) -> bool:
        waiting = self._waiting.setdefault(sender, deque())
        while waiting and (now_ns - waiting[0][2] > COPY_WINDOW_NS or len(waiting) > COPY_BACKLOG):
            waiting.popleft()
        for entry in waiting:
            if entry[0] == frame and destination not in entry[1]:
                entry[1].add(destination)
                if len(entry[1]) >= self.others:
                    waiting.remove(entry)
                return False
        waiting.append([frame, {destination}, now_ns])
        return True
