"""Ring buffer and autostop decisions (pure): option syntax, dumpcap's file names, what to delete, when to stop."""
from __future__ import annotations

import re
import time

import pytest

from pcapng_iou.core.ring import (
    KB,
    FileLimits,
    FileSeries,
    RingOptionError,
    WhenFull,
    file_limits,
    parse_autostop_option,
    parse_ring_option,
    series_name,
)

WHEN = time.struct_time((2025, 1, 2, 3, 4, 5, 3, 2, 0))


@pytest.mark.parametrize("text, expected", [
    ("filesize:64", ("filesize", 64)),
    ("FILESIZE:1_000", ("filesize", 1000)),
    ("duration:2.5", ("duration", 2.5)),
    ("files:3", ("files", 3)),
    ("files:99999", ("files", 99999)),
])
def test_ring_option_values(text, expected):
    assert parse_ring_option(text) == expected


@pytest.mark.parametrize("text, message", [
    ("filesize:0", "-b filesize:0: expected at least 1 kB"),
    ("filesize:-5", "-b filesize:-5: expected at least 1 kB"),
    ("filesize:1.5", "-b filesize:1.5: expected a whole number of kB"),
    ("bogus:1", "-b bogus:1: expected one of filesize:, duration:, files: followed by a value"),
    ("filesize", "-b filesize: expected one of"),
    ("files:", "-b files: needs a value after the colon"),
    ("files:0", "-b files:0: expected at least 1 file"),
    ("files:100000", "-b files:100000: at most 99999 files"),
    ("duration:0", "-b duration:0: expected a finite duration above 0 seconds"),
    ("duration:nan", "-b duration:nan: expected a finite duration above 0 seconds"),
    ("duration:inf", "-b duration:inf: expected a finite duration above 0 seconds"),
    ("duration:soon", "-b duration:soon: expected a number of seconds"),
    ("packets:5", "-b packets:5: expected one of"),
])
def test_bad_ring_option_names_the_option(text, message):
    with pytest.raises(RingOptionError) as caught:
        parse_ring_option(text)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("text, expected", [
    ("filesize:10", ("filesize", 10)),
    ("files:2", ("files", 2)),
    ("duration:30", ("duration", 30.0)),
    ("packets:500", ("packets", 500)),
])
def test_autostop_option_values(text, expected):
    assert parse_autostop_option(text) == expected


@pytest.mark.parametrize("text", ["filesize:0", "files:0", "packets:0", "bogus:3", "duration:-1", "files:"])
def test_bad_autostop_option(text):
    with pytest.raises(RingOptionError) as caught:
        parse_autostop_option(text)
    assert str(caught.value).startswith("-a ")


def test_limits_combine_as_dumpcap():
    limits = file_limits([("filesize", 64), ("files", 3)], [], to_stdout=False)
    assert limits == FileLimits(ring=True, file_bytes=64 * KB, keep_files=3)
    # A later value of the same key wins.
    assert file_limits([("filesize", 64), ("filesize", 8)], [], False).file_bytes == 8 * KB
    # -a filesize with a ring buffer switches files (dumpcap's one size limit); the smaller size counts.
    assert file_limits([("duration", 60)], [("filesize", 5)], False).file_bytes == 5 * KB
    assert file_limits([("filesize", 9)], [("filesize", 20)], False).file_bytes == 9 * KB
    # -a filesize alone: one file, stopped at that size.
    single = file_limits([], [("filesize", 100)], False)
    assert not single.ring and single.active and single.file_bytes == 100 * KB
    assert file_limits([], [], False) == FileLimits()
    assert not FileLimits().active
    both = file_limits([("duration", 1)], [("files", 4), ("duration", 9), ("packets", 7)], False)
    assert (both.stop_after_files, both.stop_seconds, both.stop_packets) == (4, 9.0, 7)


@pytest.mark.parametrize("ring, stop, to_stdout, message", [
    ([("filesize", 64)], [], True, "-b: a ring buffer writes a series of files"),
    ([("files", 3)], [], False, "-b files:3: a ring buffer also needs -b filesize:KB or -b duration:SECONDS"),
    ([], [("files", 3)], False, "-a files:3: needs a ring buffer"),
    ([], [("files", 3), ("filesize", 10)], False, "-a files:3: needs a ring buffer"),
])
def test_combinations_that_cannot_work(ring, stop, to_stdout, message):
    with pytest.raises(RingOptionError) as caught:
        file_limits(ring, stop, to_stdout)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("path, number, expected", [
    ("lab.pcapng", 1, "lab_00001_20250102030405.pcapng"),
    ("/tmp/x/lab.pcapng", 42, "/tmp/x/lab_00042_20250102030405.pcapng"),
    ("out/capture", 7, "out/capture_00007_20250102030405"),
    ("a.b/c.d.pcap", 3, "a.b/c.d_00003_20250102030405.pcap"),
    ("lab.pcapng", 99999, "lab_99999_20250102030405.pcapng"),
    ("lab.pcapng", 100000, "lab_00000_20250102030405.pcapng"),
    ("lab.pcapng", 100001, "lab_00001_20250102030405.pcapng"),
])
def test_series_names_as_dumpcap(path, number, expected):
    assert series_name(path, number, WHEN) == expected


def test_series_keeps_the_newest_files():
    series = FileSeries("lab.pcapng", FileLimits(ring=True, file_bytes=64 * KB, keep_files=3))
    names, deleted = [], []
    for _ in range(5):
        name, delete = series.next_file(WHEN)
        names.append(name)
        deleted.append(delete)
    assert [re.sub(r"_\d{14}", "", n) for n in names] == [f"lab_{i:05d}.pcapng" for i in range(1, 6)]
    assert deleted == [[], [], [], [names[0]], [names[1]]]
    assert series.files == names[2:]
    assert series.when_full() is WhenFull.SWITCH


def test_series_without_a_file_limit_keeps_everything():
    series = FileSeries("lab.pcapng", FileLimits(ring=True, file_seconds=10))
    for _ in range(300):
        assert series.next_file(WHEN)[1] == []
    assert len(series.files) == 300


def test_autostop_files_stops_at_the_nth_file():
    series = FileSeries("lab.pcapng", FileLimits(ring=True, file_bytes=KB, stop_after_files=2))
    series.next_file(WHEN)
    assert series.when_full() is WhenFull.SWITCH
    series.next_file(WHEN)
    assert series.when_full() is WhenFull.STOP
    assert series.stop_reason() == "2 files written"


def test_single_file_with_autostop_size():
    series = FileSeries("lab.pcapng", FileLimits(file_bytes=10 * KB))
    assert series.next_file(WHEN) == ("lab.pcapng", [])
    assert series.when_full() is WhenFull.STOP
    assert series.stop_reason() == "file size of 10 kB reached"


def test_description():
    assert FileLimits(ring=True, file_bytes=64 * KB, keep_files=3).describe() == \
        "a new file every 64 kB, keeping the newest 3"
    assert FileLimits(ring=True, file_bytes=KB, file_seconds=2.5, stop_after_files=4).describe() == \
        "a new file every 1 kB or 2.5 s, keeping them all, stopping after 4 files"


def test_a_taken_ring_name_gives_the_next_free_one_and_the_series_deletes_that():
    from pcapng_iou.core.ring import free_name

    name = "/caps/lab_00001_20250102030405.pcapng"
    assert [free_name(name, n) for n in (1, 2, 3)] == [
        name, "/caps/lab_00001_20250102030405-2.pcapng", "/caps/lab_00001_20250102030405-3.pcapng"]
    assert free_name("lab_00001_20250102030405", 2) == "lab_00001_20250102030405-2"
    series = FileSeries("lab.pcapng", file_limits([("filesize", 1), ("files", 1)], [], to_stdout=False))
    first, _ = series.next_file(WHEN)
    series.renamed_last(free_name(first, 2))
    _, delete = series.next_file(WHEN)
    assert delete == [free_name(first, 2)]
