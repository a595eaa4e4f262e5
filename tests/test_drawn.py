"""Drawn links (a GNS3 project): one interface per link the user drew, named as the user knows it."""
from __future__ import annotations

import json

import pytest
from conftest import packet_fields, scan_after_header

from pcapng_iou.core import blocks, drawn, linktypes, netio
from pcapng_iou.core.bays import Bays
from pcapng_iou.core.netmap import parse
from pcapng_iou.core.holding import HOLD_BACKLOG
from pcapng_iou.core.recorder import Recorder
from pcapng_iou.sim import frames
from pcapng_iou.sim.gns3 import Router, gns3_netmap, project_json

R1, R2 = Router("R1", 1), Router("R2", 2)
LINKS = [((R1, 0, 0), (R2, 0, 0)), ((R1, 1, 0), (R2, 1, 0))]
T0 = 1_700_000_000_000_000_000
ARP = frames.arp_request("aa:bb:cc:00:01:00", "10.0.0.1", "10.0.0.2")
SLARP = frames.slarp_keepalive(1, 0)


def project_text(routers=(R1, R2), links=LINKS) -> str:
    return json.dumps(project_json(routers, links))


def datagram(src, dst, frame):
    (sid, sport), (did, dport) = src, dst
    return netio.Header(did, sid, dport, sport).pack() + frame


def gns3_recorder() -> Recorder:
    netmap = parse(gns3_netmap(1) + gns3_netmap(2))
    rec = Recorder(netmap, bays={1: Bays(1, 1), 2: Bays(1, 1), 513: None, 514: None},
                   drawing=drawn.parse_gns3(project_text(), "lab.gns3"))
    rec.start()
    return rec


def test_names_come_from_the_project_and_the_bay_kinds():
    drawing = drawn.parse_gns3(project_text(), "lab.gns3")
    assert [link.name for link in drawing.links] == [
        "R1 Ethernet0/0 - R2 Ethernet0/0", "R1 Serial1/0 - R2 Serial1/0"]
    assert drawing.routers == {1: "R1", 2: "R2"}
    half = drawing.half({(513, 0), (1, 0)})
    assert half.link is drawing.links[0] and half.bridge_end == (513, 0) and half.router_end == (1, 0)
    assert drawing.half({(514, 16), (2, 16)}) is None  # 0/1: no link drawn there


@pytest.mark.parametrize("text", ["", "{", "[]", '{"topology": 3}', '{"topology": {"links": [{"nodes": 1}]}}'])
def test_a_file_that_is_no_project_is_one_clear_error(text):
    with pytest.raises(drawn.ProjectError, match=r"^lab\.gns3: "):
        drawn.parse_gns3(text, "lab.gns3")


def test_each_transmission_once_on_one_interface_per_drawn_link():
    rec = gns3_recorder()
    out = rec.datagram(datagram((1, 0), (513, 0), ARP), T0)          # R1 sends
    out += rec.datagram(datagram((514, 0), (2, 0), ARP), T0 + 1)     # the bridge's copy to R2
    out += rec.datagram(datagram((2, 0), (514, 0), ARP[:42]), T0 + 2)  # R2 answers
    out += rec.datagram(datagram((513, 0), (1, 0), ARP[:42]), T0 + 3)  # the copy to R1
    serial = netio.port_byte(1, 0)
    out += rec.datagram(datagram((2, serial), (514, serial), SLARP), T0 + 4)
    out += rec.datagram(datagram((513, serial), (1, serial), SLARP), T0 + 5)
    found = scan_after_header(out)
    described = [(b.link_type, b.options["if_name"]) for b in found if type(b).__name__ == "InterfaceDescription"]
    assert described == [(linktypes.ETHERNET, "R1 Ethernet0/0 - R2 Ethernet0/0"),
                         (linktypes.C_HDLC, "R1 Serial1/0 - R2 Serial1/0")]
    packets = [(b.interface_id, int(b.options["epb_flags"]) & 3, bytes(b.packet_data))
               for b in found if type(b).__name__ == "EnhancedPacket"]
    assert packets == [(0, blocks.OUTBOUND, ARP), (0, blocks.INBOUND, ARP[:42]), (1, blocks.INBOUND, SLARP)]
    assert (rec.frames_recorded, rec.shared_copies) == (3, 3)
    description = [b for b in found if type(b).__name__ == "InterfaceDescription"][0].options["if_description"]
    assert "GNS3 project lab.gns3" in description and "513:0/0-1:0/0" in description
    # The fast way keeps it so.
    again = rec.record([datagram((1, 0), (513, 0), ARP), datagram((514, 0), (2, 0), ARP)] * 3, [T0 + 9] * 6)
    assert [b.interface_id for b in scan_after_header(again)] == [0, 0, 0]


def test_a_half_whose_other_half_is_not_in_netmap_is_recorded_on_its_own_both_ways():
    netmap = parse(gns3_netmap(1))  # R2's NETMAP is not known (R2 not started)
    rec = Recorder(netmap, drawing=drawn.parse_gns3(project_text(), "lab.gns3"))
    rec.start()
    out = rec.datagram(datagram((1, 0), (513, 0), ARP), T0) + rec.datagram(datagram((513, 0), (1, 0), ARP), T0 + 1)
    packets = [(b.interface_id, int(b.options["epb_flags"]) & 3)
               for b in scan_after_header(out) if type(b).__name__ == "EnhancedPacket"]
    assert packets == [(0, blocks.OUTBOUND), (0, blocks.INBOUND)]
    assert rec.shared_copies == 0


def cdp_from(router: int, interface: str, serial: bool = False) -> bytes:
    if serial:
        return frames.cdp_over_hdlc(f"R{router}", interface, f"10.0.0.{router}")
    return frames.cdp(f"aa:bb:cc:00:0{router}:00", f"R{router}", interface, f"10.0.0.{router}")


def test_without_a_project_cdp_names_the_ends_and_joins_the_halves():
    rec = Recorder(parse(gns3_netmap(1) + gns3_netmap(2)), bays={1: Bays(1, 1), 2: Bays(1, 1)})
    rec.start()
    out = rec.datagram(datagram((1, 0), (513, 0), cdp_from(1, "Ethernet0/0")), T0)      # R1 says who it is
    out += rec.datagram(datagram((514, 0), (2, 0), cdp_from(1, "Ethernet0/0")), T0 + 1)  # out of the other half
    assert out == b"" and rec.frames_recorded == 1  # held: R2's end is not named yet
    out += rec.datagram(datagram((2, 0), (514, 0), cdp_from(2, "Ethernet0/0")), T0 + 2)  # R2 answers
    out += rec.datagram(datagram((513, 0), (1, 0), cdp_from(2, "Ethernet0/0")), T0 + 3)
    out += rec.datagram(datagram((1, 0), (513, 0), ARP), T0 + 4)
    out += rec.datagram(datagram((514, 0), (2, 0), ARP), T0 + 5)
    found = scan_after_header(out)
    described = [b.options["if_name"] for b in found if type(b).__name__ == "InterfaceDescription"]
    assert described == ["R1 Ethernet0/0 - R2 Ethernet0/0"]  # written once R2 said who it is
    assert [(f[0], f[2] & 3, f[3]) for f in (packet_fields(b) for b in found if type(b).__name__ == "EnhancedPacket")] == [
        (0, blocks.OUTBOUND, []), (0, blocks.INBOUND, []), (0, blocks.OUTBOUND, [])]
    assert rec.links.current()[0].name == "R1 Ethernet0/0 - R2 Ethernet0/0"
    assert (rec.frames_recorded, rec.shared_copies) == (3, 3)
    assert rec.take_notices() == ["R1 Ethernet0/0 is R1 Ethernet0/0 - IOU 2 Ethernet0/0 (learnt from CDP)",
                                  "R1 Ethernet0/0 - IOU 2 Ethernet0/0 is R1 Ethernet0/0 - R2 Ethernet0/0 (learnt from CDP)"]


def cdp_recorder() -> Recorder:
    rec = Recorder(parse(gns3_netmap(1) + gns3_netmap(2)), bays={1: Bays(1, 1), 2: Bays(1, 1)})
    rec.start()
    return rec


def described(out: bytes) -> list:
    return [b.options["if_name"] for b in scan_after_header(out) if type(b).__name__ == "InterfaceDescription"]


def packets(out: bytes) -> list:
    """(interface id, direction, frame, timestamp) of each packet of ``out``."""
    return [(b.interface_id, packet_fields(b)[2] & 3, packet_fields(b)[1], b.timestamp_high << 32 | b.timestamp_low)
            for b in scan_after_header(out) if type(b).__name__ == "EnhancedPacket"]


SECOND = 1_000_000_000
SERIAL = netio.port_byte(1, 0)


@pytest.mark.parametrize("then, fed, name", [
    # R2 never speaks: after 2 s of frame time the block says what is known (the next batch writes it).
    (lambda rec: rec.datagram(datagram((1, SERIAL), (513, SERIAL), SLARP), T0 + 2 * SECOND), 1,
     "R1 Serial1/0 - IOU 2 Serial1/0"),
    # The capture's timer asks after the window: the same, with no frame coming.
    (lambda rec: rec.release_held(T0 + 2 * SECOND), 0, "R1 Serial1/0 - IOU 2 Serial1/0"),
    # Not before the window is over.
    (lambda rec: rec.release_held(T0 + 2 * SECOND - 2), 0, None),
    # The stop writes whatever is held.
    (lambda rec: rec.release_held(), 0, "R1 Serial1/0 - IOU 2 Serial1/0"),
    # R2 names its end within the window: written at once, with both names.
    (lambda rec: rec.datagram(datagram((2, SERIAL), (514, SERIAL), cdp_from(2, "Serial1/0", True)), T0 + SECOND), 1,
     "R1 Serial1/0 - R2 Serial1/0"),
])
def test_a_half_link_waits_for_the_far_end_within_a_window(then, fed, name):
    rec = cdp_recorder()
    out = rec.datagram(datagram((1, SERIAL), (513, SERIAL), cdp_from(1, "Serial1/0", True)), T0)
    out += rec.datagram(datagram((514, SERIAL), (2, SERIAL), cdp_from(1, "Serial1/0", True)), T0 + 1)
    out += rec.datagram(datagram((1, SERIAL), (513, SERIAL), SLARP), T0 + 2)
    assert out == b"" and rec.frames_recorded == 2  # held, counted (-c counts them)
    out = then(rec)
    assert described(out) == ([] if name is None else [name])
    if name is not None:
        assert [p[3] for p in packets(out)][:2] == [T0, T0 + 2]  # in order, each with its own timestamp
        assert [i for i in rec.links.interfaces if i.file_id == 0][0].frames == len(packets(out))
    assert rec.datagrams_seen == 3 + fed  # each datagram accounted for once
    assert bool(rec.held) == (name is None)


def test_frames_held_on_both_halves_go_to_the_drawn_link_once_when_cdp_pairs_them():
    rec = cdp_recorder()
    arp_2 = frames.arp_request("aa:bb:cc:00:02:00", "10.0.0.2", "10.0.0.1")
    # Before anyone's CDP: R2's ARP on its half, and its copy out of the other bridge toward R1.
    out = rec.datagram(datagram((2, 0), (514, 0), arp_2), T0)
    out += rec.datagram(datagram((513, 0), (1, 0), arp_2), T0 + 1)
    out += rec.datagram(datagram((1, 0), (513, 0), cdp_from(1, "Ethernet0/0")), T0 + 2)
    out += rec.datagram(datagram((514, 0), (2, 0), cdp_from(1, "Ethernet0/0")), T0 + 3)  # pairs the halves
    out += rec.datagram(datagram((2, 0), (514, 0), cdp_from(2, "Ethernet0/0")), T0 + 4)  # names R2's end
    out += rec.datagram(datagram((513, 0), (1, 0), cdp_from(2, "Ethernet0/0")), T0 + 5)
    assert described(out) == ["R1 Ethernet0/0 - R2 Ethernet0/0"]
    assert packets(out) == [(0, blocks.INBOUND, arp_2, T0),  # R2's: inbound, R1 being the link's first end
                            (0, blocks.OUTBOUND, cdp_from(1, "Ethernet0/0"), T0 + 2),
                            (0, blocks.INBOUND, cdp_from(2, "Ethernet0/0"), T0 + 4)]
    assert (rec.frames_recorded, rec.shared_copies) == (3, 3)
    assert not rec.held


def test_a_flood_of_frames_on_a_silent_half_is_not_held_without_end():
    rec = cdp_recorder()
    out = rec.record([datagram((1, 0), (513, 0), ARP)] * HOLD_BACKLOG, [T0] * HOLD_BACKLOG)
    assert described(out) == ["IOU 1 Ethernet0/0"] and len(packets(out)) == HOLD_BACKLOG
    assert not rec.held


def test_halves_paired_by_cdp_after_both_were_written_go_on_as_one_interface_naming_both_lines():
    """EVE-NG (and GNS3 without its project): both halves carry frames before CDP shows they are one link,
    and R2 may speak first.  Each half's block names its own NETMAP line only; from the pairing on, both
    directions go to one new interface whose block names the link and both lines, R1's frames outbound."""
    rec = Recorder(parse(gns3_netmap(1) + gns3_netmap(2)), bays={1: Bays(1, 1), 2: Bays(1, 1)})
    rec.start()
    reply = ARP[:42]
    out = rec.datagram(datagram((1, 0), (513, 0), ARP), T0)                             # each half on its own
    out += rec.datagram(datagram((514, 0), (2, 0), ARP), T0 + 1)
    later = T0 + 3 * SECOND  # (past the window a half waits for its far end's name in: both halves are written)
    out += rec.datagram(datagram((2, 0), (514, 0), cdp_from(2, "Ethernet0/0")), later)  # R2 speaks first
    out += rec.datagram(datagram((513, 0), (1, 0), cdp_from(2, "Ethernet0/0")), later + 1)  # its copy pairs them
    for step, (src, dst, frame) in enumerate([((1, 0), (513, 0), ARP), ((514, 0), (2, 0), ARP),
                                              ((2, 0), (514, 0), reply), ((513, 0), (1, 0), reply)]):
        out += rec.datagram(datagram(src, dst, frame), later + 2 + step)
    out += rec.release_held()  # (R1 never said its name: what waits for it is written at the stop)
    found = scan_after_header(out)
    described = [(b.options["if_name"], b.options["if_description"])
                 for b in found if type(b).__name__ == "InterfaceDescription"]
    packets = [(b.interface_id, int(b.options["epb_flags"]) & 3, bytes(b.packet_data),
                list(b.options.get_all("opt_comment")) if "opt_comment" in b.options else [])
               for b in found if type(b).__name__ == "EnhancedPacket"]
    assert [p[:2] for p in packets] == [(0, blocks.OUTBOUND), (1, blocks.INBOUND), (1, blocks.OUTBOUND),
                                        (2, blocks.OUTBOUND), (2, blocks.INBOUND)]
    assert [p[2] for p in packets[3:]] == [ARP, reply]  # after the pairing: each transmission once
    assert packets[3][3] == ["its two halves are one link (learnt from CDP); earlier frames are on interfaces 0 and 1"]
    name, description = described[2]
    assert name == "IOU 1 Ethernet0/0 - R2 Ethernet0/0"
    assert "513:0/0-1:0/0" in description and "514:0/0-2:0/0" in description, description
    assert (rec.frames_recorded, rec.shared_copies) == (5, 3)
    assert rec.take_notices()[-1] == ("IOU 1 Ethernet0/0 and R2 Ethernet0/0 are one link: IOU 1 Ethernet0/0 - "
                                      "R2 Ethernet0/0 (learnt from CDP), recorded on a new interface")
