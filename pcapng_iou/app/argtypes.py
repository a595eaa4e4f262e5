"""argparse types shared by the commands: each turns one option's text into a value
or raises ``argparse.ArgumentTypeError`` with a message written for people."""
from __future__ import annotations

import argparse
import math

from pcapng_iou.core import linktypes, netio, ring, selection
from pcapng_iou.shell import netiodir


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (``200_000`` is fine too)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {text}")
    return value


def path_text(text: str) -> str:
    """argparse type: a file or folder name, not empty (an empty one would quietly mean a default)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a path, got an empty one")
    return text


#: A capture comment is one PCAP-NG option, whose length is 16 bits.
MAX_COMMENT_BYTES = 65535


def comment_text(text: str) -> str:
    """argparse type: a capture comment, at most :data:`MAX_COMMENT_BYTES` bytes of UTF-8."""
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > MAX_COMMENT_BYTES:
        raise argparse.ArgumentTypeError(f"at most {MAX_COMMENT_BYTES} bytes (a PCAP-NG option), got {size}")
    return text


def positive_seconds(text: str) -> float:
    """argparse type: a duration above 0 seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < math.inf:  # (nan and inf too: a run "for ever" is the default, without the option)
        raise argparse.ArgumentTypeError(f"expected a finite duration above 0 seconds, got {text}")
    return value


def instance_id(text: str) -> int:
    """argparse type: an IOU instance id, 1..1024."""
    number = netiodir.instance_id(text.strip())
    if number is None:
        link = f" (to record one link, use --link {text.strip()})" if ":" in text else ""
        raise argparse.ArgumentTypeError(f"expected an instance id 1..1024, got {text!r}{link}")
    return number


#: ``--linktype auto``: follow the frames, as ``--auto-linktype`` does (and ``auto`` on a NETMAP line).
AUTO = "auto"


def linktype(text: str):
    """argparse type: a link type name or LINKTYPE number, or :data:`AUTO`."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        return linktypes.parse(text)
    except linktypes.UnknownLinkType as err:
        raise argparse.ArgumentTypeError(f"{err}, or auto to follow the frames") from None


def router_name(text: str) -> tuple:
    """argparse type: ``ID=NAME`` (instance ID is called NAME: ``1=R1``)."""
    number, sep, name = text.partition("=")
    name = " ".join(name.split())
    if not sep or not number.strip().isdigit() or not name or len(name) > 64 or not name.isprintable():
        raise argparse.ArgumentTypeError(f"expected ID=NAME (1=R1), got {text!r}")
    instance = int(number)
    if not netio.MIN_ID <= instance <= netio.MAX_ID:
        raise argparse.ArgumentTypeError(f"{text!r}: instance id {instance} is out of range 1..1024")
    return instance, name


def link_name(text: str) -> selection.LinkName:
    """argparse type: a link (``100:0/0-101:0/0``) or one endpoint (``100:0/0``)."""
    try:
        return selection.parse_link_name(text)
    except selection.LinkNameError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def ring_option(text: str) -> tuple:
    """argparse type: one ``-b KEY:VALUE`` (filesize, duration, files), as dumpcap."""
    try:
        return ring.parse_ring_option(text)
    except ring.RingOptionError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def autostop_option(text: str) -> tuple:
    """argparse type: one ``-a KEY:VALUE`` (filesize, files, duration, packets), as dumpcap."""
    try:
        return ring.parse_autostop_option(text)
    except ring.RingOptionError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


#: Longest ``--spin``: beyond a few milliseconds, looking again costs more than any wake-up saves.
MAX_SPIN_US = 10_000


def spin_microseconds(text: str) -> int:
    """argparse type: how long to look again before sleeping, 0 to :data:`MAX_SPIN_US` microseconds."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of microseconds, got {text!r}") from None
    if not 0 <= value <= MAX_SPIN_US:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_SPIN_US} microseconds, got {text}")
    return value


#: The largest snap length Wireshark takes (a PCAP-NG interface block holds 32 bits, but readers refuse more).
MAX_SNAPLEN = 262144


def snap_length(text: str) -> int:
    """argparse type: bytes of each frame to store, 1 to :data:`MAX_SNAPLEN`; 0 means the default, as to
    dumpcap (:data:`MAX_SNAPLEN`, more than any IOU frame: frames are stored whole), and so does
    :data:`MAX_SNAPLEN` itself: both come back as 0, the default."""
    try:
        value = int(text.strip().replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"snap length: expected a whole number of bytes, got {text!r}") from None
    if not 0 <= value <= MAX_SNAPLEN:
        raise argparse.ArgumentTypeError(f"snap length: expected 1 to {MAX_SNAPLEN} bytes, or 0 for the default "
                                         f"({MAX_SNAPLEN}: frames stored whole), got {text.strip()}")
    return 0 if value == MAX_SNAPLEN else value
