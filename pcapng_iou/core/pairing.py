"""Two halves of a drawn link found to be one after both were written (pure bookkeeping of the link table).

When CDP shows while the capture runs that two half-links are one drawn link (an
EVE-NG lab, a GNS3 lab without its project file), each half may already have
a block in the file, naming its own NETMAP line only, and the link's frames
would go on under a block that names neither the link nor the other line.  The
link then goes on, each transmission once, on a new interface whose block names
the link and both lines; the frames recorded before stay where they are.

The lines of a lab come in one by one (each instance brings its NETMAP as it
attaches): a half made while it was its link's only line in use names that
line alone; when the other half's line comes in before the first half's
block is written, :func:`name_both_lines` makes that block name both.
"""
from __future__ import annotations

from typing import Optional, Sequence

from pcapng_iou.core import linknames
from pcapng_iou.core.drawn import line_names
from pcapng_iou.core.interface import Interface


def both_written(halves: Sequence[Optional[Interface]]) -> bool:
    """Both halves' interfaces have a block in the file being written."""
    return len(halves) == 2 and all(half is not None and half.file_id is not None for half in halves)


def merge_written(table, link, halves: Sequence[Interface]) -> Interface:
    """Record ``link`` (a :class:`~pcapng_iou.core.drawn.DrawnLink`) from now on on a new interface that
    takes over from its first half's; returns it (its block is due)."""
    primary, other = halves
    new = table.replace(primary, primary.linktype, "since CDP showed that its two halves are one link")
    new.watch = primary.watch
    new.pending_comments.append(f"its two halves are one link (learnt from CDP); earlier frames are on "
                                f"interfaces {primary.file_id} and {other.file_id}")
    table.tell(f"{primary.name} and {other.name} are one link: {link.name} (learnt from CDP), "
               f"recorded on a new interface")
    return new


def name_both_lines(table, by_half: dict, installed: Interface) -> None:
    """``installed`` (in ``by_half``, the interfaces by NETMAP line) is a half of a drawn link: the
    interface its link is recorded on names both lines.  One made before it names its own line alone
    (and the far end as known then): without a block yet, its name and description are put right;
    with one (its router sent before the other half's line came in), the link goes on on a new
    interface whose block names both."""
    half = table.drawing.half(installed.endpoints)
    if half is None or len(half.link.halves) != 2:
        return
    first = by_half.get(half.link.halves[0])  # (the interface the link's frames go to)
    if first is None or first is installed or first.segment is None:
        return
    alone = f", NETMAP {first.segment.name}, "
    if alone not in first.description:
        return
    if first.file_id is None:  # (its name too: the link's far end was "IOU 2 Ethernet1/0" before its bays came)
        both = f", NETMAP {line_names(half.link, first.segment, by_half)}, "
        described = first.description.replace(alone, both, 1)
        if described.startswith(f"{first.name}: "):
            described = half.link.name + described[len(first.name):]
        first.name, first.description = half.link.name, described
        linknames.judge(table, first)  # (--link may name the link as it is called now)
        table.forget_routes()
        return
    new = table.replace(first, first.linktype, f"since the NETMAP line {installed.segment.name} of its other "
                                               f"half came in")
    new.watch, new.guessed, new.confirmed = first.watch, first.guessed, first.confirmed
    new.pending_comments.append(f"the NETMAP line of its other half came in ({installed.segment.name}): "
                                f"earlier frames are on interface {first.file_id}")
