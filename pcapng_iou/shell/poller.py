"""The capture's registry of files to wait on: ``selectors``' interface, epoll's cost.

:class:`Poller` takes ``register``/``unregister`` as a ``selectors`` selector
does, but builds no key and no event mask for a ready file: the capture loop
waits with :attr:`Poller.wait` (epoll's own ``poll``) and looks each ready
file's data up with :attr:`Poller.data_of`, so a wake-up runs no Python
function of ours before the handler; that is paid on every frame that arrives
alone (see README, Performance).
"""
from __future__ import annotations

import enum
import select
import selectors
from typing import Any

#: ``register(file, HANG_UP_ONLY)``: ready only when the file fails or its other end closes (epoll reports
#: those whatever it is asked): no data a peer sends, no half-close.
HANG_UP_ONLY = 0
_EPOLL_EVENTS = {HANG_UP_ONLY: 0, selectors.EVENT_READ: select.EPOLLIN, selectors.EVENT_WRITE: select.EPOLLOUT,
                 selectors.EVENT_READ | selectors.EVENT_WRITE: select.EPOLLIN | select.EPOLLOUT}


class Wakeup(enum.Enum):
    """What a file registered with the capture's poller wakes the loop for (the first of its data)."""

    #: A datagram for an instance, at our socket in its name.
    LISTENER = "listener"
    #: Room again in the queue of an instance that was full.
    FORWARDER = "forwarder"
    #: The netio directory changed.
    INOTIFY = "inotify"
    #: A signal came.
    SIGNAL = "signal"
    #: Room in the output pipe, or its reader went away.
    OUTPUT = "output"


def _fd(fileobj: Any) -> int:
    return fileobj if isinstance(fileobj, int) else fileobj.fileno()


class Poller:
    """Files registered with a piece of data each; :attr:`wait` says which can be used, :attr:`data_of` with what."""

    def __init__(self):
        self._epoll = select.epoll()
        self._data: dict = {}
        self._files: dict = {}
        #: ``wait(timeout)``: (file descriptor, event mask) of each ready file (timeout < 0: no limit).
        self.wait = self._epoll.poll
        #: ``data_of(fd, default)``: what ``fd`` was registered with (``default`` once it is unregistered).
        self.data_of = self._data.get

    def register(self, fileobj: Any, events: int, data: Any = None) -> None:
        fd = _fd(fileobj)
        if fd in self._data:
            raise KeyError(f"file descriptor {fd} is already registered")
        self._epoll.register(fd, _EPOLL_EVENTS[events])
        self._data[fd] = data
        self._files[fd] = fileobj

    def modify(self, fileobj: Any, events: int) -> None:
        """Watch ``fileobj``, registered already (with the same data), for ``events`` now."""
        self._epoll.modify(_fd(fileobj), _EPOLL_EVENTS[events])

    def unregister(self, fileobj: Any) -> None:
        """Stop watching ``fileobj``; KeyError if it was not registered (as with ``selectors``)."""
        fd = _fd(fileobj)
        if fd < 0:  # a socket closed before it was unregistered: find it by itself
            fd = next((known for known, file in self._files.items() if file is fileobj), fd)
        del self._data[fd]
        del self._files[fd]
        try:
            self._epoll.unregister(fd)
        except (OSError, ValueError):
            pass  # closed already: epoll forgot it by itself

    def close(self) -> None:
        self._epoll.close()
        self._data.clear()
        self._files.clear()
