"""Datagrams of any size the kernel carries go through the capture whole (issue 24, item 7).

IOU frames are short, but nothing in a unix datagram socket stops a peer from
sending more than 64 KiB: such a datagram must reach the instance byte for
byte, and the file must keep its true length (a snap length cuts what is
stored, never what is relayed).
"""
from __future__ import annotations

import os
import signal
import socket
import time

import pcapng
import pytest
from conftest import scan, short_tempdir, tshark_rows

from pcapng_iou.core.netio import HEADER
from pcapng_iou.sim.instance import take_instance_lock

pytestmark = pytest.mark.lab

NETMAP = "100:0/0 101:0/0\n"
#: Just over 64 KiB, and well over it (what the independent check sends).
SIZES = (65_537, 100_008)
#: Receive buffers big enough for anything these tests send.
RECEIVE = 1 << 20


def big_datagram(size: int, seq: int) -> bytes:
    """A data datagram of ``size`` bytes in all (header included) from 100:0/0 to 101:0/0."""
    body = bytes((seq * 7 + index) & 0xFF for index in range(size - HEADER.size))
    return HEADER.pack(101, 100, 0, 0, 1, 0) + body


@pytest.fixture
def two_instances(workdir):
    directory = short_tempdir("big")
    netmap = os.path.join(workdir, "NETMAP")
    with open(netmap, "w") as handle:
        handle.write(NETMAP)
    socks, locks = {}, []
    for number in (100, 101):
        path = os.path.join(directory, str(number))
        locks.append(take_instance_lock(path + ".lck"))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * RECEIVE)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * RECEIVE)
        sock.bind(path)
        sock.settimeout(10)
        socks[number] = sock
    yield directory, netmap, socks
    for sock in socks.values():
        sock.close()
    for lock in locks:
        os.close(lock)
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    os.rmdir(directory)


def packet_lengths(path: str) -> list:
    """(captured bytes, original length) of every packet of a capture."""
    return [(bytes(block.packet_data), block.packet_len)
            for block in scan(path) if isinstance(block, pcapng.blocks.EnhancedPacket)]


@pytest.mark.parametrize("snaplen", [None, 96])
def test_datagrams_over_64_kib_arrive_whole_and_keep_their_length_in_the_file(two_instances, workdir, start_capture,
                                                                              tshark, snaplen):
    directory, netmap, lab = two_instances
    output = os.path.join(workdir, "big.pcapng")
    args = ["-d", directory, "-n", netmap, "-w", output, "-q"] + (["-s", str(snaplen)] if snaplen else [])
    capture = start_capture(*args)
    attached = [os.path.join(directory, f"{n}_real") for n in (100, 101)]
    deadline = time.monotonic() + 20
    while not all(os.path.exists(path) for path in attached):
        assert capture.process.poll() is None and time.monotonic() < deadline, \
            "the capture did not attach: " + capture.stderr
        time.sleep(0.01)
    sent = []
    # Lone, then three in a row (read together), then a short one between big ones.
    for seq, size in enumerate(SIZES):
        sent.append(big_datagram(size, seq))
        lab[100].sendto(sent[-1], os.path.join(directory, "101"))
        assert lab[101].recv(RECEIVE) == sent[-1], f"a {size}-byte datagram did not arrive whole"
    burst = [big_datagram(SIZES[1], 10), big_datagram(100, 11), big_datagram(SIZES[0], 12)]
    for item in burst:
        lab[100].sendto(item, os.path.join(directory, "101"))
    assert [lab[101].recv(RECEIVE) for _ in burst] == burst, "a burst of big datagrams did not arrive whole"
    sent += burst
    assert capture.stop(signal.SIGINT) == 0, capture.stderr

    packets = packet_lengths(output)
    frames = [item[HEADER.size:] for item in sent]
    assert [length for _, length in packets] == [len(frame) for frame in frames], "original lengths lost"
    stored = [frame[:snaplen] if snaplen else frame for frame in frames]
    assert [data for data, _ in packets] == stored
    # tshark reads every frame of the file, with its length on the wire and what was stored.
    rows = tshark_rows(tshark, output, "frame.len", "frame.cap_len")
    assert rows == [[str(len(frame)), str(len(data))] for frame, data in zip(frames, stored)]
