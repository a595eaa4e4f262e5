"""The recording side of a capture: deferred frames, the output file, the ring of files, statistics.

The relay hands what it sent on to :meth:`Recording.defer` (kept for the next
quiet moment) or :meth:`Recording.record` (at once, in order after what was
deferred); the pure :class:`~pcapng_iou.core.recorder.Recorder` turns them into
blocks, written to :class:`~pcapng_iou.shell.output.CaptureFile`.  At a ``-b``
size or time the file is closed with its statistics and the next is opened,
named by :class:`~pcapng_iou.core.ring.FileSeries`.  A write that fails stops
the capture (:class:`~pcapng_iou.shell.capture_options.Ending`); the relay
goes on until the sockets are back.
"""
from __future__ import annotations

import os
import selectors
import time
from typing import Callable, Optional

from pcapng_iou.core.netmap import Netmap
from pcapng_iou.core.recorder import Recorder
from pcapng_iou.core.selection import LinkSelection
from pcapng_iou.core.ring import FileSeries, WhenFull
from pcapng_iou.core.status import NotRecorded
from pcapng_iou.core.words import counted
from pcapng_iou.exitstatus import ExitStatus
from pcapng_iou.shell.capture_options import CaptureOptions, Ending, StopReason
from pcapng_iou.shell.output import PIPE_FINAL_PATIENCE_S, CaptureFile, OutputError, open_next_file
from pcapng_iou.shell.poller import HANG_UP_ONLY, Poller, Wakeup

#: Relayed frames are recorded once this many wait ...
RECORD_DEFERRED_FRAMES = 2048
#: ... or once the oldest has waited this long (ns): the recording is never further behind the relay.
RECORD_DEFERRED_NS = 50_000_000
NO_LIMIT = float("inf")
#: Most bytes a frame's block adds to the frame (header, padding, flags, end of options, trailer).
BLOCK_OVERHEAD = 48


def new_recorder(options: CaptureOptions, netmap: Netmap, bays: dict, drawing=None) -> Recorder:
    """The recorder a capture with these options starts with (``bays``: what the instances told;
    ``drawing``: the links as the user drew them and the routers' names, see core/drawn)."""
    recorder = Recorder(netmap, options.default_linktype, options.auto_linktype, options.comment,
                        options.snaplen, LinkSelection.of(options.links, options.instances), bays,
                        reload_hint=f"kill -HUP {os.getpid()}", limit=options.count, drawing=drawing)
    recorder.links.warn_unmapped = len(netmap) > 0
    return recorder


class Recording:
    """Frames relayed in, files written; the recorder is set by the capture (it may build it anew at the start)."""

    def __init__(self, options: CaptureOptions, recorder: Recorder, selector: Poller, ending: Ending,
                 say: Callable[[str, str], None]):
        self.options = options
        self.recorder = recorder
        self.selector = selector
        self.ending = ending
        self.say = say
        self.output: Optional[CaptureFile] = None
        self.files = FileSeries(options.output, options.limits)
        #: A file that reaches this size is followed by the next one (or stops the capture): one comparison a frame.
        self.switch_at = NO_LIMIT if options.limits.file_bytes is None else options.limits.file_bytes
        #: When the file in use is full by time (monotonic clock; None: no -b duration).
        self.file_deadline: Optional[float] = None
        self.started_ns = time.time_ns()
        #: Counted where every datagram's fate is settled, once: relayed (taken by its instance) or not.
        self.datagrams_relayed = 0
        self.counts = NotRecorded()
        #: Relayed, delivered, not yet recorded: the datagrams and when each was read.  The relay appends
        #: to these very lists (never rebound).
        self.deferred: list = []
        self.deferred_times: list = []
        #: Flushing every frame asks for every frame at once: no recording is deferred then.
        self.defers = not options.flush_each
        #: Whether the output is watched for room (a pipe's reader has not taken all that was written).
        self._watching_room = False

    # -- frames in ------------------------------------------------------------------------
    def defer(self, datagrams: list, times: list) -> None:
        """Keep relayed frames for the next quiet moment; record them all at once when there are too many
        (:data:`RECORD_DEFERRED_FRAMES`) or the oldest waited too long (:data:`RECORD_DEFERRED_NS`)."""
        self.deferred += datagrams
        self.deferred_times += times
        if len(self.deferred) >= RECORD_DEFERRED_FRAMES or times[-1] - self.deferred_times[0] >= RECORD_DEFERRED_NS:
            self.record_deferred()

    def record_deferred(self) -> None:
        """Record the frames relayed whose recording was deferred."""
        if self.deferred:
            datagrams, times = self.deferred[:], self.deferred_times[:]
            self.deferred.clear()
            self.deferred_times.clear()
            self._record_now(datagrams, times, None)

    def record(self, datagrams: list, timestamps: list, undelivered: Optional[list] = None) -> None:
        """Record relayed datagrams (``undelivered``: None, or for each None or why it was not delivered)."""
        self.record_deferred()  # in the order relayed
        self._record_now(datagrams, timestamps, undelivered)

    def annotate(self, instance: int, text: str) -> None:
        """A packet comment for the next frame of each link of ``instance``."""
        self.record_deferred()  # the frames deferred came before it
        self.recorder.annotate(instance, text)

    def _batch_fits(self, datagrams: list) -> bool:
        """Whether a batch recorded at once stays within the file size (else frame by frame, switching between)."""
        return self.output.written + sum(map(len, datagrams)) + BLOCK_OVERHEAD * len(datagrams) < self.switch_at

    def _record_now(self, datagrams: list, timestamps: list, undelivered: Optional[list]) -> None:
        lost = 0 if undelivered is None else sum(reason is not None for reason in undelivered)
        self.datagrams_relayed += len(datagrams) - lost
        if self.switch_at is NO_LIMIT or self._batch_fits(datagrams):
            self._record_batch(datagrams, timestamps, undelivered)
            return
        for index in range(len(datagrams)):  # frame by frame, starting the next file between them
            self._record_batch(datagrams[index:index + 1], timestamps[index:index + 1],
                               undelivered and undelivered[index:index + 1])

    def _record_batch(self, datagrams: list, timestamps: list, undelivered: Optional[list]) -> None:
        ending = self.ending
        if ending.reason is not None and ending.reason.limit_reached:
            self.counts.not_recorded(datagrams, undelivered)  # -c or -a: what is relayed from now on is not recorded
            return
        seen = self.recorder.datagrams_seen
        data = self.recorder.record(datagrams, timestamps, undelivered)
        cut = len(datagrams) - (self.recorder.datagrams_seen - seen)
        if cut > 0:  # the -c limit was reached within the batch: its tail is not recorded
            self.counts.not_recorded(datagrams[-cut:], undelivered and undelivered[-cut:])
        if self.recorder.full and ending.reason is None:  # (before ``data``: frames held back count)
            ending.reason = StopReason(f"{counted(self.options.count, 'frame')} recorded", limit_reached=True)
        if data:
            self.write(data)
            self.report_warnings()
            if self.output.written >= self.switch_at:
                self.file_full()

    def report_warnings(self) -> None:
        """Say what the recorder noticed since it was last asked."""
        for warning in self.recorder.take_warnings():
            self.say(warning, "warning")
        for notice in self.recorder.take_notices():
            self.say(notice, "info")

    # -- the output -----------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self._guard_output(self.output.write, data)
        if self.output.pipe_full is not self._watching_room:
            self._watch_output()

    def flush(self) -> None:
        self._guard_output(self.output.flush)
        if self.output.pipe_full is not self._watching_room:
            self._watch_output()

    def on_output_ready(self) -> None:
        """The selector found the output ready: room in the pipe, or its reader gone (the write says which)."""
        if self.output.waiting:
            self.flush()
        else:
            self.ending.reason = StopReason(f"the reader of {self.output.display} went away", ExitStatus.OK,
                                            output_failed=True)

    def watch_pipe(self) -> None:
        """Hear at once of a pipe's reader gone, even while the lab is quiet and nothing is written.

        The write end of a pipe polls "error" once its last reader is gone, a socket "hang-up".  Only that:
        a socket's reader may send us something or shut its own sending side down (socat and nc do at
        their input's end).  What its reader does not take yet waits in memory: then we watch for room too.
        """
        if self.output.is_pipe:
            self.selector.register(self.output.fileno(), HANG_UP_ONLY, (Wakeup.OUTPUT, None))

    def _watch_output(self) -> None:
        """A pipe's reader left some of the capture waiting: watch for room in the pipe until it is sent."""
        reason = self.ending.reason
        if reason is not None and reason.output_failed or self.selector.data_of(self.output.fileno()) is None:
            return
        self._watching_room = self.output.pipe_full
        self.selector.modify(self.output.fileno(), selectors.EVENT_WRITE if self._watching_room else HANG_UP_ONLY)

    def _guard_output(self, operation, *args) -> None:
        """Run a write or flush; a failure stops the capture (relaying goes on until the sockets are back)."""
        reason = self.ending.reason
        if reason is not None and reason.output_failed:
            return
        try:
            operation(*args)
        except OutputError as err:
            self.ending.reason = StopReason(str(err), ExitStatus.OK if err.broken_pipe else ExitStatus.ERROR,
                                            output_failed=True)

    # -- the files ------------------------------------------------------------------------
    def open_file(self) -> CaptureFile:
        """Open the output (raises :class:`OutputError`); with ``-b``, the next file of the series."""
        options = self.options
        if not options.limits.active:
            return CaptureFile(options.output, options.flush_each, options.group_read, options.output_any_kind)
        output, problems = open_next_file(self.files, options.flush_each, options.group_read)
        for problem in problems:
            self.say(problem, "warning")
        if options.limits.file_seconds is not None:
            self.file_deadline = time.monotonic() + options.limits.file_seconds
        return output

    def file_full(self) -> None:
        """The file reached its size or its time: start the next one, or stop (``-a``)."""
        if self.ending.reason is not None:
            return
        if self.files.when_full() is WhenFull.STOP:
            self.ending.reason = StopReason(self.files.stop_reason(), limit_reached=True)
            return
        self.write(self.recorder.release_held())
        if self.options.statistics:
            self.write(self.recorder.statistics(time.time_ns(), self.started_ns))
        self.flush()
        if self.ending.reason is not None:
            return  # the file could not be finished: that error stops the capture
        self.output.close()
        try:
            self.output = self.open_file()
        except OutputError as err:
            self.ending.reason = StopReason(str(err), ExitStatus.ERROR, output_failed=True)
            return
        self.write(self.recorder.start_file())

    def close(self, keep: bool) -> bool:
        """The capture ends: the last frames, the statistics, the file closed.  Without ``keep`` (nothing
        was ever captured) a regular file is removed; returns whether it was."""
        self.record_deferred()
        if not keep and self.output.is_regular:
            self.output.close()
            return self.output.remove()
        self.write(self.recorder.release_held())  # (frames waiting for a name: nothing is lost)
        if self.options.statistics:
            self.write(self.recorder.statistics(time.time_ns(), self.started_ns))
        self.flush()
        self.output.close()
        if self.output.unsent:
            self.say(f"{counted(self.output.unsent, 'byte')} of the capture never reached the reader of "
                     f"{self.output.display}: it took nothing for {PIPE_FINAL_PATIENCE_S:g} s", "warning")
        return False
