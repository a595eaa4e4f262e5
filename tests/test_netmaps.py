"""Merging NETMAP files (pure): identical lines once, the first file wins a conflict."""
from __future__ import annotations

import os

from pcapng_iou.core.netmap import parse
from pcapng_iou.core.netmaps import NetmapSet, merge
from pcapng_iou.shell.netmapfile import read as read_netmap


def gns3_netmap(bridge: int, router: int) -> str:
    """The 64 lines GNS3 writes in a router's working directory, columns aligned."""
    return "".join(f"{bridge}:{bay}/{unit}    {router}:{bay}/{unit}\n" for bay in range(16) for unit in range(4))


def test_identical_lines_count_once():
    a = parse("1:0/0 2:0/0\n1:1/0 2:1/0 hdlc\n", "/r1/NETMAP")
    b = parse("# router 2's copy\n2:0/0   1:0/0\n1:1/0 2:1/0 hdlc\n2:2/0 3:2/0\n", "/r2/NETMAP")
    merged, warnings = merge([a, b])
    assert warnings == []
    assert [s.name for s in merged] == ["1:0/0-2:0/0", "1:1/0-2:1/0", "2:2/0-3:2/0"]
    assert [(s.source, s.line) for s in merged] == [("/r1/NETMAP", 1), ("/r1/NETMAP", 2), ("/r2/NETMAP", 4)]
    assert merged.segments[1].where == "/r1/NETMAP line 2"
    assert merged.filename == "2 NETMAP files"


def test_conflicting_wiring_warns_once_naming_both_files_and_the_first_wins():
    a = parse("1:0/0 2:0/0\n", "/r1/NETMAP")
    b = parse("\n1:0/0 3:0/0\n3:1/0 4:1/0\n", "/r3/NETMAP")
    merged, warnings = merge([a, b])
    assert [s.name for s in merged] == ["1:0/0-2:0/0", "3:1/0-4:1/0"]
    assert warnings == [("/r3/NETMAP:2: '1:0/0 3:0/0' wires 1:0/0 differently from /r1/NETMAP:1: '1:0/0 2:0/0'; "
                         "using /r1/NETMAP:1")]


def test_another_link_type_for_the_same_link_is_said_as_such_with_the_file_to_edit():
    """Two GNS3 NETMAPs that differ only in the link type "wired differently" (found by a newcomer):
    the link type differs, and the file to edit (or -n) is named."""
    merged, warnings = merge([parse("1:1/0 2:1/0 hdlc\n", "/r1/NETMAP"), parse("\n1:1/0 2:1/0 ppp\n", "/r2/NETMAP")])
    assert [s.linktype for s in merged] == [104]
    assert warnings == ["/r2/NETMAP:2: the link type differs for '1:1/0 2:1/0 ppp': ppp here, hdlc in /r1/NETMAP:1; "
                        "using hdlc from /r1/NETMAP:1 (to use ppp, edit /r1/NETMAP line 1, or give -n a NETMAP "
                        "of your own)"]
    assert "wires" not in warnings[0]


def test_a_line_of_one_endpoint_is_warned_of_once_per_file():
    merged, warnings = merge([parse("1:0/0\n1:1/0 2:1/0\n", "/r1/NETMAP")])
    assert len(merged) == 2
    assert warnings == ["/r1/NETMAP:1: '1:0/0' has one endpoint: IOU treats 1:0/0 as an unconnected interface "
                        "(what it sends reaches no one)"]


def test_a_shared_segment_against_a_pair():
    merged, warnings = merge([parse("1:0/0 2:0/0 3:0/0\n", "a"), parse("2:0/0 3:0/0\n", "b")])
    assert len(merged) == 1 and len(warnings) == 1 and "wires 2:0/0 differently" in warnings[0]


def test_gns3_lab_every_router_in_its_own_folder():
    files = [parse(gns3_netmap(512 + router, router), f"/gns3/r{router}/NETMAP") for router in (1, 2, 3)]
    merged, warnings = merge(files)
    assert warnings == [] and len(merged) == 3 * 64
    assert merged.instances == {1, 2, 3, 513, 514, 515}


def test_adding_one_file_at_a_time_returns_what_it_added():
    merged = NetmapSet()
    added, warnings = merged.add(parse("1:0/0 2:0/0\n", "a"))
    assert [s.name for s in added] == ["1:0/0-2:0/0"] and warnings == []
    added, warnings = merged.add(parse("1:0/0 2:0/0\n2:1/0 3:1/0\n", "b"))
    assert [s.name for s in added] == ["2:1/0-3:1/0"] and warnings == []
    assert merged.files == ["a", "b"] and len(merged.netmap()) == 2
    assert NetmapSet().netmap().filename == "0 NETMAP files"


def test_the_gns3_fixture_is_what_the_tests_build():
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "netmaps",
                        "gns3-instance-1")
    fixture = read_netmap(path)
    assert [s.name for s in fixture] == [s.name for s in parse(gns3_netmap(513, 1))]
    merged, warnings = merge([fixture, parse(gns3_netmap(514, 2), "router2")])
    assert warnings == [] and len(merged) == 128
