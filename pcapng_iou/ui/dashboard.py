"""The live terminal view of a running capture, and the summary printed at exit.

Everything shown comes from one :class:`~pcapng_iou.status.CaptureStatus`
snapshot, so the drawing is split in three layers:

* :func:`render` and :func:`summary` are pure: status in, ``rich`` renderable
  out.  They read no clock and touch no terminal, which keeps them testable
  by rendering into a recording console.  Both fit the width they are given
  (the default terminal is 80x24): a row is always one line, the link and its
  type are never cut or dropped, and the other columns go, least useful first
  (bit/s, bytes, age, frames/s, then the counts by direction).  The header's
  facts wrap whole, like words; long paths are shortened in the middle, and
  the pid is never cut.
* :class:`RateMeter` turns successive counter snapshots into per-interface
  frames/s and bit/s over a sliding window of about three seconds; the time
  of each snapshot is passed in, never read.
* :class:`Dashboard` is the only part with side effects: it owns a
  ``rich.live.Live`` without a refresh thread, redraws when the event loop
  calls :meth:`Dashboard.update` (a few times a second) and gives the
  terminal back, cursor visible, on :meth:`Dashboard.stop`.

With hundreds of links the table is cut to the terminal height, busiest links
first, and a line says how many were left out; the header then keeps to three
lines.
"""
from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import IO, Deque, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from pcapng_iou.core import linktypes
from pcapng_iou.core.links import Interface
from pcapng_iou.core.status import CaptureStatus, Event

__all__ = [
    "ACTIVE_WINDOW_NS",
    "Dashboard",
    "Rate",
    "RateMeter",
    "format_age",
    "format_bytes",
    "format_duration",
    "make_console",
    "render",
    "summary",
]

#: A link that carried a frame this recently (ns) counts as active.
ACTIVE_WINDOW_NS = 2_000_000_000
#: Span of the sliding window the rates are computed over (ns).
RATE_WINDOW_NS = 3_000_000_000
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


# -- formatting ------------------------------------------------------------------


def format_bytes(count: float) -> str:
    """``count`` bytes in binary units with about three significant digits: ``12.3 MiB``."""
    if count < 1000:
        return f"{int(count)} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024.0
        if value < 999.5 or unit == "PiB":
            return f"{_three_digits(value)} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def _three_digits(value: float) -> str:
    if value < 9.995:
        return f"{value:.2f}"
    if value < 99.95:
        return f"{value:.1f}"
    return f"{value:.0f}"


def _si(value: float) -> str:
    """A rate with an SI prefix: ``0``, ``800``, ``96.0k``, ``1.50M``."""
    if value < 999.5:
        return f"{value:.0f}"
    for prefix in ("k", "M", "G", "T"):
        value /= 1000.0
        if value < 999.5 or prefix == "T":
            return f"{_three_digits(value)}{prefix}"
    raise AssertionError("unreachable")  # pragma: no cover


def _frames_per_s(value: float) -> str:
    if value <= 0:
        return "0"
    if value < 9.95:
        return f"{value:.1f}"
    return _si(value)


def format_duration(seconds: float) -> str:
    """Elapsed time as ``H:MM:SS`` (``2d 03:04:05`` beyond a day)."""
    total = int(max(0.0, seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{hours}:{minutes:02d}:{secs:02d}"


def format_age(interface: Interface, now_ns: int) -> str:
    """How long ago the last frame was: ``-`` (none yet), ``0.3s``, ``12s``, ``3m``, ``2h``, ``4d``."""
    if not interface.last_ns or not interface.frames:
        return "-"
    seconds = max(0, now_ns - interface.last_ns) / 1e9
    if seconds < 9.95:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def _id_list(ids: Iterable[int], limit: int = 8) -> str:
    ordered = sorted(ids)
    shown = ", ".join(str(i) for i in ordered[:limit])
    if len(ordered) > limit:
        shown += f", … +{len(ordered) - limit}"
    return shown


def _event_time(event: Event, status: CaptureStatus) -> str:
    """Wall-clock ``HH:MM:SS`` for wall-clock stamps, else ``+H:MM:SS`` since the start."""
    if event.timestamp_ns >= _EPOCH_2001_NS:
        return time.strftime("%H:%M:%S", time.localtime(event.timestamp_ns / 1e9))
    return "+" + format_duration((event.timestamp_ns - status.started_ns) / 1e9)


def _line(*parts: Tuple[str, str]) -> Text:
    """One terminal line from (text, style) parts, cropped with an ellipsis if too wide."""
    text = Text(no_wrap=True, overflow="ellipsis", end="\n")
    for part, style in parts:
        text.append(part, style or None)
    return text


# -- rates -----------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """Current throughput of one interface."""

    frames_per_s: float = 0.0
    bits_per_s: float = 0.0


_NO_RATE = Rate()


class RateMeter:
    """Per-interface frames/s and bit/s over a sliding window of counter snapshots.

    Feed it with :meth:`sample` each time the view is drawn.  The rate is the
    difference between the newest snapshot and the oldest one kept, divided
    by the time between them; a snapshot is dropped once a younger one is
    already ``window_ns`` old, so the span stays close to the window.
    Interfaces created after the oldest snapshot count from zero.  A clock
    that goes backwards restarts the measurement.
    """

    def __init__(self, window_ns: int = RATE_WINDOW_NS, max_samples: int = 64):
        self.window_ns = window_ns
        self._samples: Deque[Tuple[int, Dict[int, Tuple[int, int]]]] = deque(maxlen=max_samples)

    def sample(self, now_ns: int, interfaces: Iterable[Interface]) -> Dict[int, Rate]:
        """Record the counters of ``interfaces`` at ``now_ns``; return :meth:`rates`."""
        snapshot = {i.number: (i.frames_out + i.frames_in, i.bytes_out + i.bytes_in) for i in interfaces}
        samples = self._samples
        if samples:
            last_ns = samples[-1][0]
            if now_ns < last_ns:
                samples.clear()
            elif now_ns == last_ns:
                samples.pop()
        samples.append((now_ns, snapshot))
        horizon = now_ns - self.window_ns
        while len(samples) >= 2 and samples[1][0] <= horizon:
            samples.popleft()
        return self.rates()

    def rates(self) -> Dict[int, Rate]:
        """Rates keyed by interface number; empty until two snapshots are apart in time."""
        if len(self._samples) < 2:
            return {}
        first_ns, first = self._samples[0]
        last_ns, last = self._samples[-1]
        span_s = (last_ns - first_ns) / 1e9
        if span_s <= 0:
            return {}
        rates = {}
        before = first.get
        for number, counters in last.items():
            old = before(number)
            if counters == old:
                rates[number] = _NO_RATE  # most links of a big lab: nothing to compute
                continue
            frames0, octets0 = old or (0, 0)
            frames_delta = max(0, counters[0] - frames0)
            octets_delta = max(0, counters[1] - octets0)
            if frames_delta or octets_delta:
                rates[number] = Rate(frames_delta / span_s, octets_delta * 8 / span_s)
            else:
                rates[number] = _NO_RATE
        return rates


# -- the live view -----------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    """One fact of the header: never split across lines; ``keep`` ranks it (None: always shown)."""

    parts: Tuple[Tuple[str, str], ...]
    keep: Optional[int] = None
    #: Index of the part (a path) that may be shortened in its middle when the item is wider than the screen.
    shorten: Optional[int] = None

    @property
    def width(self) -> int:
        return sum(len(text) for text, _ in self.parts)

    def fitted(self, width: int) -> "_Item":
        excess = self.width - width
        if excess <= 0 or self.shorten is None:
            return self
        text, style = self.parts[self.shorten]
        keep = max(3, len(text) - excess - 1)
        head = keep // 3
        short = text[:head] + "…" + text[len(text) - (keep - head):]
        parts = self.parts[: self.shorten] + ((short, style),) + self.parts[self.shorten + 1:]
        return _Item(parts, self.keep, None)


_ITEM_GAP = "   "


def _flow(groups: List[List[_Item]], width: int, together: bool) -> List[List[_Item]]:
    """Items laid out in lines of at most ``width``, as words are: a group starts a line unless ``together``."""
    lines: List[List[_Item]] = []
    used = width + 1  # forces a new line for the first item
    for group in groups:
        if not together:
            used = width + 1
        for item in group:
            size = item.width
            if lines and used + len(_ITEM_GAP) + size <= width:
                lines[-1].append(item)
                used += len(_ITEM_GAP) + size
            else:
                lines.append([item])
                used = size
    return lines


def _joined(items: List[_Item]) -> Text:
    """One line of whole items, separated by a gap."""
    parts: List[Tuple[str, str]] = []
    for position, item in enumerate(items):
        if position:
            parts.append((_ITEM_GAP, ""))
        parts.extend(item.parts)
    return _line(*parts)


def _header_items(status: CaptureStatus, down: Set[int]) -> List[List[_Item]]:
    malformed, undelivered = status.datagrams_malformed, status.undelivered
    output = _Item((("pcapng-iou ", "bold"), ("→ ", ""), (status.output, "bold cyan"),
                    (f"  {format_bytes(status.output_bytes)}", "")), None, 2)
    first = [output,
             _Item(((f"elapsed {format_duration(status.elapsed_s)}", ""),), 8),
             _Item(((f"pid {status.pid}", ""),)),
             _Item((("reload NETMAP: ", "dim"), (status.reload_hint, "bold")))]
    second = [_Item(((f"frames {status.frames_recorded:,}", ""),)),
              _Item(((f"datagrams relayed {status.datagrams_relayed:,}", ""),), 4),
              _Item(((f"malformed {malformed:,}", "yellow" if malformed else ""),), 7 if malformed else 3),
              _Item(((f"undelivered {undelivered:,}", "yellow" if undelivered else ""),), 7 if undelivered else 3)]
    attached = status.instances_attached
    parts = [(f"instances: {len(attached)} attached", "")]
    if attached:
        parts.append((f" ({_id_list(attached)})", "dim"))
    parts.append((" / ", ""))
    parts.append((f"{len(down)} down", "bold red" if down else ""))
    if down:
        parts.append((f" ({_id_list(down)})", "red"))
    third = [_Item(tuple(parts))]
    if status.netmap:
        third.append(_Item((("NETMAP ", "dim"), (status.netmap, "dim")), 5, 1))
    if status.netio_dir:
        third.append(_Item((("netio ", "dim"), (status.netio_dir, "dim")), 5, 1))
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
            lines = _flow(candidate, width, together)
            if len(lines) <= max_lines or not queue:
                break
            gone = queue.pop(0)
            candidate = [[item for item in group if item is not gone] for group in candidate]
        if len(lines) <= max_lines:
            break
    return [_joined(items) for items in lines[:max(1, max_lines)]]


def _state(interface: Interface, now_ns: int, down: Set[int]) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if interface.replaced_by is not None:
        text.append(f"replaced by #{interface.replaced_by}", "dim italic")
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
    if interface.mismatch is not None:
        text.append(f" {mismatch_note(interface)}", "bold yellow")
    if interface.undelivered:
        text.append(f" +{interface.undelivered:,} undelivered", "yellow")
    return text


def mismatch_note(interface: Interface) -> str:
    """The marker of a link whose frames are not of the link type written for it."""
    return f"frames are {linktypes.name(interface.mismatch)}!"


def _busiest_first(interfaces: Sequence[Interface], rates: Dict[int, Rate]) -> List[Interface]:
    """Current links before replaced ones; in each, the busiest first, then the idle ones by number.

    Only the busy ones are sorted by rate: on a lab of 16,000 links most are idle.
    """
    groups: tuple = ([], [], [], [])  # current busy, current idle, replaced busy, replaced idle
    for interface in interfaces:
        busy = interface.frames_out or interface.frames_in or rates.get(interface.number, _NO_RATE).frames_per_s
        groups[(2 if interface.replaced_by is not None else 0) + (0 if busy else 1)].append(interface)

    def busiest(interface: Interface):
        rate = rates.get(interface.number, _NO_RATE)
        return (-rate.frames_per_s, -(interface.frames_out + interface.frames_in), interface.number)

    def number(interface: Interface) -> int:
        return interface.number

    current_busy, current_idle, replaced_busy, replaced_idle = groups
    return (sorted(current_busy, key=busiest) + sorted(current_idle, key=number)
            + sorted(replaced_busy, key=busiest) + sorted(replaced_idle, key=number))


@dataclass(frozen=True)
class _Column:
    title: str
    justify: str = "right"
    style: str = ""
    #: When the screen is too narrow, columns go by this rank, 1 first (equal ranks go together);
    #: None: never (the link and its type tell two rows of one link apart after a reload).
    drop: Optional[int] = None
    #: The column may be cut with an ellipsis, down to this width, when dropping was not enough.
    shrink_to: Optional[int] = None


_LIVE_COLUMNS = (
    _Column("#", style="dim"),
    _Column("link", "left", "bold"),
    _Column("type", "left", "cyan"),
    _Column("frames →", drop=5),
    _Column("frames ←", drop=5),
    _Column("bytes", drop=2),
    _Column("frames/s", drop=4),
    _Column("bit/s", drop=1),
    _Column("last", drop=3),
    _Column("state", "left", shrink_to=8),
)


def _live_row(interface: Interface, rate: Rate, now_ns: int, down: Set[int]) -> list:
    return [
        str(interface.number),
        interface.name,
        interface.linktype_name,
        f"{interface.frames_out:,}",
        f"{interface.frames_in:,}",
        format_bytes(interface.bytes_out + interface.bytes_in),
        _frames_per_s(rate.frames_per_s),
        _si(rate.bits_per_s),
        format_age(interface, now_ns),
        _state(interface, now_ns, down),
    ]


_COLUMN_GAP = "  "


def _cell_width(cell) -> int:
    return len(cell) if isinstance(cell, str) else cell.cell_len


def _fit(cell: str, width: int, justify: str) -> str:
    if len(cell) > width:
        return cell[: max(0, width - 1)] + "…" if width else ""
    return cell.rjust(width) if justify == "right" else cell.ljust(width)


def _layout(columns: Sequence[_Column], rows: List[list], width: int) -> Tuple[List[int], List[int]]:
    """Which columns fit ``width`` (dropped by rank), and the width of each."""
    widths = [len(column.title) for column in columns]
    for row in rows:
        for index, cell in enumerate(row):
            size = _cell_width(cell)
            if size > widths[index]:
                widths[index] = size
    keep = list(range(len(columns)))

    def needed() -> int:
        return sum(widths[index] for index in keep) + len(_COLUMN_GAP) * (len(keep) - 1)

    for rank in sorted({column.drop for column in columns if column.drop is not None}):
        if needed() <= width:
            break
        keep = [index for index in keep if columns[index].drop != rank]
    for index in keep:
        floor = columns[index].shrink_to
        excess = needed() - width
        if floor is not None and excess > 0 and widths[index] > floor:
            widths[index] = max(floor, widths[index] - excess)
    return keep, widths


def _grid(columns: Sequence[_Column], rows: List[list], width: int, footer: Optional[list] = None) -> List[Text]:
    """A table as one Text per line: column titles, a rule, the rows (and a rule and ``footer``).

    Drawn by hand rather than with ``rich.table.Table``, whose layout costs
    about twenty times more per redraw and which wraps cells onto several
    lines: here a row is always one line.
    """
    keep, widths = _layout(columns, rows + ([footer] if footer else []), width)
    last = keep[-1]
    total_width = min(width, sum(widths[index] for index in keep) + len(_COLUMN_GAP) * (len(keep) - 1))

    def line_of(cells: list, bold: bool = False) -> Text:
        line = _line()
        for position, index in enumerate(keep):
            column = columns[index]
            if position:
                line.append(_COLUMN_GAP)
            cell = cells[index]
            if isinstance(cell, str):
                style = "bold" if bold else (column.style or None)
                line.append(cell if index == last and _cell_width(cell) <= widths[index]
                            else _fit(cell, widths[index], column.justify), style)
            else:
                if cell.cell_len > widths[index]:
                    cell = cell.copy()
                    cell.truncate(widths[index], overflow="ellipsis")
                elif index != last:
                    cell = cell.copy()
                    if column.justify == "right":
                        cell.pad_left(widths[index] - cell.cell_len)
                    else:
                        cell.pad_right(widths[index] - cell.cell_len)
                line.append_text(cell)
        return line

    titles = line_of([column.title for column in columns], bold=True)
    rule = _line(("─" * total_width, "dim"))
    lines = [titles, rule] + [line_of(row) for row in rows]
    if footer:
        lines += [rule, line_of(footer, bold=True)]
    return lines


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
            _line((f"… {len(ordered)} links hidden (terminal too small)", "dim"))]
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
    else:
        shown = ordered[: max(0, space - 1)]
        hidden = len(ordered) - len(shown)

    now_ns = status.now_ns
    rows = [_live_row(i, rates.get(i.number, _NO_RATE), now_ns, down_set) for i in shown]
    parts: list = list(header)
    if shown:
        parts.extend(_grid(_LIVE_COLUMNS, rows, width))
    elif not ordered:
        parts.extend(_grid(_LIVE_COLUMNS, [], width))
        parts.append(_line(("no links yet", "dim")))
    if hidden:
        parts.append(_line((f"… {hidden} more links hidden (busiest shown)", "dim")))
    for event in events:
        parts.append(
            _line(
                (_event_time(event, status) + "  ", "dim"),
                (event.text.replace("\n", " "), _LEVEL_STYLE.get(event.level, "")),
            )
        )
    return Group(*parts)


# -- the exit summary ------------------------------------------------------------------

#: Width of the exit summary when standard error is not a terminal.
SUMMARY_WIDTH = 132
#: Most links the exit summary lists (drawing a table row costs about a millisecond).
SUMMARY_MAX_ROWS = 100

_SUMMARY_COLUMNS = (
    _Column("#", style="dim"),
    _Column("link", "left", "bold"),
    _Column("type", "left", "cyan"),
    _Column("frames →", drop=1),
    _Column("frames ←", drop=1),
    _Column("frames"),
    _Column("bytes", drop=2),
    _Column("undelivered", drop=3),
    _Column("note", "left", "dim", shrink_to=8),
)
_UNDELIVERED = 7


def _note(interface: Interface, down: Set[int]) -> str:
    notes = []
    if interface.replaced_by is not None:
        notes.append(f"replaced by #{interface.replaced_by}")
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


class _Summary:
    """The exit summary, laid out for the width of the console it is printed on."""

    def __init__(self, status: CaptureStatus):
        self.status = status

    def __rich_console__(self, console, options):
        yield from self.lines(options.max_width)

    def lines(self, width: int) -> List[Text]:
        status = self.status
        down = set(status.instances_down)
        malformed, undelivered = status.datagrams_malformed, status.undelivered
        head = [[_Item((("pcapng-iou ", "bold"), (status.output, "bold cyan"),
                        (f"  {format_bytes(status.output_bytes)}", "")), None, 1),
                 _Item(((f"elapsed {format_duration(status.elapsed_s)}", ""),)),
                 _Item(((f"{len(status.interfaces):,} interfaces", ""),))],
                [_Item(((f"frames {status.frames_recorded:,}", ""),)),
                 _Item(((f"datagrams relayed {status.datagrams_relayed:,}", ""),)),
                 _Item(((f"malformed {malformed:,}", "yellow" if malformed else ""),)),
                 _Item(((f"undelivered {undelivered:,}", "yellow" if undelivered else ""),))]]
        head = [[item.fitted(width) for item in group] for group in head]
        lines = [_joined(items) for items in _flow(head, width, together=False)]
        interfaces = sorted(status.interfaces, key=lambda i: i.number)
        if not interfaces:
            return lines + [_line(("no links: no frame was seen", ""))]
        shown = interfaces
        if len(interfaces) > SUMMARY_MAX_ROWS:
            # A lab of 1,000 instances has 16,000 links: the busiest, in number order, and a count of the rest.
            busiest = sorted(interfaces, key=lambda i: (-(i.frames_out + i.frames_in), -i.undelivered, i.number))
            shown = sorted(busiest[:SUMMARY_MAX_ROWS], key=lambda i: i.number)
        rows = [[str(i.number), i.name, i.linktype_name, f"{i.frames_out:,}", f"{i.frames_in:,}",
                 f"{i.frames:,}", format_bytes(i.bytes),
                 Text(f"{i.undelivered:,}", "yellow" if i.undelivered else ""), _note(i, down)]
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
        table = _grid(columns, rows, width, footer)
        lines += [_line()] + table
        if len(shown) < len(interfaces):
            listed = {i.number for i in shown}
            rest = [i for i in interfaces if i.number not in listed]
            busy = sum(1 for i in rest if i.frames_out + i.frames_in)
            lines.append(Text(f"… {len(rest):,} more links not shown ({busy:,} of them with frames): the busiest "
                              f"{len(shown)} are above; capinfos or Wireshark's Statistics > Capture File "
                              "Properties list every interface", "dim"))
        return lines


def summary(status: CaptureStatus):
    """Every interface (the busiest 100 of a huge lab), in number order, one line each, with the totals:
    printed once at exit, in as many columns as the console's width allows."""
    return _Summary(status)


# -- terminal side ----------------------------------------------------------------------




def make_console(stream: Optional[IO[str]] = None) -> Console:
    """A console drawing on ``stream`` (standard error by default), never on stdout.

    Highlighting is off: numbers and paths are styled by the dashboard itself.
    """
    stream = stream if stream is not None else sys.stderr
    console = Console(file=stream, highlight=False)
    if not console.is_terminal:
        # A log file or a pipe has no width: do not squeeze the summary into 80 columns.
        console = Console(file=stream, highlight=False, width=SUMMARY_WIDTH)
    return console


class Dashboard:
    """The live view, redrawn by the event loop: no thread of its own.

    ``start()`` takes over the bottom of the terminal, ``update(status)``
    redraws it (call it a few times a second), ``stop()`` gives the terminal
    back with the cursor visible; ``stop()`` may be called any number of times.
    """

    def __init__(self, console: Console, window_ns: int = RATE_WINDOW_NS):
        self.console = console
        self.meter = RateMeter(window_ns)
        self._live: Optional[Live] = None

    @property
    def running(self) -> bool:
        return self._live is not None

    def start(self) -> None:
        if self._live is not None:
            return
        live = Live(
            console=self.console,
            auto_refresh=False,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        live.start()
        self._live = live

    def update(self, status: CaptureStatus) -> None:
        """Take a rate sample and, when started, redraw for ``status`` at the console's size."""
        rates = self.meter.sample(status.now_ns, status.interfaces)
        live = self._live
        if live is None:
            return
        width, height = self.console.size
        live.update(render(status, rates, width, height), refresh=True)

    def stop(self) -> None:
        live, self._live = self._live, None
        try:
            if live is not None:
                live.stop()
        finally:
            self.console.show_cursor(True)

    def __enter__(self) -> "Dashboard":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
