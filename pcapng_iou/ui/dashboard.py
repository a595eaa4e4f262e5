"""The live terminal view of a running capture, and the summary printed at exit.

Everything shown comes from one :class:`~pcapng_iou.core.status.CaptureStatus`
snapshot, whose interfaces are frozen :class:`~pcapng_iou.core.status.InterfaceView`
copies, never the capture's live objects.  The drawing is split by what it does:

* :mod:`~pcapng_iou.ui.liveview` (:func:`render`) and
  :mod:`~pcapng_iou.ui.exitsummary` (:func:`summary`) are pure: status in,
  ``rich`` renderable out, fitted to the width given with the help of
  :mod:`~pcapng_iou.ui.layout` and :mod:`~pcapng_iou.ui.formatting`.
* :class:`~pcapng_iou.ui.rates.RateMeter` turns successive counter snapshots
  into per-interface frames/s and bit/s over a sliding window of about three
  seconds; the time of each snapshot is passed in, never read.
* :class:`Dashboard`, here, is the only part with side effects: it owns a
  ``rich.live.Live`` without a refresh thread, redraws when the event loop
  calls :meth:`Dashboard.update` (a few times a second) and gives the
  terminal back, cursor visible, on :meth:`Dashboard.stop`.
"""
from __future__ import annotations

import sys
from typing import IO, Optional

from rich.console import Console
from rich.live import Live

from pcapng_iou.core.status import CaptureStatus
from pcapng_iou.ui.exitsummary import SUMMARY_MAX_ROWS, SUMMARY_WIDTH, summary
from pcapng_iou.ui.formatting import format_age, format_bytes, format_duration
from pcapng_iou.ui.liveview import ACTIVE_WINDOW_NS, render
from pcapng_iou.ui.rates import RATE_WINDOW_NS, Rate, RateMeter

__all__ = [
    "ACTIVE_WINDOW_NS",
    "Dashboard",
    "Rate",
    "RateMeter",
    "SUMMARY_MAX_ROWS",
    "SUMMARY_WIDTH",
    "format_age",
    "format_bytes",
    "format_duration",
    "make_console",
    "render",
    "summary",
]


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

    def update(self, status: CaptureStatus, draw: bool = True) -> None:
        """Take a rate sample and, when started and ``draw``, redraw for ``status`` at the console's size."""
        rates = self.meter.sample(status.now_ns, status.interfaces)
        live = self._live
        if live is None or not draw:
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
