"""What a person sees on stderr while a capture runs: event lines or the live dashboard.

Standard output is never written here, so ``-w -`` can stream the capture.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO

from pcapng_iou import PROG
from pcapng_iou.core.status import Event


class Reporter:
    def __init__(self, quiet: bool = False, stream: Optional[TextIO] = None, dashboard: Optional[bool] = None):
        self.quiet = quiet
        self.stream = stream or sys.stderr
        if dashboard is None:
            dashboard = not quiet and self.stream.isatty()
        self.use_dashboard = dashboard
        self.dashboard = None
        #: The stream can no longer be written (the reader of a pipe went away, the terminal was closed):
        #: the capture goes on without a word, as what it relays matters more than what it says.
        self.stream_lost = False

    def _write(self, write: Callable[[], None]) -> None:
        """Run ``write`` unless the stream was lost; a failure loses it (and the dashboard with it)."""
        if self.stream_lost:
            return
        try:
            write()
        except OSError:
            self.stream_lost = True
            dashboard, self.dashboard = self.dashboard, None
            if dashboard is not None:
                try:
                    dashboard.stop()
                except OSError:
                    pass

    def event(self, event: Event) -> None:
        if event.level == "error" or not (self.quiet or self.dashboard is not None):
            label = "" if event.level == "info" else f"{event.level}: "
            line = f"{PROG}: {label}{event.text}"
            dashboard = self.dashboard
            if dashboard is not None:
                self._write(lambda: dashboard.console.print(line, markup=False, highlight=False))
            else:
                self._write(lambda: print(line, file=self.stream, flush=True))

    def _tick(self, status) -> None:
        dashboard = self.dashboard
        if dashboard is not None:
            self._write(lambda: dashboard.update(status))

    def run(self, capture) -> int:
        capture.say_to = self.event
        if self.use_dashboard:
            from pcapng_iou.ui.dashboard import Dashboard, make_console

            self.dashboard = Dashboard(make_console(self.stream))
            capture.on_tick = self._tick
            self._write(self.dashboard.start)
        try:
            status = capture.run()
        finally:
            dashboard, self.dashboard = self.dashboard, None
            if dashboard is not None:
                self._write(dashboard.stop)
        stop = capture.stop
        if stop is not None and stop.reason:
            level = "error" if stop.status else "info"
            self.event(Event(time.time_ns(), stop.reason, level))
        if capture.output_removed:
            self.event(Event(time.time_ns(), f"nothing captured: {capture.options.netio_dir} never appeared; "
                                             f"{capture.output.display} not kept", "info"))
        elif not self.quiet and capture.output is not None:
            from pcapng_iou.ui.dashboard import make_console, summary

            console = make_console(self.stream)
            self._write(lambda: console.print(summary(capture.status())))
        return status
