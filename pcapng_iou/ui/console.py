"""What a person sees on stderr while a capture runs: event lines or the live dashboard.

Standard output is never written here, so ``-w -`` can stream the capture.
Everything goes through a :class:`~pcapng_iou.ui.background_stream.BackgroundStream`:
a terminal that takes no output (Ctrl-S) holds back what is said, never the relay.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, Optional, TextIO

from pcapng_iou import PROG
from pcapng_iou.core.status import Event
from pcapng_iou.core.words import counted
from pcapng_iou.ui.background_stream import BackgroundStream

#: At the end, at most this many of the warnings the dashboard cut are said again, whole.
MAX_WARNINGS_AGAIN = 50
#: How long, once the capture is over, what it said may take to be written (a terminal held by Ctrl-S).
FINAL_WRITE_S = 5.0


class Reporter:
    def __init__(self, quiet: bool = False, stream: Optional[TextIO] = None, dashboard: Optional[bool] = None):
        self.quiet = quiet
        self.stream = stream or sys.stderr
        if dashboard is None:
            dashboard = not quiet and self.stream.isatty()
        self.use_dashboard = dashboard
        self.dashboard = None
        self.writer: Optional[BackgroundStream] = None
        self._dropped_said = 0
        #: (level, text) of the warnings the dashboard showed, and of the information it cut to one line
        #: of the screen: said whole at the end.
        self._cut_warnings: list = []

    @property
    def stream_lost(self) -> bool:
        """The stream can no longer be written (the reader of a pipe went away, the terminal was closed):
        the capture goes on without a word, as what it relays matters more than what it says."""
        return self.writer is not None and self.writer.lost

    def _write(self, write: Callable[[], None]) -> None:
        """Run ``write`` unless the stream was lost; a failure loses it (and the dashboard with it)."""
        if self.stream_lost:
            self._forget_dashboard()
            return
        try:
            write()
        except OSError:
            self.writer.lost = True
            self._forget_dashboard()

    def _forget_dashboard(self) -> None:
        dashboard, self.dashboard = self.dashboard, None
        if dashboard is not None:
            try:
                dashboard.stop()
            except OSError:
                pass

    def event(self, event: Event) -> None:
        # Until the dashboard is drawn (the start-up lines: which NETMAP, "capturing ... into ..."), lines
        # are said as without it, above where it will be: they stay in the terminal's scrollback.
        live = self.dashboard is not None and self.dashboard.running
        if live and not self.quiet and (event.level == "warning" or self._cut(event.text)):
            self._cut_warnings.append((event.level, event.text))
        if event.level == "error" or not (self.quiet or live):
            label = "" if event.level == "info" else f"{event.level}: "
            self._say(f"{PROG}: {label}{event.text}")

    def _cut(self, text: str) -> bool:
        """Whether the dashboard's event area cuts ``text`` (after its ``HH:MM:SS`` and two blanks)."""
        return len(text) + 10 > self.dashboard.console.width

    def _say(self, line: str) -> None:
        if not self.writer.busy:  # caught up: the lines dropped meanwhile are told of, once
            self._say_dropped()
        dashboard = self.dashboard
        if dashboard is not None:
            self._write(lambda: dashboard.console.print(line, markup=False, highlight=False))
        else:
            self._write(lambda: (self.writer.write(line + "\n"), self.writer.flush()))

    def _say_dropped(self) -> None:
        dropped = self.writer.dropped - self._dropped_said
        if dropped:
            self._dropped_said += dropped
            self._say(f"{PROG}: warning: {counted(dropped, 'message')} not shown: the terminal took no output for long")

    def _tick(self, status) -> None:
        dashboard = self.dashboard
        if dashboard is not None and not dashboard.running:
            self._write(dashboard.start)  # at the first tick: the start-up lines were said above it
            dashboard = self.dashboard  # (None if the terminal was lost)
        if dashboard is not None:
            # While the last redraw is not on the screen yet, no use queueing another (the rates go on).
            draw = not self.writer.busy
            self._write(lambda: dashboard.update(status, draw))

    def run(self, capture) -> int:
        self.writer = BackgroundStream(self.stream)
        try:
            return self._run(capture)
        finally:
            self._say_dropped()
            self.writer.close(FINAL_WRITE_S)

    def _run(self, capture) -> int:
        capture.log.sink = self.event
        if self.use_dashboard:
            from pcapng_iou.ui.dashboard import Dashboard, make_console

            self.dashboard = Dashboard(make_console(self.writer))  # started at the first tick
            capture.on_tick = self._tick
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

            console = make_console(self.writer)
            self._write(lambda: console.print(summary(capture.status())))
        self._say_cut_warnings()
        return status

    def _say_cut_warnings(self) -> None:
        from pcapng_iou.ui.aftermath import said_again, wrapped

        lines = list(dict.fromkeys(self._cut_warnings))  # each once, in the order they came
        if len(lines) > MAX_WARNINGS_AGAIN:
            self._say(f"{PROG}: {counted(len(lines) - MAX_WARNINGS_AGAIN, 'earlier warning')} not repeated")
            lines = lines[-MAX_WARNINGS_AGAIN:]
        width = self._terminal_width()
        for level, text in lines:
            line = said_again(level, text, os.getpid())
            self._say("\n".join(wrapped(line, width)) if width else line)

    def _terminal_width(self) -> int:
        """The width of the terminal written to, 0 when it is none (a log is not wrapped)."""
        try:
            return os.get_terminal_size(self.stream.fileno()).columns if self.stream.isatty() else 0
        except (OSError, ValueError, AttributeError):
            return 0
