"""What a NETMAP line that is no drawn link is called, and a name learnt for it later (pure).

A half-link (a router's port to its bridge at id + 512, as GNS3 and EVE-NG
wire IOU) is called by its router end ("R1 Ethernet0/0": EVE-NG's title, what
the router said in CDP, or "IOU 1") until its far end is known.  A line between
the routers themselves (a plain IOU lab) is called by its ends once a router on
it has a name (``--name``): "R1 Ethernet0/0 - IOU 2 Ethernet0/0", the interface
names its bays give.  Else its endpoints name it ("1:0/0-2:0/0").

A name learnt from CDP after the interface was made is said (a comment on the
link's next frame when its block is written already, and a notice), and
``--link`` judges the link again: a name the user gave may select it now, or
no more (a half-link chosen by one end until CDP told the whole link).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from pcapng_iou.core import cdp
from pcapng_iou.core.drawn import Drawing, line_names
from pcapng_iou.core.interface import Interface
from pcapng_iou.core.selection import END_SEPARATOR

#: The start of the comment that gives a link's name learnt after its block was written.
RENAMED = "this link is "


def line_name(endpoints, drawing: Drawing, cdp_names: dict, bays: dict) -> Optional[str]:
    """The name of the NETMAP line ``endpoints`` when it is no drawn link's half; None: its endpoints'."""
    ends = cdp.half_ends(endpoints)
    if ends is not None:  # a router's port to its bridge: named by the router's end
        if ends[0][0] in drawing.routers or not drawing.from_project:
            return cdp.end_for(ends[0], cdp_names, bays, drawing.routers).label
        return None  # (a port the project connects to nothing)
    if any(instance in drawing.routers for instance, _ in endpoints):
        return END_SEPARATOR.join(cdp.end_for(end, {}, bays, drawing.routers).label for end in endpoints)
    return None


def judge(table, interface: Interface) -> None:
    """``--link`` and ``-i`` decide again whether ``interface`` (of link table ``table``) is recorded."""
    half = table.drawing.half(interface.endpoints)
    every_end = tuple(e for h in half.link.halves for e in h) if half is not None else interface.endpoints
    interface.recorded = table.selection.selects(every_end, interface.name)


def rename(table, interface: Interface, name: str, say: bool = True) -> None:
    """``interface`` is called ``name`` from now on (learnt from CDP); said on its next frame if its
    block is written already, and (``say``) as a notice."""
    if interface.name == name:
        return
    old, interface.name = interface.name, name
    chosen = interface.recorded
    judge(table, interface)
    if chosen and not interface.recorded:
        table.warn(f"{old} is {name} (learnt from CDP), which --link does not name: not recorded from now on")
    half = table.drawing.half(interface.endpoints)
    lines = (interface.segment.name if half is None else
             line_names(half.link, interface.segment, table.interfaces_by_half))
    interface.description = f"{name} (names from CDP), NETMAP {lines}"
    if interface.file_id is not None:
        said = [c for c in interface.pending_comments if not c.startswith(RENAMED)]
        interface.pending_comments = said + [
            f"{RENAMED}{name} (learnt from CDP; its interface block says {interface.written_name})"]
    if say:
        table.tell(f"{old} is {name} (learnt from CDP)")


@dataclass(frozen=True)
class Unmatched:
    """A ``--link`` or ``-i`` that selects nothing the lab shows now."""

    #: What a capture says (it goes on: what is missing may still come).
    warning: str
    #: What ``capture -D`` says (it lists what is there now).
    listing: str


def unmatched(table, running: Iterable[int]) -> list:
    """What ``--link`` and ``-i`` ask for that no link of ``table`` is, with ``running`` the instances that run.

    A name the user knows is judged against the names the links have now, and not at all while CDP may
    still name a router end (a half-link no one names, without a GNS3 project): that name comes later."""
    selection, found = table.selection, []
    if len(table.netmap):
        for name in selection.unmatched(table.netmap):
            found.append(Unmatched(f"--link {name.text} matches no NETMAP line; recorded only if frames "
                                   f"between those endpoints show up", f"no link matches --link {name.text}"))
    if selection.learns_names and not any(_named_by_cdp_later(table, i) for i in table.current()):
        known = [i.name for i in table.current()] + [link.name for link in table.drawing.links]
        for name in selection.unknown_labels(known):
            found.append(Unmatched(f'--link "{name.text}" matches no link name or link end the lab shows; '
                                   f'recorded only if a link comes to be called so',
                                   f'no link matches --link "{name.text}"'))
    if len(table.netmap) or running:
        for number in selection.unknown_instances(table.netmap, running):
            found.append(Unmatched(f"-i {number}: no instance {number} in NETMAP or running; recorded only if it "
                                   f"starts", f"no instance {number} in NETMAP or running"))
    return found


def _named_by_cdp_later(table, interface: Interface) -> bool:
    """``interface`` is a half-link whose router end CDP may still name (no title, no project names it)."""
    ends = cdp.half_ends(interface.endpoints) if interface.segment is not None else None
    return (ends is not None and ends[0][0] not in table.drawing.routers and not table.drawing.from_project
            and table.drawing.half(interface.endpoints) is None)
