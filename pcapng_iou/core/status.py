"""What a running capture looks like at one instant: the dashboard's only input.

The event loop fills a :class:`CaptureStatus` and hands it over; whoever shows
it (live table, final summary) needs nothing else, so rendering can be tested
as a pure function of this state.  The status is a frozen snapshot: each
interface is copied into an :class:`InterfaceView` when the status is made,
so nothing that shows it can change the capture's own bookkeeping, and what
it shows does not move while it is drawn.
"""
from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import NamedTuple, Optional, Sequence, Tuple

from pcapng_iou.core import linktypes

EndpointKey = Tuple[int, int]


@dataclass(frozen=True)
class Event:
    """A line for the event log: attach, detach, death, reload, warning."""

    timestamp_ns: int
    text: str
    level: str = "info"  # "info", "warning" or "error"


class InterfaceView(NamedTuple):
    """One interface as the dashboard shows it, copied when the status is taken (it cannot be changed)."""

    number: int
    name: str
    linktype: int
    description: str
    endpoints: Tuple[EndpointKey, ...]
    #: No NETMAP line joins its endpoints.
    unmapped: bool
    #: False for a link ``--link`` left out: its frames are relayed, not recorded.
    recorded: bool
    replaced_by: Optional[int]
    #: The link type its frames show when it is not the one written by hand.
    mismatch: Optional[int]
    frames_out: int
    frames_in: int
    bytes_out: int
    bytes_in: int
    undelivered: int
    last_ns: int
    #: Its interface id in the file being written; None while it has no block there (no frame yet).
    file_id: Optional[int] = None
    #: The file id of the interface that took over when it was replaced (None: not replaced, or no block yet).
    successor_file_id: Optional[int] = None

    @property
    def replaced_note(self) -> str:
        """"replaced by #N" (N: the file id of its successor), or "replaced" before the successor's first frame."""
        return "replaced" if self.successor_file_id is None else f"replaced by #{self.successor_file_id}"

    @property
    def shown_id(self) -> str:
        """What ``#`` shows: the id Wireshark and capinfos give it in the file, "-" before its first frame."""
        return "-" if self.file_id is None else str(self.file_id)

    @property
    def frames(self) -> int:
        return self.frames_out + self.frames_in

    @property
    def bytes(self) -> int:
        return self.bytes_out + self.bytes_in

    @property
    def instances(self) -> frozenset:
        return frozenset(e[0] for e in self.endpoints)

    @property
    def linktype_name(self) -> str:
        return linktypes.name(self.linktype)


# One C-level call reads every field of a links.Interface, in InterfaceView's order.
_read_fields = attrgetter(*InterfaceView._fields)
# What can change on a links.Interface once it exists: its counters (the frame counts move with the byte
# counts and last_ns), its successor, a link type mismatch, its NETMAP line, its id in the file, its name
# (learnt from CDP).
_read_changing = attrgetter("frames_out", "frames_in", "undelivered", "replaced_by", "mismatch", "segment",
                            "file_id", "successor_file_id", "name")
_new_view = tuple.__new__


def interface_views(interfaces: Sequence) -> Tuple[InterfaceView, ...]:
    """Frozen copies of ``interfaces`` (:class:`~pcapng_iou.core.links.Interface` or views already).

    A refresh copies every link of the lab (16,000 on a big one), four times a
    second, and most of them have not changed: an interface's last view is kept
    on it and given again while nothing that can change has.
    """
    views = []
    append = views.append
    for interface in interfaces:
        if interface.__class__ is InterfaceView:
            append(interface)
            continue
        changing = _read_changing(interface)
        last = interface.last_view
        if last is not None and last[0] == changing:
            append(last[1])
            continue
        view = _new_view(InterfaceView, _read_fields(interface))
        interface.last_view = (changing, view)
        append(view)
    return tuple(views)


@dataclass(frozen=True)
class CaptureStatus:
    output: str
    pid: int
    started_ns: int
    now_ns: int = 0
    output_bytes: int = 0
    #: Given as the capture's interfaces, kept as frozen views of them (see :func:`interface_views`).
    interfaces: Tuple[InterfaceView, ...] = ()
    instances_attached: Tuple[int, ...] = ()
    instances_down: Tuple[int, ...] = ()
    frames_recorded: int = 0
    datagrams_relayed: int = 0
    datagrams_malformed: int = 0
    undelivered: int = 0
    #: Datagrams that are no frame of the file: copies of a shared segment's frame, links --link leaves out,
    #: what came after -c.  Relayed + undelivered = frames + malformed + these.
    datagrams_unrecorded: int = 0
    events: Tuple[Event, ...] = ()
    netio_dir: str = ""
    netmap: Optional[str] = None
    #: The interfaces seen in one direction only (a connected sender the capture could not take over).
    one_way: frozenset = frozenset()

    def __post_init__(self) -> None:
        freeze = object.__setattr__  # (the dataclass is frozen: this is how it sets its own fields)
        freeze(self, "interfaces", interface_views(self.interfaces))
        freeze(self, "instances_attached", tuple(self.instances_attached))
        freeze(self, "instances_down", tuple(self.instances_down))
        freeze(self, "events", tuple(self.events))

    @property
    def elapsed_s(self) -> float:
        return max(0, self.now_ns - self.started_ns) / 1e9

    @property
    def reload_hint(self) -> str:
        return f"kill -HUP {self.pid}"


class NotRecorded:
    """Datagrams relayed (or not delivered) after the ``-c`` limit: not recorded, but counted."""

    def __init__(self):
        self.datagrams = 0
        self.undelivered = 0

    def not_recorded(self, datagrams: list, undelivered: Optional[list]) -> None:
        self.datagrams += len(datagrams)
        if undelivered is not None:
            self.undelivered += sum(reason is not None for reason in undelivered)
