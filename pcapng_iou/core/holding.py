"""Frames held back until a half-link's far end is known (pure: no I/O, no clock of its own).

Without a project file, the names of a GNS3 or EVE-NG link and the pairing of
its two halves come from CDP, one router at a time.  An interface's block is
written once, with its first frame; written at once, it would name only the
first router that spoke ("R1 Ethernet0/0").  So while an interface has no block
yet and its route still listens for CDP (its far end, or its pairing, is not
known), its frames wait here, for :data:`HOLD_WINDOW_NS` of frame time at
most.  They go out (the block first, named with what is known then, then the
frames in order, each with its own timestamp) when:

- CDP completes the link's names (:meth:`Holding.review`), the frames of both
  halves then on the one interface of the drawn link, and the bridge's copies
  of frames taken on the other half dropped;
- the window is over (:meth:`Holding.due`, asked at each batch and by the
  capture's timers), or the capture stops or ends a file (``due(None)``);
- :data:`HOLD_BACKLOG` frames wait on one interface (memory stays bounded).

Held frames are counted as recorded when they are taken (``-c`` counts them);
the caller counts them on their interface when they are written.
"""
from __future__ import annotations

from typing import Callable, Optional

from pcapng_iou.core.interface import Interface

#: How long (ns of frame time) an interface's frames wait for the far end's CDP at most.
HOLD_WINDOW_NS = 2_000_000_000
#: Frames waiting on one interface at most: beyond, they go out with what is known.
HOLD_BACKLOG = 1024


class HeldFrame:
    """A frame waiting for its interface's block, with what writing it needs."""

    __slots__ = ("comments", "frame", "header", "interface", "key", "outbound", "routed_to", "timestamp_ns")

    def __init__(self, header, key: bytes, routed_to: Interface, interface: Interface, outbound: bool,
                 frame: bytes, timestamp_ns: int, comments: list):
        #: The NETIO header and its first 6 bytes: enough to route the frame again.
        self.header, self.key = header, key
        #: The interface the route gave; ``interface`` is where it is recorded (another when the link
        #: type was followed to a new interface).
        self.routed_to, self.interface = routed_to, interface
        self.outbound = outbound
        self.frame, self.timestamp_ns, self.comments = frame, timestamp_ns, comments


def wants_holding(interface: Interface, listening: bool) -> bool:
    """A frame of ``interface`` whose route ``listening`` for CDP waits, when the interface has no block yet."""
    return listening and interface.file_id is None


class Holding:
    """The frames held back, by the interface they wait on (in the order they came)."""

    def __init__(self, window_ns: int = HOLD_WINDOW_NS, backlog: int = HOLD_BACKLOG):
        self.window_ns = window_ns
        self.backlog = backlog
        self._waiting: dict[Interface, list[HeldFrame]] = {}

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def __len__(self) -> int:
        return sum(len(frames) for frames in self._waiting.values())

    def holds(self, interface: Interface) -> bool:
        """Frames of ``interface`` wait: the next ones wait behind them (the order is kept)."""
        return interface in self._waiting

    def hold(self, held: HeldFrame) -> list[HeldFrame]:
        """Keep ``held``; what must go out now (its interface's frames when the backlog is full), in order."""
        waiting = self._waiting.setdefault(held.interface, [])
        waiting.append(held)
        if len(waiting) >= self.backlog:
            return self._waiting.pop(held.interface)
        return []

    def due(self, now_ns: Optional[int]) -> list[HeldFrame]:
        """The frames of the interfaces that waited their window at ``now_ns`` (None: all), in time order."""
        if now_ns is None:
            over = list(self._waiting)
        else:
            over = [i for i, frames in self._waiting.items() if now_ns - frames[0].timestamp_ns >= self.window_ns]
        return _in_time_order([self._waiting.pop(interface) for interface in over])

    def review(self, route_of: Callable[[HeldFrame], object], interfaces) -> tuple[list[HeldFrame], int]:
        """Route the frames held on ``interfaces`` again after CDP changed a name or a pairing there; (the
        frames to write now, in time order, how many turned out to be a bridge's copies and are dropped).

        ``route_of`` gives a frame's route now (a :class:`~pcapng_iou.core.links.Route`).  A frame
        whose route moved to another interface (its half joined its drawn link) goes there, its
        direction the sender's; an interface's frames go out once its route no longer listens for
        CDP, or once its block is written.  Only the interfaces CDP spoke about are looked at: a
        big lab's every held frame is not gone through at each name learnt."""
        regrouped: dict[Interface, list[HeldFrame]] = {}
        done: set = set()
        copies = 0
        for interface in [i for i in dict.fromkeys(interfaces) if i in self._waiting]:
            for held in self._waiting.pop(interface):
                route = route_of(held)
                if route.copy:
                    copies += 1
                    continue
                if route.interface is not held.routed_to:
                    held.interface = held.routed_to = route.interface
                held.outbound = route.outbound
                regrouped.setdefault(held.interface, []).append(held)
                if not wants_holding(held.interface, route.listen):
                    done.add(held.interface)
        ready = []
        for interface, frames in regrouped.items():
            frames = _in_time_order([self._waiting.pop(interface, []), frames])
            if interface in done:
                ready.append(frames)
            else:
                self._waiting[interface] = frames
        return _in_time_order(ready), copies


def _in_time_order(groups: list) -> list[HeldFrame]:
    """The frames of ``groups`` (each in the order it came) as one list by timestamp (a stable sort: frames
    of one time keep the order they came in)."""
    return sorted((held for group in groups for held in group), key=lambda held: held.timestamp_ns)
