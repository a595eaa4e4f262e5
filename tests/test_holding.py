"""Frames held back until a half-link's far end is known: the pure decisions of core/holding, in memory."""
from __future__ import annotations

import dataclasses

import pytest

from pcapng_iou.core import linktypes
from pcapng_iou.core.holding import HeldFrame, Holding, wants_holding
from pcapng_iou.core.interface import Interface
from pcapng_iou.core.links import Route

T0 = 1_700_000_000_000_000_000
WINDOW = 2_000_000_000


def interface(number: int, file_id=None) -> Interface:
    made = Interface(number, f"IOU {number} Ethernet0/0", linktypes.ETHERNET, "", ((number, 0), (number + 512, 0)))
    made.file_id = file_id
    return made


def held(on: Interface, at: int, sender: int = 1) -> HeldFrame:
    return HeldFrame(None, bytes((0, 0, 0, sender, 0, 0)), on, on, True, b"frame %d" % at, T0 + at, [])


@pytest.mark.parametrize("file_id, listening, wanted", [(None, True, True), (0, True, False), (None, False, False)])
def test_only_a_listening_interface_without_a_block_waits(file_id, listening, wanted):
    assert wants_holding(interface(1, file_id), listening) is wanted


@pytest.mark.parametrize("now, released", [(WINDOW - 1, []), (WINDOW, [0, 1]), (WINDOW + 4, [0, 1]),
                                           (WINDOW + 5, [0, 1, 5, 7]),
                                           (None, [0, 1, 5, 7])])
def test_an_interface_goes_out_whole_once_its_first_frame_waited_the_window(now, released):
    one, two = interface(1), interface(2)
    holding = Holding(WINDOW)
    for frame in (held(one, 0), held(two, 5), held(one, 1), held(two, 7)):
        assert holding.hold(frame) == []
    out = holding.due(None if now is None else T0 + now)
    assert [frame.timestamp_ns - T0 for frame in out] == released  # in time order, across interfaces
    assert len(holding) == 4 - len(released)


def test_the_backlog_sends_an_interface_out_at_once():
    one = interface(1)
    holding = Holding(WINDOW, backlog=3)
    assert holding.hold(held(one, 0)) == [] and holding.hold(held(one, 1)) == []
    assert [frame.timestamp_ns - T0 for frame in holding.hold(held(one, 2))] == [0, 1, 2]
    assert not holding


def test_a_review_merges_the_halves_drops_the_copies_and_keeps_waiting_while_names_are_missing():
    first, second = interface(1), interface(2)
    holding = Holding(WINDOW)
    from_r1, copy_to_r2, from_r2 = held(first, 0, sender=1), held(second, 1, sender=4), held(second, 2, sender=2)
    for frame in (from_r1, copy_to_r2, from_r2):
        holding.hold(frame)
    routes = {1: Route(first, True, (5, 0), listen=True), 4: Route(first, False, (2, 0), copy=True, listen=True),
              2: Route(first, False, (5, 0), listen=True)}
    ready, copies = holding.review(lambda frame: routes[frame.key[3]], (second, first))
    assert (ready, copies) == ([], 1)  # paired, but R2's end not named yet: all on the first half's interface
    assert holding.holds(first) and not holding.holds(second) and len(holding) == 2
    assert (from_r2.interface, from_r2.outbound) == (first, False)
    routes = {sender: dataclasses.replace(route, listen=False) for sender, route in routes.items()}
    assert holding.review(lambda frame: routes[frame.key[3]], (second,)) == ([], 0)  # (not CDP's business there)
    ready, copies = holding.review(lambda frame: routes[frame.key[3]], (first,))
    assert (ready, copies) == ([from_r1, from_r2], 0) and not holding
