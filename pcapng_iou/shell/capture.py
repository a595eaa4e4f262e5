"""The capture: one selectors loop that relays, records, watches and reports.

Everything that happens arrives through one selector: datagrams on our
sockets, instance queues draining (backpressure), inotify events, and signals
(through ``signal.set_wakeup_fd``).  Timers (flush, liveness, dashboard,
duration) are deadlines the loop computes its select timeout from.  The
recording is done by the pure :class:`~pcapng_iou.core.recorder.Recorder`
(one way in: :meth:`Capture.record`), what to do about each instance is
decided by :mod:`pcapng_iou.core.lifecycle` and applied by
:class:`~pcapng_iou.shell.instances.Instances`.

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

from pcapng_iou.core import linktypes, netio
from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.core.lifecycle import Moment
from pcapng_iou.core.recorder import Recorder
from pcapng_iou.core.ring import FileSeries
from pcapng_iou.core.selection import LinkSelection
from pcapng_iou.core.spin import DEFAULT_SPIN_US, SpinBudget
from pcapng_iou.core.status import CaptureStatus, Event
from pcapng_iou.core.words import counted
from pcapng_iou.exitstatus import ExitStatus
from pcapng_iou.shell import netiodir, netmapfile, relay, repair
from pcapng_iou.shell.capture_options import CaptureError, CaptureOptions, StopReason
from pcapng_iou.shell.fdlimit import FdBudget
from pcapng_iou.shell.instances import Instances, PathTooLongError
from pcapng_iou.shell.learning import Learning
from pcapng_iou.shell.output import PIPE_FINAL_PATIENCE_S, CaptureFile, OutputError, open_next_file
from pcapng_iou.shell.poller import HANG_UP_ONLY, Poller
from pcapng_iou.shell.signals import SignalInbox, has_controlling_terminal
from pcapng_iou.shell.watcher import DirectoryWatcher

FLUSH_INTERVAL_S = 1.0
LIVENESS_INTERVAL_S = 1.0
DASHBOARD_INTERVAL_S = 0.25
#: The dashboard waits this many times what its last redraw cost: at most about 5 % of a CPU.
DASHBOARD_COST_FACTOR = 20
DIR_POLL_INTERVAL_S = 1.0
#: With nothing attached this long after the start, say once what to check.
NOTHING_ATTACHED_HINT_S = 5.0
#: Most datagrams read from one socket before they are sent on and the loop looks at the
#: others (fairness).  The kernel queues at most net.unix.max_dgram_qlen + 1 (often 11) for us.
READ_BATCH = 64
#: Relayed frames are recorded once the lab has been quiet this long (seconds; epoll counts milliseconds) ...
RECORD_IDLE_S = 0.001
#: ... or once this many wait ...
RECORD_HELD_FRAMES = 2048
#: ... or once the oldest has waited this long (ns): the recording is never further behind the relay.
RECORD_HELD_NS = 50_000_000
EVENT_LOG_SIZE = 200
#: Signals that stop the capture; one more while it stops makes it wait for nothing (see :meth:`Capture.hurried`).
#: Besides Ctrl-C and kill, those whose default would end the process at once and leave the lab without its
#: sockets (``kill -ALRM``, a CPU limit reached...): they stop it cleanly instead.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF,
                signal.SIGIO, signal.SIGPWR, signal.SIGXCPU)
#: As with tcpdump: SIGUSR1 says how many frames so far, SIGUSR2 writes out what is buffered.
COUNT_SIGNAL, FLUSH_SIGNAL = signal.SIGUSR1, signal.SIGUSR2
NO_LIMIT = float("inf")
#: What the loop finds for a file unregistered after the wait reported it ready.
UNREGISTERED = (None, None)
#: Most bytes a frame's block adds to the frame (header, padding, flags, end of options, trailer).
BLOCK_OVERHEAD = 48


class Capture:
    def __init__(self, options: CaptureOptions, say: Callable[[Event], None] = lambda event: None,
                 netmap: Optional[netmap_mod.Netmap] = None):
        #: ``-d`` as given when it is a symbolic link: the folder it names is the one captured (the directory
        #: is watched without following links, so that one put in its place later is never followed).
        self.netio_link: Optional[str] = None
        if os.path.islink(options.netio_dir) and os.path.isdir(options.netio_dir):
            self.netio_link = options.netio_dir
            options = dataclasses.replace(options, netio_dir=os.path.realpath(options.netio_dir))
        self.options = options
        self.say_to = say
        self.netmap = netmap if netmap is not None else self._load_netmap()
        self.learning = Learning(options.netio_dir, options.netmap_path, self.say, options.netmap_here)
        self.recorder = self._new_recorder({})
        self.events: list[Event] = []
        self.selector = Poller()
        self.instances = Instances(options.netio_dir, options.instances, self.selector, self)
        self.output: Optional[CaptureFile] = None
        self.watcher = None
        self.guard = netiodir.DirectoryGuard(options.netio_dir)
        self.started_ns = time.time_ns()
        self.datagrams_relayed = 0
        self.stop: Optional[StopReason] = None
        self.on_tick: Optional[Callable[[CaptureStatus], None]] = None
        self.signals = SignalInbox((*STOP_SIGNALS, signal.SIGHUP, COUNT_SIGNAL, FLUSH_SIGNAL))
        self._hurry = False
        #: Whether the output is watched for room (a pipe's reader has not taken all that was written).
        self._watching_room = False
        self._dir_present = False
        self._stop_on_hangup = False
        self.fds: Optional[FdBudget] = None
        self.files = FileSeries(options.output, options.limits)
        #: A file that reaches this size is followed by the next one (or stops the capture): one comparison a frame.
        self._switch_at = NO_LIMIT if options.limits.file_bytes is None else options.limits.file_bytes
        self._file_deadline: Optional[float] = None
        self._ever_present = False
        self._hint_due: Optional[float] = None
        #: The output file was removed at the end: the netio directory never appeared, so nothing was captured.
        self.output_removed = False
        # The loop's timers (monotonic clock) and its pass count (see _relay).
        self._deadline: Optional[float] = None
        self._next_flush = self._next_liveness = self._next_tick = self._next_timer = 0.0
        self._turn = 0
        #: Relayed, delivered, not yet recorded (see _loop): the datagrams and when each was read.
        self._held: list = []
        self._held_times: list = []
        #: Flushing every frame asks for every frame at once: nothing is held then.
        self._hold = not options.flush_each
        #: While set, what is said waits here (what the start learns is said once the output is open: an
        #: output that cannot be opened is the one thing said).
        self._said_later: Optional[list] = None
        #: What --spin may still spend (see _loop).
        self.spin_budget = SpinBudget(time.monotonic(), options.spin_share, options.spin_burst_s)

    # -- messages -------------------------------------------------------------
    def say(self, text: str, level: str = "info") -> None:
        event = Event(time.time_ns(), text, level)
        self.events.append(event)
        del self.events[:-EVENT_LOG_SIZE]
        if self._said_later is not None:
            self._said_later.append(event)
        else:
            self.say_to(event)

    def note(self, instance: int, text: str) -> None:
        """A packet comment for the next frame of each link of ``instance``."""
        self._record_held()  # the frames held came before it
        self.recorder.note(instance, text)

    def attached(self, instance: int, clock_text: str) -> None:
        """``instance`` was just attached: learn its bays and NETMAP (zero configuration)."""
        self._record_held()
        self._write(self.learning.attached(instance, self.recorder, clock_text))
        self._report_warnings()

    def _load_netmap(self) -> netmap_mod.Netmap:
        path = self.options.netmap_path
        if path is None or not os.path.exists(path):
            return netmap_mod.Netmap()  # (a -n file that is not there yet is read on kill -HUP)
        return netmapfile.read(path)

    def _new_recorder(self, bays: dict) -> Recorder:
        options = self.options
        recorder = Recorder(self.netmap, options.default_linktype, options.auto_linktype, options.comment,
                            options.snaplen, LinkSelection.of(options.links, options.instances), bays,
                            reload_hint=f"kill -HUP {os.getpid()}",
                            limit=options.count, drawing=self.learning.names(options.router_names))
        recorder.links.warn_unmapped = len(self.netmap) > 0
        return recorder

    def _learn_at_start(self) -> None:
        """Ask the running instances (bays, NETMAP files) before the interface blocks are written."""
        path = self.options.netmap_path
        if path is not None and not os.path.exists(path):
            self.say(f"NETMAP {path} does not exist (yet): kill -HUP {os.getpid()} reads it once it is there",
                     "warning")
        try:
            names = os.listdir(self.options.netio_dir)
        except OSError:
            names = []
        # Every running instance, not only those -i asks for: the links of those run to the others, whose
        # bays decide their link types too, and whose folders hold the same lab's NETMAP.
        numbers = sorted(n for n in map(netiodir.instance_id, names) if n is not None)
        netmap, bays = self.learning.at_start(numbers)
        if netmap is not None:
            self.netmap = netmap
        elif path is not None and len(self.netmap):
            shown = path if os.sep in path else os.curdir + os.sep + path  # not "NETMAP NETMAP: ..."
            self.say(f"NETMAP {shown}: {counted(len(self.netmap), 'line')}")
        if netmap is not None or any(layout is not None for layout in bays.values()):
            self.recorder = self._new_recorder(bays)  # (nothing is written yet: built again, not changed)
        if self.options.instances:  # -i: their peers' sockets too, to see both directions of their links
            self.instances.wanted = self.recorder.links.selection.sockets_to_take(self.netmap,
                                                                                  self.learning.drawing)

    # -- set-up and tear-down -------------------------------------------------------
    def run(self) -> int:
        """Capture until stopped; return the exit status."""
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
        return self.stop.status if self.stop else ExitStatus.OK

    def _set_up(self) -> None:
        directory = self.options.netio_dir
        if self.netio_link is not None:
            self.say(f"netio directory {self.netio_link} is a link to {directory}: capturing there")
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise CaptureError(f"{directory} is not a directory (give -d the netio directory, where the instances' "
                               "sockets are)")
        if not os.path.isdir(directory) and not self.options.wait_for_dir:
            raise CaptureError(f"netio directory {directory} does not exist (is IOU running as this user?)")
        self._check_socket_paths()
        if os.path.isdir(directory):
            self._check_permission(directory)  # before the output file is made
        try:
            self.guard.acquire()
        except netiodir.AlreadyCapturing as err:
            raise CaptureError(str(err)) from None
        self._said_later = []
        try:
            self._learn_at_start()  # first: it finds the lab's NETMAP files, which -w must not overwrite
            self._refuse_output_over_the_lab()
            try:
                self.output = self._open_file()
            except OutputError as err:
                raise CaptureError(str(err)) from None
        except CaptureError:
            self._said_later = None  # the error alone is said
            raise
        said, self._said_later = self._said_later, None
        for event in said:
            self.say_to(event)
        self._write(self.recorder.start())
        if self.stop is not None:
            return  # the file takes nothing (-f showed it at once): do not touch the lab at all
        if self.output.is_pipe:
            # The write end of a pipe polls "error" once its last reader is gone, a socket "hang-up": we hear of
            # it even while the lab is quiet and there is nothing to write.  Only that: a socket's reader may
            # send us something or shut its own sending side down (socat and nc do at their input's end).
            # What its reader does not take yet waits in memory: then we watch for room too (_watch_output).
            self.selector.register(self.output.fileno(), HANG_UP_ONLY, ("output", None))
        self._report_warnings()
        self._warn_if_empty(self.netmap)
        self.signals.install()
        # SIGHUP reloads the NETMAP, but when it comes because our terminal was closed, nobody would be left
        # to stop us: then it stops the capture, as it would any program (not under nohup).
        self._stop_on_hangup = signal.SIGHUP not in self.signals.ignored_before and has_controlling_terminal()
        self.selector.register(self.signals.fileno(), selectors.EVENT_READ, ("signal", None))
        self.watcher = DirectoryWatcher(directory)
        self.selector.register(self.watcher.fileno(), selectors.EVENT_READ, ("inotify", None))
        pid = os.getpid()
        self.say(f"capturing {directory} into {self.output.display} (pid {pid}; "
                 f"reload NETMAP with: kill -HUP {pid}; stop with Ctrl-C or kill {pid})")
        if self.options.limits.ring:
            self.say(f"ring buffer: {self.options.limits.describe()}")
        if self.options.spin_us != DEFAULT_SPIN_US:
            self.say(f"--spin {self.options.spin_us}: " + (
                f"polling {self.options.spin_us} us after each datagram before sleeping" if self.options.spin_us
                else "sleeping as soon as nothing waits (more latency, less CPU)"))
        self.fds = self.instances.fds = FdBudget()
        if self.fds.error:
            self.say(self.fds.error, "warning")
        self._enter_directory(first=True)

    def _refuse_output_over_the_lab(self) -> None:
        """-w into the netio directory, or over a NETMAP found in an instance's folder, would harm the lab."""
        output = self.options.output
        if output == "-":
            return
        folder = os.path.dirname(os.path.abspath(output))
        if os.path.isdir(self.options.netio_dir) and netiodir.same_file(folder, self.options.netio_dir):
            raise CaptureError(f"-w {output}: that is in the netio directory, among the instances' sockets and "
                               f"lock files; write the capture elsewhere", ExitStatus.USAGE)
        for shown, path in self.learning.sources.found.items():
            if netiodir.same_file(output, path):
                raise CaptureError(f"-w {output}: that file is the lab's NETMAP ({shown}, in an instance's "
                                   f"folder); write the capture elsewhere", ExitStatus.USAGE)

    def _check_socket_paths(self) -> None:
        """Refuse at once a netio directory where we could not bind our sockets (sun_path: 108 bytes).

        Checked for instance 1 (the shortest names) and every instance there now,
        before anything is written or touched.
        """
        directory = self.options.netio_dir
        numbers = [netio.MIN_ID]
        try:
            present = map(netiodir.instance_id, os.listdir(directory))
            numbers += [n for n in present if n is not None and self.instances.is_wanted(n)]
        except OSError:
            pass
        for number in numbers:
            longest = netiodir.Paths(directory, number).longest()
            if len(longest.encode()) > netiodir.MAX_SOCKET_PATH:
                raise CaptureError(f"{longest}: path is longer than the {netiodir.MAX_SOCKET_PATH} bytes a socket "
                                   f"name may have; use a netio directory with a shorter path")

    def _report_warnings(self) -> None:
        for warning in self.recorder.take_warnings():
            self.say(warning, "warning")
        for notice in self.recorder.take_notices():
            self.say(notice)

    def _tear_down(self) -> None:
        if self.output is not None:
            self._record_held()  # relayed before anything that detaching drains
        self.instances.give_back_all()
        if self.output is not None:
            if not self._ever_present and self.output.is_regular:
                # Waited for a netio directory that never came: a file of headers only is of no use.
                self.output.close()
                self.output_removed = self.output.remove()
            else:
                if self.options.statistics:
                    self._write(self.recorder.statistics(time.time_ns(), self.started_ns))
                self._flush()
                self.output.close()
                if self.output.unsent:
                    self.say(f"{self.output.unsent} bytes of the capture never reached the reader of "
                             f"{self.output.display}: it took nothing for {PIPE_FINAL_PATIENCE_S:g} s", "warning")
        if self.watcher is not None:
            self.watcher.close()
        self.signals.restore()
        self.guard.release()
        self.selector.close()

    # -- the files --------------------------------------------------------------
    def _open_file(self) -> CaptureFile:
        if not self.options.limits.active:
            return CaptureFile(self.options.output, self.options.flush_each)
        output, problems = open_next_file(self.files, self.options.flush_each)
        for problem in problems:
            self.say(problem, "warning")
        if self.options.limits.file_seconds is not None:
            self._file_deadline = time.monotonic() + self.options.limits.file_seconds
            self._next_timer = min(self._next_timer, self._file_deadline)
        return output

    def _file_full(self) -> None:
        """The file reached its size or its time: start the next one, or stop (``-a``)."""
        if self.stop is not None:
            return
        if self.files.when_full() == "stop":
            self.stop = StopReason(self.files.stop_reason(), limit_reached=True)
            return
        if self.options.statistics:
            self._write(self.recorder.statistics(time.time_ns(), self.started_ns))
        self._flush()
        if self.stop is not None:
            return  # the file could not be finished: that error stops the capture
        self.output.close()
        try:
            self.output = self._open_file()
        except OutputError as err:
            self.stop = StopReason(str(err), ExitStatus.ERROR, output_failed=True)
            return
        self._write(self.recorder.start_file())

    # -- the directory ----------------------------------------------------------
    def _enter_directory(self, first: bool = False) -> None:
        directory = self.options.netio_dir
        self._dir_present = self.watcher.watch_directory()
        if not self._dir_present:
            self.say(f"waiting for netio directory {directory} to appear (start an IOU instance, or Ctrl-C)")
            return
        if not first:
            self.say(f"netio directory {directory} is here")
        self._ever_present = True
        self._check_permission(directory)
        if self._hint_due is None:
            self._hint_due = time.monotonic() + NOTHING_ATTACHED_HINT_S
        warning = netiodir.check_dir_mode(directory)
        if warning:
            self.say(warning, "warning")
        self.instances.first_scan = first
        left = repair.leftovers(directory)
        if left:
            self.say(f"found sockets left by an earlier capture (instances {', '.join(map(str, left))}): repairing")
            for action in repair.repair(directory):
                self.say(action.text)
        self.instances.rescan()
        self.instances.first_scan = False

    @staticmethod
    def _check_permission(directory: str) -> None:
        """Stop at once, saying why, when we could not put our sockets in ``directory``."""
        if os.access(directory, os.R_OK | os.W_OK | os.X_OK):
            return
        owner = netiodir.owner_name(directory)
        raise CaptureError(f"no permission to stand in for the sockets in {directory}: it belongs to {owner}; "
                           f"run pcapng-iou as {owner}, or with sudo")

    def _hint_if_nothing_attached(self) -> None:
        """Once, a few seconds in: nothing attached yet, so say what to check."""
        if self._hint_due is None or self.instances.ever_attached or time.monotonic() < self._hint_due:
            return
        self._hint_due = float("inf")
        directory = self.options.netio_dir
        running = self._running_instances()
        if self.options.instances and running:
            asked = ", ".join(map(str, sorted(self.options.instances)))
            self.say(f"no IOU instance attached in {NOTHING_ATTACHED_HINT_S:g} s: -i asks for {asked}, which "
                     f"{'does' if len(self.options.instances) == 1 else 'do'} not run in {directory}; running there: "
                     f"{', '.join(map(str, running))}", "warning")
            return
        self.say(f"no IOU instance attached in {NOTHING_ATTACHED_HINT_S:g} s: none runs in {directory} "
                 f"(the folder of {netiodir.owner_name(directory)}). Is IOU running, and as which user? It puts its "
                 f"sockets in /tmp/netio<uid of that user>: give that folder with -d", "warning")

    def _running_instances(self) -> list:
        """The instances whose lock is held in the netio directory (an instance in use is running)."""
        try:
            names = os.listdir(self.options.netio_dir)
        except OSError:
            return []
        numbers = {netiodir.instance_id(name) for name in names} - {None}
        return sorted(number for number in numbers
                      if netiodir.lock_state(netiodir.Paths(self.options.netio_dir, number).lock))

    def _warn_if_empty(self, netmap: netmap_mod.Netmap) -> None:
        path = self.options.netmap_path
        if path is not None and not len(netmap) and os.path.exists(path):
            self.say(f"{self.options.netmap_path}: no links in it (empty, or only comments); "
                     f"links are learnt from the frames", "warning")

    def _directory_gone(self) -> None:
        self.say(f"netio directory {self.options.netio_dir} was removed", "warning")
        self.instances.forget_all()
        self._dir_present = False
        self._enter_directory()

    # -- the loop -------------------------------------------------------------
    def _loop(self) -> None:
        """Wait, relay, record; the timers run when they are due.

        Every pass costs the frame that woke it, so a pass does little: one
        clock read (two with ``--spin``), one epoll wait, the handler of what is ready.  Relayed
        frames are recorded when the lab is quiet for :data:`RECORD_IDLE_S`,
        or when :data:`RECORD_HELD_FRAMES` wait or the oldest waited
        :data:`RECORD_HELD_NS` (see :meth:`_hold_for_recording`), whichever comes first.
        With ``spin_us`` (``--spin``), a pass that handled something (a
        datagram, mostly) is followed by that long of looking again (epoll with
        no wait), counted from the end of the pass, before the loop sleeps; the
        quiet moment that records held frames starts after it.  The time spent
        looking draws on a :class:`~pcapng_iou.core.spin.SpinBudget`, settled
        when the timers run; once it is spent, the loop sleeps at once.
        """
        # What start-up made lives as long as the capture: keep the collector from walking it again and again.
        gc.freeze()
        now = time.monotonic()
        self._deadline = now + self.options.duration if self.options.duration else None
        self._next_flush = now + FLUSH_INTERVAL_S
        self._next_liveness = now + LIVENESS_INTERVAL_S
        self._next_tick = now
        self._timers(now)
        monotonic, wait, data_of, held = time.monotonic, self.selector.wait, self.selector.data_of, self._held
        spin_s, spin_until, yield_cpu = self.options.spin_us / 1e6, 0.0, os.sched_yield
        # Spinning is counted in ``spun`` and charged to the budget when the timers run.
        spin_left, spun, armed_at = self.spin_budget.left, 0.0, 0.0
        while self.stop is None:
            now = monotonic()
            if now >= self._next_timer:
                self._timers(now)
                spin_left, spun = self.spin_budget.settle(now, spun), 0.0
                if self.stop is not None:
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
                events = wait(RECORD_IDLE_S if held and timeout > RECORD_IDLE_S else timeout if timeout > 0 else 0)
                if not events:
                    if held:
                        self._record_held()  # quiet: the moment to record
                    continue
            self._turn += 1
            for fd, _ in events:
                kind, target = data_of(fd, UNREGISTERED)
                if kind == "listener":
                    self._relay(target)
                elif kind is not None:
                    self._record_held()  # anything else may change what the next frames are recorded as
                    self._on_event(kind, target)
                if self.stop is not None:
                    break
            if spin_s:
                if spun < spin_left:
                    armed_at = monotonic()
                    spin_until = armed_at + spin_s
                else:
                    spin_until = 0.0
        self.spin_budget.settle(monotonic(), spun)
        self._record_held()

    def _on_event(self, kind: str, target) -> None:
        if kind == "forwarder":
            self._drain(target)
        elif kind == "inotify":
            self._on_inotify()
        elif kind == "signal":
            self._on_wakeup()
        elif kind == "output":
            if self.output.waiting:  # room in the pipe, or its reader gone (the write says which)
                self._flush()
            else:
                self.stop = StopReason(f"the reader of {self.output.display} went away", ExitStatus.OK,
                                       output_failed=True)

    def _timers(self, now: float) -> None:
        """Run what is due and set :attr:`_next_timer` to the next moment something will be."""
        self._record_held()
        if self._deadline is not None and now >= self._deadline:
            self.stop = StopReason(f"duration of {self.options.duration:g} s reached")
            return
        if self._file_deadline is not None and now >= self._file_deadline:
            self._file_full()
            if self.stop is not None:
                return
        if now >= self._next_flush:
            self._flush()
            self._next_flush = now + FLUSH_INTERVAL_S
        if now >= self._next_liveness:
            if self._dir_present:
                self.instances.check()
                self._hint_if_nothing_attached()
            elif os.path.isdir(self.options.netio_dir):
                self._enter_directory()
            self._next_liveness = now + (LIVENESS_INTERVAL_S if self._dir_present else DIR_POLL_INTERVAL_S)
        if self.on_tick is not None and now >= self._next_tick:
            self.on_tick(self.status())
            # A dashboard of thousands of links costs tens of ms: it is redrawn less often, not the relay slowed.
            cost = time.monotonic() - now
            self._next_tick = now + max(DASHBOARD_INTERVAL_S, cost * DASHBOARD_COST_FACTOR)
        due = [self._next_flush, self._next_liveness]
        if self.on_tick is not None:
            due.append(self._next_tick)
        due.extend(moment for moment in (self._deadline, self._file_deadline) if moment is not None)
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
                self._flush()
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
            self._directory_gone()
            return
        if changes.directory_appeared and not self._dir_present:
            self._enter_directory()
            return
        if changes.overflow:
            self.instances.rescan()
            return
        numbers = {netiodir.instance_of(name) for name in changes.names}
        for number in sorted(n for n in numbers if n is not None):
            self.instances.reconcile(number)

    def _relay(self, proxy: relay.Proxy) -> None:
        """The hot path: read what waits for this instance, send it on, hold it for recording."""
        # A socket ready again on the very next pass is in a burst: read all that waits.  Alone,
        # one read: the next pass's epoll says if more came, at less cost than a read that fails.
        turn = self._turn
        alone = proxy.read_turn != turn - 1
        proxy.read_turn = turn
        if not alone or proxy.pending or proxy.gone_errno is not None:
            datagrams, times = proxy.receive_batch(1 if alone else READ_BATCH)
            if datagrams:
                before = len(proxy.pending)
                reasons = proxy.forward_batch(datagrams, times)
                self._relayed(proxy, datagrams, times, reasons, len(proxy.pending) - before)
            return
        # Alone, and the instance takes datagrams: the commonest wake-up, in as few steps as can be.
        try:
            datagram = os.read(proxy.listener_fd, netio.MAX_DATAGRAM)
        except BlockingIOError:
            return
        read_ns = time.time_ns()
        try:
            os.write(proxy.forwarder_fd, datagram)
        except OSError as err:
            reason = proxy.not_sent(datagram, err, read_ns)
            self._relayed(proxy, [datagram], [read_ns], None if reason is None else [reason], reason is None)
            return
        self.datagrams_relayed += 1
        if not self._hold:
            self.record([datagram], [read_ns])
            return
        held = self._held
        held.append(datagram)
        self._held_times.append(read_ns)
        if len(held) >= RECORD_HELD_FRAMES or read_ns - self._held_times[0] >= RECORD_HELD_NS:
            self._record_held()

    def _relayed(self, proxy: relay.Proxy, datagrams: list, times: list, reasons: Optional[list],
                 queued: int = 0) -> None:
        """Hold (or record) what was just read and sent on; stop reading for an instance whose queue is full.

        The last ``queued`` datagrams wait in :attr:`relay.Proxy.pending` (the
        instance's queue is full): they are recorded once it takes them
        (:meth:`_drain`), or as not delivered if it never does (detach, bury).
        """
        self.datagrams_relayed += len(datagrams)
        if queued:
            datagrams, times = datagrams[:-queued], times[:-queued]
            if reasons is not None:
                reasons = reasons[:-queued]
                if not any(reasons):
                    reasons = None
        if not datagrams:
            pass
        elif reasons is None and self._hold:
            self._hold_for_recording(datagrams, times)
        else:
            self.record(datagrams, times, reasons)
        if proxy.pending:
            self.instances.hold(proxy)  # the instance's queue is full: read no more for it until it drains
        elif proxy.instance_gone:
            self.instances.reconcile(proxy.instance, Moment.CHECK)

    def _hold_for_recording(self, datagrams: list, times: list) -> None:
        """Keep relayed frames for the next quiet moment; record them all at once when there are too many
        (:data:`RECORD_HELD_FRAMES`) or the oldest waited too long (:data:`RECORD_HELD_NS`)."""
        self._held += datagrams
        self._held_times += times
        if len(self._held) >= RECORD_HELD_FRAMES or times[-1] - self._held_times[0] >= RECORD_HELD_NS:
            self._record_held()

    def _record_held(self) -> None:
        """Record the frames relayed and held so far."""
        if self._held:
            datagrams, times = self._held[:], self._held_times[:]
            self._held.clear()
            self._held_times.clear()
            self._record_now(datagrams, times, None)

    def _batch_fits(self, datagrams: list) -> bool:
        """Whether a batch recorded at once stays within the file size (else frame by frame, switching between)."""
        return self.output.written + sum(map(len, datagrams)) + BLOCK_OVERHEAD * len(datagrams) < self._switch_at

    def _drain(self, proxy: relay.Proxy) -> None:
        """The instance has room again: send on what was held for it, and record what it took."""
        sent, times = proxy.flush_pending()
        if sent:
            if self._hold:
                self._hold_for_recording(sent, times)
            else:
                self.record(sent, times)
        if not proxy.pending and not proxy.instance_gone:
            self.instances.release(proxy)
        elif proxy.instance_gone:
            self.selector.unregister(proxy.forwarder)
            self.instances.reconcile(proxy.instance, Moment.CHECK)

    def record(self, datagrams: list, timestamps: list, undelivered: Optional[list] = None) -> None:
        """Record relayed datagrams (``undelivered``: None, or for each None or why it was not delivered)."""
        self._record_held()  # in the order relayed
        self._record_now(datagrams, timestamps, undelivered)

    def _record_now(self, datagrams: list, timestamps: list, undelivered: Optional[list]) -> None:
        if self._switch_at is NO_LIMIT or self._batch_fits(datagrams):
            self._record_batch(datagrams, timestamps, undelivered)
            return
        for index in range(len(datagrams)):  # frame by frame, starting the next file between them
            self._record_batch(datagrams[index:index + 1], timestamps[index:index + 1],
                               undelivered and undelivered[index:index + 1])

    def _record_batch(self, datagrams: list, timestamps: list, undelivered: Optional[list]) -> None:
        if self.stop is not None and self.stop.limit_reached:
            return  # -c or -a: what is relayed from now on is not recorded
        data = self.recorder.record(datagrams, timestamps, undelivered)
        if data:
            self._write(data)
            self._report_warnings()
            if self.recorder.full and self.stop is None:
                self.stop = StopReason(f"{self.options.count} frames recorded", limit_reached=True)
            if self.output.written >= self._switch_at:
                self._file_full()

    def _write(self, data: bytes) -> None:
        self._guard_output(self.output.write, data)
        if self.output.pipe_full is not self._watching_room:
            self._watch_output()

    def _flush(self) -> None:
        self._guard_output(self.output.flush)
        if self.output.pipe_full is not self._watching_room:
            self._watch_output()

    def _watch_output(self) -> None:
        """A pipe's reader left some of the capture waiting: watch for room in the pipe until it is sent."""
        if self.stop is not None and self.stop.output_failed or self.selector.data_of(self.output.fileno()) is None:
            return
        self._watching_room = self.output.pipe_full
        self.selector.modify(self.output.fileno(), selectors.EVENT_WRITE if self._watching_room else HANG_UP_ONLY)

    def _guard_output(self, operation, *args) -> None:
        """Run a write or flush; a failure stops the capture (relaying goes on until the sockets are back)."""
        if self.stop is not None and self.stop.output_failed:
            return
        try:
            operation(*args)
        except OutputError as err:
            self.stop = StopReason(str(err), ExitStatus.OK if err.broken_pipe else ExitStatus.ERROR, output_failed=True)

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
        self._write(data)
        netmap = None
        if self.options.netmap_path is not None:
            try:
                netmap = netmapfile.read(self.options.netmap_path)
                self._warn_if_empty(netmap)
            except netmap_mod.NetmapError as err:
                errors = [err]
        elif not errors:
            if merged is not None:
                netmap = merged.netmap()
                self.say(self.learning.sources.summary(merged))
            elif len(self.netmap):
                netmap = netmap_mod.Netmap()  # every file found before is gone
        if errors:  # a broken -n file, or a broken file in use of the instances' folders
            self.say(f"reload refused, keeping the previous NETMAP: {errors[0]}", "error")
            for err in errors[1:]:
                self.say(f"reload refused, also: {err}", "error")
        elif netmap is not None:
            data, result = self.recorder.reload(netmap, when)
            self._write(data)
            self.netmap = netmap
            self.recorder.links.warn_unmapped = len(netmap) > 0
            self.say(f"NETMAP reloaded: {result.summary()}")
            for old, new in result.changed:
                self.say(f"{new.name}: link type {linktypes.name(old.linktype)} -> "
                         f"{linktypes.name(new.linktype)} (interface {old.number} -> {new.number})")
        elif self.options.netmap_path is None:
            self.say(f"reload: no NETMAP in use ({self.learning.nowhere()}); rescanning the netio directory")
        self._report_warnings()
        if self._dir_present:
            self.instances.rescan()

    # -- status -------------------------------------------------------------------
    def status(self) -> CaptureStatus:
        recorder = self.recorder
        return CaptureStatus(
            output=self.output.display if self.output else self.options.output,
            pid=os.getpid(),
            started_ns=self.started_ns,
            now_ns=time.time_ns(),
            output_bytes=self.output.written if self.output else 0,
            interfaces=recorder.links.interfaces,
            instances_attached=sorted(self.instances.proxies),
            instances_down=sorted(self.instances.down),
            frames_recorded=recorder.frames_recorded,
            datagrams_relayed=self.datagrams_relayed,
            datagrams_malformed=recorder.datagrams_malformed + recorder.datagrams_empty,
            undelivered=recorder.undelivered,
            events=self.events[-20:],
            netio_dir=self.options.netio_dir,
            netmap=self.learning.sources.describe(),
        )
