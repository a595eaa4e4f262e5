"""The links a user drew, and the names they know them by (pure: text in, decisions out).

In GNS3 (and EVE-NG) every IOU port goes to a bridge at id + 512: the link the
user drew between R1 Ethernet0/0 and R2 Ethernet0/0 is two NETMAP lines,
``513:0/0 1:0/0`` and ``514:0/0 2:0/0`` (two *halves*), and every frame crosses
both.  A :class:`Drawing` knows which halves make one drawn link and what each
end is called, so the link table records the link as one interface named
"R1 Ethernet0/0 - R2 Ethernet0/0", each transmission once: on the half where its
sender is the router; the bridge's copy toward the other router is not recorded
again.

:func:`parse_gns3` reads a GNS3 project file (``.gns3``, JSON): ``topology.nodes``
(name, ``properties.application_id``, Ethernet and serial adapters) and
``topology.links`` (two ``{node_id, adapter_number, port_number}``; for IOU the
adapter is the bay and the port the unit).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

from pcapng_iou.core import netio

EndpointKey = tuple[int, int]
HalfKey = frozenset
#: A GNS3 or EVE-NG bridge serves IOU instance ``id`` at ``id + BRIDGE_OFFSET``.
BRIDGE_OFFSET = 512
#: What a drawn link learnt from CDP says it comes from, and one read in a GNS3 project file.
CDP_SOURCE = "CDP"
PROJECT_SOURCE = "GNS3 project"
#: IOU's bays when the project does not say (IOU's own defaults: 2 Ethernet, 2 serial).
DEFAULT_ETHERNET_BAYS = 2


class ProjectError(ValueError):
    """A project file that cannot be used (the message names what is wrong)."""


def ios_interface(bay: int, unit: int, ethernet_bays: int) -> str:
    """IOS's name of interface ``bay/unit``: Ethernet bays come first, the serial bays after them."""
    kind = "Ethernet" if bay < ethernet_bays else "Serial"
    return f"{kind}{bay}/{unit}"


def half_key(instance: int, port: int) -> HalfKey:
    """The NETMAP line joining IOU endpoint ``instance:port`` to its bridge (the same port at id + 512)."""
    return frozenset(((instance, port), (instance + BRIDGE_OFFSET, port)))


@dataclass(frozen=True)
class End:
    """One end of a drawn link: who (the node's name) and which interface, as the user reads them."""

    node: str
    interface: str
    #: The IOU endpoint (instance id, port byte); None for a node that is not IOU.
    endpoint: Optional[EndpointKey] = None

    @property
    def label(self) -> str:
        return f"{self.node} {self.interface}"


@dataclass(frozen=True)
class DrawnLink:
    """A link the user drew between two ends."""

    ends: tuple
    #: Where it was learnt from, for the interface's description ("GNS3 project lab.gns3").
    source: str = ""

    @property
    def name(self) -> str:
        return " - ".join(end.label for end in self.ends)

    @property
    def halves(self) -> tuple:
        """The NETMAP lines of its IOU ends (one per IOU end, in the order of the ends)."""
        return tuple(half_key(*end.endpoint) for end in self.ends if end.endpoint is not None)


@dataclass(frozen=True)
class Half:
    """What a NETMAP line is, as one half of a drawn link."""

    link: DrawnLink
    #: The router's endpoint on this line, and the bridge's.
    router_end: EndpointKey
    bridge_end: EndpointKey


@dataclass
class Drawing:
    """The drawn links of a lab, found by their halves; and the name of each IOU instance."""

    links: list = field(default_factory=list)
    routers: dict = field(default_factory=dict)
    _halves: dict = field(default_factory=dict)

    def add(self, link: DrawnLink) -> None:
        self.links.append(link)
        for end in link.ends:
            if end.endpoint is not None:
                instance, port = end.endpoint
                self._halves[half_key(instance, port)] = Half(link, end.endpoint, (instance + BRIDGE_OFFSET, port))

    def rename(self, routers: dict) -> None:
        """Instances ``routers`` are called so (what the user said: above what the lab says)."""
        self.routers.update(routers)
        for link in list(self.links):
            ends = tuple(End(routers[e.endpoint[0]], e.interface, e.endpoint)
                         if e.endpoint is not None and e.endpoint[0] in routers else e for e in link.ends)
            if ends != link.ends:
                self.replace(link, DrawnLink(ends, link.source))

    def replace(self, old: DrawnLink, new: DrawnLink) -> None:
        """``new`` (the same halves, better names) takes the place of ``old``."""
        self.links = [new if link is old else link for link in self.links]
        self.add(new)
        self.links.pop()

    def half(self, endpoints) -> Optional[Half]:
        """The half that NETMAP line ``endpoints`` is, or None."""
        return self._halves.get(frozenset(endpoints)) if self._halves else None

    def first_half(self, link: DrawnLink) -> HalfKey:
        """The line whose interface records the link (its first IOU end's)."""
        return link.halves[0]

    @property
    def from_project(self) -> bool:
        """Some links come from a project file (names CDP would give are weaker)."""
        return any(link.source.startswith(PROJECT_SOURCE) for link in self.links)

    def __bool__(self) -> bool:
        return bool(self.links)


def line_names(link: DrawnLink, segment, interfaces_by_half: dict) -> str:
    """The NETMAP lines of ``link``'s halves that are in use, ``segment`` (one of them) among them:
    "513:1/0-1:1/0 and 514:1/0-2:1/0" (a merged interface names both)."""
    own = frozenset(e.key for e in segment.endpoints)
    names = []
    for key in link.halves:
        known = interfaces_by_half.get(key)
        if key == own:
            names.append(segment.name)
        elif known is not None and known.segment is not None:
            names.append(known.segment.name)
    return " and ".join(names) or segment.name


def parse_gns3(text: str, source: str) -> Drawing:
    """The drawn links of GNS3 project file text ``text`` (``source`` names it in messages)."""
    try:
        topology = json.loads(text)["topology"]
        nodes = {node["node_id"]: node for node in topology.get("nodes") or []}
        drawn_links = topology.get("links") or []
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ProjectError(f"{source}: not a GNS3 project file ({type(err).__name__}: {err})") from None
    drawing = Drawing()
    for node in nodes.values():
        instance = _iou_instance(node)
        if instance is not None:
            drawing.routers[instance] = str(node.get("name") or f"IOU {instance}")
    for number, link in enumerate(drawn_links, 1):
        try:
            ends = tuple(_end(nodes, end) for end in link["nodes"])
        except (KeyError, TypeError, ValueError) as err:
            raise ProjectError(f"{source}: link {number} is not understood ({type(err).__name__}: {err})") from None
        if len(ends) == 2 and any(end.endpoint is not None for end in ends):
            drawing.add(DrawnLink(ends, f"{PROJECT_SOURCE} {source}"))
    return drawing


def _iou_instance(node: dict) -> Optional[int]:
    if node.get("node_type") != "iou":
        return None
    instance = (node.get("properties") or {}).get("application_id")
    return instance if isinstance(instance, int) and 1 <= instance <= netio.MAX_ID else None


def _end(nodes: dict, end: dict) -> End:
    node = nodes[end["node_id"]]
    bay, unit = int(end["adapter_number"]), int(end["port_number"])
    name = str(node.get("name") or end["node_id"])
    instance = _iou_instance(node)
    if instance is None:
        return End(name, f"{bay}/{unit}")
    ethernet_bays = (node.get("properties") or {}).get("ethernet_adapters", DEFAULT_ETHERNET_BAYS)
    return End(name, ios_interface(bay, unit, int(ethernet_bays)), (instance, netio.port_byte(bay, unit)))
