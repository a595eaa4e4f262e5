"""The link-type precedence (pure): NETMAP line, --linktype, bay kinds, Ethernet."""
from __future__ import annotations

from pcapng_iou.core import linktypes, netio
from pcapng_iou.core.bays import ETHERNET, SERIAL, Bays
from pcapng_iou.core.linkchoice import (
    FROM_BAYS,
    FROM_DEFAULT,
    FROM_LINE,
    FROM_OPTION,
    choose,
    member_kinds,
)

E00 = (1, netio.port_byte(0, 0))
E10 = (2, netio.port_byte(1, 0))
S10 = (1, netio.port_byte(1, 0))
S10b = (2, netio.port_byte(1, 0))
HDLC, PPP, ETH = linktypes.C_HDLC, linktypes.PPP_SERIAL, linktypes.ETHERNET


def test_nothing_known_is_ethernet():
    choice = choose()
    assert (choice.linktype, choice.follow, choice.watch, choice.origin) == (ETH, False, False, FROM_DEFAULT)


def test_serial_bays_start_as_hdlc_and_follow_the_frames():
    choice = choose(kinds=[(S10, SERIAL), (S10b, SERIAL)])
    assert (choice.linktype, choice.follow, choice.origin, choice.guessed) == (HDLC, True, FROM_BAYS, True)


def test_ethernet_bays():
    choice = choose(kinds=[(E00, ETHERNET)])
    assert (choice.linktype, choice.follow, choice.watch, choice.conflict) == (ETH, False, False, None)


def test_ethernet_bay_wired_to_serial_bay_is_ethernet_with_a_warning():
    choice = choose(kinds=[(E00, ETHERNET), (S10b, SERIAL)])
    assert (choice.linktype, choice.follow) == (ETH, False)
    assert choice.conflict == "Ethernet bay (1:0/0) wired to serial bay (2:1/0): recorded as ethernet"


def test_a_line_type_beats_everything():
    choice = choose(line_linktype=ETH, option_linktype=HDLC, kinds=[(S10, SERIAL)])
    assert (choice.linktype, choice.follow, choice.origin) == (ETH, False, FROM_LINE)
    assert choice.watch  # written ethernet on a serial bay: the frames are checked


def test_a_written_serial_type_is_watched_an_ethernet_one_is_not():
    assert choose(line_linktype=HDLC).watch
    assert not choose(line_linktype=ETH, kinds=[(E00, ETHERNET)]).watch
    assert not choose(line_linktype=ETH).watch


def test_option_beats_bay_kinds():
    choice = choose(option_linktype=PPP, kinds=[(E00, ETHERNET)])
    assert (choice.linktype, choice.follow, choice.origin, choice.watch) == (PPP, False, FROM_OPTION, True)
    assert not choose(option_linktype=ETH, kinds=[(E00, ETHERNET)]).watch


def test_auto_line_starts_from_the_bays():
    choice = choose(line_auto=True, kinds=[(S10, SERIAL)])
    assert (choice.linktype, choice.follow, choice.origin) == (HDLC, True, FROM_BAYS)
    choice = choose(line_auto=True)
    assert (choice.linktype, choice.follow) == (ETH, True)
    choice = choose(line_auto=True, option_linktype=PPP, kinds=[(S10, SERIAL)])
    assert (choice.linktype, choice.follow, choice.origin) == (PPP, True, FROM_OPTION)


def test_auto_linktype_option_follows_lines_without_a_type():
    choice = choose(auto_default=True, kinds=[(E00, ETHERNET)])
    assert (choice.linktype, choice.follow) == (ETH, True)
    choice = choose(auto_default=True)
    assert (choice.linktype, choice.follow) == (ETH, True)
    assert not choose(line_linktype=HDLC, auto_default=True).follow  # a written type still wins


def test_member_kinds_skips_what_tells_nothing():
    known = {1: Bays(1, 2), 513: None}
    bridge = (513, netio.port_byte(1, 0))
    assert member_kinds([bridge, S10], known) == [(S10, SERIAL)]
    assert member_kinds([(1, netio.port_byte(5, 0))], known) == []   # beyond its bays
    assert member_kinds([(7, 0)], known) == []                          # never heard of
