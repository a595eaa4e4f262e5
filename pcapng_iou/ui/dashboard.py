"""The live terminal view of a running capture, and the summary printed at exit.

Everything shown comes from one :class:`~pcapng_iou.status.CaptureStatus`
snapshot, so the drawing is split in three layers:

* :func:`render` and :func:`summary` are pure: status in, ``rich`` renderable
  out.  They read no clock and touch no terminal, which keeps them testable
  by rendering into a recording console.
* :class:`RateMeter` turns successive counter snapshots into per-interface
  frames/s and bit/s over a sliding window of about three seconds; the time
  of each snapshot is passed in, never read.
* :class:`Dashboard` is the only part with side effects: it owns a
  ``rich.live.Live`` without a refresh thread, redraws when the event loop
  calls :meth:`Dashboard.update` (a few times a second) and gives the
  terminal back, cursor visible, on :meth:`Dashboard.stop`.

With hundreds of links the table is cut to the terminal height, busiest links
first, and a line says how many were left out.
"""
from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import IO, Deque, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

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
#: The header is this many lines, always (each line is cropped, never wrapped).
HEADER_LINES = 3
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

    def reset(self) -> None:
        self._samples.clear()


# -- the live view -----------------------------------------------------------------


def _header(status: CaptureStatus, down: Set[int]) -> List[Text]:
    dropped_style = "bold red" if status.frames_dropped else "green"
    malformed_style = "yellow" if status.datagrams_malformed else ""
    undelivered_style = "yellow" if status.undelivered else ""
    first = _line(
        ("pcapng-iou ", "bold"),
        ("→ ", ""),
        (status.output, "bold cyan"),
        (f"  {format_bytes(status.output_bytes)}", ""),
        (f"   elapsed {format_duration(status.elapsed_s)}", ""),
        (f"   pid {status.pid}", ""),
        ("   reload NETMAP: ", "dim"),
        (status.reload_hint, "bold"),
    )
    second = _line(
        (f"frames {status.frames_recorded:,}", ""),
        ("   ", ""),
        (f"dropped by us: {status.frames_dropped:,}", dropped_style),
        (f"   datagrams relayed {status.datagrams_relayed:,}", ""),
        ("   ", ""),
        (f"malformed {status.datagrams_malformed:,}", malformed_style),
        ("   ", ""),
        (f"undelivered {status.undelivered:,}", undelivered_style),
    )
    attached = status.instances_attached
    parts = [(f"instances: {len(attached)} attached", "")]
    if attached:
        parts.append((f" ({_id_list(attached)})", "dim"))
    parts.append((" / ", ""))
    parts.append((f"{len(down)} down", "bold red" if down else ""))
    if down:
        parts.append((f" ({_id_list(down)})", "red"))
    if status.netmap:
        parts.append((f"   NETMAP {status.netmap}", "dim"))
    if status.netio_dir:
        parts.append((f"   netio {status.netio_dir}", "dim"))
    return [first, second, _line(*parts)]


def _state(interface: Interface, now_ns: int, down: Set[int]) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if interface.replaced_by is not None:
        text.append(f"replaced by #{interface.replaced_by}", "dim italic")
    else:
        dead = [i for i in interface.instances if i in down] if down else []
        if dead:
            text.append("down: " + ",".join(str(i) for i in sorted(dead)), "bold red")
        elif interface.last_ns and interface.frames and now_ns - interface.last_ns <= ACTIVE_WINDOW_NS:
            text.append("active", "bold green")
        else:
            text.append("idle", "dim")
    if interface.unmapped:
        text.append(" unmapped", "yellow")
    if interface.undelivered:
        text.append(f" +{interface.undelivered:,} undelivered", "yellow")
    return text


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


# (title, justify, style, optional-column priority: lower is dropped first, None = always kept)
_LIVE_COLUMNS = (
    ("#", "right", "dim", None),
    ("link", "left", "bold", None),
    ("type", "left", "cyan", 3),
    ("frames →", "right", "", None),
    ("frames ←", "right", "", None),
    ("bytes", "right", "", 2),
    ("frames/s", "right", "", 5),
    ("bit/s", "right", "", 1),
    ("last", "right", "", 4),
    ("state", "left", "", None),
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
#: The link and state columns are narrowed down to this before the table overflows.
_MIN_LINK_WIDTH = 12
_MIN_STATE_WIDTH = 10
_SHORT_STATE_WIDTH = len("replaced by #1234")


def _cell_width(cell) -> int:
    return len(cell) if isinstance(cell, str) else cell.cell_len


def _fit(cell: str, width: int, justify: str) -> str:
    if len(cell) > width:
        return cell[: max(0, width - 1)] + "…" if width else ""
    return cell.rjust(width) if justify == "right" else cell.ljust(width)


def _grid(rows: List[list], width: int) -> List[Text]:
    """The interface table as one Text per line: column titles, a rule, the rows.

    Drawn by hand rather than with ``rich.table.Table``, whose layout costs
    about twenty times more per redraw.  Optional columns are dropped, least
    useful first, until the rest fits ``width``; then the link and state
    columns are shortened with an ellipsis.
    """
    widths = [len(title) for title, _, _, _ in _LIVE_COLUMNS]
    for row in rows:
        for index, cell in enumerate(row):
            size = _cell_width(cell)
            if size > widths[index]:
                widths[index] = size
    keep = list(range(len(_LIVE_COLUMNS)))
    optional = sorted(
        (index for index, column in enumerate(_LIVE_COLUMNS) if column[3] is not None),
        key=lambda index: _LIVE_COLUMNS[index][3],
    )

    def needed() -> int:
        return sum(widths[index] for index in keep) + len(_COLUMN_GAP) * (len(keep) - 1)

    def narrow(index: int, floor: int) -> None:
        excess = needed() - width
        if excess > 0 and widths[index] > floor:
            widths[index] = max(floor, widths[index] - excess)

    state = len(_LIVE_COLUMNS) - 1
    narrow(state, _SHORT_STATE_WIDTH)  # a rare long state should not cost a column
    while optional and needed() > width:
        keep.remove(optional.pop(0))
    narrow(1, _MIN_LINK_WIDTH)
    narrow(state, _MIN_STATE_WIDTH)

    last = keep[-1]
    titles = _line()
    for position, index in enumerate(keep):
        title, justify, _, _ = _LIVE_COLUMNS[index]
        if position:
            titles.append(_COLUMN_GAP)
        titles.append(title if index == last else _fit(title, widths[index], justify), "bold")
    lines = [titles, _line(("─" * min(width, needed()), "dim"))]
    for row in rows:
        line = _line()
        for position, index in enumerate(keep):
            _, justify, style, _ = _LIVE_COLUMNS[index]
            if position:
                line.append(_COLUMN_GAP)
            cell = row[index]
            if isinstance(cell, str):
                line.append(cell if index == last else _fit(cell, widths[index], justify), style or None)
            else:
                if cell.cell_len > widths[index]:
                    cell = cell.copy()
                    cell.truncate(widths[index], overflow="ellipsis")
                elif index != last:
                    cell = cell.copy()
                    cell.pad_right(widths[index] - cell.cell_len)
                line.append_text(cell)
        lines.append(line)
    return lines


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
    header = _header(status, down_set)
    events = list(status.events[-MAX_EVENTS:])
    ordered = _busiest_first(status.interfaces, rates)

    if height < HEADER_LINES + TABLE_CHROME + 1:
        # No room for a table: as much of the header as fits, then what is hidden.
        lines = header + [_line((f"… {len(ordered)} links hidden (terminal too small)", "dim"))]
        return Group(*lines[: max(0, height)])

    space = height - HEADER_LINES - TABLE_CHROME - len(events)
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
        parts.extend(_grid(rows, width))
    elif not ordered:
        parts.extend(_grid([], width))
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


def summary(status: CaptureStatus):
    """Every interface, in number order, with a totals row: printed once at exit."""
    down = set(status.instances_down)
    dropped_style = "bold red" if status.frames_dropped else "green"
    head = Text()
    head.append("pcapng-iou ", "bold")
    head.append(status.output, "bold cyan")
    head.append(f"  {format_bytes(status.output_bytes)}   elapsed {format_duration(status.elapsed_s)}\n")
    head.append(f"frames {status.frames_recorded:,}   ")
    head.append(f"dropped by us: {status.frames_dropped:,}", dropped_style)
    head.append(f"   datagrams relayed {status.datagrams_relayed:,}   ")
    head.append(f"malformed {status.datagrams_malformed:,}", "yellow" if status.datagrams_malformed else "")
    head.append(f"   undelivered {status.undelivered:,}", "yellow" if status.undelivered else "")
    interfaces = sorted(status.interfaces, key=lambda i: i.number)
    if not interfaces:
        head.append("\nno links: no frame was seen")
        return head
    frames_out = sum(i.frames_out for i in interfaces)
    frames_in = sum(i.frames_in for i in interfaces)
    octets = sum(i.bytes_out + i.bytes_in for i in interfaces)
    undelivered = sum(i.undelivered for i in interfaces)

    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, show_footer=True,
                  header_style="bold", footer_style="bold")
    table.add_column("#", justify="right", style="dim", footer=Text(""))
    table.add_column("link", style="bold", footer=Text(f"total ({len(interfaces)} interfaces)"))
    table.add_column("type", style="cyan", footer=Text(""))
    table.add_column("frames →", justify="right", footer=Text(f"{frames_out:,}"))
    table.add_column("frames ←", justify="right", footer=Text(f"{frames_in:,}"))
    table.add_column("frames", justify="right", footer=Text(f"{frames_out + frames_in:,}"))
    table.add_column("bytes", justify="right", footer=Text(format_bytes(octets)))
    table.add_column("undelivered", justify="right", footer=Text(f"{undelivered:,}"))
    table.add_column("note", style="dim", footer=Text(""))
    shown = interfaces
    if len(interfaces) > SUMMARY_MAX_ROWS:
        # A lab of 1,000 instances has 16,000 links: the busiest, in number order, and a count of the rest.
        busiest = sorted(interfaces, key=lambda i: (-(i.frames_out + i.frames_in), -i.undelivered, i.number))
        shown = sorted(busiest[:SUMMARY_MAX_ROWS], key=lambda i: i.number)
    for interface in shown:
        notes = []
        if interface.replaced_by is not None:
            notes.append(f"replaced by #{interface.replaced_by}")
        if interface.unmapped:
            notes.append("unmapped")
        dead = sorted(i for i in interface.instances if i in down)
        if dead and interface.replaced_by is None:
            notes.append("down: " + ",".join(str(i) for i in dead))
        table.add_row(
            Text(str(interface.number)),
            Text(interface.name),
            Text(interface.linktype_name),
            Text(f"{interface.frames_out:,}"),
            Text(f"{interface.frames_in:,}"),
            Text(f"{interface.frames:,}"),
            Text(format_bytes(interface.bytes)),
            Text(f"{interface.undelivered:,}", "yellow" if interface.undelivered else ""),
            Text(", ".join(notes)),
        )
    if len(shown) == len(interfaces):
        return Group(head, table)
    listed = {i.number for i in shown}
    rest = [i for i in interfaces if i.number not in listed]
    busy = sum(1 for i in rest if i.frames_out + i.frames_in)
    more = Text(f"… {len(rest):,} more links not shown ({busy:,} of them with frames): the busiest "
                f"{len(shown)} are above; capinfos or Wireshark's Statistics > Capture File Properties list "
                "every interface", "dim")
    return Group(head, table, more)


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

    def summary(self, status: CaptureStatus):
        return summary(status)

    def __enter__(self) -> "Dashboard":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
