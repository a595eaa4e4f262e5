"""Following the instances of the netio directory: look, let the core decide, apply.

For each instance the capture hears about (inotify, a rescan, the periodic
liveness check, the stop), :meth:`Instances.reconcile` observes the
directory (:meth:`Instances.observe`), asks :func:`pcapng_iou.core.lifecycle.decide`
what to do, and does it: attach (:func:`relay.attach`), detach
(:func:`relay.detach`, which sends on what was still queued), bury
(:func:`relay.bury`).  It keeps which instances we stand in for and which went
down, and registers our sockets in the capture's selector.

It records nothing and learns nothing itself: each step taken is returned
(:mod:`pcapng_iou.core.outcomes`: attached, detached, buried) by the method
that took it, in order, for the capture to put to use.  It speaks through the
capture's log (``say``).
"""
from __future__ import annotations

import os
import selectors
import stat
import time
from typing import Callable, Optional

from pcapng_iou.core import oneway
from pcapng_iou.core.lifecycle import AtName, Decision, Moment, Seen, Step, decide
from pcapng_iou.core.outcomes import Attached, Buried, Commented, Detached, Outcome, Settled
from pcapng_iou.core.words import counted
from pcapng_iou.shell import netiodir, relay, stopping, takeover
from pcapng_iou.shell.fdlimit import FdBudget
from pcapng_iou.shell.labdir import LabDirectory
from pcapng_iou.shell.poller import Wakeup
from pcapng_iou.shell.privileges import acting_as



class PathTooLongError(Exception):
    """An instance whose socket names do not fit: its frames could never be recorded."""


def _kind(proxy: relay.Proxy) -> str:
    """What to call the owner of a socket: IOU takes a lock file, bridges (ubridge, iol_wrapper) never do."""
    return "bridge" if proxy.lab.lstat(proxy.paths.lock_name) is None else "instance"


def _clock_text() -> str:
    return time.strftime("%H:%M:%S")


class Instances:
    def __init__(self, directory: str, wanted: Optional[set], selector: selectors.BaseSelector,
                 say: Callable[[str, str], None], hurried: Callable[[], bool] = lambda: False):
        """``say``: the capture's log; ``hurried``: whether the stop was asked again (wait for nothing then)."""
        self.directory = directory
        #: The netio directory held open (set by the capture once it is there); None: reached by its path.
        self.lab: Optional[LabDirectory] = None
        self.wanted = wanted
        self.selector = selector
        self.say = say
        self.hurried = hurried
        #: The steps taken and not yet returned (see take_outcomes).
        self._outcomes: list[Outcome] = []
        self.proxies: dict[int, relay.Proxy] = {}
        self.down: set[int] = set()
        #: Attaching during the first scan is no news worth a packet comment.
        self.first_scan = False
        self.ever_attached = False
        #: Room for how many instances (open files); set by the capture once it runs.
        self.fds: Optional[FdBudget] = None
        self._fds_said = False
        self._stale_warned: set[int] = set()
        self._refused_warned: set[str] = set()
        #: The first datagram held for each instance at the last check, and the instances said to be stalled.
        self._pending_head: dict[int, Optional[bytes]] = {}
        self._stalled: set[int] = set()
        #: Instances a connected peer sends to directly, past us (its connection could not be taken over).
        self.one_way: set[int] = set()
        self._one_way_said: set[int] = set()
        self._diag_said = False
        #: Attached, their peers' connections not yet taken over (once for a whole rescan: see takeover.py).
        self._to_take_over: list[relay.Proxy] = []
        #: While the capture stops: sealed sockets of instances given back, closed a moment later
        #: (:data:`relay.LINGER_S`).  Only a stop seals (a detach while running finds the name taken).
        self.lingering: list[relay.Lingering] = []
        self._stopping = False
        #: When giving every name back must be over (see relay.STOP_BOUND_S); None while running.
        self._stop_deadline: Optional[float] = None
        #: How many instances' sockets could not be put back (the capture's exit status says so).
        self.not_given_back = 0

    def is_wanted(self, number: int) -> bool:
        return self.wanted is None or number in self.wanted

    # -- looking ------------------------------------------------------------------
    def observe(self, number: int, moment: Moment) -> Seen:
        """What the directory says about ``number`` (its liveness only where the moment needs it)."""
        proxy = self.proxies.get(number)
        paths = proxy.paths if proxy is not None else self.paths(number)
        st = self._lstat(paths, paths.socket_name)
        if st is None:
            at_name = AtName.NOTHING
        elif proxy is not None and st.st_ino == proxy.our_inode:
            at_name = AtName.OURS
        else:
            at_name = AtName.SOCKET if netiodir.is_socket(st) else AtName.OTHER
        lock = answers = None
        if proxy is not None and at_name is AtName.OURS and moment is not Moment.EVENT:
            lock = proxy.lab.lock_state(paths.lock_name)
            if lock is None:
                answers = proxy.lab.socket_answers(paths.real_name)
        return Seen(
            attached=proxy is not None,
            at_name=at_name,
            real_present=self._lstat(paths, paths.real_name) is not None,
            lock=lock,
            answers=answers,
            forward_errno=proxy.gone_errno if proxy is not None else None,
            wanted=self.is_wanted(number),
        )

    def paths(self, number: int) -> netiodir.Paths:
        return netiodir.Paths(self.directory, number, self.lab)

    @staticmethod
    def _lstat(paths: netiodir.Paths, name: str) -> Optional[os.stat_result]:
        if paths.lab is not None:
            return paths.lab.lstat(name)
        return netiodir.lstat(os.path.join(os.path.dirname(paths.socket), name))

    # -- deciding and applying ---------------------------------------------------------
    def take_outcomes(self) -> list[Outcome]:
        """The steps taken since last asked, in order (those of a call cut short by an error included)."""
        taken, self._outcomes = self._outcomes, []
        return taken

    def reconcile(self, number: int, moment: Moment = Moment.EVENT) -> list[Outcome]:
        """Bring our state for instance ``number`` in line with the directory; the steps taken."""
        self._reconcile(number, moment)
        self._take_over_senders()
        return self.take_outcomes()

    def _reconcile(self, number: int, moment: Moment = Moment.EVENT) -> None:
        while True:
            decision = decide(self.observe(number, moment), moment)
            self._apply(number, decision)
            if decision.step is not Step.DETACH or moment is Moment.STOP:
                break  # after a detach, look again: a restarted instance is attached anew

    def _apply(self, number: int, decision: Decision) -> None:
        step = decision.step
        if step is Step.ATTACH:
            self._attach(number)
        elif step is Step.DETACH:
            self._detach(number, decision.why)
        elif step is Step.BURY:
            self._bury(number)
        elif step is Step.REFUSE:
            self._refuse(number)

    def rescan(self) -> list[Outcome]:
        """Look at every instance of the directory (and every one attached); the steps taken."""
        try:
            names = self.lab.names() if self.lab is not None else os.listdir(self.directory)
        except FileNotFoundError:
            return self.take_outcomes()
        except OSError as err:  # (its owner made it unreadable: what we stand in for is still looked after)
            self.say(f"cannot list {self.directory}: {err.strerror}", "warning")
            names = []
        numbers = {netiodir.instance_id(name) for name in names} | set(self.proxies)
        for number in sorted(n for n in numbers if n is not None):
            self._reconcile(number)
        self._take_over_senders()  # once for the whole scan: one question to the kernel
        return self.take_outcomes()

    def check(self) -> list[Outcome]:
        """The periodic liveness check: notices instances that died without a word, and stalled ones."""
        for number in list(self.proxies):
            self._reconcile(number, Moment.CHECK)
        self._take_over_senders()
        self._check_stalled()
        return self.take_outcomes()

    def _check_stalled(self) -> None:
        """Say when an instance has taken nothing since the last check (stopped?), and when it takes again.

        While it does not, we hold what we read for it (one read batch at most,
        see relay.py) and read no more for it: its peers' datagrams wait in the
        kernel, as they would without us.  Nothing is dropped by us.
        """
        for number, proxy in self.proxies.items():
            head = proxy.pending[0] if proxy.pending else None
            if head is not None and head is self._pending_head.get(number):
                if number not in self._stalled:
                    self._stalled.add(number)
                    held = sum(map(len, proxy.pending))
                    self.say(f"instance {number} takes no frames (stopped?): holding {counted(len(proxy.pending), 'frame')} "
                             f"({counted(held, 'byte')}) for it, reading no more for it until it does", "warning")
            elif number in self._stalled and head is None:
                self._stalled.discard(number)
                self.say(f"instance {number} takes frames again", "info")
            self._pending_head[number] = head
        for number in list(self._pending_head):
            if number not in self.proxies:
                del self._pending_head[number]
                self._stalled.discard(number)

    def give_back_all(self) -> list[Outcome]:
        """The capture stops: every socket goes back (or is buried with its dead owner); the steps taken."""
        self._stopping = True
        self._stop_deadline = time.monotonic() + relay.STOP_BOUND_S
        # What waits for each instance is sent on to all of them at once: the stalled ones wait side by side.
        stopping.hand_over_together([self.proxies[n] for n in sorted(self.proxies)], self._stop_deadline,
                                    say=self.say, hurried=self.hurried)
        with takeover.one_question():
            for number in sorted(self.proxies):
                try:
                    self._reconcile(number, Moment.STOP)
                except Exception as err:  # keep putting the other sockets back
                    self.not_given_back += 1
                    self.say(f"instance {number}: could not detach cleanly: {err}", "error")
                self.close_lingering(time.monotonic())  # those given back 50 ms ago or more: as we go
        if self.lingering:
            time.sleep(max(0.0, self.lingering[-1].until - time.monotonic()))
            self.close_lingering(float("inf"))
        self._stopping = False
        self._stop_deadline = None
        return self.take_outcomes()

    def close_lingering(self, now: float) -> None:
        """Close the sealed sockets whose moment (``until``) is ``now`` or earlier."""
        while self.lingering and self.lingering[0].until <= now:
            item = self.lingering.pop(0)
            try:
                item.close()
            except OSError as err:  # (not seen) the others are closed all the same
                self.say(f"closing a socket given back: {err}", "error")

    def forget_all(self) -> None:
        """The directory went away, and our sockets with it; the directory held open is closed."""
        for number in sorted(self.proxies):
            proxy = self.proxies.pop(number)
            self._unregister(proxy)
            proxy.close()
        self.close_lingering(float("inf"))
        if self.lab is not None:
            self.lab.close()
            self.lab = None

    # -- the steps --------------------------------------------------------------------
    def _refuse(self, number: int) -> None:
        paths = self.paths(number)
        path = paths.socket
        if path not in self._refused_warned:
            self._refused_warned.add(path)
            st = self._lstat(paths, paths.socket_name)
            kind = "a symlink" if st is not None and stat.S_ISLNK(st.st_mode) else "not a socket"
            self.say(f"ignoring {path}: {kind}", "warning")

    def _attach(self, number: int) -> None:
        if self.fds is not None and not self.fds.room_for(len(self.proxies)):
            if not self._fds_said:
                self._fds_said = True
                self.say(self.fds.full_message(number), "error")
            return
        try:
            proxy = relay.attach(self.lab if self.lab is not None else self.directory, number)
        except relay.PathTooLong as err:
            raise PathTooLongError(str(err)) from None
        except relay.InstanceNotRunning:
            if number not in self._stale_warned:
                self._stale_warned.add(number)
                self.say(f"instance {number} is not running (stale socket); not attached", "warning")
            return
        except relay.AttachError as err:
            paths = self.paths(number)
            if self._lstat(paths, paths.socket_name) is not None:
                self.say(str(err), "warning")  # (a socket gone meanwhile is an instance that already exited)
            return
        self._stale_warned.discard(number)
        self.ever_attached = True
        again = number in self.down
        self.down.discard(number)
        self.proxies[number] = proxy
        self.listen(proxy)
        what = "attached again" if again else "attached"
        self.say(f"{_kind(proxy)} {number} {what}", "info")
        clock = _clock_text()
        comment = None if self.first_scan else f"{clock}: {_kind(proxy)} {number} {what}"
        self._outcomes.append(Attached(number, clock, comment))
        self._to_take_over.append(proxy)

    def _detach(self, number: int, why: str) -> None:
        proxy = self.proxies.pop(number)
        self._unregister(proxy)
        try:
            datagrams, times, reasons = relay.detach(proxy, lingering=self.lingering if self._stopping else None,
                                                     say=self.say, hurried=self.hurried,
                                                     deadline=self._stop_deadline)
        except OSError as err:
            datagrams, times, reasons = [], [], []
            if why == "capture stopped":
                self.not_given_back += 1
            self.say(f"instance {number}: {err}", "error")
        lost = [reason for reason in reasons if reason is not None]
        # (those held back for it included: they are recorded once their fate is known)
        settled = (Settled(datagrams, times, reasons if lost else None),) if datagrams else ()
        if lost:
            # (with those lost while relaying: the count is the instance's, as the summary's is the capture's)
            self.say(f"instance {number}: {counted(len(lost) + proxy.lost, 'frame')} for it could not be delivered ({lost[-1]}); "
                     f"recorded with the comment \"not delivered\"", "warning")
        if proxy.senders_problem and not proxy.instance_gone:
            self.say(f"instance {number}: {proxy.senders_problem} while its name went back "
                     f"(a frame it sent just then may have been overtaken)", "warning")
        if proxy.sealed is False and not proxy.instance_gone and not proxy.stalled:
            self.say(f"instance {number}: its peers could not be held while its name went back "
                     f"(a frame sent just then may have been overtaken)", "warning")
        comment = None
        if why != "capture stopped":
            self.down.add(number)
            self.say(f"instance {number} {why}: detached", "info")
            comment = f"{_clock_text()}: instance {number} {why}"
        self._outcomes.append(Detached(number, settled, comment))

    def _take_over_senders(self) -> None:
        """Turn the peers' connections to the instances just attached to our sockets (see takeover.py)."""
        proxies = [proxy for proxy in self._to_take_over if self.proxies.get(proxy.instance) is proxy]
        self._to_take_over.clear()
        items = []
        for proxy in proxies:
            real = proxy.lab.lstat(proxy.paths.real_name)
            if real is not None and real.st_ino == proxy.instance_inode:
                items.append((proxy, real))
        if not items:
            return
        # Connected to our socket through the open directory, with the lab owner's rights (see labdir.py);
        # pidfd_getfd and ptrace go by our real ids, which stay root's.
        with acting_as(items[0][0].lab.owner):
            taken = takeover.take_over_all([(real, proxy.lab.address(proxy.paths.socket_name))
                                            for proxy, real in items])
        for (proxy, _), senders in zip(items, taken):
            proxy.senders = senders
            self._say_senders(proxy.instance, proxy)

    def _say_senders(self, number: int, proxy: relay.Proxy) -> None:
        """Peers that send to the instance through a connection we could not take over: said once, marked."""
        senders = proxy.senders
        if senders.unknown and not self._diag_said:
            self._diag_said = True
            self.say(oneway.unknown_text(senders.unknown), "warning")
        if not senders.refused:
            self.one_way.discard(number)
            return
        self.one_way.add(number)
        who = ", ".join(refusal.who() for refusal in senders.refused)
        self._outcomes.append(Commented(number, oneway.comment_text(number, who)))
        if number not in self._one_way_said:
            self._one_way_said.add(number)
            self.say(oneway.refused_text(number, who, senders.refused[0].reason), "warning")

    def _bury(self, number: int) -> None:
        """The instance died without cleaning up: do it for it, as repair would."""
        proxy = self.proxies.pop(number)
        self._unregister(proxy)
        handover, proxy.handover = proxy.handover, None
        settled, undelivered = [], 0
        if handover is not None and handover.datagrams:  # what the stop sent on before the instance was found dead
            settled.append(Settled(handover.datagrams, handover.times, handover.reasons))
            undelivered = sum(reason is not None for reason in handover.reasons)
        lost, times = relay.bury(proxy)
        if lost:
            settled.append(Settled(lost, times, [f"instance {number} is down"] * len(lost)))
        self.down.add(number)
        total = proxy.lost + undelivered + len(lost)
        extra = f"; {counted(total, 'frame')} for it could not be delivered" if total else ""
        self.say(f"instance {number} died (killed?); removed its socket and lock file{extra}", "warning")
        self._outcomes.append(Buried(number, tuple(settled), f"{_clock_text()}: instance {number} died"))

    # -- the selector ---------------------------------------------------------------------
    def listen(self, proxy: relay.Proxy) -> None:
        """Read what peers send to this instance."""
        self.selector.register(proxy.listener, selectors.EVENT_READ, (Wakeup.LISTENER, proxy))

    def pause_reading(self, proxy: relay.Proxy) -> None:
        """The instance's queue is full: stop reading for it until it has room again."""
        self.selector.unregister(proxy.listener)
        self.selector.register(proxy.forwarder, selectors.EVENT_WRITE, (Wakeup.FORWARDER, proxy))

    def resume_reading(self, proxy: relay.Proxy) -> None:
        """What was held for it is delivered: read for it again."""
        self.selector.unregister(proxy.forwarder)
        self.listen(proxy)

    def _unregister(self, proxy: relay.Proxy) -> None:
        for sock in (proxy.listener, proxy.forwarder):
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass
