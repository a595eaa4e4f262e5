"""Which capture interface a frame belongs to, and what a NETMAP reload changes.

Pure bookkeeping, no I/O.  Every NETMAP line becomes one :class:`Interface`
(a PCAP-NG interface block).  A frame between two endpoints that share a line
is recorded on that line's interface; a frame between endpoints that no line
joins gets an "unmapped" interface of its own.  When a line's link type
changes (reload, or auto-detection), a new interface replaces the old one:
frames already written stay where they were.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pcapng_iou.core import linknames, linktypes, netio
from pcapng_iou.core.bays import Bays
from pcapng_iou.core import cdp as cdp_mod
from pcapng_iou.core import pairing as pairing_mod
from pcapng_iou.core.cdp import CdpLinks
from pcapng_iou.core.drawn import CDP_SOURCE, Drawing, DrawnLink, line_names
from pcapng_iou.core.interface import Interface
from pcapng_iou.core.copies import COPY_BACKLOG, COPY_WINDOW_NS, SharedCopies  # noqa: F401 (tests use them)
from pcapng_iou.core.linkchoice import FROM_DEFAULT, Choice, choose, how_chosen, member_kinds, unmapped_description
from pcapng_iou.core.netmap import Netmap, Segment
from pcapng_iou.core.reload import ReloadResult
from pcapng_iou.core import retype
from pcapng_iou.core.selection import LinkSelection

EndpointKey = tuple[int, int]

#: Links learnt from frames that no NETMAP line explains, at most, per capture: beyond that the
#: frames toward an instance all go to one "unmapped" interface of that instance (anyone who can
#: write to a socket could otherwise make a capture grow without end).
UNMAPPED_LINKS_MAX = 256


@dataclass(frozen=True)
class Route:
    interface: Interface
    outbound: bool
    destination: EndpointKey
    #: A bridge's copy of a frame already recorded on the other half of a drawn link: not recorded again.
    copy: bool = False
    #: Its CDP frames may name the link's ends or pair its halves (see :meth:`LinkTable.hear_cdp`).
    listen: bool = False


class LinkTable:
    """Maps (source endpoint, destination endpoint) to the interface that records it.

    Interfaces are numbered here, in creation order.  Two outboxes, read by
    tests and emptied by the recorder through :meth:`take_new` and
    :meth:`take_warnings`: :attr:`new`, the interfaces whose blocks are not
    written yet, and :attr:`warnings`.  :attr:`route_cache` may be read (never
    written) by whoever wants a route without decoding a header.
    """

    def __init__(self, netmap: Netmap, default_linktype: Optional[int] = None, auto_default: bool = False,
                 selection: Optional[LinkSelection] = None, bays: Optional[dict] = None,
                 drawing: Optional[Drawing] = None):
        #: ``--linktype`` when given (None: not given, bay kinds and Ethernet decide).
        self.option_linktype = default_linktype
        self.selection = selection or LinkSelection()
        self.auto_default = auto_default
        #: Instance id -> its :class:`Bays`, or None when it is known to tell nothing (not IOU).
        self.bays: dict[int, Optional[Bays]] = dict(bays or {})
        self._conflicts_warned: set[frozenset] = set()
        self.interfaces: list[Interface] = []
        self.new: list[Interface] = []
        self.warnings: list[str] = []
        self.notices: list[str] = []
        #: Warn about frames that no NETMAP line explains (pointless when there is no NETMAP).
        self.warn_unmapped = True
        self._by_segment: dict[frozenset, Interface] = {}
        self._by_endpoint: dict[EndpointKey, Interface] = {}
        self._unmapped: dict[frozenset, Interface] = {}
        #: Beyond UNMAPPED_LINKS_MAX unmapped links: one interface per destination instance.
        self._catch_alls: dict[int, Interface] = {}
        self._catch_all_warned = False
        #: Interfaces by the instances they join, in number order (a dict as an ordered set): finding the
        #: links of one instance must not cost a look at every link of a 1,000-instance lab.
        self._by_instance: dict[int, dict[Interface, None]] = {}
        #: The siblings (see ``Interface.sibling_of``) of an interface, by its number.
        self._siblings: dict[int, list[Interface]] = {}
        #: Routes by the first 6 bytes of the datagram header (ids and ports); emptied on any change.
        self.route_cache: dict[bytes, Route] = {}
        #: The same for links that are not recorded (``--link``): their frames skip all the rest.
        self.skipped_routes: dict[bytes, Route] = {}
        #: Kept by the recorder (its fast lanes, by whole 8-byte header); emptied here with the routes.
        self.lanes: dict = {}
        self.netmap = netmap
        #: The links the user drew (a GNS3 project): their halves are recorded as one, by their names.
        self.drawing = drawing if drawing is not None else Drawing()
        self.cdp = CdpLinks()
        for segment in netmap:
            self._install(self._create_for_segment(segment, "from the start"))

    # -- creation -----------------------------------------------------------
    def choice_for(self, endpoints, segment: Optional[Segment] = None) -> Choice:
        """The link type of a link between ``endpoints`` (NETMAP line ``segment``), by the precedence."""
        line_linktype, line_auto = (segment.linktype, segment.auto) if segment is not None else (None, False)
        kinds = member_kinds(endpoints, self.bays)
        choice = choose(line_linktype, line_auto, self.option_linktype, self.auto_default, kinds)
        if choice.conflict is not None:
            key = frozenset(endpoints)
            if key not in self._conflicts_warned:
                self._conflicts_warned.add(key)
                name = "-".join(netio.endpoint_name(*e) for e in endpoints)
                self.warnings.append(f"{name}: {choice.conflict}")
        return choice

    def _create(self, name, choice: Choice, description, endpoints, segment=None, selected_by=None) -> Interface:
        """A new interface; ``selected_by``: the endpoints ``--link`` and ``-i`` judge it by (its own by default)."""
        interface = Interface(len(self.interfaces), name, choice.linktype, description, endpoints, segment,
                              choice.follow, choice.watch, origin=choice.origin, guessed=choice.guessed)
        interface.recorded = self.selection.selects(selected_by or endpoints, name)
        if len(endpoints) > 2:
            interface.copies = SharedCopies(len(endpoints))
        self.interfaces.append(interface)
        self.new.append(interface)
        for instance in interface.instances:
            self._by_instance.setdefault(instance, {})[interface] = None
        return interface

    def take_new(self) -> list[Interface]:
        """Interfaces created since the last call, in number order (their blocks are due)."""
        new = self.new
        if new:  # (asked for every frame that takes the general way: nothing to allocate when none)
            self.new = []
        return new

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def tell(self, text: str) -> None:
        """Something worth saying that is not a warning (said as info): :meth:`take_notices`."""
        self.notices.append(text)

    def take_notices(self) -> list[str]:
        notices = self.notices
        if notices:
            self.notices = []
        return notices

    def take_warnings(self) -> list[str]:
        warnings = self.warnings
        if warnings:  # (asked after every batch of frames: nothing to allocate when none)
            self.warnings = []
        return warnings

    def _create_for_segment(self, segment: Segment, since: str, choice: Optional[Choice] = None) -> Interface:
        endpoints = tuple(e.key for e in segment.endpoints)
        choice = choice or self.choice_for(endpoints, segment)
        kind = "shared segment" if len(segment.endpoints) > 2 else "link"
        half = self.drawing.half(endpoints)
        if half is not None:
            lines = line_names(half.link, segment, self._by_segment)
            description = f"{half.link.name}: {half.link.source}, NETMAP {lines}, {how_chosen(choice)}, {since}"
            every_end = tuple(e for h in half.link.halves for e in h)  # (-i 2 records R1-R2 on 513-1's interface)
            return self._create(half.link.name, choice, description, endpoints, segment, every_end)
        description = f"IOU {kind} {segment.name} ({segment.where}), {how_chosen(choice)}, {since}"
        name = linknames.line_name(endpoints, self.drawing, self.cdp.names, self.bays)
        if name is not None:
            return self._create(name, choice, f"{name}: {description}", endpoints, segment)
        return self._create(segment.name, choice, description, endpoints, segment)

    def _install(self, interface: Interface) -> None:
        self._by_segment[frozenset(interface.endpoints)] = interface
        pairing_mod.name_both_lines(self, self._by_segment, interface)
        for key in interface.endpoints:
            self._by_endpoint[key] = interface
        self.forget_routes()

    def replace(self, old: Interface, linktype: int, since: str) -> Interface:
        """Start a new interface for ``old``'s endpoints with another link type (the frames showed it)."""
        choice = Choice(linktype, follow=old.auto, origin=old.origin)
        return self._succeed(old, choice, since)

    def _succeed(self, old: Interface, choice: Choice, since: str) -> Interface:
        """A new interface takes over from ``old`` with ``choice``."""
        if old.segment is not None:
            new = self._create_for_segment(old.segment, since, choice)
        else:
            new = self._create(old.name, choice, f"{unmapped_description(old.name, choice)}; {since}", old.endpoints)
        old.replaced_by = new.number
        old.successor = new
        self._carry_over(old, new)
        self.end_siblings(old, new)
        if old.segment is not None:
            self._install(new)
        else:
            self._unmapped[frozenset(old.endpoints)] = new
            self.forget_routes()
        return new

    def _rechoose(self, interface: Interface, since: str) -> Optional[Interface]:
        """Apply what is known now to ``interface``: its successor when its link type must change, itself when
        only the way its type is kept changes (see core/retype), else None."""
        choice = retype.keep_known_serial_type(self.choice_for(interface.endpoints, interface.segment), interface)
        if retype.same_type(choice, interface):
            retype.adopt_in_place(interface, choice)
            self.forget_routes()
            return interface
        if (not choice.follow and choice.linktype != interface.linktype) or choice.follow != interface.auto:
            return self._succeed(interface, choice, since)
        if interface.watch != (choice.watch and interface.mismatch is None):
            interface.watch = choice.watch and interface.mismatch is None
            self.forget_routes()
        return None

    # -- a link whose two ends differ -------------------------------------------
    def add_sibling(self, primary: Interface, linktype: int, since: str) -> Interface:
        """A new interface for ``primary``'s link at ``linktype``, beside it: the routes still lead to
        ``primary``, whose frames of that type the recorder puts on the sibling."""
        choice = Choice(linktype, follow=primary.auto, origin=primary.origin)
        if primary.segment is not None:
            sibling = self._create_for_segment(primary.segment, since, choice)
        else:
            sibling = self._create(primary.name, choice, f"{unmapped_description(primary.name, choice)}; {since}",
                                   primary.endpoints)
        self._adopt(primary, sibling)
        return sibling

    def revive_as_sibling(self, primary: Interface, earlier: Interface) -> Interface:
        """``earlier``, an interface ``primary`` (or its forerunners) replaced, records again beside
        ``primary`` (no second interface of one link type for one link); its block is due again when
        the file being written no longer has it (a ring buffer went on to another file)."""
        earlier.replaced_by = None
        earlier.successor = None
        self._adopt(primary, earlier)
        for instance in earlier.instances:
            self._by_instance.setdefault(instance, {})[earlier] = None
        if earlier.file_id is None and earlier not in self.new:
            self.new.append(earlier)
        return earlier

    def _adopt(self, primary: Interface, sibling: Interface) -> None:
        sibling.sibling_of = primary.number
        self._siblings.setdefault(primary.number, []).append(sibling)

    def siblings(self, primary: Interface) -> list[Interface]:
        return list(self._siblings.get(primary.number, ()))

    def end_siblings(self, primary: Interface, successor: Optional[Interface] = None) -> list[Interface]:
        """``primary``'s siblings record no more: their frames go to ``successor`` (else to ``primary``;
        retired with it when it is)."""
        ended = self._siblings.pop(primary.number, [])
        heir = successor or primary
        for sibling in ended:
            sibling.sibling_of = None
            if primary.retired and successor is None:
                sibling.retired = True
                sibling.pending_comments.clear()
            else:
                sibling.replaced_by = heir.number
                sibling.successor = heir
                heir.pending_comments = sibling.pending_comments + heir.pending_comments
                sibling.pending_comments = []
        return ended

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
        self.lanes.clear()

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
        else:
            route = self._drawn_route(interface, source, destination) or Route(
                interface, source == interface.endpoints[0], destination)
        if not interface.recorded and not (route.listen and self.selection.learns_names):
            self.skipped_routes[key] = route  # (else a half-link is heard: CDP may yet name it as --link does)
        elif not interface.watch:
            # A watched link stays off the cache, so the recorder's fast path leaves its frames to the check.
            self.route_cache[key] = route
        return route

    def _drawn_route(self, interface: Interface, source: EndpointKey, destination: EndpointKey) -> Optional[Route]:
        """The route of a frame on a half of a drawn link (None: not one).  With both halves in NETMAP: the
        interface of its first half; a copy when the bridge sends it (the router's transmission was taken on
        the other half); outbound when the first end's router sends it.  A half alone is recorded on its
        own, outbound when its router sends."""
        half = self.drawing.half(interface.endpoints)
        if half is None:
            ends = cdp_mod.half_ends(interface.endpoints)  # (a half-link: outbound when its router sends)
            if ends is None or self.drawing.from_project:
                return None  # (a port the project connects to nothing: its CDP would name nothing drawn)
            return Route(interface, source == ends[0], destination, listen=True)
        halves = half.link.halves
        first = self._by_segment.get(halves[0])
        second = self._by_segment.get(halves[1]) if len(halves) == 2 else None
        listen = half.link.source == CDP_SOURCE and any(e.endpoint not in self.cdp.names for e in half.link.ends)
        if first is None or second is None:  # one half alone (the other is not in NETMAP, not IOU)
            return Route(interface, source == half.router_end, destination, listen=listen)
        outbound = source == half.link.ends[0].endpoint
        return Route(first, outbound, destination, copy=source == half.bridge_end, listen=listen)

    def hear_cdp(self, source: EndpointKey, route: Route, frame: bytes) -> bool:
        """A frame on a half-link that CDP may tell about; True when it changed a name or a pairing."""
        ends = cdp_mod.half_ends(self._by_endpoint[source].endpoints if source in self._by_endpoint else ())
        if ends is None:
            return False
        news = self.cdp.heard(source, ends[0], frame)
        if news is None:
            return False
        pairing = news[0] == "pair"
        if pairing:  # (the ends in endpoint order: the direction is the same whichever router spoke first)
            link = DrawnLink(tuple(cdp_mod.end_for(e, self.cdp.names, self.bays, self.drawing.routers)
                                   for e in sorted(news[1:])), CDP_SOURCE)
            known = self.drawing.half(link.halves[0])
            pairing = known is None or set(known.link.halves) != set(link.halves)  # (not heard before)
            if pairing:
                self.drawing.add(link)
            else:
                self.drawing.replace(known.link, link)
        else:
            half = self.drawing.half(cdp_mod.half_key_of(ends[0]))
            if half is None:
                end = cdp_mod.end_for(ends[0], self.cdp.names, self.bays, self.drawing.routers)
                self._rename(self._by_endpoint[source], end.label, say=False)
                return True
            link = DrawnLink(tuple(cdp_mod.end_for(e.endpoint, self.cdp.names, self.bays, self.drawing.routers)
                                   for e in half.link.ends), CDP_SOURCE)
            self.drawing.replace(half.link, link)
        primary = self._by_segment.get(link.halves[0])
        halves = [self._by_segment.get(key) for key in link.halves]
        if pairing and pairing_mod.both_written(halves):
            pairing_mod.merge_written(self, link, halves)
        elif primary is not None:
            self._rename(primary, link.name)
        self.forget_routes()
        return True

    def _rename(self, interface: Interface, name: str, say: bool = True) -> None:
        linknames.rename(self, interface, name, say)

    @property
    def interfaces_by_half(self) -> dict:
        """The interface of each NETMAP line, by its endpoints (read only)."""
        return self._by_segment

    def learn_drawing(self, drawing: Drawing) -> None:
        """The links the user drew, learnt after the start: the links made from now on take their names,
        and their halves pair up from the next frame on."""
        self.drawing = drawing
        self.forget_routes()

    def _unmapped_interface(self, source: EndpointKey, destination: EndpointKey) -> Interface:
        pair = frozenset((source, destination))
        interface = self._unmapped.get(pair)
        if interface is None and len(self._unmapped) >= UNMAPPED_LINKS_MAX:
            return self._catch_all(destination[0])
        if interface is None:
            name = f"{netio.endpoint_name(*source)}-{netio.endpoint_name(*destination)}"
            endpoints = (source, destination)
            choice = self.choice_for(endpoints)
            interface = self._create(name, choice, unmapped_description(name, choice), endpoints)
            self._unmapped[pair] = interface
            if self.warn_unmapped and interface.recorded:
                self.warn(f"frames between {name} match no NETMAP line: recorded on an interface "
                          f"of their own as {linktypes.name(interface.linktype)}")
        return interface

    def _catch_all(self, instance: int) -> Interface:
        """The one interface of the frames toward ``instance`` once :data:`UNMAPPED_LINKS_MAX` are learnt."""
        interface = self._catch_alls.get(instance)
        if interface is None:
            name = f"{instance} unmapped"
            choice = Choice(self.option_linktype or linktypes.ETHERNET, origin=FROM_DEFAULT)
            description = (f"IOU traffic toward instance {instance} from endpoints no NETMAP line joins, "
                           f"once {UNMAPPED_LINKS_MAX} such links were seen")
            interface = self._create(name, choice, description, ((instance, -1),))
            self._catch_alls[instance] = interface
            if not self._catch_all_warned:
                self._catch_all_warned = True
                self.warn(f"frames between more than {UNMAPPED_LINKS_MAX} pairs of endpoints match no NETMAP "
                          f"line: from now on those toward an instance go to one 'unmapped' interface "
                          f"of that instance")
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
                self.end_siblings(interface)
                result.removed.append(interface)
        for endpoints, segment in wanted.items():
            interface = self._by_segment.get(endpoints)
            if interface is None:
                new = self._create_for_segment(segment, f"added by the NETMAP reload at {when}")
                self._install(new)
                result.added.append(new)
                continue
            if segment.linktype != interface.segment.linktype:
                interface.mismatch = None  # the line was edited: check it afresh
            interface.segment = segment
            new = self._rechoose(interface, f"since the NETMAP reload at {when}")
            if new is interface:
                result.kept_as.append(interface)  # (same link type, same interface: unchanged for the file)
            if new is not None and new is not interface:
                result.changed.append((interface, new))
            else:
                result.kept += 1
        for number in list(self._siblings):
            # A change of configuration: links whose ends differed are followed afresh.
            self.end_siblings(self.interfaces[number])
        self.netmap = netmap
        self.forget_routes()
        return result

    def extend(self, segments, when: str) -> list[Interface]:
        """Interfaces for NETMAP lines ``segments``, new to the lab (an instance brought its NETMAP)."""
        added = []
        for segment in segments:
            if frozenset(e.key for e in segment.endpoints) in self._by_segment:
                continue
            interface = self._create_for_segment(segment, f"added {when}")
            self._install(interface)
            added.append(interface)
        self.netmap = Netmap(self.netmap.segments + tuple(i.segment for i in added), self.netmap.filename)
        return added

    def learn_bays(self, instance: int, layout: Optional[Bays], when: str) -> list[tuple[Interface, Interface]]:
        """Instance ``instance`` has bays ``layout`` (None: it tells nothing); (old, new) of the links it changed.

        Looks at that instance's links only, not at the whole lab.
        """
        previous = self.bays.get(instance)
        self.bays[instance] = layout
        if previous == layout:
            return []  # (None and never heard of are the same: both tell nothing)
        changed = []
        for interface in self.touching(instance):
            if interface.sibling_of is not None:
                continue  # its link is the one the routes lead to
            new = self._rechoose(interface, f"since the bays of instance {instance} are known ({when})")
            if new is not None and new is not interface:
                changed.append((interface, new))
        return changed
