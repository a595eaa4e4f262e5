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

from pcapng_iou.core import linktypes, netio, oneway
from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.core.redraw import redraw_interval
from pcapng_iou.core.lifecycle import Moment
from pcapng_iou.core.recorder import Recorder
from pcapng_iou.core.ring import FileSeries, WhenFull
from pcapng_iou.core.selection import LinkSelection
from pcapng_iou.core.spin import DEFAULT_SPIN_US, SpinBudget
from pcapng_iou.core.status import CaptureStatus, Event, NotRecorded
from pcapng_iou.core.words import counted
from pcapng_iou.exitstatus import ExitStatus
from pcapng_iou.shell import mmsg, netiodir, netmapfile, reach, relay, repair
from pcapng_iou.shell.capture_options import CaptureError, CaptureOptions, StopReason
from pcapng_iou.shell.fdlimit import FdBudget
from pcapng_iou.shell.instances import Instances, PathTooLongError
from pcapng_iou.shell.labdir import LabDirectory
from pcapng_iou.shell.learning import Learning
from pcapng_iou.shell.privileges import drop_supplementary_groups
from pcapng_iou.shell.output import PIPE_FINAL_PATIENCE_S, CaptureFile, OutputError, open_next_file
from pcapng_iou.shell.poller import HANG_UP_ONLY, Poller, Wakeup
from pcapng_iou.shell.signals import SignalInbox, has_controlling_terminal
from pcapng_iou.shell.watcher import DirectoryWatcher

FLUSH_INTERVAL_S = 1.0
LIVENESS_INTERVAL_S = 1.0
DIR_POLL_INTERVAL_S = 1.0
#: With nothing attached this long after the start, say once what to check.
NOTHING_ATTACHED_HINT_S = 5.0
#: Most datagrams read from one socket before they are sent on and the loop looks at the
#: others (fairness).  The kernel queues at most net.unix.max_dgram_qlen + 1 (often 11) for us.
READ_BATCH = 64
#: Reads in a row of one socket whose queue was found full each time, before the loop looks at the others.
FULL_REREADS = 4
#: Relayed frames are recorded once the lab has been quiet this long (seconds; epoll counts milliseconds) ...
RECORD_IDLE_S = 0.001
#: ... or once this many wait ...
RECORD_DEFERRED_FRAMES = 2048
#: ... or once the oldest has waited this long (ns): the recording is never further behind the relay.
RECORD_DEFERRED_NS = 50_000_000
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
        self.counts = NotRecorded()
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
        self._deferred: list = []
        self._deferred_times: list = []
        #: Flushing every frame asks for every frame at once: no recording is deferred then.
        self._defer = not options.flush_each
        #: While set, what is said waits here (what the start learns is said once the output is open: an
        #: output that cannot be opened is the one thing said).
        self._said_later: Optional[list] = None
        #: What --spin may still spend (see _loop).
        self.spin_budget = SpinBudget(time.monotonic(), options.spin_share, options.spin_burst_s)
        #: Where datagrams are read into and sent on from, many a system call (shell/mmsg).
        self.batch = mmsg.shared()
        #: A read that brings this many found the socket's queue full: more are likely there already.
        self.full_batch = min(relay.queue_capacity() or READ_BATCH, self.batch.slots)

    # -- messages -------------------------------------------------------------
    def say(self, text: str, level: str = "info") -> None:
        event = Event(time.time_ns(), text, level)
        self.events.append(event)
        del self.events[:-EVENT_LOG_SIZE]
        if self._said_later is not None:
            self._said_later.append(event)
        else:
            self.say_to(event)

    def annotate(self, instance: int, text: str) -> None:
        """A packet comment for the next frame of each link of ``instance``."""
        self._record_deferred()  # the frames deferred came before it
        self.recorder.annotate(instance, text)

    def attached(self, instance: int, clock_text: str) -> None:
        """``instance`` was just attached: learn its bays and NETMAP (zero configuration)."""
        self._record_deferred()
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
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise CaptureError(f"{directory} is not a directory (give -d the netio directory, where the instances' "
                               "sockets are)")
        reach.check_reachable(directory)  # (waiting for it would never end: it may well be there)
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
            self.selector.register(self.output.fileno(), HANG_UP_ONLY, (Wakeup.OUTPUT, None))
        self._report_warnings()
        self._warn_if_empty(self.netmap)
        self.signals.install()
        # SIGHUP reloads the NETMAP, but when it comes because our terminal was closed, nobody would be left
        # to stop us: then it stops the capture, as it would any program (not under nohup).
        self._stop_on_hangup = signal.SIGHUP not in self.signals.ignored_before and has_controlling_terminal()
        self.selector.register(self.signals.fileno(), selectors.EVENT_READ, (Wakeup.SIGNAL, None))
        self.watcher = DirectoryWatcher(directory)
        self.selector.register(self.watcher.fileno(), selectors.EVENT_READ, (Wakeup.INOTIFY, None))
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
            self._record_deferred()  # relayed before anything that detaching drains
        self.instances.give_back_all()
        self.instances.forget_all()  # (closes the directory held open)
        if self.output is not None:
            if not self._ever_present and self.output.is_regular:
                # Waited for a netio directory that never came: a file of headers only is of no use.
                self.output.close()
                self.output_removed = self.output.remove()
            else:
                self._write(self.recorder.release_held())  # (frames waiting for a name: nothing is lost)
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
        options = self.options
        if not options.limits.active:
            return CaptureFile(options.output, options.flush_each, options.group_read, options.output_any_kind)
        output, problems = open_next_file(self.files, options.flush_each, options.group_read)
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
        if self.files.when_full() is WhenFull.STOP:
            self.stop = StopReason(self.files.stop_reason(), limit_reached=True)
            return
        self._write(self.recorder.release_held())
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
        if self.instances.lab is not None:
            self.instances.lab.close()
        try:
            self.instances.lab = LabDirectory.open(directory)
        except OSError as err:
            raise CaptureError(f"netio directory {directory}: cannot open it ({err.strerror})") from None
        try:
            left = repair.leftovers(self.instances.lab)
            if left:
                self.say(f"found sockets left by an earlier capture (instances {', '.join(map(str, left))}): "
                         f"repairing")
                for action in repair.repair(self.instances.lab):
                    self.say(action.text)
        except OSError as err:
            self.say(f"cannot repair {directory}: {err.filename or directory}: {err.strerror}", "error")
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
        lab = self.instances.lab
        try:
            names = lab.names() if lab is not None else []
        except OSError:
            return []
        numbers = {netiodir.instance_id(name) for name in names} - {None}
        return sorted(number for number in numbers if lab.lock_state(f"{number}{netiodir.LOCK_SUFFIX}"))

    def _warn_if_empty(self, netmap: netmap_mod.Netmap) -> None:
        path = self.options.netmap_path
        if path is not None and not len(netmap) and os.path.exists(path):
            self.say(f"{self.options.netmap_path}: no links in it (empty, or only comments); "
                     f"links are learnt from the frames", "warning")
        for note in netmap_mod.lone_endpoint_notes(netmap):
            self.learning.say_once(note)

    def _directory_gone(self) -> None:
        """The netio directory was removed, or moved: then our sockets go back where it is now."""
        lab = self.instances.lab
        now_at = lab.where_now() if lab is not None else None
        if now_at is None:
            self.say(f"netio directory {self.options.netio_dir} was removed", "warning")
        else:
            self._record_deferred()
            self.say(f"netio directory {self.options.netio_dir} was moved to {now_at}: giving its instances their "
                     f"sockets back there", "warning")
            self.instances.give_back_all()
            if not self.instances.not_given_back:
                self.say(f"{now_at}: every socket is back (capturing {self.options.netio_dir} when it is there again)")
        self.instances.forget_all()
        self._dir_present = False
        self._enter_directory()

    # -- the loop -------------------------------------------------------------
    def _loop(self) -> None:
        """Wait, relay, record; the timers run when they are due.

        Every pass costs the frame that woke it, so a pass does little: one
        clock read (two with ``--spin``), one epoll wait, the handler of what is ready.  Relayed
        frames are recorded when the lab is quiet for :data:`RECORD_IDLE_S`,
        or when :data:`RECORD_DEFERRED_FRAMES` wait or the oldest waited
        :data:`RECORD_DEFERRED_NS` (see :meth:`_defer_recording`), whichever comes first.
        With ``spin_us`` (``--spin``), a pass that handled something (a
        datagram, mostly) is followed by that long of looking again (epoll with
        no wait), counted from the end of the pass, before the loop sleeps; the
        quiet moment that records deferred frames starts after it.  The time spent
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
        monotonic, wait, data_of, deferred = time.monotonic, self.selector.wait, self.selector.data_of, self._deferred
        spin_s, spin_until, yield_cpu, listener = self.options.spin_us / 1e6, 0.0, os.sched_yield, Wakeup.LISTENER
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
                events = wait(RECORD_IDLE_S if deferred and timeout > RECORD_IDLE_S else timeout if timeout > 0 else 0)
                if not events:
                    if deferred:
                        self._record_deferred()  # quiet: the moment to record
                    continue
            self._turn += 1
            for fd, _ in events:
                kind, target = data_of(fd, UNREGISTERED)
                if kind is listener:
                    self._relay(target)
                elif kind is not None:
                    self._record_deferred()  # anything else may change what the next frames are recorded as
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
        self._record_deferred()

    def _on_event(self, kind: Wakeup, target) -> None:
        if kind is Wakeup.FORWARDER:
            self._drain(target)
        elif kind is Wakeup.INOTIFY:
            self._on_inotify()
        elif kind is Wakeup.SIGNAL:
            self._on_wakeup()
        elif kind is Wakeup.OUTPUT:
            if self.output.waiting:  # room in the pipe, or its reader gone (the write says which)
                self._flush()
            else:
                self.stop = StopReason(f"the reader of {self.output.display} went away", ExitStatus.OK,
                                       output_failed=True)

    def _timers(self, now: float) -> None:
        """Run what is due and set :attr:`_next_timer` to the next moment something will be."""
        self._record_deferred()
        if self.recorder.held:
            self._write(self.recorder.release_held(time.time_ns()))
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
            cpu = time.thread_time()
            self.on_tick(self.status())
            # A dashboard of thousands of links costs tens of ms: it is redrawn less often, not the relay slowed.
            self._next_tick = now + redraw_interval(time.thread_time() - cpu)
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
        """The hot path: read what waits for this instance, send it on, defer its recording."""
        # A socket ready again on the very next pass is in a burst: read all that waits, with one system
        # call (recvmmsg), and send it on with one more (sendmmsg).  Alone, one plain read and one plain
        # send: cheaper for one datagram than the calls through ctypes.
        turn = self._turn
        alone = proxy.read_turn != turn - 1
        proxy.read_turn = turn
        if not alone or proxy.pending or proxy.gone_errno is not None:
            self._relay_batches(proxy)
            return
        batch = self.batch
        try:
            size = os.readv(proxy.listener_fd, batch.first_slot)
        except BlockingIOError:
            return
        datagram = batch.buffer[:size]
        read_ns = time.time_ns()
        if size > relay.SMALL_DATAGRAM:
            batch.release_first(size)
            proxy.make_room(size)
        try:
            os.write(proxy.forwarder_fd, datagram)
        except OSError as err:
            reason = proxy.not_sent(datagram, err, read_ns)
            self._relayed(proxy, [datagram], [read_ns], None if reason is None else [reason], reason is None)
            return
        if not self._defer:
            self.record([datagram], [read_ns])
            return
        deferred = self._deferred
        deferred.append(datagram)
        self._deferred_times.append(read_ns)
        if len(deferred) >= RECORD_DEFERRED_FRAMES or read_ns - self._deferred_times[0] >= RECORD_DEFERRED_NS:
            self._record_deferred()

    def _relay_batches(self, proxy: relay.Proxy) -> None:
        """A burst: read all that waits (``recvmmsg``) and send it on (``sendmmsg``); a batch that filled
        the socket's queue is likely followed by more at once: read again without waiting
        (:data:`FULL_REREADS` times at most)."""
        relay_waiting, batch = proxy.relay_waiting, self.batch
        for _ in range(FULL_REREADS):
            datagrams, times, reasons, queued = relay_waiting(batch)
            if not datagrams:
                return
            if reasons is not None or queued or not self._defer:
                self._relayed(proxy, datagrams, times, reasons, queued)
                return
            deferred = self._deferred
            deferred += datagrams
            self._deferred_times += times
            if len(deferred) >= RECORD_DEFERRED_FRAMES or times[0] - self._deferred_times[0] >= RECORD_DEFERRED_NS:
                self._record_deferred()
            if len(datagrams) < self.full_batch:
                return

    def _relayed(self, proxy: relay.Proxy, datagrams: list, times: list, reasons: Optional[list],
                 queued: int = 0) -> None:
        """Record (or defer recording) what was just read and sent on; stop reading for an instance whose queue is full.

        The last ``queued`` datagrams wait in :attr:`relay.Proxy.pending` (the
        instance's queue is full): they are recorded once it takes them
        (:meth:`_drain`), or as not delivered if it never does (detach, bury).
        """
        if reasons is not None:
            proxy.lost += sum(reason is not None for reason in reasons)
        if queued:
            datagrams, times = datagrams[:-queued], times[:-queued]
            if reasons is not None:
                reasons = reasons[:-queued]
                if not any(reasons):
                    reasons = None
        if not datagrams:
            pass
        elif reasons is None and self._defer:
            self._defer_recording(datagrams, times)
        else:
            self.record(datagrams, times, reasons)
        if proxy.pending:
            self.instances.pause_reading(proxy)  # the instance's queue is full: read no more for it until it drains
        elif proxy.instance_gone:
            self.instances.reconcile(proxy.instance, Moment.CHECK)

    def _defer_recording(self, datagrams: list, times: list) -> None:
        """Keep relayed frames for the next quiet moment; record them all at once when there are too many
        (:data:`RECORD_DEFERRED_FRAMES`) or the oldest waited too long (:data:`RECORD_DEFERRED_NS`)."""
        self._deferred += datagrams
        self._deferred_times += times
        if len(self._deferred) >= RECORD_DEFERRED_FRAMES or times[-1] - self._deferred_times[0] >= RECORD_DEFERRED_NS:
            self._record_deferred()

    def _record_deferred(self) -> None:
        """Record the frames relayed whose recording was deferred."""
        if self._deferred:
            datagrams, times = self._deferred[:], self._deferred_times[:]
            self._deferred.clear()
            self._deferred_times.clear()
            self._record_now(datagrams, times, None)

    def _batch_fits(self, datagrams: list) -> bool:
        """Whether a batch recorded at once stays within the file size (else frame by frame, switching between)."""
        return self.output.written + sum(map(len, datagrams)) + BLOCK_OVERHEAD * len(datagrams) < self._switch_at

    def _drain(self, proxy: relay.Proxy) -> None:
        """The instance has room again: send on what was held for it, and record what it took."""
        sent, times = proxy.flush_pending()
        if sent:
            if self._defer:
                self._defer_recording(sent, times)
            else:
                self.record(sent, times)
        if proxy.instance_gone:
            self.selector.unregister(proxy.forwarder)
            self.instances.reconcile(proxy.instance, Moment.CHECK)
        elif not proxy.pending:
            self.instances.resume_reading(proxy)

    def record(self, datagrams: list, timestamps: list, undelivered: Optional[list] = None) -> None:
        """Record relayed datagrams (``undelivered``: None, or for each None or why it was not delivered)."""
        self._record_deferred()  # in the order relayed
        self._record_now(datagrams, timestamps, undelivered)

    def _record_now(self, datagrams: list, timestamps: list, undelivered: Optional[list]) -> None:
        # Counted here, where every datagram's fate is settled, once: relayed (taken by its instance) or not.
        lost = 0 if undelivered is None else sum(reason is not None for reason in undelivered)
        self.datagrams_relayed += len(datagrams) - lost
        if self._switch_at is NO_LIMIT or self._batch_fits(datagrams):
            self._record_batch(datagrams, timestamps, undelivered)
            return
        for index in range(len(datagrams)):  # frame by frame, starting the next file between them
            self._record_batch(datagrams[index:index + 1], timestamps[index:index + 1],
                               undelivered and undelivered[index:index + 1])

    def _record_batch(self, datagrams: list, timestamps: list, undelivered: Optional[list]) -> None:
        if self.stop is not None and self.stop.limit_reached:
            self.counts.not_recorded(datagrams, undelivered)  # -c or -a: what is relayed from now on is not recorded
            return
        seen = self.recorder.datagrams_seen
        data = self.recorder.record(datagrams, timestamps, undelivered)
        cut = len(datagrams) - (self.recorder.datagrams_seen - seen)
        if cut > 0:  # the -c limit was reached within the batch: its tail is not recorded
            self.counts.not_recorded(datagrams[-cut:], undelivered and undelivered[-cut:])
        if self.recorder.full and self.stop is None:  # (before ``data``: frames held back count)
            self.stop = StopReason(f"{self.options.count} frames recorded", limit_reached=True)
        if data:
            self._write(data)
            self._report_warnings()
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
            undelivered=recorder.undelivered + self.counts.undelivered,
            datagrams_unrecorded=recorder.shared_copies + recorder.frames_skipped + self.counts.datagrams,
            events=self.events,  # (the last EVENT_LOG_SIZE: a tall terminal shows as many as fit)
            netio_dir=self.options.netio_dir,
            netmap=self.learning.sources.describe(),
            one_way=oneway.one_way_links(recorder.links.interfaces, self.instances.one_way),
        )
