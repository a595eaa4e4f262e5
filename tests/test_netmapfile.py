"""Reading a NETMAP file: errors name the file (or the name it is shown by)."""
from __future__ import annotations

import pytest

from pcapng_iou.core.netmap import NetmapError
from pcapng_iou.shell import netmapfile


def test_read(tmp_path):
    path = tmp_path / "NETMAP"
    path.write_text("100:0/0 101:0/0 hdlc\n")
    parsed = netmapfile.read(str(path))
    assert parsed.filename == str(path)
    assert parsed.segments[0].linktype == 104


def test_read_error_names_display_name(tmp_path):
    path = tmp_path / "NETMAP"
    path.write_text("\n100:0/0 bad\n")
    with pytest.raises(NetmapError) as info:
        netmapfile.read(str(path), "the-netmap")
    assert str(info.value) == ("the-netmap:2:9: unknown link type 'bad' (use a number or one of: "
                               "ethernet, frame-relay, hdlc, ppp), or auto to follow the frames")


def test_read_missing_file(tmp_path):
    path = str(tmp_path / "missing")
    with pytest.raises(NetmapError) as info:
        netmapfile.read(path)
    assert str(info.value) == f"{path}: cannot read: No such file or directory"  # no meaningless 0:0
    assert (info.value.line, info.value.column) == (0, 0)


def test_read_missing_file_display_name(tmp_path):
    with pytest.raises(NetmapError, match=r"^NETMAP: cannot read: No such file or directory$"):
        netmapfile.read(str(tmp_path / "missing"), "NETMAP")


def test_read_directory(tmp_path):
    with pytest.raises(NetmapError) as info:
        netmapfile.read(str(tmp_path))
    assert str(info.value) == f"{tmp_path}: a directory, not a regular file: not read"


def test_a_file_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "NETMAP"
    path.write_bytes("\ufeff100:0/0 101:0/0 hdlc\n".encode("utf-8"))
    assert [(s.name, s.linktype) for s in netmapfile.read(str(path))] == [("100:0/0-101:0/0", 104)]
