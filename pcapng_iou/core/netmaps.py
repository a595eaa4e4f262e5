"""Several NETMAP files read as one: the lab as the running instances see it.

GNS3 gives every IOU instance its own working directory and NETMAP; a lab
started by hand may share one.  :class:`NetmapSet` merges them in the order
they are added:

* a line already there (same endpoints, same link type) counts once;
* a line that wires an endpoint differently from a line already there (other
  endpoints, or another link type) is left out, with one warning naming both
  files and lines: the first file wins.

Files can be added one at a time (an instance that starts later brings its
NETMAP in) at a cost that depends on the new file only.  Pure: parsed
:class:`~pcapng_iou.core.netmap.Netmap` objects in, segments and warnings out.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable

from pcapng_iou.core import linktypes
from pcapng_iou.core.netmap import Netmap, Segment, lone_endpoint_notes


def _same_line(a: Segment, b: Segment) -> bool:
    return a.linktype == b.linktype and a.auto == b.auto


class NetmapSet:
    """The merge of NETMAP files, in the order :meth:`add` got them."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self.segments: list[Segment] = []
        self._by_endpoint: dict[tuple[int, int], Segment] = {}

    def add(self, netmap: Netmap) -> tuple[list[Segment], list[str]]:
        """Merge ``netmap`` (named by its ``filename``); return the segments it added and the warnings."""
        added: list[Segment] = []
        warnings: list[str] = lone_endpoint_notes(netmap)
        self.files.append(netmap.filename)
        for segment in netmap:
            segment = dataclasses.replace(segment, source=netmap.filename)
            keys = frozenset(e.key for e in segment.endpoints)
            clash = None
            for endpoint in segment.endpoints:
                there = self._by_endpoint.get(endpoint.key)
                if there is None:
                    continue
                if frozenset(e.key for e in there.endpoints) == keys and _same_line(there, segment):
                    clash = "same"
                else:
                    clash = (endpoint, there)
                break
            if clash == "same":
                continue
            if clash is not None:
                warnings.append(_clash_warning(segment, *clash))
                continue
            for endpoint in segment.endpoints:
                self._by_endpoint[endpoint.key] = segment
            self.segments.append(segment)
            added.append(segment)
        return added, warnings

    def netmap(self) -> Netmap:
        """Everything merged so far, as one Netmap."""
        name = self.files[0] if len(self.files) == 1 else f"{len(self.files)} NETMAP files"
        return Netmap(tuple(self.segments), name)


def _clash_warning(segment: Segment, endpoint, there: Segment) -> str:
    """What is said of ``segment``, left out because ``there`` (kept) wires ``endpoint`` otherwise."""
    kept = f"{there.source}:{there.line}"
    if {e.key for e in there.endpoints} == {e.key for e in segment.endpoints}:
        def kind(line: Segment) -> str:
            return "auto" if line.auto else ("no link type" if line.linktype is None else linktypes.name(line.linktype))
        return (f"{segment.source}:{segment.line}: the link type differs for '{segment.text}': "
                f"{kind(segment)} here, {kind(there)} in {kept}; using {kind(there)} from {kept} "
                f"(to use {kind(segment)}, edit {there.source} line {there.line}, or give -n a NETMAP of your own)")
    return (f"{segment.source}:{segment.line}: '{segment.text}' wires {endpoint} differently from "
            f"{kept}: '{there.text}'; using {kept}")


def merge(netmaps: Iterable[Netmap]) -> tuple[Netmap, list[str]]:
    """Merge ``netmaps`` in order; the merged Netmap and the warnings."""
    merged = NetmapSet()
    warnings: list[str] = []
    for netmap in netmaps:
        warnings += merged.add(netmap)[1]
    return merged.netmap(), warnings
