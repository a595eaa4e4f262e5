"""The capture: one selectors loop that relays, records, watches and reports.

Everything that happens arrives through one selector: datagrams on our
sockets, instance queues draining (backpressure), inotify events, and signals
(through ``signal.set_wakeup_fd``).  Timers (flush, liveness, dashboard,
duration) are deadlines the loop computes its select timeout from.
:class:`Capture` is the composition root: it makes the parts and joins them.
The recording (deferred frames, the output file, the ring) is
:class:`~pcapng_iou.shell.recording.Recording`; what to do about each
instance is decided by :mod:`pcapng_iou.core.lifecycle` and applied by
:class:`~pcapng_iou.shell.instances.Instances`, which returns what it did
(:mod:`pcapng_iou.core.outcomes`) for the capture to record and learn from;
what a reload does is decided by :func:`pcapng_iou.core.reload.decide_reload`.
Everything said goes through one :class:`~pcapng_iou.shell.log.Log`.

Promise: the lab keeps working whatever happens here.  Every socket we took
is given back on every way out (the ``finally`` in :meth:`Capture.run`).
"""
from __future__ import annotations

import dataclasses
import gc
import os
import selectors
import signal
import time
from typing import Callable, Optional

from pcapng_iou.core import oneway
from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.core.outcomes import Attached, Outcome
from pcapng_iou.core.recorder import Recorder
from pcapng_iou.core.redraw import redraw_interval
from pcapng_iou.core.reload import ReloadStep, change_notes, decide_reload
from pcapng_iou.core.spin import DEFAULT_SPIN_US, SpinBudget
from pcapng_iou.core.status import CaptureStatus, Event
from pcapng_iou.core.words import counted
from pcapng_iou.exitstatus import ExitStatus
from pcapng_iou.shell import netiodir, netmapfile, preflight
from pcapng_iou.shell.attach_hint import NothingAttachedHint
from pcapng_iou.shell.capture_options import CaptureError, CaptureOptions, Ending, StopReason
from pcapng_iou.shell.fdlimit import FdBudget
from pcapng_iou.shell.hotpath import HotPath
from pcapng_iou.shell.instances import Instances, PathTooLongError
from pcapng_iou.shell.labpresence import LabPresence
from pcapng_iou.shell.learning import Learning
from pcapng_iou.shell.log import Log
from pcapng_iou.shell.output import OutputError
from pcapng_iou.shell.poller import Poller, Wakeup
from pcapng_iou.shell.privileges import drop_supplementary_groups
from pcapng_iou.shell.recording import Recording, new_recorder
from pcapng_iou.shell.signals import SignalInbox, has_controlling_terminal
from pcapng_iou.shell.watcher import DirectoryWatcher

FLUSH_INTERVAL_S = 1.0
LIVENESS_INTERVAL_S = 1.0
DIR_POLL_INTERVAL_S = 1.0
#: Relayed frames are recorded once the lab has been quiet this long (seconds; epoll counts milliseconds), or
#: once RECORD_DEFERRED_FRAMES wait, or once the oldest has waited RECORD_DEFERRED_NS (shell/recording).
RECORD_IDLE_S = 0.001
#: Signals that stop the capture; one more while it stops makes it wait for nothing (see :meth:`Capture.hurried`).
#: Besides Ctrl-C and kill, those whose default would end the process at once and leave the lab without its
#: sockets (``kill -ALRM``, a CPU limit reached...): they stop it cleanly instead.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF,
                signal.SIGIO, signal.SIGPWR, signal.SIGXCPU)
#: As with tcpdump: SIGUSR1 says how many frames so far, SIGUSR2 writes out what is buffered.
COUNT_SIGNAL, FLUSH_SIGNAL = signal.SIGUSR1, signal.SIGUSR2
#: What the loop finds for a file unregistered after the wait reported it ready.
UNREGISTERED = (None, None)


class Capture:
    """One capture of one netio directory: makes the parts, joins them, and runs the loop (:meth:`run`)."""

    def __init__(self, options: CaptureOptions, say: Callable[[Event], None] = lambda event: None,
                 netmap: Optional[netmap_mod.Netmap] = None):
        #: ``-d`` as given when it is a symbolic link: the folder it names is the one captured (the directory
        #: is watched without following links, so that one put in its place later is never followed).
        self.netio_link: Optional[str] = None
        if os.path.islink(options.netio_dir) and os.path.isdir(options.netio_dir):
            self.netio_link = options.netio_dir
            options = dataclasses.replace(options, netio_dir=os.path.realpath(options.netio_dir))
        self.options = options
        #: The one log: the capture and every part say things through it.
        self.log = Log(say)
        self.say = self.log.say
        self.events = self.log.events
        self.ending = Ending()
        self.netmap = netmap if netmap is not None else self._load_netmap()
        self.learning = Learning(options.netio_dir, options.netmap_path, self.say, options.netmap_here)
        self.selector = Poller()
        self.recording = Recording(options, new_recorder(options, self.netmap, {},
                                                         self.learning.names(options.router_names)),
                                   self.selector, self.ending, self.say)
        self.instances = Instances(options.netio_dir, options.instances, self.selector, self.say, self.hurried)
        self.hint = NothingAttachedHint(options.netio_dir, options.instances, self.say)
        self.hot_path = HotPath(self.recording, self.instances, self._settle)
        self.presence = LabPresence(options.netio_dir, self.instances, self.hint, self.say, self._settle,
                                    self.recording.record_deferred)
        self.watcher = None
        self.guard = netiodir.DirectoryGuard(options.netio_dir)
        self.started_ns = self.recording.started_ns
        self.on_tick: Optional[Callable[[CaptureStatus], None]] = None
        #: Called once the sockets are back, just before the output is closed: what must reach the output's
        #: reader before the end of the capture does (the extcap's last words to Wireshark).
        self.on_closing: Optional[Callable[[], None]] = None
        self.signals = SignalInbox((*STOP_SIGNALS, signal.SIGHUP, COUNT_SIGNAL, FLUSH_SIGNAL))
        self.fds: Optional[FdBudget] = None
        #: The output file was removed at the end: the netio directory never appeared, so nothing was captured.
        self.output_removed = False
        self._set_loop_state()

    def _set_loop_state(self) -> None:
        options = self.options
        self._hurry = False
        self._stop_on_hangup = False
        # The loop's timers (monotonic clock).
        self._deadline: Optional[float] = None
        self._next_flush = self._next_liveness = self._next_tick = self._next_timer = 0.0
        self._deferred, self._record_deferred = self.recording.deferred, self.recording.record_deferred
        #: What --spin may still spend (see _loop).
        self.spin_budget = SpinBudget(time.monotonic(), options.spin_share, options.spin_burst_s)

    # -- the parts, as others see them ----------------------------------------------------------
    @property
    def stop(self) -> Optional[StopReason]:
        return self.ending.reason

    @stop.setter
    def stop(self, reason: Optional[StopReason]) -> None:
        self.ending.reason = reason

    @property
    def recorder(self) -> Recorder:
        return self.recording.recorder

    @property
    def output(self):
        return self.recording.output

    # -- what the instances did -------------------------------------------------------------
    def _settle(self, outcomes: list[Outcome]) -> None:
        """Put to use what following the instances came to, in order: learn, record, comment."""
        recording = self.recording
        for outcome in outcomes:
            if isinstance(outcome, Attached):
                # Zero configuration: learn its bays and NETMAP.
                recording.record_deferred()
                recording.write(self.learning.attached(outcome.instance, self.recorder, outcome.clock_text))
                recording.report_warnings()
            else:
                for settled in outcome.settled:
                    recording.record(settled.datagrams, settled.times, settled.reasons)
            if outcome.comment is not None:
                recording.annotate(outcome.instance, outcome.comment)

    def _load_netmap(self) -> netmap_mod.Netmap:
        path = self.options.netmap_path
        if path is None or not os.path.exists(path):
            return netmap_mod.Netmap()  # (a -n file that is not there yet is read on kill -HUP)
        return netmapfile.read(path)

    def _learn_at_start(self) -> None:
        """Ask the running instances (bays, NETMAP files) before the interface blocks are written."""
        netmap, bays = self.learning.at_capture_start(self.options.netmap_path, len(self.netmap))
        if netmap is not None:
            self.netmap = netmap
        if netmap is not None or any(layout is not None for layout in bays.values()):
            self.recording.recorder = new_recorder(self.options, self.netmap, bays,
                                                   self.learning.names(self.options.router_names))
        if self.options.instances:  # -i: their peers' sockets too, to see both directions of their links
            self.instances.wanted = self.recorder.links.selection.sockets_to_take(self.netmap,
                                                                                  self.learning.drawing)

    # -- set-up and tear-down -------------------------------------------------------
    def run(self) -> int:
        """Capture until stopped; return the exit status."""
        drop_supplementary_groups()  # as root: no group of root's opens a lab's file for us (see privileges)
        try:
            self._set_up()
            self._loop()
        except CaptureError as err:
            self.stop = StopReason(str(err), err.status)
        except PathTooLongError as err:
            # Its frames could never be recorded: stop, as when the directory was too deep at the start.
            self.stop = StopReason(f"{err}; use a netio directory with a shorter path", ExitStatus.ERROR)
        finally:
            self._tear_down()
        status = self.stop.status if self.stop else ExitStatus.OK
        if self.instances.not_given_back and status == ExitStatus.OK:
            return ExitStatus.ERROR  # a socket the lab needs is not where it was: the capture did not end well
        return status

    def _set_up(self) -> None:
        directory = self.options.netio_dir
        if self.netio_link is not None:
            self.say(f"netio directory {self.netio_link} is a link to {directory}: capturing there")
        preflight.check_directory(directory, self.options.wait_for_dir, self.instances.is_wanted)
        try:
            self.guard.acquire()
        except netiodir.AlreadyCapturing as err:
            raise CaptureError(str(err)) from None
        self._open_output()
        self.recording.write(self.recorder.start())
        if self.stop is not None:
            return  # the file takes nothing (-f showed it at once): do not touch the lab at all
        self.recording.watch_pipe()
        self.recording.report_warnings()
        self._warn_if_empty(self.netmap)
        self.signals.install()
        # SIGHUP reloads the NETMAP, but when it comes because our terminal was closed, nobody would be left
        # to stop us: then it stops the capture, as it would any program (not under nohup).
        self._stop_on_hangup = signal.SIGHUP not in self.signals.ignored_before and has_controlling_terminal()
        self.selector.register(self.signals.fileno(), selectors.EVENT_READ, (Wakeup.SIGNAL, None))
        self.watcher = self.presence.watcher = DirectoryWatcher(directory)
        self.selector.register(self.watcher.fileno(), selectors.EVENT_READ, (Wakeup.INOTIFY, None))
        self._say_started()
        self.fds = self.instances.fds = FdBudget()
        if self.fds.error:
            self.say(self.fds.error, "warning")
        self.presence.enter(first=True)

    def _open_output(self) -> None:
        """Learn what the lab tells, then open the output; an output that cannot be opened is the one thing said."""
        self.log.hold()
        try:
            self._learn_at_start()  # first: it finds the lab's NETMAP files, which -w must not overwrite
            preflight.refuse_output_over_the_lab(self.options.output, self.options.netio_dir,
                                                 self.learning.sources.found.items())
            try:
                self.recording.output = self.recording.open_file()
            except OutputError as err:
                raise CaptureError(str(err)) from None
        except CaptureError:
            self.log.drop()  # the error alone is said
            raise
        self.log.release()

    def _say_started(self) -> None:
        options, pid = self.options, os.getpid()
        self.say(f"capturing {options.netio_dir} into {self.output.display} (pid {pid}; "
                 f"reload NETMAP with: kill -HUP {pid}; stop with Ctrl-C or kill {pid})")
        if options.limits.ring:
            self.say(f"ring buffer: {options.limits.describe()}")
        if options.spin_us != DEFAULT_SPIN_US:
            self.say(f"--spin {options.spin_us}: " + (
                f"polling {options.spin_us} us after each datagram before sleeping" if options.spin_us
                else "sleeping as soon as nothing waits (more latency, less CPU)"))

    def _tear_down(self) -> None:
        if self.output is not None:
            self._record_deferred()  # relayed before anything that detaching drains
        self._settle(self.instances.give_back_all())
        self.instances.forget_all()  # (closes the directory held open)
        if self.on_closing is not None:
            self.on_closing()
        if self.output is not None:
            # Waited for a netio directory that never came: a file of headers only is of no use.
            self.output_removed = self.recording.close(keep=self.presence.ever_present)
        if self.watcher is not None:
            self.watcher.close()
        self.signals.restore()
        self.guard.release()
        self.selector.close()

    def _warn_if_empty(self, netmap: netmap_mod.Netmap) -> None:
        path = self.options.netmap_path
        if path is not None and not len(netmap) and os.path.exists(path):
            self.say(f"{self.options.netmap_path}: no links in it (empty, or only comments); "
                     f"links are learnt from the frames", "warning")
        for note in netmap_mod.lone_endpoint_notes(netmap):
            self.learning.say_once(note)

    # -- the loop -------------------------------------------------------------
    def _loop(self) -> None:
        """Wait, relay, record; the timers run when they are due.

        Every pass costs the frame that woke it, so a pass does little: one
        clock read (two with ``--spin``), one epoll wait, the handler of what is ready.  Relayed
        frames are recorded when the lab is quiet for :data:`RECORD_IDLE_S`,
        or when :data:`~pcapng_iou.shell.recording.RECORD_DEFERRED_FRAMES` wait or the oldest waited
        :data:`~pcapng_iou.shell.recording.RECORD_DEFERRED_NS`, whichever comes first.
        With ``spin_us`` (``--spin``), a pass that handled something (a
        datagram, mostly) is followed by that long of looking again (epoll with
        no wait), counted from the end of the pass, before the loop sleeps; the
        quiet moment that records deferred frames starts after it.  The time spent
        looking draws on a :class:`~pcapng_iou.core.spin.SpinBudget`, settled
        when the timers run; once it is spent, the loop sleeps at once.
        """
        # What start-up made lives as long as the capture: keep the collector from walking it again and again.
        gc.freeze()
        self._start_timers(time.monotonic())
        monotonic, wait, data_of, deferred = time.monotonic, self.selector.wait, self.selector.data_of, self._deferred
        spin_s, spin_until, yield_cpu, listener = self.options.spin_us / 1e6, 0.0, os.sched_yield, Wakeup.LISTENER
        ending, hot_path, relay_for, drain = self.ending, self.hot_path, self.hot_path.relay, self.hot_path.drain
        forwarder = Wakeup.FORWARDER
        # Spinning is counted in ``spun`` and charged to the budget when the timers run.
        spin_left, spun, armed_at = self.spin_budget.left, 0.0, 0.0
        while ending.reason is None:
            now = monotonic()
            if now >= self._next_timer:
                self._timers(now)
                spin_left, spun = self.spin_budget.settle(now, spun), 0.0
                if ending.reason is not None:
                    break
            if now < spin_until:
                # --spin: something came moments ago and its answer is likely on its way.  Looking
                # again costs less time than sleeping and being woken (tens of us on a virtual machine).
                events = wait(0)
                if not events:
                    yield_cpu()  # a process waiting for this CPU (a router) goes first
                    continue
                spun += now - armed_at
            else:
                if spin_until:  # looked for the whole window and found nothing
                    spun += spin_s
                    spin_until = 0.0
                timeout = self._next_timer - now
                events = wait(RECORD_IDLE_S if deferred and timeout > RECORD_IDLE_S else timeout if timeout > 0 else 0)
                if not events:
                    if deferred:
                        self._record_deferred()  # quiet: the moment to record
                    continue
            hot_path.turn += 1
            for fd, _ in events:
                kind, target = data_of(fd, UNREGISTERED)
                if kind is listener:
                    relay_for(target)
                elif kind is forwarder:
                    drain(target)  # (what the instance takes now is deferred after what waits: no need to record first)
                elif kind is not None:
                    self._record_deferred()  # anything else may change what the next frames are recorded as
                    self._on_event(kind, target)
                if ending.reason is not None:
                    break
            if spin_s:  # (armed, and the clock read, only while the budget lasts)
                spin_until = (armed_at := monotonic()) + spin_s if spun < spin_left else 0.0
        self.spin_budget.settle(monotonic(), spun)
        self._record_deferred()

    def _start_timers(self, now: float) -> None:
        self._deadline = now + self.options.duration if self.options.duration else None
        self._next_flush = now + FLUSH_INTERVAL_S
        self._next_liveness = now + LIVENESS_INTERVAL_S
        self._next_tick = now
        self._timers(now)

    def _on_event(self, kind: Wakeup, target) -> None:
        if kind is Wakeup.INOTIFY:
            self._on_inotify()
        elif kind is Wakeup.SIGNAL:
            self._on_wakeup()
        elif kind is Wakeup.OUTPUT:
            self.recording.on_output_ready()

    def _timers(self, now: float) -> None:
        """Run what is due and set :attr:`_next_timer` to the next moment something will be."""
        self._record_deferred()
        if self.recorder.held:  # (frames waiting for a far end's name whose wait is over)
            self.recording.write(self.recorder.release_held(time.time_ns()))
        if self._deadline is not None and now >= self._deadline:
            self.stop = StopReason(f"duration of {self.options.duration:g} s reached")
            return
        file_deadline = self.recording.file_deadline
        if file_deadline is not None and now >= file_deadline:
            self.recording.file_full()
            if self.stop is not None:
                return
        if now >= self._next_flush:
            self.recording.flush()
            self._next_flush = now + FLUSH_INTERVAL_S
        if now >= self._next_liveness:
            if self.presence.present:
                self._settle(self.instances.check())
                self.hint.check(self.instances.ever_attached, self.instances.lab)
            elif os.path.isdir(self.options.netio_dir):
                self.presence.enter()
            self._next_liveness = now + (LIVENESS_INTERVAL_S if self.presence.present else DIR_POLL_INTERVAL_S)
        if self.on_tick is not None and now >= self._next_tick:
            cpu = time.thread_time()
            self.on_tick(self.status())
            # A dashboard of thousands of links costs tens of ms: it is redrawn less often, not the relay slowed.
            self._next_tick = now + redraw_interval(time.thread_time() - cpu)
        due = [self._next_flush, self._next_liveness]
        if self.on_tick is not None:
            due.append(self._next_tick)
        due.extend(moment for moment in (self._deadline, self.recording.file_deadline) if moment is not None)
        self._next_timer = min(due)

    def _on_wakeup(self) -> None:
        for signum in self.signals.take():
            if signum == signal.SIGHUP and self._stop_on_hangup and not has_controlling_terminal():
                if self.stop is None:
                    self.stop = StopReason("stopped by SIGHUP: the terminal was closed")
            elif signum == signal.SIGHUP:
                self.reload()
            elif signum == COUNT_SIGNAL:
                self._say_counts()
            elif signum == FLUSH_SIGNAL:
                self.recording.flush()
            elif self.stop is None:
                self.stop = StopReason(f"stopped by {signal.Signals(signum).name}")
            else:
                self._hurry = True

    def _say_counts(self) -> None:
        status = self.status()
        self.say(f"{counted(status.frames_recorded, 'frame')} recorded ({status.output_bytes} bytes written to "
                 f"{status.output}), {counted(status.datagrams_relayed, 'datagram')} relayed, {status.undelivered} "
                 f"not delivered; {counted(len(status.instances_attached), 'instance')} attached, "
                 f"{status.elapsed_s:.0f} s")

    def hurried(self) -> bool:
        """Whether a stop signal came again once the capture was stopping: then it waits for nothing."""
        return self._hurry or any(signum in STOP_SIGNALS for signum in self.signals.peek())

    def _on_inotify(self) -> None:
        changes = self.watcher.read()
        if changes.directory_gone:
            self.presence.gone()
            return
        if changes.directory_appeared and not self.presence.present:
            self.presence.enter()
            return
        if changes.overflow:
            self._settle(self.instances.rescan())
            return
        numbers = {netiodir.instance_of(name) for name in changes.names}
        for number in sorted(n for n in numbers if n is not None):
            self._settle(self.instances.reconcile(number))

    # -- reload ---------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read NETMAP (keeping the old map if a file in use is broken) and rescan the directory."""
        when = time.strftime("%Y-%m-%d %H:%M:%S")
        appeared = self.learning.look_here_appeared()
        if appeared is not None:
            self.say(f"reload: found {appeared}: using it, and only it, from now on")
            self.options.netmap_path = appeared
            self.learning.use_fixed(appeared)
        data, merged, errors = self.learning.reload(sorted(self.instances.proxies), self.recorder, when)
        self.recording.write(data)
        fixed = fixed_error = None
        if self.options.netmap_path is not None:
            try:
                fixed = netmapfile.read(self.options.netmap_path)
                self._warn_if_empty(fixed)
            except netmap_mod.NetmapError as err:
                fixed_error = err
        plan = decide_reload(self.options.netmap_path is not None, fixed, fixed_error, errors,
                             merged.netmap() if merged is not None else None, len(self.netmap))
        if plan.merged:
            self.say(self.learning.sources.summary(merged))
        if plan.step is ReloadStep.REFUSE:
            self.say(f"reload refused, keeping the previous NETMAP: {plan.errors[0]}", "error")
            for err in plan.errors[1:]:
                self.say(f"reload refused, also: {err}", "error")
        elif plan.step is ReloadStep.USE:
            self._use_netmap(plan.netmap, when)
        else:
            self.say(f"reload: no NETMAP in use ({self.learning.nowhere()}); rescanning the netio directory")
        self.recording.report_warnings()
        if self.presence.present:
            self._settle(self.instances.rescan())

    def _use_netmap(self, netmap: netmap_mod.Netmap, when: str) -> None:
        data, result = self.recorder.reload(netmap, when)
        self.recording.write(data)
        self.netmap = netmap
        self.recorder.links.warn_unmapped = len(netmap) > 0
        self.say(f"NETMAP reloaded: {result.summary()}")
        for note in change_notes(result):
            self.say(note)

    # -- status -------------------------------------------------------------------
    def status(self) -> CaptureStatus:
        recorder, recording, output = self.recorder, self.recording, self.output
        return CaptureStatus(
            output=output.display if output else self.options.output,
            pid=os.getpid(),
            started_ns=self.started_ns,
            now_ns=time.time_ns(),
            output_bytes=output.written if output else 0,
            interfaces=recorder.links.interfaces,
            instances_attached=sorted(self.instances.proxies),
            instances_down=sorted(self.instances.down),
            frames_recorded=recorder.frames_recorded,
            datagrams_relayed=recording.datagrams_relayed,
            datagrams_malformed=recorder.datagrams_malformed + recorder.datagrams_empty,
            undelivered=recorder.undelivered + recording.counts.undelivered,
            datagrams_unrecorded=recorder.shared_copies + recorder.frames_skipped + recording.counts.datagrams,
            events=self.events,  # (the last EVENT_LOG_SIZE of shell/log: a tall terminal shows as many as fit)
            netio_dir=self.options.netio_dir,
            netmap=self.learning.sources.describe(),
            one_way=oneway.one_way_links(recorder.links.interfaces, self.instances.one_way),
        )
