"""What to do about one instance, from what was seen of it.  Pure: no I/O.

The capture looks at the netio directory (our socket still at ``<id>``?
``<id>_real`` there?  the lock held?  a forward failed?) and hands what it saw
to :func:`decide`, which answers with one :class:`Step`.  The capture then
applies the step and, after a detach, looks again: an instance that was
restarted is detached from its old socket and attached to its new one.

Three moments ask the question, and they may answer differently:

* ``EVENT``: inotify named the instance (or the directory was rescanned);
* ``CHECK``: the periodic liveness check, the only one that buries the dead;
* ``STOP``: the capture stops and gives every socket back.
"""
from __future__ import annotations

import enum
import errno
from dataclasses import dataclass
from typing import Optional

#: A send fails with one of these when nobody is behind the instance's socket any more.
GONE_ERRNOS = frozenset((errno.ECONNREFUSED, errno.ENOTCONN, errno.ENOENT, errno.ECONNRESET, errno.EPIPE))


class Moment(enum.Enum):
    EVENT = "event"
    CHECK = "check"
    STOP = "stop"


class AtName(enum.Enum):
    """What is at an instance's name, ``<id>``, in the netio directory."""

    #: Nothing.
    NOTHING = "nothing"
    #: Our socket (same inode as the one we put there).
    OURS = "ours"
    #: A socket not ours (the instance's own, a new one after a restart).
    SOCKET = "socket"
    #: Not a socket, or a symbolic link.
    OTHER = "other"


class Step(enum.Enum):
    #: Stand in for the instance's socket.
    ATTACH = "attach"
    #: Give the socket back (or drop our part when the instance already left), then look again.
    DETACH = "detach"
    #: The instance died without cleaning up: remove its files for it.
    BURY = "bury"
    #: Nothing to do.
    IGNORE = "ignore"
    #: Something at ``<id>`` that is not a socket: leave it alone, and say so once.
    REFUSE = "refuse"
    #: Not decidable yet (a restart or a repair is under way): the next event or check decides.
    WAIT = "wait"


@dataclass(frozen=True)
class Seen:
    """What was observed about one instance, at one moment."""

    #: We stand in for it (we hold a proxy).
    attached: bool = False
    #: What is at ``<id>``.
    at_name: AtName = AtName.NOTHING
    #: ``<id>_real`` exists.
    real_present: bool = False
    #: Its lock: True held (it runs), False free (its owner is dead), None no lock file to ask.
    lock: Optional[bool] = None
    #: Without a lock file: does a socket answer at the instance's own socket?  (None: not asked.)
    answers: Optional[bool] = None
    #: errno of the last forward that failed because the instance was gone, else None.
    forward_errno: Optional[int] = None
    #: The user asked for this instance (``-i``), or for all.
    wanted: bool = True

    @property
    def alive(self) -> bool:
        """The lock decides; without a lock file, whether its socket answers."""
        if self.lock is not None:
            return self.lock
        return bool(self.answers)


@dataclass(frozen=True)
class Decision:
    step: Step
    #: Why, in the words events and packet comments use ("exited", "restarted", ...).
    why: str = ""


def decide(seen: Seen, moment: Moment) -> Decision:
    """The one thing to do about an instance in the state ``seen`` at ``moment``."""
    if seen.attached:
        return _attached(seen, moment)
    if moment is Moment.STOP or not seen.wanted or seen.at_name is AtName.NOTHING:
        return Decision(Step.IGNORE)
    if seen.at_name is AtName.OTHER:
        return Decision(Step.REFUSE, "not a socket")
    if seen.real_present:
        return Decision(Step.WAIT, "its own socket is still moved aside")
    return Decision(Step.ATTACH)


def _attached(seen: Seen, moment: Moment) -> Decision:
    ours = seen.at_name is AtName.OURS
    if moment is Moment.STOP:
        if ours and not seen.alive:
            return Decision(Step.BURY, "died")  # no socket of it to put back
        return Decision(Step.DETACH, "capture stopped")
    if not ours:
        # It removed our socket (exit) or bound a new one over it (restart).
        return Decision(Step.DETACH, "exited" if seen.at_name is AtName.NOTHING else "restarted")
    if moment is Moment.EVENT:
        return Decision(Step.IGNORE)
    if seen.forward_errno is not None:
        if seen.lock is True:
            return Decision(Step.WAIT, "restart under way")  # a new owner holds the lock: inotify will tell
        return Decision(Step.BURY, "died")
    if not seen.alive:
        return Decision(Step.BURY, "died")
    return Decision(Step.IGNORE)
