"""The summary printed once at exit: every link (the busiest 100 of a huge lab) and the totals.

Laid out for the width of the console it is printed on, in as many columns as
fit; like the live table, it reads no clock and touches no terminal itself.
"""
from __future__ import annotations

from typing import List, Set

from rich.text import Text

from pcapng_iou.core import oneway
from pcapng_iou.core.status import CaptureStatus, InterfaceView
from pcapng_iou.core.words import counted
from pcapng_iou.ui.formatting import format_bytes, format_duration, one_line
from pcapng_iou.ui.layout import Column, Fact, flow_facts, grid_lines, joined_facts
from pcapng_iou.ui.liveview import mismatch_note

#: Width of the exit summary when standard error is not a terminal.
SUMMARY_WIDTH = 132
#: Most links the exit summary lists (drawing a table row costs about a millisecond).
SUMMARY_MAX_ROWS = 100

_SUMMARY_COLUMNS = (
    Column("#", style="dim"),
    Column("link", "left", "bold"),
    Column("type", "left", "cyan"),
    Column("frames →", drop=1),
    Column("frames ←", drop=1),
    Column("frames"),
    Column("bytes", drop=2),
    Column("undelivered", drop=3),
    Column("note", "left", "dim", shrink_to=8),
)
_UNDELIVERED = 7


def _note(interface: InterfaceView, down: Set[int], one_way: frozenset = frozenset()) -> str:
    notes = []
    if interface.number in one_way:
        notes.append(oneway.MARKER)
    if interface.replaced_by is not None:
        notes.append(interface.replaced_note)
    if interface.unmapped:
        notes.append("unmapped")
    if not interface.recorded:
        notes.append("not recorded (--link)")
    if interface.mismatch is not None:
        notes.append(mismatch_note(interface))
    dead = sorted(i for i in interface.instances if i in down)
    if dead and interface.replaced_by is None:
        notes.append("down: " + ",".join(str(i) for i in dead))
    return ", ".join(notes)


def _head(status: CaptureStatus) -> List[List[Fact]]:
    """The facts above the table: the file, the time, the counts."""
    malformed, undelivered = status.datagrams_malformed, status.undelivered
    in_file = counted(sum(i.file_id is not None for i in status.interfaces), "interface", grouped=True)
    return [[Fact((("pcapng-iou ", "bold"), (status.output, "bold cyan"),
                   (f"  {format_bytes(status.output_bytes)}", "")), None, 1),
             Fact(((f"elapsed {format_duration(status.elapsed_s)}", ""),)),
             Fact(((f"{in_file} in the file", ""),))],
            [Fact(((f"frames {status.frames_recorded:,}", ""),)),
             Fact(((f"datagrams relayed {status.datagrams_relayed:,}", ""),)),
             Fact(((f"malformed {malformed:,}", "yellow" if malformed else ""),)),
             Fact(((f"undelivered {undelivered:,}", "yellow" if undelivered else ""),)),
             # (shown only when some datagrams are no frame of the file: the README says what adds up)
             *([Fact(((f"not recorded {status.datagrams_unrecorded:,}", ""),))]
               if status.datagrams_unrecorded else [])]]


class _Summary:
    """The exit summary, laid out for the width of the console it is printed on."""

    def __init__(self, status: CaptureStatus):
        self.status = status

    def __rich_console__(self, console, options):
        yield from self.lines(options.max_width)

    def lines(self, width: int) -> List[Text]:
        status = self.status
        down = set(status.instances_down)
        head = [[item.fitted(width) for item in group] for group in _head(status)]
        lines = [joined_facts(items) for items in flow_facts(head, width, together=False)]
        # The links that have a block in the file, as capinfos lists them (the silent ones have none).
        interfaces = sorted((i for i in status.interfaces if i.file_id is not None), key=lambda i: i.file_id)
        if not interfaces:
            return lines + [one_line(("no links: no frame was seen", ""))]
        shown = interfaces
        if len(interfaces) > SUMMARY_MAX_ROWS:
            # A lab of 1,000 instances has 16,000 links: the busiest, in number order, and a count of the rest.
            busiest = sorted(interfaces, key=lambda i: (-(i.frames_out + i.frames_in), -i.undelivered, i.number))
            shown = sorted(busiest[:SUMMARY_MAX_ROWS], key=lambda i: i.file_id)
        rows = [[i.shown_id, i.name, i.linktype_name, f"{i.frames_out:,}", f"{i.frames_in:,}",
                 f"{i.frames:,}", format_bytes(i.bytes),
                 Text(f"{i.undelivered:,}", "yellow" if i.undelivered else ""), _note(i, down, status.one_way)]
                for i in shown]
        lost = sum(i.undelivered for i in interfaces)
        footer = ["", "total", "",
                  f"{sum(i.frames_out for i in interfaces):,}", f"{sum(i.frames_in for i in interfaces):,}",
                  f"{sum(i.frames for i in interfaces):,}", format_bytes(sum(i.bytes for i in interfaces)),
                  f"{lost:,}", ""]
        columns = list(_SUMMARY_COLUMNS)
        if not lost:
            # Nothing undelivered (the usual case): the column would only repeat the header's 0.
            del columns[_UNDELIVERED]
            for row in rows + [footer]:
                del row[_UNDELIVERED]
        table = grid_lines(columns, rows, width, footer)
        lines += [one_line()] + table
        if len(shown) < len(interfaces):
            listed = {i.number for i in shown}
            rest = [i for i in interfaces if i.number not in listed]
            busy = sum(1 for i in rest if i.frames_out + i.frames_in)
            lines.append(Text(f"… {counted(len(rest), 'more link', grouped=True)} not shown ({busy:,} of them with frames): the busiest "
                              f"{len(shown)} are above; capinfos or Wireshark's Statistics > Capture File "
                              "Properties list every interface", "dim"))
        return lines


def summary(status: CaptureStatus):
    """Every interface (the busiest 100 of a huge lab), in number order, one line each, with the totals:
    printed once at exit, in as many columns as the console's width allows."""
    return _Summary(status)
