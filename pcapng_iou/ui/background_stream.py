"""A text stream whose writes never make the caller wait: a thread of its own does the writing.

A terminal stops taking output when its user types Ctrl-S or its SSH link
stalls, and a write to it then sleeps until it takes output again.  Were the
capture's loop the one to sleep, no frame would be relayed meanwhile: the lab
would stop with the terminal.  So what the capture says is handed to a
:class:`BackgroundStream`, which queues it and wakes its thread on
``flush()``; the thread writes it when the stream takes it.  ``busy`` tells
the caller that earlier text is not written yet (a redraw can then be
skipped rather than queued).
"""
from __future__ import annotations

import threading
from typing import TextIO

#: Text queued and not yet written, in characters, beyond which what is written is dropped.
MAX_QUEUED_CHARS = 1 << 20


class BackgroundStream:
    """Wraps ``stream`` (a text stream): ``write`` and ``flush`` queue and return at once."""

    def __init__(self, stream: TextIO, max_queued: int = MAX_QUEUED_CHARS):
        self.stream = stream
        self.max_queued = max_queued
        self._changed = threading.Condition()
        self._queued: list = []
        self._queued_chars = 0
        self._writing = False
        self._closing = False
        #: The stream failed (the reader of a pipe went away, the terminal was closed): text goes nowhere now.
        self.lost = False
        #: Writes dropped because too much was queued already (the stream took nothing for long).
        self.dropped = 0
        self._thread = threading.Thread(target=self._write_what_is_queued, name="stream writer", daemon=True)
        self._thread.start()

    # -- what a text stream offers ----------------------------------------------------
    def write(self, text: str) -> int:
        with self._changed:
            if self.lost:
                return len(text)
            if self._closing:
                return self._write_now(text)
            if self._queued_chars + len(text) > self.max_queued:
                self.dropped += 1
                return len(text)
            self._queued.append(text)
            self._queued_chars += len(text)
        return len(text)

    def flush(self) -> None:
        with self._changed:
            if self._queued:
                self._changed.notify_all()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    # -- ours --------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """Whether text handed over earlier is still queued or being written."""
        with self._changed:
            return self._writing or bool(self._queued)

    def close(self, timeout: float) -> bool:
        """Write what is queued, waiting ``timeout`` seconds at most; whether all of it was written.

        The stream itself is left open (it is usually standard error).
        """
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _write_now(self, text: str) -> int:
        """After :meth:`close`: nothing waits for the writing any more (dropped if it could not end)."""
        if not self._thread.is_alive():
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                self.lost = True
        return len(text)

    def _write_what_is_queued(self) -> None:
        while True:
            with self._changed:
                while not self._queued and not self._closing:
                    self._changed.wait()
                if not self._queued:
                    return
                text = "".join(self._queued)
                self._queued.clear()
                self._queued_chars = 0
                self._writing = True
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):  # ValueError: the stream was closed
                with self._changed:
                    self.lost = True
                    self._queued.clear()
                    self._queued_chars = 0
            finally:
                with self._changed:
                    self._writing = False
                    self._changed.notify_all()
