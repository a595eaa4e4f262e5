"""The capture core: datagrams in, PCAP-NG bytes out.  No sockets, no files, no clock.

The event loop hands every batch of datagrams it relays to :meth:`Recorder.record`
together with the time each arrived and whether it could be delivered; the
recorder decides which interface records it, keeps the counters, and returns
the bytes to append to the capture file.  Lifecycle notes (attach, death,
reload) become packet comments on the next frame of each affected link.

Each file (one, or each file of a ring buffer) is a section of its own, and an
interface's block is written in it just before the interface's first frame
there, numbered within that file (``Interface.file_id``): a lab of 64-line
NETMAPs gives the links that carried frames, not all of them.  Links left out
by ``--link`` get no block; their frames are relayed and only counted.  A snap
length cuts the stored frames, never the relayed ones.
"""
from __future__ import annotations

from typing import Optional, Sequence

from pcapng_iou import __version__
from pcapng_iou.core import blocks, linknames, linktypes, netio
from pcapng_iou.core.classify import LinkTypeTracker, classify
from pcapng_iou.core.holding import HeldFrame, Holding, wants_holding
from pcapng_iou.core.linkchoice import FROM_LINE, SERIAL_LINKTYPES
from pcapng_iou.core.lanes import Lane as _Lane
from pcapng_iou.core.lanes import count as _count
from pcapng_iou.core.lanes import record_in_runs
from pcapng_iou.core.links import Interface, LinkTable, ReloadResult
from pcapng_iou.core.netmap import Netmap
from pcapng_iou.core.selection import LinkSelection

HEADER_SIZE = netio.HEADER_SIZE
#: No snap length: frames are stored whole (IOU frames are far shorter).
NO_SNAPLEN = 1 << 31


def _earlier_frames(old: Interface) -> str:
    """Where a replaced interface's frames are in the file being written, for a packet comment."""
    return "" if old.file_id is None else f"; earlier frames are on interface {old.file_id}"


def _in_file(interface: Interface) -> str:
    """An interface as a person finds it in the file: by its id there, as ``#`` on the dashboard."""
    return "a new interface" if interface.file_id is None else f"interface #{interface.file_id}"


class _Split:
    """A followed link whose two ends differ: the interface of each link type its frames show.

    ``by_type``: link type -> the link's one interface for it (the routes lead to ``primary``);
    ``earlier``: the interfaces the link had before, by link type, used again when their type shows;
    ``by_sender``: the type each end last showed, for its frames no type is sure of.
    """

    __slots__ = ("by_sender", "by_type", "earlier", "primary")

    def __init__(self, primary: Interface, earlier: dict):
        self.primary = primary
        self.by_type = {primary.linktype: primary}
        self.earlier = earlier
        self.by_sender: dict = {}


class Recorder:
    """Relayed datagrams in, PCAP-NG blocks out; ``limit`` frames at most (``--count``)."""

    def __init__(
        self,
        netmap: Netmap,
        default_linktype: Optional[int] = None,
        auto_default: bool = False,
        comment: Optional[str] = None,
        snaplen: int = 0,
        selection: Optional[LinkSelection] = None,
        bays: Optional[dict] = None,
        reload_hint: str = "kill -HUP",
        limit: Optional[int] = None,
        drawing=None,
    ):
        """``default_linktype``: ``--linktype`` when given; ``bays``: instance id -> Bays
        (see :class:`LinkTable`); ``reload_hint``: how the user reloads NETMAP, for warnings."""
        self.comment = comment
        #: 0 or a length: what the interface blocks announce and where frames are cut.
        self.snaplen = snaplen
        self._cut_above = snaplen or NO_SNAPLEN
        self.section = blocks.Section(f"pcapng-iou {__version__}", comment)
        self.links = LinkTable(netmap, default_linktype, auto_default, selection, bays, drawing)
        self.reload_hint = reload_hint
        #: The interfaces that have a block in the file being written, in file order.
        self.in_file: list[Interface] = []
        self.frames_skipped = 0
        self._link_names_warned: set = set()
        self.limit = limit
        self.frames_recorded = 0
        self.shared_copies = 0
        self.datagrams_malformed = 0
        self.datagrams_empty = 0
        self.undelivered = 0
        self._trackers: dict[int, LinkTypeTracker] = {}
        #: Followed links that switched: link type -> the interface it had at that type, by the number
        #: of the link's current interface (one dict for the link, found by its latest interface).
        self._earlier: dict[int, dict[int, Interface]] = {}
        #: Followed links whose ends differ, by the number of the interface their routes lead to.
        self._splits: dict[int, _Split] = {}
        self._started = False
        #: Frames of half-links waiting for the far end's CDP before their block is written (see core/holding).
        self.held = Holding()

    # -- blocks ---------------------------------------------------------------
    def start(self) -> bytes:
        """The section header (each interface's block comes with its first frame)."""
        self._started = True
        self._check_link_names()
        return self.start_file()

    def _check_link_names(self) -> None:
        """Warn once about each ``--link`` name and ``-i`` instance that nothing in the lab matches now
        (see :func:`pcapng_iou.core.linknames.unmatched`).

        Not while there is no NETMAP at all nor any instance running: the instances may bring theirs when they start.
        """
        if not len(self.links.netmap) and not self.links.bays:
            return
        for found in linknames.unmatched(self.links, self.links.bays):
            if found.warning not in self._link_names_warned:
                self._link_names_warned.add(found.warning)
                self.links.warn(found.warning)

    def start_file(self) -> bytes:
        """The start of a new file: its section header.  Interface blocks come with their first frame."""
        for interface in self.in_file:
            interface.file_id = None
        self.in_file = []
        self.links.forget_routes()  # (the fast lanes write file ids: none is valid in the new file)
        self.section = blocks.Section(f"pcapng-iou {__version__}", self.comment)
        self.links.take_new()
        return self.section.header_bytes()

    def _new_interface_blocks(self) -> bytes:
        """Nothing to write: an interface's block is written just before its first frame (:meth:`_block_for`)."""
        self.links.take_new()
        return b""

    def _block_for(self, interface: Interface) -> bytes:
        """``interface``'s block when the file being written has none yet (it is numbered in this file then)."""
        if interface.file_id is not None:
            return b""
        interface.file_id = len(self.in_file)
        interface.written_name = interface.name
        self.in_file.append(interface)
        return self.section.interface_block(interface.linktype, interface.name, interface.description, self.snaplen)

    def take_warnings(self) -> list[str]:
        return self.links.take_warnings()

    def take_notices(self) -> list[str]:
        """What is worth saying but no warning (a serial link settled from its first frame, a followed change)."""
        return self.links.take_notices()

    @property
    def full(self) -> bool:
        """``limit`` frames are recorded: nothing more will be."""
        return self.limit is not None and self.frames_recorded >= self.limit

    @property
    def datagrams_seen(self) -> int:
        """Datagrams accounted for so far: each is a frame, a copy, left out, malformed or empty."""
        return (self.frames_recorded + self.shared_copies + self.frames_skipped + self.datagrams_malformed
                + self.datagrams_empty)

    # -- frames ---------------------------------------------------------------
    def record(self, datagrams: Sequence[bytes], timestamps: Sequence[int],
               undelivered: Optional[Sequence[Optional[str]]] = None) -> bytes:
        """Account for relayed datagrams; return the blocks that record them (maybe none), joined.

        ``undelivered`` is None when every datagram reached its instance, else
        one entry per datagram: None, or why that one did not (it is recorded
        all the same, with a comment).
        """
        released = self.release_held(timestamps[0]) if self.held and timestamps else b""
        if released:
            return released + self.record(datagrams, timestamps, undelivered)
        if self.limit is not None and self.frames_recorded + len(datagrams) > self.limit:
            return self._record_up_to_limit(datagrams, timestamps, undelivered)
        if undelivered is not None:
            return self._record_each(datagrams, timestamps, undelivered)
        entered: list = []
        try:
            return b"".join(record_in_runs(datagrams, timestamps, self.links.lanes.get, self._cut_above,
                                           lambda lane, timestamp_ns: self._enter(lane, entered, timestamp_ns),
                                           self._general))
        finally:
            for lane in entered:
                self.frames_recorded += lane.settle()

    def _record_each(self, datagrams, timestamps, undelivered) -> bytes:
        """Some were not delivered (rare): each frame its own way, in order."""
        return b"".join([self._general(datagram, timestamp_ns, reason) if reason is not None
                         else self.record((datagram,), (timestamp_ns,))
                         for datagram, timestamp_ns, reason in zip(datagrams, timestamps, undelivered)])

    @staticmethod
    def _enter(lane: _Lane, entered: list, timestamp_ns: int) -> bool:
        """The first frame of ``lane`` in a batch: it takes the fast way unless its link has comments to write."""
        interface = lane.interface
        if interface.pending_comments:
            return False
        if not interface.first_ns:
            interface.first_ns = timestamp_ns
        entered.append(lane)
        return True

    def _open_lane(self, key: bytes, route) -> None:
        """After a frame took the general way: let the next ones of its route take the fast way, if they may."""
        interface, lanes = route.interface, self.links.lanes
        if key not in lanes and interface.copies is None and not interface.auto and not route.copy and \
                not route.listen and self.links.route_cache.get(key[:6]) is route:
            lanes[key] = _Lane(interface, route.outbound)

    def _record_up_to_limit(self, datagrams, timestamps, undelivered) -> bytes:
        out = []
        for index, datagram in enumerate(datagrams):
            if self.full:
                break
            out.append(self.record((datagram,), (timestamps[index],), undelivered and (undelivered[index],)))
        return b"".join(out)

    def datagram(self, datagram: bytes, timestamp_ns: int, undelivered: Optional[str] = None) -> bytes:
        """:meth:`record` for one datagram."""
        return self.record((datagram,), (timestamp_ns,), None if undelivered is None else (undelivered,))

    def _general(self, datagram: bytes, timestamp_ns: int, undelivered: Optional[str]) -> bytes:
        """The way for any datagram: decode, route, de-duplicate, follow the link type, comment."""
        if undelivered is not None:
            self.undelivered += 1
        if self.links.skipped_routes and datagram[:6] in self.links.skipped_routes:
            self.frames_skipped += 1  # a link --link left out: relayed, not recorded
            return b""
        parsed = netio.data_frame(datagram)
        if parsed is None:
            if len(datagram) <= netio.HEADER_SIZE:
                self.datagrams_empty += 1
            else:
                self.datagrams_malformed += 1
            return b""
        header, frame = parsed
        route, out = self.links.route(header, datagram[:6]), b""
        if route.listen and self.links.hear_cdp((header.src_id, header.src_port), route, frame):
            heard_on, route = route.interface, self.links.route(header, datagram[:6])  # (CDP named or paired)
            out = self._review_held((heard_on, route.interface))
        out += self._new_interface_blocks()  # (routing may have made one)
        interface = route.interface
        if route.copy:  # the bridge's copy of a frame taken on the other half of a drawn link
            self.shared_copies += 1
            interface.undelivered += undelivered is not None
            return out
        if not interface.recorded:
            self.frames_skipped += 1
            return out
        if interface.copies is not None and not interface.copies.is_new(
            (header.src_id, header.src_port), route.destination, frame, timestamp_ns
        ):
            self.shared_copies += 1
            if undelivered is not None:
                interface.undelivered += 1
            return out
        if interface.auto:
            interface = self._follow_linktype(interface, frame, timestamp_ns, (header.src_id, header.src_port))
            out += self._new_interface_blocks()
        elif interface.watch:
            self._check_linktype(interface, frame)
        comments = interface.pending_comments
        if undelivered is not None:
            interface.undelivered += 1
            comments = comments + [f"not delivered: {undelivered}"]
        if comments:
            interface.pending_comments = []
        if interface is route.interface:
            self._open_lane(datagram[:HEADER_SIZE], route)
        return out + self._packet_or_hold(route, header, datagram[:6], interface, frame, timestamp_ns, comments)

    def _packet_or_hold(self, route, header, key: bytes, interface: Interface, frame: bytes, timestamp_ns: int,
                        comments) -> bytes:
        """:meth:`_packet`, or nothing yet while the frame's half-link waits for its far end (core/holding)."""
        if not (self.held.holds(interface) or wants_holding(interface, route.listen)):
            return self._packet(interface, route.outbound, frame, timestamp_ns, comments)
        self.frames_recorded += 1
        return self._write_held(self.held.hold(
            HeldFrame(header, key, route.interface, interface, route.outbound, frame, timestamp_ns, comments)))

    def release_held(self, now_ns: Optional[int] = None) -> bytes:
        """The blocks of the held frames whose wait is over at ``now_ns`` (None: all, at a stop or a file's end)."""
        return self._write_held(self.held.due(now_ns)) if self.held else b""

    def _review_held(self, interfaces) -> bytes:
        """CDP changed a name or a pairing on ``interfaces``: the held frames that may go out now (copies dropped)."""
        ready, copies = self.held.review(lambda held: self.links.route(held.header, held.key), interfaces)
        self.frames_recorded -= copies
        self.shared_copies += copies
        return self._write_held(ready)

    def _write_held(self, frames) -> bytes:
        """The blocks of held ``frames``, counted when they were held.  Those of an interface ``--link`` no
        longer selects (a half chosen by one end, which CDP showed to be another link) are not recorded."""
        kept = [held for held in frames if held.interface.recorded]
        if len(kept) < len(frames):
            self.frames_recorded -= len(frames) - len(kept)
            self.frames_skipped += len(frames) - len(kept)
        return b"".join([self._packet(held.interface, held.outbound, held.frame, held.timestamp_ns, held.comments,
                                      counted=True) for held in kept])

    def _packet(self, interface: Interface, outbound: bool, frame: bytes, timestamp_ns: int,
                comments: Sequence[str] = (), counted: bool = False) -> bytes:
        """Count ``frame`` on ``interface`` and return its Enhanced Packet Block (after the interface's
        block when it is the interface's first frame in this file); ``counted``: as recorded already."""
        size = len(frame)
        flags = _count(interface, outbound, size, timestamp_ns)
        self.frames_recorded += not counted
        block = self._block_for(interface)
        if size > self._cut_above:
            return block + blocks.enhanced_packet(interface.file_id, timestamp_ns, frame[:self.snaplen], flags,
                                                  comments, size)
        return block + blocks.enhanced_packet(interface.file_id, timestamp_ns, frame, flags, comments)

    def _follow_linktype(self, interface: Interface, frame: bytes, timestamp_ns: int, sender) -> Interface:
        """The interface a frame of followed link ``interface`` (sent by endpoint ``sender``) goes on."""
        tracker = self._trackers.get(interface.number)
        if tracker is None:
            tracker = self._trackers[interface.number] = LinkTypeTracker(interface.linktype)
        kind = classify(frame)
        interface.confirmed = interface.confirmed or kind == interface.linktype
        if tracker.differ is not None:
            return self._split_interface(self._splits[interface.number], kind, sender)
        if interface.guessed and kind is not None:
            # Cisco HDLC was only IOS's default for a serial bay: the first sure frame settles it,
            # so a link configured for PPP or Frame Relay is right from its first frame.
            interface.guessed = False
            if kind in SERIAL_LINKTYPES and kind != interface.linktype:
                tracker.take(kind, timestamp_ns)
                return self._switch(interface, tracker, kind, settled=True)
        if not tracker.observe(kind, timestamp_ns, sender):
            return interface
        if tracker.differ is not None:
            return self._ends_differ(interface, tracker, kind, sender)
        if tracker.current == interface.linktype:
            return interface
        return self._switch(interface, tracker, tracker.current)

    def _ends_differ(self, interface: Interface, tracker: LinkTypeTracker, kind: int, sender) -> Interface:
        """The link went back to a type it had since the last change of configuration (A, B, A): one
        end sends one type, the other another.  Following would flap without end, a new interface each
        time; instead each frame goes from now on to the link's one interface of the type it shows
        (the earlier one of that type when there is one), until a NETMAP reload."""
        split = self._splits[interface.number] = _Split(interface, self._earlier.pop(interface.number, {}))
        target = self._split_interface(split, kind, sender)
        current, back = (linktypes.name(t) for t in tracker.differ)
        where = ", ".join(f"{i.linktype_name}: {_in_file(i)}"
                          for i in sorted(split.by_type.values(), key=lambda i: i.number))
        self.links.warn(
            f"{interface.name}: one end sends {back} and the other {current} (encapsulations differ?): "
            f"no longer following the frames; each is recorded on the interface of its own link type "
            f"({where}) until NETMAP is reloaded ({self.reload_hint})")
        note = (f"one end sends {back} and the other {current} (encapsulations differ?): from here on each "
                f"frame is recorded on this link's interface for the link type it shows")
        for each in split.by_type.values():
            each.pending_comments.append(note)
        return target

    def _split_interface(self, split: _Split, kind: Optional[int], sender) -> Interface:
        """The interface of a frame of type ``kind`` (None: not sure) from ``sender`` on a split link."""
        if kind is None:
            kind = split.by_sender.get(sender)
            if kind is None:
                return split.primary
        else:
            split.by_sender[sender] = kind
        found = split.by_type.get(kind)
        if found is None:
            primary, earlier = split.primary, split.earlier.get(kind)
            if earlier is not None and earlier.replaced_by is not None and not earlier.retired:
                found = self.links.revive_as_sibling(primary, earlier)
            else:
                found = self.links.add_sibling(
                    primary, kind, f"for the frames that look like {linktypes.name(kind)} (the two ends differ)")
            split.by_type[kind] = found
        return found

    def _switch(self, interface: Interface, tracker: LinkTypeTracker, detected: int,
                settled: bool = False) -> Interface:
        """A new interface for ``interface``'s link, of link type ``detected``.  ``settled``: the first sure
        frame of a serial bay put its guess right, which is no news when nothing was recorded as the guess."""
        new = self.links.replace(interface, detected, "link type detected from the frames")
        new.confirmed = True  # (sure frames of that type made it)
        self._trackers[new.number] = tracker
        earlier = self._earlier.pop(interface.number, None) or {interface.linktype: interface}
        earlier[interface.linktype] = interface
        self._earlier[new.number] = earlier
        was, now = linktypes.name(interface.linktype), linktypes.name(detected)
        if settled and not interface.frames:
            new.pending_comments.append(f"{now} from the first frame (a serial bay starts as {was}, IOS's default)")
            self.links.tell(f"{interface.name}: {now} from its first frame")  # (the guess was never written)
            return new
        new.pending_comments.append(
            f"link type changed from {was} to {now} (detected from the frames){_earlier_frames(interface)}")
        (self.links.tell if interface.confirmed else self.links.warn)(
            f"{interface.name}: frames now look like {now}, recording on a new interface")
        return new

    def _check_linktype(self, interface: Interface, frame: bytes) -> None:
        """A link type written by hand: say once, without switching, when the frames show another."""
        tracker = self._trackers.get(interface.number)
        if tracker is None:
            tracker = self._trackers[interface.number] = LinkTypeTracker(interface.linktype)
        if not tracker.observe(classify(frame)):
            return
        del self._trackers[interface.number]
        interface.watch = False
        interface.mismatch = tracker.current
        self.links.forget_routes()  # nothing more to check: back to the fast path
        written, seen = linktypes.name(interface.linktype), linktypes.name(tracker.current)
        if interface.origin == FROM_LINE:
            said = f"{interface.segment.where} says {written}"
            fix = (f"write {seen} on that line (or drop the link type to let the bays decide), "
                   f"then {self.reload_hint}")
        else:
            said = f"--linktype {written} is in force"
            fix = f"restart without --linktype {written}, or write {seen} on a NETMAP line for this link"
        self.links.warn(
            f"{interface.name}: {said}, but the frames are {seen}; they stay recorded as {written} "
            f"(Wireshark will not decode them). Fix: {fix}")
        interface.pending_comments.append(f"the frames look like {seen}, not {written} as written for this link")

    # -- notes ----------------------------------------------------------------
    def annotate(self, instance: int, text: str) -> None:
        """Put ``text`` on the next frame of every recorded link that touches ``instance``."""
        for interface in self.links.touching(instance):
            if interface.recorded:
                interface.pending_comments.append(text)

    def annotate_all(self, text: str) -> None:
        for interface in self.links.recorded():
            interface.pending_comments.append(text)

    def reload(self, netmap: Netmap, when: str) -> tuple[bytes, ReloadResult]:
        result = self.links.reload(netmap, when)
        # A change of configuration: every followed link starts afresh (links whose ends differed too).
        self._trackers.clear()
        self._earlier.clear()
        self._splits.clear()
        for old, new in result.changed:
            new.pending_comments.append(
                f"NETMAP reload at {when}: link type {linktypes.name(old.linktype)} -> "
                f"{linktypes.name(new.linktype)}{_earlier_frames(old)}")
        for new in result.added:
            new.pending_comments.append(f"NETMAP reload at {when}: link added")
        self.annotate_all(f"NETMAP reloaded at {when}: {result.summary()}")
        self._check_link_names()
        return self._new_interface_blocks(), result

    def learn_bays(self, instance: int, layout, when: str) -> bytes:
        """What instance ``instance``'s bays (a Bays, or None: not IOU) change; the blocks to write."""
        for old, new in self.links.learn_bays(instance, layout, when):
            new.pending_comments.append(
                f"link type {linktypes.name(old.linktype)} -> {linktypes.name(new.linktype)} from the bays of "
                f"instance {instance} ({when}){_earlier_frames(old)}")
        return self._new_interface_blocks()

    def extend(self, segments, when: str) -> bytes:
        """Interfaces for NETMAP lines new to the lab; their blocks."""
        for interface in self.links.extend(segments, when):
            interface.pending_comments.append(f"link added {when}")
        return self._new_interface_blocks()

    def statistics(self, timestamp_ns: int, started_ns: int) -> bytes:
        """One Interface Statistics Block per interface of the file, for a clean close (counts since the start)."""
        return b"".join(
            blocks.interface_statistics(
                i.file_id, timestamp_ns, started_ns, timestamp_ns, i.frames, i.undelivered
            )
            for i in self.in_file
        )
