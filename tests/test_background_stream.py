"""The stream the capture speaks through: on a real pipe nobody reads, writing never waits."""
from __future__ import annotations

import os
import threading

from conftest import wait_until

from pcapng_iou.core.words import counted
from pcapng_iou.ui.background_stream import BackgroundStream


def _pipe():
    reader, writer = os.pipe()
    return os.fdopen(reader, "rb"), open(writer, "w", encoding="utf-8")


def _read_to_the_end(stream: BackgroundStream, reader, writer) -> bytes:
    """Read the pipe at last, until ``stream`` has written all it holds and the pipe is closed."""
    got = []
    draining = threading.Thread(target=lambda: got.append(reader.read()))
    draining.start()
    assert stream.close(10)
    writer.close()
    draining.join(10)
    return got[0]


def test_writes_to_a_pipe_nobody_reads_return_and_are_all_written_once_it_is_read():
    reader, writer = _pipe()
    stream = BackgroundStream(writer, max_queued=10_000_000)
    lines = [f"line {n:06d} " + "x" * 90 + "\n" for n in range(2000)]  # 200 kB: three times a pipe's room
    for line in lines:
        stream.write(line)
        stream.flush()
    assert stream.busy  # the pipe is full and its writer waits, in the thread
    assert _read_to_the_end(stream, reader, writer).decode() == "".join(lines)
    assert not stream.busy and not stream.lost and stream.dropped == 0
    reader.close()


def test_what_does_not_fit_is_dropped_and_counted():
    reader, writer = _pipe()
    stream = BackgroundStream(writer, max_queued=100_000)
    for _ in range(1000):  # 100 kB queued at most, on top of the 64 kB the pipe takes
        stream.write("y" * 999 + "\n")
        stream.flush()
    assert wait_until(lambda: stream.dropped > 0)
    assert 800 - 165 <= stream.dropped <= 1000 - 100, stream.dropped
    assert len(_read_to_the_end(stream, reader, writer)) == (1000 - stream.dropped) * 1000
    reader.close()


def test_a_reader_gone_loses_the_stream_and_later_writes_go_nowhere():
    reader, writer = _pipe()
    stream = BackgroundStream(writer)
    reader.close()
    stream.write("nobody reads this\n")
    stream.flush()
    assert wait_until(lambda: stream.lost)
    assert stream.write("nor this\n") == len("nor this\n")
    assert stream.close(10)
    try:
        writer.close()
    except BrokenPipeError:  # what the text layer still held
        pass


def test_after_close_a_write_goes_straight_out():
    reader, writer = _pipe()
    stream = BackgroundStream(writer)
    stream.write("queued\n")
    stream.flush()
    assert stream.close(10)
    stream.write("after\n")
    writer.close()
    assert reader.read() == b"queued\nafter\n"
    reader.close()


def test_the_capture_says_how_many_messages_the_terminal_did_not_take():
    from pcapng_iou.core.status import Event
    from pcapng_iou.ui.console import Reporter

    reader, writer = _pipe()
    reporter = Reporter(stream=writer, dashboard=False)
    reporter.writer = BackgroundStream(writer, max_queued=70_000)  # as run() makes it, with less room
    for n in range(2000):  # 200 kB: the pipe takes 64 kB, the queue 70 kB
        reporter.event(Event(0, f"message {n:04d} " + "z" * 80))
    assert wait_until(lambda: reporter.writer.dropped > 0)
    got = []
    draining = threading.Thread(target=lambda: got.append(reader.read().decode()))
    draining.start()
    assert wait_until(lambda: not reporter.writer.busy)
    reporter.event(Event(0, "the last one"))
    assert reporter.writer.close(10)
    writer.close()
    draining.join(10)
    lines = got[0].splitlines()
    assert lines[-2] == (f"pcapng-iou: warning: {counted(reporter.writer.dropped, 'message')} not shown: "
                         "the terminal took no output for long")
    assert lines[-1] == "pcapng-iou: the last one"
    assert len(lines) == 2000 - reporter.writer.dropped + 2
    reader.close()
