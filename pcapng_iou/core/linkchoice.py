"""Which link type a link is recorded with, and whether the frames may change it: the precedence.

From strongest to weakest:

1. a link type written on the link's NETMAP line (``auto`` there: follow the frames);
2. ``--linktype`` given on the command line;
3. the kinds of the bays the link's IOU members have the link on: an Ethernet
   bay gives Ethernet; a serial bay gives Cisco HDLC (IOS's default
   encapsulation) and the frames are followed, so ``encapsulation ppp`` or
   ``frame-relay`` on the routers is seen;
4. Ethernet.

``--auto-linktype`` makes every link that no line types follow its frames,
starting from what 2 to 4 give.  A member whose bays are unknown (not IOU,
such as GNS3's ubridge, or not readable) has no say.  An Ethernet bay wired to
a serial bay is a mistake in the lab: Ethernet, with a warning.

Pure: facts in, a :class:`Choice` out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

from pcapng_iou.core import bays as bays_mod
from pcapng_iou.core import linktypes, netio

EndpointKey = tuple[int, int]

#: What a serial bay starts as: IOS's default encapsulation.
SERIAL_START = linktypes.C_HDLC
#: Link types only a serial interface carries.
SERIAL_LINKTYPES = frozenset({linktypes.C_HDLC, linktypes.PPP_SERIAL, linktypes.PPP, linktypes.FRELAY})

# Where a choice came from (for interface descriptions and warnings).
FROM_LINE = "NETMAP line"
FROM_OPTION = "--linktype"
FROM_BAYS = "bay kinds"
FROM_DEFAULT = "default"


@dataclass(frozen=True)
class Choice:
    """The link type to record a link with, and how the frames are used.

    ``follow``: switch to the type the frames show (``auto``, serial bays).
    ``watch``: keep the type, but warn once when the frames show another
    (a type written by hand on a link that has a serial bay or a serial type).
    ``conflict``: an Ethernet bay wired to a serial bay (the warning to give).
    """

    linktype: int
    follow: bool = False
    watch: bool = False
    origin: str = FROM_DEFAULT
    conflict: Optional[str] = None

    @property
    def guessed(self) -> bool:
        """The type is IOS's default for a serial bay, not yet confirmed by any frame."""
        return self.origin == FROM_BAYS and self.follow and self.linktype == SERIAL_START


def member_kinds(endpoints: Iterable[EndpointKey],
                 known: Mapping[int, Optional[bays_mod.Bays]]) -> list[tuple[EndpointKey, str]]:
    """(endpoint, bay kind) of each endpoint whose instance's bays are known and name that port."""
    kinds = []
    for instance, port in endpoints:
        layout = known.get(instance)
        kind = layout.kind(port) if layout is not None else None
        if kind is not None:
            kinds.append(((instance, port), kind))
    return kinds


def _bay_names(kinds: Sequence[tuple[EndpointKey, str]], kind: str) -> str:
    return ", ".join(netio.endpoint_name(*key) for key, k in kinds if k == kind)


def choose(line_linktype: Optional[int] = None, line_auto: bool = False, option_linktype: Optional[int] = None,
           auto_default: bool = False, kinds: Sequence[tuple[EndpointKey, str]] = ()) -> Choice:
    """The :class:`Choice` for a link, by the precedence in this module's docstring.

    ``line_linktype``/``line_auto``: what its NETMAP line says (None/False:
    nothing, or no line); ``option_linktype``: ``--linktype`` when given;
    ``auto_default``: ``--auto-linktype``; ``kinds``: :func:`member_kinds`.
    """
    has_serial_bay = any(kind == bays_mod.SERIAL for _, kind in kinds)
    if line_linktype is not None:
        watch = line_linktype in SERIAL_LINKTYPES or has_serial_bay
        return Choice(line_linktype, watch=watch, origin=FROM_LINE)
    from_bays = _from_bays(kinds)
    if line_auto or auto_default:
        if option_linktype is not None:
            return Choice(option_linktype, follow=True, origin=FROM_OPTION)
        if from_bays is not None:
            return Choice(from_bays.linktype, follow=True, origin=FROM_BAYS, conflict=from_bays.conflict)
        return Choice(linktypes.ETHERNET, follow=True)
    if option_linktype is not None:
        watch = option_linktype in SERIAL_LINKTYPES or has_serial_bay
        return Choice(option_linktype, watch=watch, origin=FROM_OPTION)
    if from_bays is not None:
        return from_bays
    return Choice(linktypes.ETHERNET)


def _from_bays(kinds: Sequence[tuple[EndpointKey, str]]) -> Optional[Choice]:
    found = {kind for _, kind in kinds}
    if not found:
        return None
    if found == {bays_mod.SERIAL}:
        return Choice(SERIAL_START, follow=True, origin=FROM_BAYS)
    conflict = None
    if bays_mod.SERIAL in found:
        conflict = (f"Ethernet bay ({_bay_names(kinds, bays_mod.ETHERNET)}) wired to serial bay "
                    f"({_bay_names(kinds, bays_mod.SERIAL)}): recorded as ethernet")
    return Choice(linktypes.ETHERNET, origin=FROM_BAYS, conflict=conflict)


def unmapped_description(name: str, choice: Choice) -> str:
    """The description of an interface for frames between endpoints ``name`` that no NETMAP line joins."""
    text = f"IOU traffic between {name}, which no NETMAP line joins"
    return text if choice.origin == FROM_DEFAULT and not choice.follow else f"{text}, {how_chosen(choice)}"


def how_chosen(choice: Choice) -> str:
    """How an interface's link type was chosen, for its description."""
    name = linktypes.name(choice.linktype)
    if choice.origin == FROM_BAYS:
        return f"serial bay, auto-detected, now {name}" if choice.follow else f"{name} (Ethernet bay)"
    return f"auto-detected, now {name}" if choice.follow else name
