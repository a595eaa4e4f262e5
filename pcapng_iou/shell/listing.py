"""``pcapng-iou capture -D``: list the links a capture would record, then exit (as ``dumpcap -D`` does).

The running instances are asked as at the start of a capture (NETMAP files,
bays, the GNS3 project they run in); nothing is attached, nothing is written.
One line per link: its name (what ``--link`` takes and Wireshark shows), its
link type, its instances, and the NETMAP lines it is made of.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Optional

from pcapng_iou.core import linknames, netio
from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.core.links import LinkTable
from pcapng_iou.core.selection import LinkSelection
from pcapng_iou.core.words import counted
from pcapng_iou.shell import netiodir
from pcapng_iou.shell.learning import Learning


def link_lines(table: LinkTable) -> list:
    """One line per link of ``table``: a drawn link once (its first half), the links no one drew after."""
    drawn, plain = [], []
    for interface in table.current():
        if not interface.recorded:
            continue
        half = table.drawing.half(interface.endpoints)
        if half is not None and frozenset(interface.endpoints) != half.link.halves[0]:
            continue  # the second half of a drawn link: listed with the first
        lines = " and ".join(sorted("-".join(netio.endpoint_name(*e) for e in sorted(h))
                                    for h in (half.link.halves if half else (interface.endpoints,))))
        instances = sorted({e[0] for e in interface.endpoints} | (
            {e[0] for h in half.link.halves for e in h} if half else set()))
        text = (f"{interface.name}\t{interface.linktype_name}\tinstances {', '.join(map(str, instances))}"
                f"\tNETMAP {lines}")
        (drawn if half is not None else plain).append(text)
    if drawn and plain:
        return drawn + [f"({counted(len(plain), 'more NETMAP line')} no drawn link uses{_why_not_drawn(table)})"]
    return drawn + plain


def _why_not_drawn(table: LinkTable) -> str:
    """Why the half-links no drawn link uses are left out of the list (see :func:`link_lines`)."""
    if table.drawing.from_project:
        return ": the ports not connected"
    return " yet: ports not connected, or halves of a link that CDP pairs once traffic flows"


def list_links(options, netmap: Optional[netmap_mod.Netmap], say: Callable[[str, str], None],
               out=None) -> int:
    """Print the links and return the exit status (0; 1 when the netio directory cannot be read)."""
    out = out or sys.stdout
    if options.netmap_path is not None and not os.path.exists(options.netmap_path):
        say(f"NETMAP {options.netmap_path} does not exist", "error")
        return 1
    try:
        names = os.listdir(options.netio_dir)
    except OSError as err:
        say(f"netio directory {options.netio_dir}: {err.strerror or err}", "error")
        return 1
    learning = Learning(options.netio_dir, options.netmap_path, say, options.netmap_here)
    numbers = sorted(n for n in map(netiodir.instance_id, names) if n is not None)
    found, bays = learning.at_start(numbers)
    table = LinkTable(found or netmap or netmap_mod.Netmap(), options.default_linktype, options.auto_linktype,
                      LinkSelection.of(options.links, options.instances), bays, learning.names(options.router_names))
    lines = link_lines(table)
    for number, line in enumerate(lines, 1):
        out.write(f"{number}. {line}\n" if not line.startswith("(") else f"{line}\n")
    unmatched = linknames.unmatched(table, bays)
    for found in unmatched:
        say(found.listing, "warning")
    if not lines and not unmatched:
        say(_why_no_links(table, options.netio_dir), "warning")
    return 0


def _why_no_links(table: LinkTable, netio_dir: str) -> str:
    selection = table.selection
    if table.interfaces and not selection.everything:
        wanted = ([f"--link {name.text}" for name in selection.names] +
                  [f"-i {number}" for number in sorted(selection.instances or ())])
        return f"no links: none matches {' '.join(wanted)}"
    return f"no links: no NETMAP line and no running instance in {netio_dir}"
