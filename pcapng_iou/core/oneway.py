"""Links the capture sees in one direction only, and what is said about them.

A peer that sends to an instance through a connected socket (EVE-NG's
``iol_wrapper``) goes straight to the instance's socket, past ours, unless
the capture takes that connection over (:mod:`pcapng_iou.shell.takeover`).
Where it cannot, the frames toward that instance are not recorded: the
capture says so once per instance, and marks its links "one direction".
"""
from __future__ import annotations

from typing import Iterable, Optional

from pcapng_iou.core.netio import MAX_ID

#: EVE-NG and GNS3 put an instance's bridge at its id + 512.
BRIDGE_OFFSET = 512
#: The marker shown on such a link (dashboard row, summary, packet comment).
MARKER = "one direction"


def bridge_of(instance: int) -> Optional[int]:
    """The id of the bridge that EVE-NG or GNS3 pairs with ``instance``, if it can have one."""
    bridge = instance + BRIDGE_OFFSET
    return bridge if bridge <= MAX_ID else None


def one_way_links(interfaces: Iterable, instances: Iterable[int]) -> frozenset:
    """The numbers of the interfaces whose frames toward one of ``instances`` are not all seen.

    Those that join such an instance to its bridge (id + 512) when it has
    links to it (an EVE-NG node: the bridge sends through the connection),
    else every link of the instance (whoever holds the connection).
    """
    blind = set(instances)
    if not blind:
        return frozenset()
    marked = set()
    for instance in blind:
        links = [interface for interface in interfaces if instance in interface.instances]
        bridge = bridge_of(instance)
        to_bridge = [interface for interface in links if bridge in interface.instances]
        marked.update(interface.number for interface in (to_bridge or links))
    return frozenset(marked)


def refused_text(instance: int, who: str, reason: str) -> str:
    """The warning said once for an instance whose connected sender could not be taken over."""
    return (f"instance {instance}: {who} sends to it through a connection of its own that the capture cannot "
            f"take over ({reason}): frames toward instance {instance} from it are not recorded ({MARKER}). "
            f"Fix: restart that node while the capture runs, or start the capture before the lab")


def unknown_text(reason: str) -> str:
    """The warning said once when the kernel cannot tell who is connected to an instance's socket."""
    return (f"cannot tell whether peers send to instances through connections of their own ({reason}): "
            f"on EVE-NG, frames from iol_wrapper toward a router may not be recorded. "
            f"Fix: start the capture before the lab")


def comment_text(instance: int, who: str) -> str:
    """The packet comment on the links of such an instance."""
    return f"{MARKER}: frames toward instance {instance} from {who} are not recorded"
