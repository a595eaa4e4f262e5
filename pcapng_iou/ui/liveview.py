"""The live table of a running capture: status in, ``rich`` renderable out.

:func:`render` reads no clock and touches no terminal.  It fits the width it is
given (the default terminal is 80x24): a row is always one line, the link and
its type are never cut or dropped, and the other columns go, least useful
first (bit/s, bytes, age, frames/s, then the counts by direction).  The
header's facts wrap whole, like words; long paths are shortened in the middle,
and the pid is never cut.  With hundreds of links the table is cut to the
terminal height, busiest links first (only the busy ones are sorted), and a
line says how many were left out; the header then keeps to three lines.
"""
from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence, Set

from rich.console import Group
from rich.text import Text

from pcapng_iou.core import linktypes, oneway
from pcapng_iou.core.status import CaptureStatus, Event, InterfaceView
from pcapng_iou.core.words import counted
from pcapng_iou.ui.formatting import (
    format_age,
    format_bytes,
    format_duration,
    format_frames_per_s,
    format_si,
    id_list,
    one_line,
)
from pcapng_iou.ui.layout import Column, Fact, flow_facts, grid_lines, joined_facts
from pcapng_iou.ui.rates import NO_RATE, Rate

#: A link that carried a frame this recently (ns) counts as active.
ACTIVE_WINDOW_NS = 2_000_000_000
#: How many events the footer shows at most.
MAX_EVENTS = 5
#: The header takes at least this many lines, and more (up to MAX_HEADER_LINES) when the screen is narrow
#: and the rows leave room; its facts wrap whole, like words.
HEADER_LINES = 3
MAX_HEADER_LINES = 6
#: Lines a table takes besides its rows: column titles and the rule below them.
TABLE_CHROME = 2
#: Rows the table keeps even when that means showing fewer events.
MIN_ROWS = 3

_EPOCH_2001_NS = 10 ** 18  # timestamps above this are wall-clock (time.time_ns)

_LEVEL_STYLE = {"info": "", "warning": "yellow", "error": "bold red"}


def _event_time(event: Event, status: CaptureStatus) -> str:
    """Wall-clock ``HH:MM:SS`` for wall-clock stamps, else ``+H:MM:SS`` since the start."""
    if event.timestamp_ns >= _EPOCH_2001_NS:
        return time.strftime("%H:%M:%S", time.localtime(event.timestamp_ns / 1e9))
    return "+" + format_duration((event.timestamp_ns - status.started_ns) / 1e9)


def _header_items(status: CaptureStatus, down: Set[int]) -> List[List[Fact]]:
    malformed, undelivered = status.datagrams_malformed, status.undelivered
    output = Fact((("pcapng-iou ", "bold"), ("→ ", ""), (status.output, "bold cyan"),
                   (f"  {format_bytes(status.output_bytes)}", "")), None, 2)
    first = [output,
             Fact(((f"elapsed {format_duration(status.elapsed_s)}", ""),), 8),
             Fact(((f"pid {status.pid}", ""),)),
             Fact((("reload NETMAP: ", "dim"), (status.reload_hint, "bold")))]
    second = [Fact(((f"frames {status.frames_recorded:,}", ""),)),
              Fact(((f"datagrams relayed {status.datagrams_relayed:,}", ""),), 4),
              Fact(((f"malformed {malformed:,}", "yellow" if malformed else ""),), 7 if malformed else 3),
              Fact(((f"undelivered {undelivered:,}", "yellow" if undelivered else ""),), 7 if undelivered else 3)]
    attached = status.instances_attached
    parts = [(f"instances: {len(attached)} attached", "")]
    if attached:
        parts.append((f" ({id_list(attached)})", "dim"))
    parts.append((" / ", ""))
    parts.append((f"{len(down)} down", "bold red" if down else ""))
    if down:
        parts.append((f" ({id_list(down)})", "red"))
    third = [Fact(tuple(parts))]
    if status.netmap:
        third.append(Fact((("NETMAP ", "dim"), (status.netmap, "dim")), 5, 1))
    if status.netio_dir:
        third.append(Fact((("netio ", "dim"), (status.netio_dir, "dim")), 5, 1))
    return [first, second, third]


def _header(status: CaptureStatus, down: Set[int], width: int = 10_000, max_lines: int = HEADER_LINES) -> List[Text]:
    """The header in at most ``max_lines`` lines of ``width``: facts wrap whole, like words; long paths
    are shortened in the middle; when lines run out, the least useful facts go first.  The pid and the
    reload command always stay, whole."""
    groups = [[item.fitted(width) for item in group] for group in _header_items(status, down)]
    droppable = sorted((item for group in groups for item in group if item.keep is not None),
                       key=lambda item: item.keep)
    for together in (False, True):
        candidate = [list(group) for group in groups]
        queue = list(droppable)
        while True:
            lines = flow_facts(candidate, width, together)
            if len(lines) <= max_lines or not queue:
                break
            gone = queue.pop(0)
            candidate = [[item for item in group if item is not gone] for group in candidate]
        if len(lines) <= max_lines:
            break
    return [joined_facts(items) for items in lines[:max(1, max_lines)]]


def _state(interface: InterfaceView, now_ns: int, down: Set[int], one_way: frozenset = frozenset()) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if interface.replaced_by is not None:
        text.append(interface.replaced_note, "dim italic")
    else:
        dead = [i for i in interface.instances if i in down] if down else []
        if dead:
            text.append("down: " + ",".join(str(i) for i in sorted(dead)), "bold red")
        elif not interface.recorded:
            text.append("not recorded (--link)", "dim")
        elif interface.last_ns and interface.frames and now_ns - interface.last_ns <= ACTIVE_WINDOW_NS:
            text.append("active", "bold green")
        else:
            text.append("idle", "dim")
    if interface.unmapped:
        text.append(" unmapped", "yellow")
    if interface.number in one_way:
        text.append(f" {oneway.MARKER}", "bold yellow")
    if interface.mismatch is not None:
        text.append(f" {mismatch_note(interface)}", "bold yellow")
    if interface.undelivered:
        text.append(f" +{interface.undelivered:,} undelivered", "yellow")
    return text


def mismatch_note(interface: InterfaceView) -> str:
    """The marker of a link whose frames are not of the link type written for it."""
    return f"frames are {linktypes.name(interface.mismatch)}!"


def _busiest_first(interfaces: Sequence[InterfaceView], rates: Dict[int, Rate]) -> List[InterfaceView]:
    """Current links before replaced ones; in each, the busiest first, then the idle ones by number.
    An interface replaced before its first frame is left out: the file never had it.

    Only the busy ones are sorted by rate: on a lab of 16,000 links most are idle.
    """
    groups: tuple = ([], [], [], [])  # current busy, current idle, replaced busy, replaced idle
    for interface in interfaces:
        if interface.replaced_by is not None and interface.file_id is None and not interface.frames:
            continue  # (a serial bay's Cisco HDLC guess that its first frame put right)
        busy = interface.frames_out or interface.frames_in or rates.get(interface.number, NO_RATE).frames_per_s
        groups[(2 if interface.replaced_by is not None else 0) + (0 if busy else 1)].append(interface)

    def busiest(interface: InterfaceView):
        rate = rates.get(interface.number, NO_RATE)
        return (-rate.frames_per_s, -(interface.frames_out + interface.frames_in), interface.number)

    def number(interface: InterfaceView) -> int:
        return interface.number

    current_busy, current_idle, replaced_busy, replaced_idle = groups
    return (sorted(current_busy, key=busiest) + sorted(current_idle, key=number)
            + sorted(replaced_busy, key=busiest) + sorted(replaced_idle, key=number))


_LIVE_COLUMNS = (
    Column("#", style="dim"),
    Column("link", "left", "bold"),
    Column("type", "left", "cyan"),
    Column("frames →", drop=5),
    Column("frames ←", drop=5),
    Column("frames", drop=6, instead_of=5),  # when → and ← do not fit (60 columns), their total does
    Column("bytes", drop=2),
    Column("frames/s", drop=4),
    Column("bit/s", drop=1),
    Column("last", drop=3),
    Column("state", "left", shrink_to=8),
)


def _live_row(interface: InterfaceView, rate: Rate, now_ns: int, down: Set[int],
              one_way: frozenset = frozenset()) -> list:
    return [
        interface.shown_id,
        interface.name,
        interface.linktype_name,
        f"{interface.frames_out:,}",
        f"{interface.frames_in:,}",
        f"{interface.frames_out + interface.frames_in:,}",
        format_bytes(interface.bytes_out + interface.bytes_in),
        format_frames_per_s(rate.frames_per_s),
        format_si(rate.bits_per_s),
        format_age(interface, now_ns),
        _state(interface, now_ns, down, one_way),
    ]


def _header_room(height: int, rows: int, events: int) -> int:
    """Lines the header may take: what the rows and events leave (rows come first), between 3 and 6."""
    return max(HEADER_LINES, min(MAX_HEADER_LINES, height - TABLE_CHROME - rows - events))


def render(
    status: CaptureStatus,
    rates: Dict[int, Rate],
    width: int,
    height: int,
    down: Optional[Set[int]] = None,
):
    """The dashboard for ``status`` as a renderable at most ``height`` lines high.

    ``rates`` comes from :class:`RateMeter`; ``down`` adds instances to
    ``status.instances_down``.  Every line is cropped rather than wrapped, so
    the height is exact for any ``width``.
    """
    down_set = set(status.instances_down)
    if down:
        down_set.update(down)
    events = list(status.events[-MAX_EVENTS:])
    ordered = _busiest_first(status.interfaces, rates)
    header = _header(status, down_set, width, _header_room(height, len(ordered) or 1, len(events)))

    if height < len(header) + TABLE_CHROME + 1:
        # No room for a table: as much of the header as fits, then what is hidden.
        lines = header[: max(0, height - 1)] + [
            one_line((f"… {counted(len(ordered), 'link')} hidden (terminal too small)", "dim"))]
        return Group(*lines[: max(0, height)])

    space = height - len(header) - TABLE_CHROME - len(events)
    needed = len(ordered) or 1  # an empty table still shows one line saying so
    wanted = min(needed, MIN_ROWS)
    if space < wanted:
        give = min(len(events), wanted - space)
        events = events[give:]
        space += give

    if needed <= space:
        shown, hidden = ordered, 0
        # What the table leaves of the screen shows earlier events (a tall terminal was left blank).
        more = space - needed - (not ordered)
        if more > 0 and len(events) == MAX_EVENTS:
            events = list(status.events[-(MAX_EVENTS + more):])
    else:
        shown = ordered[: max(0, space - 1)]
        hidden = len(ordered) - len(shown)

    now_ns = status.now_ns
    rows = [_live_row(i, rates.get(i.number, NO_RATE), now_ns, down_set, status.one_way) for i in shown]
    parts: list = list(header)
    if shown:
        parts.extend(grid_lines(_LIVE_COLUMNS, rows, width))
    elif not ordered:
        parts.extend(grid_lines(_LIVE_COLUMNS, [], width))
        parts.append(one_line(("no links yet", "dim")))
    if hidden:
        parts.append(one_line((f"… {counted(hidden, 'more link')} hidden (busiest shown)", "dim")))
    for event in events:
        parts.append(
            one_line(
                (_event_time(event, status) + "  ", "dim"),
                (event.text.replace("\n", " "), _LEVEL_STYLE.get(event.level, "")),
            )
        )
    return Group(*parts)
