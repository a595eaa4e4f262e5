"""The capture's one log, in memory: kept, passed on, held back while the start may still fail."""
from __future__ import annotations

from pcapng_iou.shell.log import EVENT_LOG_SIZE, Log


def test_what_is_said_is_kept_and_passed_on_in_order():
    heard = []
    log = Log(heard.append)
    log.say("one")
    log.say("two", "warning")
    assert [(e.text, e.level) for e in heard] == [("one", "info"), ("two", "warning")]
    assert log.events == heard


def test_held_back_until_released_then_in_order():
    heard = []
    log = Log(heard.append)
    log.hold()
    log.say("learnt at the start")
    log.say("NETMAP: 2 lines")
    assert heard == []
    log.release()
    log.say("capturing")
    assert [e.text for e in heard] == ["learnt at the start", "NETMAP: 2 lines", "capturing"]


def test_dropped_when_the_start_fails_so_the_error_is_said_alone():
    heard = []
    log = Log(heard.append)
    log.hold()
    log.say("learnt at the start")
    log.drop()
    log.say("cannot open the output")
    assert [e.text for e in heard] == ["cannot open the output"]


def test_the_sink_may_be_replaced_and_only_the_last_events_are_kept():
    first, second = [], []
    log = Log(first.append)
    log.say("before")
    log.sink = second.append
    for number in range(EVENT_LOG_SIZE + 5):
        log.say(f"event {number}")
    assert [e.text for e in first] == ["before"]
    assert len(second) == EVENT_LOG_SIZE + 5
    assert len(log.events) == EVENT_LOG_SIZE and log.events[-1].text == f"event {EVENT_LOG_SIZE + 4}"
