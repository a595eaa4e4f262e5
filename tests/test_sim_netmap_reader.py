"""The simulated instance reads NETMAP with a reader of its own (pcapng_iou.sim.netmap_reader), written
apart from the capture's parser (pcapng_iou.core.netmap).  The two must agree on every file: where a
router sends a frame and where the capture records it come from the two readings."""
from __future__ import annotations

import glob
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.sim import netmap_reader

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "netmaps")
GOOD = [os.path.join(FIXTURES, name) for name in ("annotated", "unannotated", "gns3-instance-1")]
BROKEN = sorted(glob.glob(os.path.join(FIXTURES, "broken", "*.netmap")))


def both(text: str):
    """What each reader makes of ``text``: the Netmap, or the line it refuses."""
    found = []
    for read in (netmap_mod.parse, netmap_reader.read_text):
        try:
            found.append(read(text, "NETMAP"))
        except netmap_mod.NetmapError as err:
            found.append(("refused on line", err.line))
    return found


@pytest.mark.parametrize("path", GOOD, ids=os.path.basename)
def test_both_readers_read_each_lab_alike(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    capture_reading, instance_reading = both(text)
    assert len(capture_reading) > 0 and capture_reading == instance_reading
    assert netmap_reader.read_file(path, "NETMAP") == capture_reading


@pytest.mark.parametrize("path", BROKEN, ids=os.path.basename)
def test_both_readers_refuse_each_broken_file_on_the_same_line(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    capture_reading, instance_reading = both(text)
    assert isinstance(capture_reading, tuple) and capture_reading == instance_reading


def test_a_byte_order_mark_and_a_missing_file(tmp_path):
    path = tmp_path / "NETMAP"
    path.write_bytes("\ufeff100:0/0 101:0/0\n".encode())
    assert netmap_reader.read_file(str(path)) == netmap_mod.parse("100:0/0 101:0/0\n", str(path))
    with pytest.raises(netmap_mod.NetmapError, match="^/nonexistent/NETMAP: cannot read: No such file"):
        netmap_reader.read_file("/nonexistent/NETMAP")


ENDPOINT = st.builds(
    lambda instance, bay, unit, by_port, host: (f"{instance}:{bay | unit << 4}" if by_port else
                                                f"{instance}:{bay}/{unit}") + (f"@{host}" if host else ""),
    st.integers(1, 1024), st.integers(0, 15), st.integers(0, 15), st.booleans(),
    st.sampled_from(["", "", "lab", "10.0.0.1"]))
#: Now and then a word that is no endpoint: both readers must refuse it, on the same line.
WRONG = st.sampled_from(["1025:0/0", "0:0/0", "1:16/0", "1:0/16", "1:256", "x:0/0", "1:0/0@", "1:/0", "1:0/0/0"])
KIND = st.sampled_from(["", "", "ethernet", "hdlc", "ppp", "frame-relay", "auto", "AUTO", "104", "0", "65536",
                        "hdlx"])
FILLER = st.sampled_from(["", "   ", "\t", "  # a comment", " /* a\ncomment */ ", "/**/", " # /* ", " /* # */",
                          "\n", "*/", " /* "])


@st.composite
def netmap_texts(draw):
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        words = draw(st.lists(ENDPOINT if draw(st.integers(0, 9)) else WRONG, min_size=1, max_size=4))
        words.append(draw(KIND))
        lines.append(draw(FILLER) + " ".join(w + draw(FILLER) for w in words if w))
        lines += [draw(FILLER)] if draw(st.booleans()) else []
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


@settings(max_examples=500, deadline=None)
@given(netmap_texts())
def test_both_readers_agree_on_any_netmap(text):
    capture_reading, instance_reading = both(text)
    assert capture_reading == instance_reading, text
