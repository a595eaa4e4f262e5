"""The files in fixtures/: NETMAP samples, broken NETMAPs with their exact messages, a capture
the tool wrote from the simulated lab, and sample IOU command lines."""
from __future__ import annotations

import glob
import importlib.util
import os
import re
import shlex
import subprocess

import pcapng
import pytest
from conftest import read_packets, run_cli, scan, tshark_rows

from pcapng_iou.core import linktypes, netio
from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.shell import netmapfile
from pcapng_iou.sim import instance as sim_instance

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")
NETMAPS = os.path.join(FIXTURES, "netmaps")
BROKEN = sorted(glob.glob(os.path.join(NETMAPS, "broken", "*.netmap")))


def load_regenerate():
    spec = importlib.util.spec_from_file_location("fixtures_regenerate", os.path.join(FIXTURES, "regenerate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


regenerate = load_regenerate()


# -- NETMAP samples ----------------------------------------------------------------------
def shape(netmap) -> list:
    return [[str(endpoint) for endpoint in segment.endpoints] for segment in netmap]


def test_annotated_and_unannotated_describe_the_same_lab():
    annotated = netmapfile.read(os.path.join(NETMAPS, "annotated"))
    plain = netmapfile.read(os.path.join(NETMAPS, "unannotated"))
    assert shape(annotated) == shape(plain) == [
        ["100:0/0", "101:0/0"], ["100:1/0", "101:1/0"], ["101:1/1", "102:1/1"], ["102:1/2", "100:1/2"],
        ["100:0/1", "101:0/1", "102:0/1"]]
    assert [segment.linktype for segment in annotated] == [
        linktypes.ETHERNET, linktypes.C_HDLC, linktypes.parse("ppp"), linktypes.FRELAY, linktypes.ETHERNET]
    assert [segment.linktype for segment in plain] == [None] * 5


def test_gns3_netmap_has_64_aligned_lines_bridge_first():
    with open(os.path.join(NETMAPS, "gns3-instance-1")) as handle:
        lines = handle.read().splitlines()
    assert lines == [f"513:{bay}/{unit}    1:{bay}/{unit}" for bay in range(16) for unit in range(4)]
    netmap = netmapfile.read(os.path.join(NETMAPS, "gns3-instance-1"))
    assert len(netmap) == 64 and netmap.instances == {1, 513}
    for segment in netmap:
        bridge, router = segment.endpoints
        assert (bridge.instance, router.instance, bridge.port) == (513, 1, router.port)


# -- broken NETMAPs: one per error class, the exact message beside each ------------------------
def test_there_is_a_broken_netmap_for_every_error_class():
    names = {os.path.basename(path)[:-len(".netmap")] for path in BROKEN}
    assert names == {"bad-endpoint", "instance-out-of-range", "bay-out-of-range", "unit-out-of-range",
                     "port-out-of-range", "unknown-link-type", "link-type-out-of-range", "link-type-alone",
                     "endpoint-twice-on-a-line", "endpoint-on-two-lines", "comment-never-closed"}


@pytest.mark.lab
@pytest.mark.parametrize("path", BROKEN, ids=[os.path.basename(p) for p in BROKEN])
def test_broken_netmap_gives_its_exact_message(path):
    with open(path[:-len(".netmap")] + ".error") as handle:
        expected = handle.read()
    name = os.path.basename(path)
    with pytest.raises(netmap_mod.NetmapError) as info:
        netmapfile.read(path, name)
    assert f"pcapng-iou: error: {info.value}\n" == expected
    # What a user sees: the capture refuses it before touching any netio directory.
    result = run_cli("capture", "-d", "/nonexistent", "-n", name, "-w", os.devnull, cwd=os.path.dirname(path))
    assert (result.returncode, result.stderr) == (2, expected)


# -- the capture written from the simulated lab --------------------------------------------------
LAB_PCAPNG = os.path.join(FIXTURES, "lab.pcapng")


def expected_packets() -> list:
    """(interface, frame, direction flags) the file must hold, from the fixture's NETMAP and traffic."""
    netmap = netmapfile.read(regenerate.NETMAP_FILE)
    out = []
    for sender, interface, _receivers, frame, _protocol in regenerate.traffic():
        bay, unit = (int(n) for n in interface.split("/"))
        segment = netmap.segment_of(sender, netio.port_byte(bay, unit))
        first = segment.endpoints[0]
        outbound = (first.instance, first.port) == (sender, netio.port_byte(bay, unit))
        out.append((segment.line - 3, frame, 2 if outbound else 1))  # lines 1-2 are comments
    return out


def test_lab_capture_structure():
    blocks = scan(LAB_PCAPNG)
    kinds = [type(block).__name__ for block in blocks]
    # Each interface block comes just before its link's first frame.
    assert kinds == ["SectionHeader", "InterfaceDescription", "EnhancedPacket", "EnhancedPacket", "EnhancedPacket",
                     "InterfaceDescription", "EnhancedPacket", "EnhancedPacket", "InterfaceDescription",
                     "EnhancedPacket", "EnhancedPacket", "InterfaceDescription", "EnhancedPacket", "EnhancedPacket",
                     "InterfaceDescription", "EnhancedPacket"] + ["InterfaceStatistics"] * 5
    assert blocks[0].options["shb_userappl"].startswith("pcapng-iou ")
    interfaces = [block for block in blocks if isinstance(block, pcapng.blocks.InterfaceDescription)]
    assert [(i.link_type, i.options["if_name"]) for i in interfaces] == [
        (1, "100:0/0-101:0/0"), (104, "100:1/0-101:1/0"), (linktypes.parse("ppp"), "101:1/1-102:1/1"),
        (107, "102:1/2-100:1/2"), (1, "100:0/1-101:0/1-102:0/1")]
    assert [(p[0], p[1], p[2]) for p in read_packets(LAB_PCAPNG)] == expected_packets()


def test_lab_capture_decodes_in_tshark_and_capinfos(tshark):
    rows = tshark_rows(tshark, LAB_PCAPNG, "frame.interface_name", "frame.protocols")
    protocols = [row[1].split(":") for row in rows]
    assert len(rows) == 10
    for found, (_, _, _, _, protocol) in zip(protocols, regenerate.traffic()):
        assert protocol in found, (protocol, found)
    capinfos = os.path.join(os.path.dirname(tshark), "capinfos")
    info = subprocess.run([capinfos, LAB_PCAPNG], capture_output=True, text=True, timeout=60, check=False)
    assert info.returncode == 0, info.stderr
    assert "Number of packets:   10" in info.stdout and "Number of interfaces in file: 5" in info.stdout


@pytest.mark.lab
def test_regenerating_gives_the_same_capture_timestamps_aside(tmp_path):
    fresh = str(tmp_path / "lab.pcapng")
    regenerate.regenerate(fresh)
    strip = [re.compile(r"timestamp|time$|_os$|_hardware$|_userappl$")]  # when, and on which host
    assert described(fresh, strip) == described(LAB_PCAPNG, strip)


def described(path: str, strip: list) -> list:
    """Every block as (kind, its fields and options) without the fields ``strip`` matches."""
    out = []
    for block in scan(path):
        fields = {name: getattr(block, name) for name, *_ in getattr(block, "schema", ())
                  if name != "options" and not any(p.search(name) for p in strip)}
        options = {name: block.options.get_all(name) for name in block.options if not any(p.search(name) for p in strip)}
        out.append((type(block).__name__, fields, repr(options)))  # repr: flags objects have no ==
    return out


# -- IOU command lines ----------------------------------------------------------------------------
def command_lines() -> list:
    with open(os.path.join(FIXTURES, "iou-command-lines.txt")) as handle:
        rows = [line.split(None, 3) for line in handle if line.strip() and not line.startswith("#")]
    return [(int(i), int(e), int(s), shlex.split(command)) for i, e, s, command in rows]


@pytest.mark.parametrize("number, ethernet, serial, argv", command_lines(), ids=lambda v: str(v)[:20])
def test_simulated_instance_reads_ious_command_lines(number, ethernet, serial, argv):
    args = sim_instance.build_parser().parse_args(argv[1:])
    assert (args.instance, args.ethernet_bays, args.serial_bays) == (number, ethernet, serial)
    assert argv[-1] == str(number)  # the id is the last argument
