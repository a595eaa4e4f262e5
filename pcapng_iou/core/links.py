"""Which capture interface a frame belongs to, and what a NETMAP reload changes.

Pure bookkeeping, no I/O.  Every NETMAP line becomes one :class:`Interface`
(a PCAP-NG interface block).  A frame between two endpoints that share a line
is recorded on that line's interface; a frame between endpoints that no line
joins gets an "unmapped" interface of its own.  When a line's link type
changes (reload, or auto-detection), a new interface replaces the old one:
frames already written stay where they were.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Optional

from pcapng_iou.core import linktypes, netio
from pcapng_iou.core.netmap import Netmap, Segment
from pcapng_iou.core.selection import LinkSelection

EndpointKey = tuple[int, int]

#: How long a shared-segment copy may wait for its siblings (ns) and how many wait at most.
COPY_WINDOW_NS = 2_000_000_000
COPY_BACKLOG = 1024


@dataclass(eq=False)
class Interface:
    """One PCAP-NG interface: a NETMAP line (or an unmapped pair) at one link type."""

    number: int
    name: str
    linktype: int
    description: str
    endpoints: tuple[EndpointKey, ...]
    segment: Optional[Segment] = None
    auto: bool = False
    replaced_by: Optional[int] = None
    #: Its NETMAP line was removed by a reload: no frame will be recorded on it again.
    retired: bool = False
    frames_out: int = 0
    frames_in: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    undelivered: int = 0
    first_ns: int = 0
    last_ns: int = 0
    pending_comments: list = field(default_factory=list)
    copies: Optional["SharedCopies"] = None
    #: False for a link ``--link`` left out: its frames are relayed, not recorded.
    recorded: bool = True
    #: Its interface number in the file being written (files of a ring buffer number their own).
    file_id: Optional[int] = None

    @property
    def unmapped(self) -> bool:
        return self.segment is None

    @property
    def frames(self) -> int:
        return self.frames_out + self.frames_in

    @property
    def bytes(self) -> int:
        return self.bytes_out + self.bytes_in

    @property
    def instances(self) -> frozenset[int]:
        return frozenset(e[0] for e in self.endpoints)

    @property
    def linktype_name(self) -> str:
        return linktypes.name(self.linktype)


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


@dataclass
class ReloadResult:
    added: list = field(default_factory=list)
    changed: list = field(default_factory=list)  # (old Interface, new Interface)
    removed: list = field(default_factory=list)
    kept: int = 0

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.changed)} changed", f"{len(self.removed)} removed"]
        return ", ".join(parts) + f", {self.kept} unchanged"


@dataclass(frozen=True)
class Route:
    interface: Interface
    outbound: bool
    destination: EndpointKey


class LinkTable:
    """Maps (source endpoint, destination endpoint) to the interface that records it.

    New interfaces are appended to :attr:`interfaces` and to :attr:`new`,
    which the writer empties after writing their blocks.
    """

    def __init__(self, netmap: Netmap, default_linktype: int = linktypes.ETHERNET, auto_default: bool = False,
                 selection: Optional[LinkSelection] = None):
        self.default_linktype = default_linktype
        self.selection = selection or LinkSelection()
        self.auto_default = auto_default
        self.interfaces: list[Interface] = []
        self.new: list[Interface] = []
        self.warnings: list[str] = []
        #: Warn about frames that no NETMAP line explains (pointless when there is no NETMAP).
        self.warn_unmapped = True
        self._by_segment: dict[frozenset, Interface] = {}
        self._by_endpoint: dict[EndpointKey, Interface] = {}
        self._unmapped: dict[frozenset, Interface] = {}
        #: Interfaces by the instances they join, in number order (a dict as an ordered set): finding the
        #: links of one instance must not cost a look at every link of a 1,000-instance lab.
        self._by_instance: dict[int, dict[Interface, None]] = {}
        #: Routes by the first 6 bytes of the datagram header (ids and ports); emptied on any change.
        self.route_cache: dict[bytes, Route] = {}
        #: The same for links that are not recorded (``--link``): their frames skip all the rest.
        self.skipped_routes: dict[bytes, Route] = {}
        self.netmap = netmap
        for segment in netmap:
            self._install(self._create_for_segment(segment, "from the start"))

    # -- creation -----------------------------------------------------------
    def _linktype_for(self, segment: Segment) -> tuple[int, bool]:
        auto = segment.auto or (segment.linktype is None and self.auto_default)
        return segment.linktype_or(self.default_linktype), auto

    def _create(self, name, linktype, description, endpoints, segment=None, auto=False) -> Interface:
        interface = Interface(len(self.interfaces), name, linktype, description, endpoints, segment, auto)
        interface.recorded = self.selection.selects(endpoints)
        if len(endpoints) > 2:
            interface.copies = SharedCopies(len(endpoints))
        self.interfaces.append(interface)
        self.new.append(interface)
        for instance in interface.instances:
            self._by_instance.setdefault(instance, {})[interface] = None
        return interface

    def _create_for_segment(self, segment: Segment, since: str) -> Interface:
        linktype, auto = self._linktype_for(segment)
        kind = "shared segment" if len(segment.endpoints) > 2 else "link"
        how = "auto-detected, now " if auto else ""
        description = (
            f"IOU {kind} {segment.name} (NETMAP line {segment.line}), "
            f"{how}{linktypes.name(linktype)}, {since}"
        )
        return self._create(
            segment.name, linktype, description, tuple(e.key for e in segment.endpoints), segment, auto
        )

    def _install(self, interface: Interface) -> None:
        self._by_segment[frozenset(interface.endpoints)] = interface
        for key in interface.endpoints:
            self._by_endpoint[key] = interface
        self.forget_routes()

    def replace(self, old: Interface, linktype: int, since: str) -> Interface:
        """Start a new interface for ``old``'s endpoints with another link type."""
        segment = old.segment
        if segment is not None:
            segment = Segment(segment.line, segment.endpoints, linktype, old.auto)
            new = self._create_for_segment(segment, since)
        else:
            new = self._create(old.name, linktype, f"{old.description}; {since}", old.endpoints, None, old.auto)
        new.auto = old.auto
        old.replaced_by = new.number
        self._carry_over(old, new)
        if segment is not None:
            self._install(new)
        else:
            self._unmapped[frozenset(old.endpoints)] = new
            self.forget_routes()
        return new

    @staticmethod
    def _carry_over(old: Interface, new: Interface) -> None:
        """What ``old`` still owed goes on to ``new``, which takes its frames from now on:
        comments not yet written, and the shared-segment copies still expected (else the
        copies of a frame recorded on ``old`` would be recorded again on ``new``)."""
        new.pending_comments = old.pending_comments + new.pending_comments
        old.pending_comments = []
        if old.copies is not None and new.copies is not None:
            new.copies = old.copies

    # -- lookup -------------------------------------------------------------
    def forget_routes(self) -> None:
        self.route_cache.clear()
        self.skipped_routes.clear()

    def route(self, header: netio.Header, key: bytes) -> Route:
        """The interface of a frame with ``header``; ``key`` is the header's first 6 bytes."""
        cached = self.route_cache.get(key) or self.skipped_routes.get(key)
        if cached is not None:
            return cached
        source = (header.src_id, header.src_port)
        destination = (header.dst_id, header.dst_port)
        interface = self._by_endpoint.get(source)
        if interface is None or destination not in interface.endpoints:
            interface = self._unmapped_interface(source, destination)
        route = Route(interface, source == interface.endpoints[0], destination)
        if interface.recorded:
            self.route_cache[key] = route
        else:
            self.skipped_routes[key] = route
        return route

    def _unmapped_interface(self, source: EndpointKey, destination: EndpointKey) -> Interface:
        pair = frozenset((source, destination))
        interface = self._unmapped.get(pair)
        if interface is None:
            name = f"{netio.endpoint_name(*source)}-{netio.endpoint_name(*destination)}"
            interface = self._create(
                name,
                self.default_linktype,
                f"IOU traffic between {name}, which no NETMAP line joins",
                (source, destination),
            )
            self._unmapped[pair] = interface
            if self.warn_unmapped and interface.recorded:
                self.warnings.append(f"frames between {name} match no NETMAP line: recorded on interface "
                                 f"{interface.number} as {linktypes.name(interface.linktype)}")
        return interface

    def current(self) -> list[Interface]:
        """Interfaces that still receive frames (not replaced, not removed from NETMAP)."""
        return [i for i in self.interfaces if i.replaced_by is None and not i.retired]

    def touching(self, instance: int) -> list[Interface]:
        """Current interfaces that ``instance`` is on, in number order."""
        mine = self._by_instance.get(instance, {})
        gone = [i for i in mine if i.replaced_by is not None or i.retired]
        for interface in gone:
            del mine[interface]  # replaced or retired for good: never current again
        return list(mine)

    def recorded(self) -> list[Interface]:
        """Current interfaces whose frames are recorded."""
        return [i for i in self.current() if i.recorded]

    # -- reload -------------------------------------------------------------
    def reload(self, netmap: Netmap, when: str) -> ReloadResult:
        """Adopt ``netmap``: new lines get interfaces, changed link types replace theirs."""
        result = ReloadResult()
        wanted = {frozenset(e.key for e in s.endpoints): s for s in netmap}
        for endpoints, interface in list(self._by_segment.items()):
            if endpoints not in wanted:
                del self._by_segment[endpoints]
                for key in interface.endpoints:
                    if self._by_endpoint.get(key) is interface:
                        del self._by_endpoint[key]
                interface.retired = True
                interface.pending_comments.clear()
                result.removed.append(interface)
        for endpoints, segment in wanted.items():
            interface = self._by_segment.get(endpoints)
            linktype, auto = self._linktype_for(segment)
            if interface is None:
                new = self._create_for_segment(segment, f"added by the NETMAP reload at {when}")
                self._install(new)
                result.added.append(new)
            elif (not auto and linktype != interface.linktype) or auto != interface.auto:
                new = self._create_for_segment(segment, f"since the NETMAP reload at {when}")
                interface.replaced_by = new.number
                self._carry_over(interface, new)
                self._install(new)
                result.changed.append((interface, new))
            else:
                interface.segment = segment
                result.kept += 1
        self.netmap = netmap
        self.forget_routes()
        return result
