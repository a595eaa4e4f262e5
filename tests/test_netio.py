"""The NETIO datagram codec: header layout, port bytes, data frames."""
from __future__ import annotations

import pytest

from pcapng_iou.core import netio


def test_header_pack_layout():
    header = netio.Header(dst_id=0x0102, src_id=0x0304, dst_port=0x31, src_port=0x10)
    assert header.pack() == bytes([0x01, 0x02, 0x03, 0x04, 0x31, 0x10, 0x01, 0x00])
    assert netio.HEADER_SIZE == 8


def test_header_round_trip():
    header = netio.Header(1024, 1, 255, 0, msg_type=1, channel=0)
    datagram = netio.encode(header, b"\xaa\xbb")
    assert datagram == bytes.fromhex("04000001ff000100aabb")
    assert netio.decode(datagram) == header
    assert netio.decode(header.pack()) == header


def test_header_defaults():
    header = netio.Header(100, 101, 0, 0)
    assert header.msg_type == netio.MSG_DATA == 1
    assert header.channel == 0


def test_decode_too_short():
    assert netio.decode(b"") is None
    assert netio.decode(b"\x00" * 7) is None
    assert netio.decode(b"\x00\x64\x00\x65\x00\x00\x01\x00") == netio.Header(100, 101, 0, 0)


@pytest.mark.parametrize(
    "bay, unit, port",
    [(0, 0, 0), (1, 3, 0x31), (1, 0, 1), (0, 1, 16), (3, 1, 0x13), (15, 15, 255), (2, 0, 2)],
)
def test_port_byte_and_back(bay, unit, port):
    assert netio.port_byte(bay, unit) == port
    assert netio.bay_unit(port) == (bay, unit)


def test_port_byte_1_3_is_49():
    assert netio.port_byte(1, 3) == 49
    assert netio.port_name(49) == "1/3"


@pytest.mark.parametrize("bay, unit", [(16, 0), (0, 16), (-1, 0), (0, -1), (255, 255)])
def test_port_byte_out_of_range(bay, unit):
    with pytest.raises(ValueError, match="out of range"):
        netio.port_byte(bay, unit)


def test_every_port_byte_round_trips():
    for port in range(256):
        assert netio.port_byte(*netio.bay_unit(port)) == port


@pytest.mark.parametrize("length", range(0, 9))
def test_data_frame_short_datagrams(length):
    datagram = netio.Header(100, 101, 0, 0).pack()[:length]
    assert netio.data_frame(datagram) is None


def test_data_frame_one_byte_payload():
    datagram = netio.Header(100, 101, 0x31, 0x01).pack() + b"\x42"
    assert netio.data_frame(datagram) == (netio.Header(100, 101, 0x31, 0x01), b"\x42")


def test_data_frame_full_payload():
    frame = bytes(range(256)) * 16
    datagram = netio.encode(netio.Header(7, 8, 1, 2), frame)
    header, payload = netio.data_frame(datagram)
    assert header == netio.Header(7, 8, 1, 2, 1, 0)
    assert payload == frame


@pytest.mark.parametrize("msg_type", [0, 2, 3, 255])
def test_data_frame_other_message_types(msg_type):
    datagram = netio.Header(100, 101, 0, 0, msg_type=msg_type).pack() + b"payload"
    assert netio.data_frame(datagram) is None


def test_data_frame_ignores_channel():
    datagram = netio.Header(100, 101, 0, 0, channel=5).pack() + b"x"
    header, frame = netio.data_frame(datagram)
    assert header.channel == 5
    assert frame == b"x"


def test_endpoint_name():
    assert netio.endpoint_name(100, 0) == "100:0/0"
    assert netio.endpoint_name(1, 0x31) == "1:1/3"
    assert netio.endpoint_name(1024, 0x10) == "1024:0/1"
    assert netio.endpoint_name(5, 0xF2) == "5:2/15"
