"""What following the instances came to, for the capture to record and comment on.

:class:`~pcapng_iou.shell.instances.Instances` attaches, detaches and buries;
it does not record or learn itself.  Each step it took is returned as one of
these, in the order taken, and the capture puts them to use: it learns from an
instance attached, records the frames whose fate a detach or a burial settled,
and adds the packet comment.  Pure data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union


@dataclass(frozen=True)
class Settled:
    """Datagrams sent on (or not) outside the relay, when each was read, and None or why it was not delivered."""

    datagrams: list
    times: list
    reasons: Optional[list] = None


@dataclass(frozen=True)
class Attached:
    instance: int
    #: The time of day it was attached (learnt bays are noted with it).
    clock_text: str
    #: The packet comment for its links' next frames (None: attached during the first scan, no news).
    comment: Optional[str]


@dataclass(frozen=True)
class Detached:
    instance: int
    settled: tuple
    #: None when the capture stops (no comment then).
    comment: Optional[str]


@dataclass(frozen=True)
class Buried:
    instance: int
    settled: tuple
    comment: str


@dataclass(frozen=True)
class Commented:
    """Only a packet comment for the instance's links (a peer found sending to it directly, say)."""

    instance: int
    comment: str
    settled: tuple = ()


Outcome = Union[Attached, Detached, Buried, Commented]
