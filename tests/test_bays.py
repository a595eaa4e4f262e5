"""Bay kinds from an IOU command line (pure, in memory)."""
from __future__ import annotations

import os
import shlex

import pytest

from pcapng_iou.core import netio
from pcapng_iou.core.bays import ETHERNET, SERIAL, Bays, parse_command_line


def port(bay: int, unit: int) -> int:
    return netio.port_byte(bay, unit)


@pytest.mark.parametrize("argv, expected", [
    (["i86bi-linux-l3.bin", "100"], Bays(2, 2)),                                  # IOU's defaults
    (["i86bi-linux-l3.bin", "-e", "1", "-s", "2", "100"], Bays(1, 2)),
    (["/opt/iou/l2.bin", "-L", "-n", "256", "-m", "1024", "-e", "4", "-s", "0", "100"], Bays(4, 0)),
    (["iou", "-e1", "-s3", "100"], Bays(1, 3)),                                     # getopt's joined form
    (["iou", "-e", "2", "-e", "3", "100"], Bays(3, 2)),                              # the last one counts
    (["iou", "-b", "-e 9", "-s", "1", "100"], Bays(2, 1)),                           # -b's value is not read
    (["iou", "-c", "-s", "-e", "0", "100"], Bays(0, 2)),                             # nor -c's
    (["python3", "-m", "pcapng_iou.sim.instance", "-d", "/tmp/x", "--speak", "-e", "1", "-s", "2", "100"],
     Bays(1, 2)),
    (["iou", "-e", "016", "-s", "0", "0100"], Bays(16, 0)),                          # leading zeros
])
def test_iou_command_lines(argv, expected):
    assert parse_command_line(argv, 100) == expected


@pytest.mark.parametrize("argv", [
    [],
    ["100"],                                               # no program word
    ["iou", "101"],                                        # another instance's id
    ["iou", "100", "-e", "1"],                             # the id is not last
    ["ubridge", "-H", "127.0.0.1:3456"],                   # GNS3's bridge
    ["iou", "-e", "100"],                                  # -e eats the id: nothing is left
    ["iou", "-e", "x", "100"],
    ["iou", "-e", "-1", "100"],
    ["iou", "-e", "17", "100"],
    ["iou", "-e", "10", "-s", "7", "100"],                 # 17 bays do not fit in a port byte
    ["iou", "-e", "1" * 5000, "100"],
    ["iou", "-e", "\u0661", "100"],                        # a digit, but not an ASCII one
    ["iou", "\u0661\u0660\u0660"],
    ["iou", "+100"],
    ["iou", "1" * 5000],
    ["iou", ""],
])
def test_anything_else_is_not_iou(argv):
    assert parse_command_line(argv, 100) is None


def test_odd_words_never_raise():
    for argv in (["-"], ["iou", "-", "100"], ["iou", "--", "100"], ["iou", "-s", ""], ["\0", "\0"]):
        parse_command_line(argv, 100)


def test_kinds_by_bay_ethernet_first():
    bays = Bays(1, 2)
    assert [bays.kind(port(bay, 0)) for bay in range(4)] == [ETHERNET, SERIAL, SERIAL, None]
    assert bays.kind(port(1, 3)) == SERIAL
    assert bays.kind(port(1, 4)) is None          # 4 units a bay
    assert Bays().kind(port(0, 0)) == ETHERNET and Bays().kind(port(2, 0)) == SERIAL
    assert Bays(0, 16).kind(port(15, 3)) == SERIAL
    assert str(bays) == "-e 1 -s 2"


def test_the_sample_command_lines_of_the_fixtures():
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures",
                        "iou-command-lines.txt")
    count = 0
    with open(path) as handle:
        for line in handle:
            if not line.strip() or line.startswith("#"):
                continue
            instance, ethernet, serial, command = line.split(None, 3)
            argv = shlex.split(command)
            assert parse_command_line(argv, int(instance)) == Bays(int(ethernet), int(serial)), line
            assert parse_command_line(argv, int(instance) + 1) is None  # another instance's command line
            count += 1
    assert count >= 10
