"""Signals as events of the capture's loop: a handler only notes the signal, and
``signal.set_wakeup_fd`` makes the loop's poller wake, so a signal is handled
between two datagrams, never inside the relaying of one."""
from __future__ import annotations

import os
import signal
import socket


def has_controlling_terminal() -> bool:
    """Whether this process still has a terminal: a closed terminal window or a dropped SSH session
    takes it away (and sends SIGHUP)."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


class SignalInbox:
    """The signals ``signums`` while installed: :meth:`fileno` turns readable when one came."""

    def __init__(self, signums: tuple):
        self.signums = signums
        self._received: list[int] = []
        self._reader = self._writer = None
        self._old_wakeup = -1
        self._old_handlers: dict = {}
        #: The signals this process ignored before :meth:`install` (``nohup`` ignores SIGHUP).
        self.ignored_before: set = set()

    def install(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._old_wakeup = signal.set_wakeup_fd(self._writer.fileno())
        for signum in self.signums:
            self._old_handlers[signum] = signal.signal(signum, self._on_signal)
        self.ignored_before = {signum for signum, handler in self._old_handlers.items() if handler == signal.SIG_IGN}

    def _on_signal(self, signum, frame) -> None:
        self._received.append(signum)

    def fileno(self) -> int:
        return self._reader.fileno()

    def take(self) -> list:
        """The signals received since the last call, in the order they came."""
        try:
            while self._reader.recv(512):
                pass
        except BlockingIOError:
            pass
        received, self._received = self._received, []
        return received

    def peek(self) -> list:
        """The signals received since the last :meth:`take`, left for it."""
        return list(self._received)

    def restore(self) -> None:
        """Put back the handlers and wake-up descriptor found at :meth:`install` (no-op before it)."""
        if self._reader is None:
            return
        signal.set_wakeup_fd(self._old_wakeup)
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        self._reader.close()
        self._writer.close()
        self._reader = self._writer = None
