"""The link table: which interface records a frame, shared-segment copies, NETMAP reloads."""
from __future__ import annotations

import itertools

import pytest

from pcapng_iou.core import linktypes, netio
from pcapng_iou.core.bays import Bays
from pcapng_iou.core.links import COPY_BACKLOG, COPY_WINDOW_NS, LinkTable, SharedCopies
from pcapng_iou.core.netmap import parse

A, B, C, D = (100, 0x00), (101, 0x00), (102, 0x00), (103, 0x00)
SA, SB = (100, 0x01), (101, 0x01)  # serial 1/0


def route(table: LinkTable, src, dst):
    header = netio.Header(dst[0], src[0], dst[1], src[1])
    return table.route(header, header.pack()[:6])


NETMAP = """\
100:0/0 101:0/0
100:1/0 101:1/0 hdlc
100:2/0 101:2/0 102:2/0
103:0/0
"""


@pytest.fixture
def table() -> LinkTable:
    return LinkTable(parse(NETMAP))


# -- creation -------------------------------------------------------------------------

def test_one_interface_per_line(table):
    assert [i.number for i in table.interfaces] == [0, 1, 2, 3]
    assert [i.name for i in table.interfaces] == [
        "100:0/0-101:0/0", "100:1/0-101:1/0", "100:2/0-101:2/0-102:2/0", "103:0/0"]
    assert [i.linktype for i in table.interfaces] == [1, 104, 1, 1]
    assert [i.endpoints for i in table.interfaces] == [
        (A, B), (SA, SB), ((100, 2), (101, 2), (102, 2)), ((103, 0),)]
    assert table.new == table.interfaces
    assert [i.copies is not None for i in table.interfaces] == [False, False, True, False]
    assert not any(i.unmapped for i in table.interfaces)
    assert table.warnings == []
    assert table.interfaces[1].description == (
        "IOU link 100:1/0-101:1/0 (NETMAP line 2), hdlc, from the start")
    assert table.interfaces[2].description == (
        "IOU shared segment 100:2/0-101:2/0-102:2/0 (NETMAP line 3), ethernet, from the start")
    assert table.interfaces[0].linktype_name == "ethernet"
    assert table.interfaces[2].instances == frozenset({100, 101, 102})


def test_default_linktype_and_auto_default():
    table = LinkTable(parse("100:0/0 101:0/0\n100:1/0 101:1/0 50\n100:2/0 101:2/0 auto\n"),
                      default_linktype=104, auto_default=True)
    assert [(i.linktype, i.auto) for i in table.interfaces] == [(104, True), (50, False), (104, True)]
    assert "auto-detected, now hdlc" in table.interfaces[0].description


def test_auto_line_without_auto_default():
    table = LinkTable(parse("100:0/0 101:0/0\n100:1/0 101:1/0 auto\n"))
    assert [(i.linktype, i.auto) for i in table.interfaces] == [(1, False), (1, True)]


# -- routing --------------------------------------------------------------------------

def test_route_point_to_point_and_direction(table):
    forward = route(table, A, B)
    assert forward.interface is table.interfaces[0]
    assert forward.outbound is True
    assert forward.destination == B
    backward = route(table, B, A)
    assert backward.interface is table.interfaces[0]
    assert backward.outbound is False
    assert backward.destination == A
    serial = route(table, SB, SA)
    assert serial.interface is table.interfaces[1]
    assert serial.outbound is False


def test_direction_follows_order_written_on_line():
    table = LinkTable(parse("101:0/0 100:0/0\n"))
    assert route(table, B, A).outbound is True
    assert route(table, A, B).outbound is False


def test_route_shared_segment(table):
    shared = table.interfaces[2]
    first, second, third = (100, 2), (101, 2), (102, 2)
    assert route(table, first, second).interface is shared
    assert route(table, first, third).outbound is True
    assert route(table, second, third).outbound is False
    assert route(table, third, first).outbound is False
    assert route(table, second, first).destination == first


def test_route_cache_returns_same_route(table):
    assert route(table, A, B) is route(table, A, B)


def test_unmapped_pair_gets_one_ethernet_interface(table):
    first = route(table, A, SB)  # both endpoints are known, but on different lines
    assert first.interface.unmapped
    assert first.interface.number == 4
    assert first.interface.linktype == linktypes.ETHERNET
    assert first.interface.name == "100:0/0-101:1/0"
    assert first.interface.endpoints == (A, SB)
    assert first.outbound is True
    assert table.new[-1] is first.interface
    assert table.warnings == [
        "frames between 100:0/0-101:1/0 match no NETMAP line: recorded on an interface of their own as ethernet"]
    back = route(table, SB, A)
    assert back.interface is first.interface
    assert back.outbound is False
    assert len(table.interfaces) == 5
    assert len(table.warnings) == 1
    assert first.interface.description == "IOU traffic between 100:0/0-101:1/0, which no NETMAP line joins"


def test_unmapped_unknown_endpoints_and_half_known(table):
    strangers = route(table, (200, 0), (201, 0)).interface
    half = route(table, (103, 0), (300, 0x31)).interface  # 103:0/0 is a one-endpoint line
    assert strangers.unmapped and half.unmapped
    assert strangers is not half
    assert half.name == "103:0/0-300:1/3"
    assert [i.number for i in (strangers, half)] == [4, 5]
    assert len(table.warnings) == 2


def test_unmapped_uses_default_linktype():
    table = LinkTable(parse("100:0/0 101:0/0\n"), default_linktype=104)
    assert route(table, (5, 0), (6, 0)).interface.linktype == 104


def test_no_warning_when_warn_unmapped_false(table):
    table.warn_unmapped = False
    interface = route(table, (200, 0), (201, 0)).interface
    assert interface.unmapped
    assert table.warnings == []
    assert table.new[-1] is interface


def test_current_and_touching(table):
    unmapped = route(table, (100, 5), (200, 0)).interface
    assert [i.number for i in table.touching(100)] == [0, 1, 2, unmapped.number]
    assert [i.number for i in table.touching(102)] == [2]
    assert [i.number for i in table.touching(200)] == [unmapped.number]
    assert table.touching(999) == []


def test_touching_follows_replacements_and_reloads(table):
    old = table.interfaces[1]
    new = table.replace(old, linktypes.PPP_SERIAL, "now")
    assert [i.number for i in table.touching(101)] == [0, 2, new.number]
    changed = table.reload(parse("100:0/0 101:0/0 ppp\n103:0/0\n104:3/0 100:3/0\n"), "t1")
    assert len(changed.changed) == 1 and len(changed.removed) == 2 and len(changed.added) == 1
    assert [i.number for i in table.touching(100)] == [changed.changed[0][1].number, changed.added[0].number]
    assert table.touching(101) == [changed.changed[0][1]]
    assert table.touching(102) == []
    assert [i.number for i in table.touching(104)] == [changed.added[0].number]
    for instance in (100, 101, 102, 103, 104):  # the index agrees with a look at every interface
        assert table.touching(instance) == [i for i in table.current() if instance in i.instances]


# -- replace ------------------------------------------------------------------------------

def test_replace_mapped(table):
    old = table.interfaces[1]
    assert route(table, SA, SB).interface is old
    new = table.replace(old, linktypes.PPP_SERIAL, "link type detected from the frames")
    assert old.replaced_by == new.number == 4
    assert new.linktype == 50
    assert new.endpoints == old.endpoints
    assert new.name == old.name
    assert new.segment.line == 2
    assert route(table, SA, SB).interface is new  # no stale cached route
    assert route(table, SB, SA).outbound is False
    assert old not in table.current()
    assert new in table.current()
    assert table.new[-1] is new


def test_replace_unmapped(table):
    old = route(table, (200, 0), (201, 0)).interface
    new = table.replace(old, linktypes.C_HDLC, "detected")
    assert new.unmapped
    assert new.linktype == 104
    assert old.replaced_by == new.number
    assert new.description.endswith("; detected")
    assert route(table, (201, 0), (200, 0)).interface is new
    assert len(table.warnings) == 1


def test_replace_carries_pending_comments_and_copies(table):
    old = table.interfaces[2]
    old.pending_comments.append("instance 102 died")
    new = table.replace(old, linktypes.C_HDLC, "detected")
    assert new.pending_comments == ["instance 102 died"]
    assert old.pending_comments == []
    assert new.copies is old.copies


# -- reload -------------------------------------------------------------------------------

def test_reload_unchanged(table):
    before = list(table.interfaces)
    table.new.clear()
    result = table.reload(parse("# same, reordered\n" + "\n".join(reversed(NETMAP.splitlines()))), "12:00")
    assert (result.added, result.changed, result.removed, result.kept) == ([], [], [], 4)
    assert result.summary() == "0 added, 0 changed, 0 removed, 4 unchanged"
    assert table.interfaces == before
    assert table.new == []
    assert route(table, A, B).interface is before[0]
    # the kept interface now knows its new line number
    assert before[0].segment.line == 5


def test_reload_added(table):
    table.new.clear()
    result = table.reload(parse(NETMAP + "104:0/0 105:0/0 frelay\n"), "12:00")
    assert result.kept == 4
    assert [i.number for i in result.added] == [4]
    added = result.added[0]
    assert added.linktype == 107
    assert added.description == (
        "IOU link 104:0/0-105:0/0 (NETMAP line 5), frame-relay, added by the NETMAP reload at 12:00")
    assert table.new == [added]
    assert route(table, (105, 0), (104, 0)).interface is added


def test_reload_added_line_takes_over_unmapped_pair(table):
    unmapped = route(table, (104, 0), (105, 0)).interface
    assert unmapped.unmapped
    result = table.reload(parse(NETMAP + "104:0/0 105:0/0\n"), "12:00")
    mapped = route(table, (104, 0), (105, 0)).interface  # the cached unmapped route is gone
    assert mapped is result.added[0]
    assert not mapped.unmapped


def test_reload_removed_line_becomes_unmapped(table):
    old = route(table, A, B).interface
    table.warnings.clear()
    result = table.reload(parse("100:1/0 101:1/0 hdlc\n100:2/0 101:2/0 102:2/0\n103:0/0\n"), "12:00")
    assert result.removed == [old]
    assert result.kept == 3
    assert result.summary() == "0 added, 0 changed, 1 removed, 3 unchanged"
    now = route(table, A, B).interface  # the cached route to the removed line is gone
    assert now is not old
    assert now.unmapped
    assert now.linktype == linktypes.ETHERNET
    assert table.warnings == [
        "frames between 100:0/0-101:0/0 match no NETMAP line: recorded on an interface of their own as ethernet"]
    assert route(table, SA, SB).interface is table.interfaces[1]


def test_reload_changed_linktype(table):
    old = table.interfaces[1]
    assert route(table, SA, SB).interface is old  # cached
    table.new.clear()
    result = table.reload(parse(NETMAP.replace("hdlc", "ppp")), "12:00")
    assert result.kept == 3
    assert len(result.changed) == 1
    was, new = result.changed[0]
    assert was is old
    assert old.replaced_by == new.number == 4
    assert (old.linktype, new.linktype) == (104, 50)
    assert new.description == "IOU link 100:1/0-101:1/0 (NETMAP line 2), ppp, since the NETMAP reload at 12:00"
    assert table.new == [new]
    assert route(table, SA, SB).interface is new
    assert route(table, SB, SA).interface is new
    assert route(table, SB, SA).outbound is False
    assert old not in table.current()


def test_reload_explicit_default_is_unchanged():
    table = LinkTable(parse("100:0/0 101:0/0\n"))
    result = table.reload(parse("100:0/0 101:0/0 ethernet\n"), "t")
    assert result.kept == 1 and result.changed == []


def test_reload_to_auto_and_back():
    table = LinkTable(parse("100:1/0 101:1/0 hdlc\n"))
    result = table.reload(parse("100:1/0 101:1/0 auto\n"), "t1")
    (old, new), = result.changed
    assert (new.auto, new.linktype) == (True, linktypes.ETHERNET)
    # detection switched the link; the same NETMAP again keeps the detected interface
    detected = table.replace(new, linktypes.C_HDLC, "detected")
    detected.frames_out, detected.confirmed = 3, True  # (its frames were followed to Cisco HDLC)
    result = table.reload(parse("100:1/0 101:1/0 auto\n"), "t2")
    assert result.kept == 1 and result.changed == []
    assert route(table, SA, SB).interface is detected
    # The line now writes the type the frames were followed to: the same interface goes on, written now
    # (a second Cisco HDLC interface would only split the link's frames in the file).
    result = table.reload(parse("100:1/0 101:1/0 hdlc\n"), "t3")
    assert result.changed == [] and result.kept == 1 and result.kept_as == [detected]
    assert (detected.auto, detected.linktype, detected.origin) == (False, 104, "NETMAP line")
    assert route(table, SA, SB).interface is detected and table.take_new()[-1] is detected  # (no other made)
    # Another written type is a change: a new interface.
    result = table.reload(parse("100:1/0 101:1/0 ppp\n"), "t4")
    (was, now), = result.changed
    assert was is detected and (now.auto, now.linktype) == (False, linktypes.PPP_SERIAL)


def test_reload_endpoint_moves_to_another_line(table):
    old = route(table, A, B).interface
    result = table.reload(parse(NETMAP.replace("100:0/0 101:0/0", "100:0/0 104:0/0")), "t")
    assert result.removed == [old]
    (added,) = result.added
    assert route(table, A, (104, 0)).interface is added
    assert route(table, A, B).interface.unmapped


def test_reload_carries_pending_comments_and_copies(table):
    shared = table.interfaces[2]
    shared.pending_comments.append("instance 101 died")
    result = table.reload(parse(NETMAP.replace("102:2/0", "102:2/0 hdlc")), "t")
    (old, new), = result.changed
    assert old is shared
    assert new.pending_comments == ["instance 101 died"]
    assert old.pending_comments == []
    assert new.copies is old.copies


# -- shared segment copies ----------------------------------------------------------------

SENDER = (100, 2)
D1, D2, D3 = (101, 2), (102, 2), (103, 2)


def count_new(copies: SharedCopies, arrivals, sender=SENDER) -> list:
    return [copies.is_new(sender, destination, frame, 1_000 + i) for i, (destination, frame) in
            enumerate(arrivals)]


def test_copies_one_frame_any_order():
    for order in ([D1, D2], [D2, D1]):
        assert count_new(SharedCopies(3), [(d, b"F") for d in order]) == [True, False]


def test_copies_repeated_frame_to_same_destination_is_new():
    copies = SharedCopies(3)
    assert count_new(copies, [(D1, b"F"), (D1, b"F")]) == [True, True]
    # their copies to D2 are both copies, not new frames
    assert count_new(copies, [(D2, b"F"), (D2, b"F")]) == [False, False]


def test_copies_after_completion_same_frame_is_new():
    copies = SharedCopies(3)
    assert count_new(copies, [(D1, b"F"), (D2, b"F"), (D2, b"F"), (D1, b"F")]) == [True, False, True, False]


def test_copies_distinct_frames_permutations():
    arrivals = [(D1, b"F"), (D2, b"F"), (D1, b"G"), (D2, b"G"), (D1, b"H"), (D2, b"H")]
    for order in itertools.permutations(arrivals):
        flags = count_new(SharedCopies(3), order)
        assert sum(flags) == 3, order
        # the first copy of each frame is the one recorded
        firsts = {}
        for (destination, frame), new in zip(order, flags):
            firsts.setdefault(frame, new)
        assert firsts == {b"F": True, b"G": True, b"H": True}


@pytest.mark.parametrize("members, others", [(3, [D1, D2]), (4, [D1, D2, D3])])
@pytest.mark.parametrize("times", [1, 2, 3])
def test_copies_identical_frames_all_interleavings(members, others, times):
    """``times`` transmissions of the same bytes, copies in any order across
    destinations (each destination sees its own copies in order): recorded ``times`` times."""
    arrivals = [d for d in others for _ in range(times)]
    for order in set(itertools.permutations(arrivals)):
        assert sum(count_new(SharedCopies(members), [(d, b"same") for d in order])) == times, order


def test_copies_mixed_frames_interleavings():
    """F, G, F sent to two destinations; every cross-destination interleaving: 3 frames."""
    d1 = [(D1, b"F"), (D1, b"G"), (D1, b"F")]
    d2 = [(D2, b"F"), (D2, b"G"), (D2, b"F")]
    count = 0
    for positions in itertools.combinations(range(6), 3):
        order, i1, i2 = [], iter(d1), iter(d2)
        for slot in range(6):
            order.append(next(i1) if slot in positions else next(i2))
        assert sum(count_new(SharedCopies(3), order)) == 3, order
        count += 1
    assert count == 20


def test_copies_senders_are_independent():
    copies = SharedCopies(3)
    assert copies.is_new((100, 2), (102, 2), b"F", 0) is True
    assert copies.is_new((101, 2), (102, 2), b"F", 1) is True
    assert copies.is_new((101, 2), (100, 2), b"F", 2) is False
    assert copies.is_new((100, 2), (101, 2), b"F", 3) is False


def test_copies_expire_after_window():
    copies = SharedCopies(3)
    assert copies.is_new(SENDER, D1, b"F", 0) is True
    assert copies.is_new(SENDER, D2, b"F", COPY_WINDOW_NS + 1) is True
    assert copies.is_new(SENDER, D1, b"F", COPY_WINDOW_NS + 2) is False


def test_completed_frames_leave_the_backlog():
    """Frames whose copies all arrived do not crowd out one still waiting for its copy."""
    copies = SharedCopies(3)
    assert copies.is_new(SENDER, D1, b"waiting", 0) is True
    for i in range(COPY_BACKLOG + 100):
        frame = i.to_bytes(4, "big")
        assert copies.is_new(SENDER, D1, frame, i + 1) is True
        assert copies.is_new(SENDER, D2, frame, i + 1) is False
    assert copies.is_new(SENDER, D2, b"waiting", COPY_BACKLOG + 200) is False


def test_backlog_is_bounded():
    copies = SharedCopies(3)
    for i in range(COPY_BACKLOG + 10):
        assert copies.is_new(SENDER, D1, i.to_bytes(4, "big"), i) is True
    # the oldest ones were dropped: their late copies count as new frames
    assert copies.is_new(SENDER, D2, (0).to_bytes(4, "big"), COPY_BACKLOG + 20) is True
    assert copies.is_new(SENDER, D2, (COPY_BACKLOG + 9).to_bytes(4, "big"), COPY_BACKLOG + 21) is False


def test_removed_line_takes_no_more_notes_and_comes_back_as_a_new_interface():
    from pcapng_iou.core.links import LinkTable
    from pcapng_iou.core.netmap import parse

    table = LinkTable(parse("100:0/0 101:0/0\n100:1/0 101:1/0 hdlc\n"))
    table.new.clear()
    result = table.reload(parse("100:0/0 101:0/0\n"), "t1")
    removed = result.removed[0]
    assert removed.retired and removed not in table.current()
    assert [i.number for i in table.touching(101)] == [0]
    again = table.reload(parse("100:0/0 101:0/0\n100:1/0 101:1/0 hdlc\n"), "t2")
    assert [i.number for i in again.added] == [2]


# -- bay kinds (zero configuration) ----------------------------------------------------------
def test_bay_kinds_decide_lines_without_a_type():
    netmap = parse("1:0/0 2:0/0\n1:1/0 2:1/0\n1:2/0 2:2/0 ppp\n513:1/1 1:1/1\n")
    table = LinkTable(netmap, bays={1: Bays(1, 2), 2: Bays(1, 2), 513: None})
    assert [(i.linktype, i.auto, i.watch, i.guessed) for i in table.interfaces] == [
        (1, False, False, False), (104, True, False, True), (50, False, True, False), (104, True, False, True)]
    assert table.interfaces[1].description == (
        "IOU link 1:1/0-2:1/0 (NETMAP line 2), serial bay, auto-detected, now hdlc, from the start")
    assert table.interfaces[0].description == "IOU link 1:0/0-2:0/0 (NETMAP line 1), ethernet (Ethernet bay), from the start"


def test_ethernet_bay_wired_to_serial_bay_warns_once():
    table = LinkTable(parse("1:0/0 2:1/0\n"), bays={1: Bays(1, 2), 2: Bays(1, 2)})
    assert table.interfaces[0].linktype == 1
    assert table.warnings == ["1:0/0-2:1/0: Ethernet bay (1:0/0) wired to serial bay (2:1/0): recorded as ethernet"]
    table.reload(parse("1:0/0 2:1/0\n"), "t")
    table.learn_bays(2, Bays(1, 3), "t")
    assert len(table.warnings) == 1


def test_learning_bays_later_replaces_the_links_of_that_instance_only():
    table = LinkTable(parse("1:0/0 2:0/0\n1:1/0 2:1/0\n3:1/0 4:1/0\n"))
    assert [i.linktype for i in table.interfaces] == [1, 1, 1]
    changed = table.learn_bays(1, Bays(1, 2), "12:00")
    assert [(old.number, new.number, new.linktype, new.auto) for old, new in changed] == [(1, 3, 104, True)]
    assert table.interfaces[1].replaced_by == 3
    assert "since the bays of instance 1 are known (12:00)" in table.interfaces[3].description
    assert table.learn_bays(1, Bays(1, 2), "12:01") == []          # nothing new
    assert table.learn_bays(5, None, "12:01") == []                 # not IOU, on no line
    assert [i.linktype for i in table.current()] == [1, 1, 104]


def test_an_unmapped_pair_gets_the_bay_kind():
    table = LinkTable(parse(""), bays={1: Bays(1, 2)})
    header = netio.Header(2, 1, netio.port_byte(1, 0), netio.port_byte(1, 0))
    route = table.route(header, header.pack()[:6])
    assert (route.interface.linktype, route.interface.auto) == (104, True)
    header = netio.Header(2, 1, 0, 0)
    assert table.route(header, header.pack()[:6]).interface.linktype == 1


def test_a_watched_link_is_not_cached_for_the_fast_path():
    table = LinkTable(parse("1:1/0 2:1/0 hdlc\n1:0/0 2:0/0\n"))
    for port in (netio.port_byte(1, 0), 0):
        header = netio.Header(2, 1, port, port)
        table.route(header, header.pack()[:6])
    assert [r.interface.number for r in table.route_cache.values()] == [1]


def test_extend_adds_only_new_lines():
    table = LinkTable(parse("1:0/0 2:0/0\n"))
    added = table.extend(parse("1:0/0 2:0/0\n2:1/0 3:1/0\n").segments, "by instance 3")
    assert [i.name for i in added] == ["2:1/0-3:1/0"] and len(table.netmap) == 2
