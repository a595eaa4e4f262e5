"""What ``pcapng-iou split`` decides: the file each interface of a capture goes to, and its timestamps.

libpcap readers (tcpdump, and programs built on it) read one link type per
file; a capture of an IOU lab has one interface per link, each with its own
link type.  Splitting writes one file per interface, named after its link::

    lab.pcapng  ->  lab_100_0.0-101_0.0_ethernet.pcapng, lab_100_1.0-101_1.0_hdlc.pcapng, ...

(``:`` and ``/`` of the link name are written ``_`` and ``.``: file names
that every shell, ``scp`` and file manager take as they are).  Pure: names
and numbers in, names and numbers out.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from pcapng_iou.core import linktypes

#: PCAP-NG's ``if_tsresol`` when an interface has none: microseconds.
DEFAULT_TSRESOL = 6
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def safe_link_name(name: str) -> str:
    """``100:0/0-101:0/0`` as a piece of a file name: ``100_0.0-101_0.0``."""
    return _UNSAFE.sub("_", name.replace(":", "_").replace("/", "."))


class SplitNames:
    """Names the files of one split, one per interface: ``PREFIX_LINK_LINKTYPE.pcapng``.

    ``source`` is the capture file; its folder and name without ``.pcapng``
    (or ``.pcap``) make the prefix, unless ``folder`` says where to write.
    Two interfaces of the same name and link type (a reload) get ``_2``, ``_3``.
    """

    def __init__(self, source: str, folder: Optional[str] = None):
        base = os.path.basename(source)
        stem = re.sub(r"\.(pcapng|pcap|ntar)(\.gz)?$", "", base) or base
        self.prefix = os.path.join(os.path.dirname(source) if folder is None else folder, stem)
        self._taken: set = set()

    def name(self, interface_name: Optional[str], number: int, linktype: int) -> str:
        link = safe_link_name(interface_name) if interface_name else f"interface{number}"
        base = f"{self.prefix}_{link}_{linktypes.name(linktype)}"
        name, again = f"{base}.pcapng", 1
        while name in self._taken:
            again += 1
            name = f"{base}_{again}.pcapng"
        self._taken.add(name)
        return name


def timestamp_ns(units: int, tsresol: Optional[int]) -> int:
    """A timestamp counted in ``if_tsresol`` units, in nanoseconds (the unit our files use)."""
    resolution = DEFAULT_TSRESOL if tsresol is None else tsresol
    if resolution & 0x80:  # a power of two
        return (units * 10 ** 9) >> (resolution & 0x7F)
    exponent = resolution
    return units * 10 ** (9 - exponent) if exponent <= 9 else units // 10 ** (exponent - 9)
