"""One capture interface (a PCAP-NG interface block) and its counters: what the link table keeps per link."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from pcapng_iou.core import linktypes
from pcapng_iou.core.netmap import Segment

if TYPE_CHECKING:
    from pcapng_iou.core.copies import SharedCopies

EndpointKey = tuple[int, int]


@dataclass(eq=False)
class Interface:
    """One PCAP-NG interface: a NETMAP line (or an unmapped pair) at one link type."""

    number: int
    name: str
    linktype: int
    description: str
    endpoints: tuple[EndpointKey, ...]
    segment: Optional[Segment] = None
    #: Follow the frames: a new interface when they show another link type.
    auto: bool = False
    #: Check the frames against a link type written by hand, without switching (see ``mismatch``).
    watch: bool = False
    #: The link type the frames show when it is not the one written by hand (warned about once).
    mismatch: Optional[int] = None
    #: Where the link type came from (see linkchoice): "NETMAP line", "--linktype", "bay kinds", "default".
    origin: str = ""
    #: Cisco HDLC because a serial bay starts so, no frame seen yet: the first sure frame may change it.
    guessed: bool = False
    #: A sure frame of its own link type was seen: a later switch is the routers' change, not a guess put right.
    confirmed: bool = False
    replaced_by: Optional[int] = None
    #: The interface that took over from this one (``replaced_by``), for its id in the file.
    successor: Optional["Interface"] = field(default=None, repr=False)
    #: Another interface of the same link, at another link type, that the routes lead to: the two
    #: ends of the link differ, and this one records the frames that show its link type (see
    #: :meth:`LinkTable.add_sibling`).  None for the interface the routes lead to, and once it is over.
    sibling_of: Optional[int] = None
    #: Its NETMAP line was removed by a reload: no frame will be recorded on it again.
    retired: bool = False
    frames_out: int = 0
    frames_in: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    undelivered: int = 0
    first_ns: int = 0
    last_ns: int = 0
    pending_comments: list = field(default_factory=list)
    copies: Optional["SharedCopies"] = None
    #: False for a link ``--link`` left out: its frames are relayed, not recorded.
    recorded: bool = True
    #: The name its block in the file being written gives (names learnt later differ from it).
    written_name: str = ""
    #: Its interface number in the file being written (files of a ring buffer number their own).
    file_id: Optional[int] = None
    #: (what could have changed, the frozen view) of the last status snapshot (see core/status): an
    #: unchanged link of a big lab is not copied again at each refresh.
    last_view: Optional[tuple] = field(default=None, repr=False)

    @property
    def successor_file_id(self) -> Optional[int]:
        """The file id of the interface that records this link's frames now (None: none, or no block yet)."""
        successor = self.successor
        while successor is not None and successor.successor is not None:
            successor = successor.successor
        return None if successor is None else successor.file_id

    @property
    def unmapped(self) -> bool:
        return self.segment is None

    @property
    def frames(self) -> int:
        return self.frames_out + self.frames_in

    @property
    def bytes(self) -> int:
        return self.bytes_out + self.bytes_in

    @property
    def instances(self) -> frozenset[int]:
        return frozenset(e[0] for e in self.endpoints)

    @property
    def linktype_name(self) -> str:
        return linktypes.name(self.linktype)
