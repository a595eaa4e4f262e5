"""Which links get recorded (``--link``): parsing the names and matching them to interfaces.

A name is the interface name as shown in Wireshark and the dashboard
(``100:0/0-101:0/0``, endpoints in any order, a shared segment names all of
its endpoints) or a single endpoint (``100:0/0``), which selects the link that
endpoint is on; or a name the user knows the link by (``"R1 Ethernet0/0"`` or
``"R1 Ethernet0/0 - R2 Ethernet0/0"``, any case), which selects the link with
that name or that end.  ``-i`` selects the links of some instances, both
directions.  Pure: names in, yes/no out.

A half-link whose far end is not known yet (EVE-NG, or GNS3 without its
project file: CDP pairs the halves once traffic flows) is called by its router
end only ("R1 Ethernet0/0"): a link name with that end selects it until CDP
tells the whole link's name, which is then judged again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from pcapng_iou.core.netmap import Netmap, NetmapError, parse_endpoint

EndpointKey = tuple[int, int]


class LinkNameError(ValueError):
    """A ``--link`` value that is not a link or endpoint name."""


#: What separates the two ends in a link's name ("R1 Ethernet0/0 - R2 Ethernet0/0").
END_SEPARATOR = " - "


@dataclass(frozen=True)
class LinkName:
    text: str
    endpoints: frozenset
    #: A name the user knows (no endpoint syntax), folded for comparison; "" for endpoint names.
    label: str = ""

    @property
    def single(self) -> bool:
        return len(self.endpoints) == 1

    @property
    def ends(self) -> list:
        """The ends a name the user knows gives, folded ("r1 ethernet0/0"); one for an end's name."""
        return self.label.split(END_SEPARATOR) if self.label else []

    def matches(self, endpoints: Iterable[EndpointKey], name: str = "") -> bool:
        if self.label:
            folded = " ".join(name.split()).casefold()
            ends = folded.split(END_SEPARATOR)
            # (a name of one end is a half-link whose far end is not known yet: a link with that end may be it)
            return folded == self.label or self.label in ends or (len(ends) == 1 and folded in self.ends)
        present = frozenset(endpoints)
        return self.endpoints <= present if self.single else self.endpoints == present


def parse_link_name(text: str) -> LinkName:
    """``"100:0/0-101:0/0"`` or ``"100:0/0"``; :class:`LinkNameError` says what is wrong."""
    if any(c.isspace() for c in "-".join(word.strip() for word in text.split("-"))):
        return LinkName(text.strip(), frozenset(), " ".join(text.split()).casefold())
    text = "-".join(word.strip() for word in text.split("-"))  # "1:0/0 - 2:0/0" is 1:0/0-2:0/0
    words = text.strip().split("-")
    if not text.strip() or any(not word for word in words):
        raise LinkNameError(f"expected a link name such as 100:0/0-101:0/0 or an endpoint such as 100:0/0, "
                            f"got {text!r}")
    keys = []
    for word in words:
        try:
            endpoint = parse_endpoint(word)
        except NetmapError as err:
            raise LinkNameError(f"{text!r}: {err.message}") from None
        if endpoint.key in keys:
            raise LinkNameError(f"{text!r}: endpoint {endpoint} is named twice")
        keys.append(endpoint.key)
    return LinkName(text.strip(), frozenset(keys))


class LinkSelection:
    """The links to record; every link when no name was given."""

    def __init__(self, names: Optional[Iterable[LinkName]] = None, instances: Optional[Iterable[int]] = None):
        self.names = tuple(names or ())
        #: ``-i``: only the links of these instances (None: any).
        self.instances = None if instances is None else frozenset(instances)

    @property
    def everything(self) -> bool:
        return not self.names and self.instances is None

    @property
    def learns_names(self) -> bool:
        """Some ``--link`` is a name the user knows: a link CDP names later may be one."""
        return any(name.label for name in self.names)

    def with_instances(self, instances: Optional[Iterable[int]]) -> "LinkSelection":
        return LinkSelection(self.names, instances)

    @staticmethod
    def of(selection: Optional["LinkSelection"], instances: Optional[Iterable[int]]) -> "LinkSelection":
        """``selection`` (None: every link) narrowed to the links of ``instances`` (None: any)."""
        return (selection or LinkSelection()).with_instances(instances)

    def selects(self, endpoints: Iterable[EndpointKey], name: str = "") -> bool:
        endpoints = tuple(endpoints)
        if self.instances is not None and not any(e[0] in self.instances for e in endpoints):
            return False
        if not self.names:
            return True
        return any(link.matches(endpoints, name) for link in self.names)

    def unmatched(self, netmap: Netmap) -> list:
        """The endpoint names that select no line of ``netmap`` (names the user knows are not checked here)."""
        return [name for name in self.names if not name.label and
                not any(name.matches(e.key for e in segment.endpoints) for segment in netmap)]

    def unknown_labels(self, known_names: Iterable[str]) -> list:
        """The names the user knows that name nothing in ``known_names`` (the links' names now): neither a
        link so called nor, for each of their ends, a link with that end."""
        folded = {" ".join(name.split()).casefold() for name in known_names}
        ends = {end for name in folded for end in name.split(END_SEPARATOR)}
        return [name for name in self.names if name.label and name.label not in folded and
                not all(end in ends for end in name.ends)]

    def unknown_instances(self, netmap: Netmap, running: Iterable[int]) -> list:
        """The instances of ``-i`` that no NETMAP line has and that do not run, in number order."""
        known = set(running) | {e.instance for segment in netmap for e in segment.endpoints}
        return sorted(set(self.instances or ()) - known)

    def sockets_to_take(self, netmap: Netmap, drawing=None) -> Optional[frozenset]:
        """The instances whose sockets a capture of :attr:`instances` takes (None: all): those, their
        NETMAP peers (what the routers send goes to them), and the far halves of their drawn links."""
        if self.instances is None:
            return None
        wanted = set(self.instances)
        for segment in netmap:
            members = {e.instance for e in segment.endpoints}
            if members & self.instances:
                wanted |= members
        for link in (drawing.links if drawing else ()):
            ends = [end.endpoint for end in link.ends if end.endpoint is not None]
            if any(end[0] in self.instances for end in ends):
                for instance, _ in ends:
                    wanted |= {instance, instance + 512}
        return frozenset(wanted)

    def describe(self) -> str:
        return ", ".join(name.text for name in self.names) or "every link"
