"""A drawn link's interface names both its NETMAP lines, whichever half's line came in first."""
from __future__ import annotations


from conftest import scan_after_header
from test_drawn import ARP, T0, datagram, project_text

from pcapng_iou.core import cdp, drawn, netio
from pcapng_iou.core.bays import Bays
from pcapng_iou.core.netmap import parse
from pcapng_iou.core.recorder import Recorder
from pcapng_iou.sim import frames
from pcapng_iou.sim.gns3 import gns3_netmap

BOTH_ETHERNET = "NETMAP 513:0/0-1:0/0 and 514:0/0-2:0/0"


def recorder(netmap_text: str) -> Recorder:
    rec = Recorder(parse(netmap_text), bays={1: Bays(1, 1), 2: Bays(1, 1), 513: None, 514: None},
                   drawing=drawn.parse_gns3(project_text(), "lab.gns3"))
    rec.start()
    return rec


def blocks_of(out: bytes):
    """(if_description of each interface block, (interface id, comments) of each packet) in ``out``."""
    found = scan_after_header(out)
    described = [b.options["if_description"] for b in found if type(b).__name__ == "InterfaceDescription"]
    packets = [(b.interface_id, b.options.get_all("opt_comment") if "opt_comment" in b.options else [])
               for b in found if type(b).__name__ == "EnhancedPacket"]
    return described, packets


def test_each_drawn_link_names_both_lines_when_its_halves_are_known_at_the_start():
    rec = recorder(gns3_netmap(1) + gns3_netmap(2))  # (R1's lines first: its halves are made first)
    out = rec.datagram(datagram((1, 0), (513, 0), ARP), T0)
    out += rec.datagram(datagram((2, 16), (514, 16), ARP), T0 + 1)  # (0/1: no link drawn there)
    described, _ = blocks_of(out)
    assert BOTH_ETHERNET in described[0], described
    assert "514:0/1-2:0/1" in described[1] and " and " not in described[1], described


def test_the_other_half_coming_in_before_the_first_frame():
    """Each instance brings its NETMAP as it attaches (EVE-NG, GNS3 without a project at the start)."""
    rec = recorder(gns3_netmap(1))
    rec.extend(parse(gns3_netmap(2)).segments, "when R2 attached")
    described, packets = blocks_of(rec.datagram(datagram((1, 0), (513, 0), ARP), T0))
    assert BOTH_ETHERNET in described[0] and packets[0][0] == 0, described


def test_the_other_half_coming_in_after_the_first_half_was_written():
    """R1 and its bridge run (and send) before R2 is started: the half's block names its line alone, so
    the link goes on on a new interface naming both lines, and its first frame says where the earlier ones are."""
    rec = recorder(gns3_netmap(1))
    described, packets = blocks_of(rec.datagram(datagram((1, 0), (513, 0), ARP), T0))
    assert "NETMAP 513:0/0-1:0/0," in described[0] and packets[0][0] == 0
    rec.extend(parse(gns3_netmap(2)).segments, "when R2 attached")
    described, packets = blocks_of(rec.datagram(datagram((1, 0), (513, 0), ARP), T0 + 1)
                                   + rec.datagram(datagram((2, 0), (514, 0), ARP), T0 + 2)
                                   + rec.datagram(datagram((513, 0), (1, 0), ARP), T0 + 3))  # (the copy)
    assert len(described) == 1 and BOTH_ETHERNET in described[0], described
    assert [p[0] for p in packets] == [1, 1]
    assert any("earlier frames are on interface 0" in c for c in packets[0][1]), packets
    old = rec.links.interfaces[0]
    new = rec.links.interfaces[old.replaced_by]
    assert new.file_id == 1 and new.name == old.name == "R1 Ethernet0/0 - R2 Ethernet0/0"


def eve_drawing(bays: dict) -> drawn.Drawing:
    """The serial link R1 1/0 - R2 1/0 as the wrappers' -l give it, named with the bays known so far."""
    drawing = drawn.Drawing()
    drawing.routers.update({1: "R1", 2: "R2"})
    ends = tuple(cdp.end_for(end, {}, bays, drawing.routers) for end in ((1, SERIAL_1_0), (2, SERIAL_1_0)))
    drawing.add(drawn.DrawnLink(ends, "EVE-NG serial link"))
    return drawing


SERIAL_1_0 = netio.port_byte(1, 0)


def test_a_half_made_before_its_far_end_was_known_takes_the_links_name_and_both_lines():
    """EVE-NG: R1 and its wrapper attach first (R2's bays unknown: "R2 Ethernet1/0"), then R2: its bays
    name the far end right, and its line comes in before R1's half wrote anything."""
    serial_lines = "1:1/0 513:1/0\n"
    rec = Recorder(parse(serial_lines), bays={1: Bays(1, 1), 513: None}, drawing=eve_drawing({1: Bays(1, 1)}))
    rec.start()
    assert rec.links.current()[0].name == "R1 Serial1/0 - R2 Ethernet1/0"
    rec.links.learn_bays(2, Bays(1, 1), "t")
    rec.links.learn_drawing(eve_drawing({1: Bays(1, 1), 2: Bays(1, 1)}))
    rec.extend(parse("2:1/0 514:1/0\n").segments, "when R2 attached")
    out = rec.datagram(datagram((1, SERIAL_1_0), (513, SERIAL_1_0), frames.slarp_keepalive(1, 0)), T0)
    found = scan_after_header(out)
    block, = [b for b in found if type(b).__name__ == "InterfaceDescription"]
    assert block.options["if_name"] == "R1 Serial1/0 - R2 Serial1/0"
    assert block.options["if_description"].startswith(
        "R1 Serial1/0 - R2 Serial1/0: EVE-NG serial link, NETMAP 1:1/0-513:1/0 and 2:1/0-514:1/0, "), \
        block.options["if_description"]
