"""dumpcap and tcpdump habits the capture does not share, said as such.

``capture -f "icmp"`` is read by argparse as ``--flush`` followed by a stray
word; a user who meant a capture filter is told that there are none, and what
does the job instead.  Pure: the command line in, a message or None out.
"""
from __future__ import annotations

from typing import Optional, Sequence

CAPTURE_FILTER_HINT = ("capture filters (-f FILTER, as with dumpcap and tcpdump) are not supported: -f is --flush "
                       "here. Record only some links with --link NAME or some instances with -i ID, and filter in "
                       "Wireshark with a display filter (tshark -Y '{filter}')")


def misread_filter(argv: Sequence[str], unrecognized: Sequence[str]) -> Optional[str]:
    """The message for a capture filter given after ``-f``, or None when nothing looks like one.

    ``unrecognized`` are the words argparse could not place; a filter is the word right after
    ``-f`` (or ``--flush``) when that word is among them.
    """
    stray = set(unrecognized)
    for index, word in enumerate(argv[:-1]):
        if word in ("-f", "--flush") and argv[index + 1] in stray:
            return CAPTURE_FILTER_HINT.format(filter=argv[index + 1])
    return None
