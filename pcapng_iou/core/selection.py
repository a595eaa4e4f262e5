"""Which links get recorded (``--link``): parsing the names and matching them to interfaces.

A name is the interface name as shown in Wireshark and the dashboard
(``100:0/0-101:0/0``, endpoints in any order, a shared segment names all of
its endpoints) or a single endpoint (``100:0/0``), which selects the link that
endpoint is on.  Pure: names in, yes/no out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from pcapng_iou.core.netmap import Netmap, NetmapError, parse_endpoint

EndpointKey = tuple[int, int]


class LinkNameError(ValueError):
    """A ``--link`` value that is not a link or endpoint name."""


@dataclass(frozen=True)
class LinkName:
    text: str
    endpoints: frozenset

    @property
    def single(self) -> bool:
        return len(self.endpoints) == 1

    def matches(self, endpoints: Iterable[EndpointKey]) -> bool:
        present = frozenset(endpoints)
        return self.endpoints <= present if self.single else self.endpoints == present


def parse_link_name(text: str) -> LinkName:
    """``"100:0/0-101:0/0"`` or ``"100:0/0"``; :class:`LinkNameError` says what is wrong."""
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

    def __init__(self, names: Optional[Iterable[LinkName]] = None):
        self.names = tuple(names or ())

    @property
    def everything(self) -> bool:
        return not self.names

    def selects(self, endpoints: Iterable[EndpointKey]) -> bool:
        if not self.names:
            return True
        endpoints = tuple(endpoints)
        return any(name.matches(endpoints) for name in self.names)

    def unmatched(self, netmap: Netmap) -> list:
        """The names that select no line of ``netmap``."""
        return [name for name in self.names
                if not any(name.matches(e.key for e in segment.endpoints) for segment in netmap)]

    def describe(self) -> str:
        return ", ".join(name.text for name in self.names) or "every link"
