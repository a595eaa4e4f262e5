"""Numbered frames and the receiver's check of them: pure rules, then two real instances streaming."""
from __future__ import annotations

import time

import pytest

from pcapng_iou.sim import numbered
from pcapng_iou.sim.numbered import SequenceCheck, Tally, numbered_frame


def test_frame_names_its_sender_and_number():
    frame = numbered_frame(300, 0x31, 123456789, 100)
    assert len(frame) == 100
    assert numbered.parse(frame) == (300, 0x31, 123456789)
    assert numbered.parse(b"\xff" * 12 + b"\x08\x00" + bytes(50)) is None
    assert numbered.parse(frame[:20]) is None


def test_frames_of_other_numbers_differ_beyond_the_number():
    one, two = numbered_frame(1, 0, 1, 200), numbered_frame(1, 0, 2, 200)
    assert one[numbered.HEAD_SIZE:] != two[numbered.HEAD_SIZE:]


@pytest.mark.parametrize("size", [59, 4097])
def test_sizes_out_of_range_are_refused(size):
    with pytest.raises(ValueError):
        numbered_frame(1, 0, 0, size)


def arrivals(*numbers) -> SequenceCheck:
    check = SequenceCheck()
    for number in numbers:
        check.arrive(number, True)
    return check


def test_in_order_is_all_good():
    check = arrivals(0, 1, 2, 3)
    assert (check.good, check.reordered, check.duplicates, check.lost(4)) == (4, 0, 0, 0)


def test_an_overtaken_frame_is_reordered_not_lost():
    # The case: 6 overtaken by 7, arriving after it.
    check = arrivals(0, 1, 2, 3, 4, 5, 7, 6, 8)
    assert (check.good, check.reordered, check.duplicates, check.lost(9)) == (9, 1, 0, 0)


def test_several_overtaken_frames_each_count():
    check = arrivals(0, 6, 1, 2, 3, 4, 5, 7)
    assert (check.reordered, check.lost(8)) == (5, 0)


def test_a_frame_seen_twice_is_a_duplicate():
    check = arrivals(0, 1, 1, 2, 0)
    assert (check.good, check.duplicates, check.reordered) == (3, 2, 0)


def test_gaps_and_a_short_tail_are_lost():
    check = arrivals(0, 1, 4, 5)
    assert check.lost(8) == 2 + 2


def test_tally_checks_every_byte():
    tally = Tally()
    good = numbered_frame(7, 0, 0, 80)
    assert tally.frame(good)
    assert tally.frame(good[:-1])  # cut short
    assert tally.frame(good[:-1] + b"\x00")  # one byte changed
    assert tally.frame(numbered_frame(7, 0, 1, 80))
    assert not tally.frame(b"\x00" * 60)
    assert tally.as_dict() == {"7:0": {"next": 2, "good": 2, "reordered": 0, "duplicates": 0,
                                       "corrupt": 2, "missing": 0}}


def wait_tally(process, flow: str, count: int, timeout: float = 60.0) -> dict:
    """Poll the receiver until ``count`` frames of ``flow`` have arrived (the deadline only stops a hang)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = process.tally().get(flow, {"next": 0})
        if seen["next"] >= count or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


def test_stream_between_two_instances_arrives_exactly_once_in_order(make_lab):
    lab = make_lab("10:0/0 20:1/0\n", quiet=True)
    lab[10].stream("0/0", 2000, 120)
    wait_tally(lab[20], "10:0", 300)
    first = lab[10].halt("0/0")
    lab[10].stream("0/0", 2000, 120)  # numbering goes on after a halt
    wait_tally(lab[20], "10:0", first + 200)
    total = lab[10].halt("0/0")
    assert total >= first + 200
    seen = wait_tally(lab[20], "10:0", total)
    assert seen == {"next": total, "good": total, "reordered": 0, "duplicates": 0, "corrupt": 0, "missing": 0}
    assert lab[10].errors == []


def test_stream_refuses_bad_arguments(make_lab):
    lab = make_lab("10:0/0 20:0/0\n", quiet=True)
    assert lab[10].command("stream 0/0 0 100").startswith("error stream")
    assert lab[10].command("stream 0/0 100 20").startswith("error stream")
    assert lab[10].command("halt 0/0") == "streamed 0/0 0"


def test_a_wild_jump_is_counted_without_holding_every_number():
    check = arrivals(0, 10 ** 12, 5, 1)
    assert check.missing == 10 ** 12 - 1 - 2
    assert check.reordered == 2
    assert check.lost(10 ** 12 + 1) == 10 ** 12 - 3
    check.arrive(5, True)
    assert check.duplicates == 1


def test_gaps_split_and_close():
    check = arrivals(0, 4, 8)  # missing 1-3 and 5-7
    for number in (2, 6, 1, 3, 5, 7):
        check.arrive(number, True)
    assert (check.missing, check.reordered, check.duplicates, check.good) == (0, 6, 0, 9)
