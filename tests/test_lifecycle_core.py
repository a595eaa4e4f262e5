"""The lifecycle decision, in memory: what was seen of one instance -> what to do.

The same situations run through real processes in test_lifecycle.py; here
each is one row of a table.
"""
from __future__ import annotations

import errno

import pytest

from pcapng_iou.core.lifecycle import AtName, Decision, Moment, Seen, Step, decide

EVENT, CHECK, STOP = Moment.EVENT, Moment.CHECK, Moment.STOP
REFUSED = errno.ECONNREFUSED
OURS, SOCKET, OTHER = AtName.OURS, AtName.SOCKET, AtName.OTHER

# (what was seen, moment, expected step, expected why)
CASES = [
    # -- not attached ------------------------------------------------------------------
    ("a new instance", Seen(at_name=SOCKET), EVENT, Step.ATTACH, ""),
    ("a new instance found by a rescan", Seen(at_name=SOCKET), CHECK, Step.ATTACH, ""),
    ("nothing there", Seen(), EVENT, Step.IGNORE, ""),
    ("only its lock file", Seen(lock=True), EVENT, Step.IGNORE, ""),
    ("not asked for (-i)", Seen(at_name=SOCKET, wanted=False), EVENT, Step.IGNORE, ""),
    ("a plain file or symlink at <id>", Seen(at_name=OTHER), EVENT, Step.REFUSE, "not a socket"),
    ("not asked for, not a socket", Seen(at_name=OTHER, wanted=False), EVENT, Step.IGNORE, ""),
    ("its own socket still moved aside", Seen(at_name=SOCKET, real_present=True), EVENT, Step.WAIT,
     "its own socket is still moved aside"),
    ("stopping: never attach", Seen(at_name=SOCKET), STOP, Step.IGNORE, ""),
    # -- attached, our socket in place ---------------------------------------------------
    ("running, an event", Seen(attached=True, at_name=OURS, real_present=True), EVENT, Step.IGNORE, ""),
    ("running, checked", Seen(attached=True, at_name=OURS, real_present=True, lock=True), CHECK,
     Step.IGNORE, ""),
    ("lock free: killed", Seen(attached=True, at_name=OURS, real_present=True, lock=False), CHECK,
     Step.BURY, "died"),
    ("lock free, an event: the check decides", Seen(attached=True, at_name=OURS, lock=False), EVENT,
     Step.IGNORE, ""),
    ("no lock file, socket answers", Seen(attached=True, at_name=OURS, answers=True), CHECK, Step.IGNORE, ""),
    ("no lock file, socket silent", Seen(attached=True, at_name=OURS, answers=False), CHECK, Step.BURY, "died"),
    ("a forward was refused, lock free", Seen(attached=True, at_name=OURS, lock=False, forward_errno=REFUSED),
     CHECK, Step.BURY, "died"),
    ("a forward was refused, no lock file",
     Seen(attached=True, at_name=OURS, answers=True, forward_errno=REFUSED), CHECK, Step.BURY, "died"),
    ("a forward was refused, lock held: a restart is under way",
     Seen(attached=True, at_name=OURS, lock=True, forward_errno=REFUSED), CHECK, Step.WAIT, "restart under way"),
    # -- attached, our socket gone or replaced -----------------------------------------------
    ("it exited (removed <id>)", Seen(attached=True, real_present=True), EVENT, Step.DETACH, "exited"),
    ("it restarted (a new socket at <id>)", Seen(attached=True, at_name=SOCKET, real_present=True), EVENT,
     Step.DETACH, "restarted"),
    ("exit seen by the check", Seen(attached=True, lock=None), CHECK, Step.DETACH, "exited"),
    ("something not a socket over ours", Seen(attached=True, at_name=OTHER), EVENT, Step.DETACH, "restarted"),
    # -- the capture stops --------------------------------------------------------------------
    ("stop, running", Seen(attached=True, at_name=OURS, lock=True), STOP, Step.DETACH, "capture stopped"),
    ("stop, died since the last check", Seen(attached=True, at_name=OURS, lock=False), STOP, Step.BURY, "died"),
    ("stop, no lock file, silent", Seen(attached=True, at_name=OURS, answers=False), STOP, Step.BURY, "died"),
    ("stop, restart under way", Seen(attached=True, at_name=OURS, lock=True, forward_errno=REFUSED), STOP,
     Step.DETACH, "capture stopped"),
    ("stop, it exited just before", Seen(attached=True), STOP, Step.DETACH, "capture stopped"),
    ("stop, it restarted just before", Seen(attached=True, at_name=SOCKET), STOP, Step.DETACH, "capture stopped"),
]


@pytest.mark.parametrize("seen, moment, step, why", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide(seen, moment, step, why):
    assert decide(seen, moment) == Decision(step, why)


def test_every_step_is_reachable():
    assert {c[3] for c in CASES} == set(Step)


def test_alive_is_the_lock_else_the_socket():
    assert Seen(lock=True, answers=False).alive
    assert not Seen(lock=False, answers=True).alive
    assert Seen(answers=True).alive
    assert not Seen().alive
