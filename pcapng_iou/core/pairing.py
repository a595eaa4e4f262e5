"""Two halves of a drawn link found to be one after both were written (pure bookkeeping of the link table).

When CDP shows while the capture runs that two half-links are one drawn link (an
EVE-NG lab, a GNS3 lab without its project file), each half may already have
a block in the file, naming its own NETMAP line only, and the link's frames
would go on under a block that names neither the link nor the other line.  The
link then goes on, each transmission once, on a new interface whose block names
the link and both lines; the frames recorded before stay where they are.
"""
from __future__ import annotations

from typing import Optional, Sequence

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
