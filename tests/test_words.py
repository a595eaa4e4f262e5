"""Counts in words, as the tool says them."""
from pcapng_iou.core.words import counted


def test_one_is_singular_every_other_count_plural():
    assert counted(1, "line") == "1 line"
    assert [counted(n, "line") for n in (0, 2, 128)] == ["0 lines", "2 lines", "128 lines"]
    assert counted(1, "new line") == "1 new line" and counted(3, "new line") == "3 new lines"
    assert counted(2, "datagram", "datagrams or frames") == "2 datagrams or frames"
