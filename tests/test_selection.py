"""--link names (pure): parsing, matching links and shared segments, names that match no NETMAP line."""
from __future__ import annotations

import pytest

from pcapng_iou.core.netmap import parse
from pcapng_iou.core.selection import LinkNameError, LinkSelection, parse_link_name

A, B, C = (100, 0x00), (101, 0x00), (102, 0x00)
SERIAL_A, SERIAL_B = (100, 0x01), (101, 0x01)

NETMAP = parse("""\
100:0/0 101:0/0
100:1/0 101:1/0 hdlc
100:2/0 101:2/0 102:2/0
""")


def test_full_name_either_order():
    for text in ("100:0/0-101:0/0", "101:0/0-100:0/0", " 100:0/0-101:0/0 "):
        name = parse_link_name(text)
        assert name.matches([A, B])
        assert not name.matches([SERIAL_A, SERIAL_B])
        assert not name.matches([A, B, C])  # a full name is the whole link, not part of a segment


def test_endpoint_selects_its_link():
    name = parse_link_name("100:0/0")
    assert name.single
    assert name.matches([A, B]) and name.matches([B, A, C])
    assert not name.matches([SERIAL_A, SERIAL_B])


def test_port_number_form_and_shared_segment():
    assert parse_link_name("100:1-101:1").matches([SERIAL_A, SERIAL_B])
    assert parse_link_name("102:2/0-100:2/0-101:2/0").matches([(100, 0x02), (101, 0x02), (102, 0x02)])


@pytest.mark.parametrize("text, message", [
    ("", "expected a link name"),
    ("100:0/0-", "expected a link name"),
    ("-101:0/0", "expected a link name"),
    ("100", "'100': expected ID:BAY/UNIT, got '100'"),
    ("100:0/0-bogus", "expected ID:BAY/UNIT, got 'bogus'"),
    ("0:0/0", "instance id 0 in '0:0/0' is out of range 1..1024"),
    ("100:16/0", "bay 16 in '100:16/0' is out of range 0..15"),
    ("100:0/0-100:0/0", "endpoint 100:0/0 is named twice"),
])
def test_malformed_names(text, message):
    with pytest.raises(LinkNameError) as caught:
        parse_link_name(text)
    assert message in str(caught.value)


def test_selection():
    everything = LinkSelection()
    assert everything.everything and everything.selects([A, B]) and everything.describe() == "every link"
    chosen = LinkSelection([parse_link_name("100:0/0-101:0/0"), parse_link_name("102:2/0")])
    assert chosen.selects([A, B])
    assert chosen.selects([(100, 0x02), (101, 0x02), (102, 0x02)])
    assert not chosen.selects([SERIAL_A, SERIAL_B])
    assert chosen.describe() == "100:0/0-101:0/0, 102:2/0"


def test_names_that_match_no_netmap_line():
    selection = LinkSelection([parse_link_name(t) for t in ("100:0/0-101:0/0", "100:5/0", "100:1/0-102:1/0")])
    assert [n.text for n in selection.unmatched(NETMAP)] == ["100:5/0", "100:1/0-102:1/0"]
    assert LinkSelection().unmatched(NETMAP) == []
