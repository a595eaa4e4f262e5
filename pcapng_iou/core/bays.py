"""What an IOU command line says about the instance's interfaces: which bays are Ethernet, which serial.

IOU is started as ``<image> [options] <application id>``.  ``-e N`` sets the
number of Ethernet bays (default 2), ``-s N`` the number of serial bays
(default 2); bays are numbered Ethernet first, 4 units (ports) each::

    i86bi-linux-l3.bin -e 1 -s 2 100     bay 0 Ethernet, bays 1 and 2 serial

Only ``-e``/``-s`` and the final id are read.  A command line that does not
end in the instance's own id, or whose ``-e``/``-s`` are not counts that fit
in the 16 bays a port byte can name, is not IOU's (GNS3's ubridge, a tool, a
script): it tells nothing, and :func:`parse_command_line` answers None.

Pure: a list of words in, a :class:`Bays` or None out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from pcapng_iou.core import netio

ETHERNET = "ethernet"
SERIAL = "serial"

DEFAULT_ETHERNET_BAYS = 2
DEFAULT_SERIAL_BAYS = 2
#: A port byte holds the bay in its low nibble: 16 bays at most.
MAX_BAYS = netio.MAX_BAY + 1
#: IOU has 4 interfaces (units) per bay.
UNITS_PER_BAY = 4

#: IOU options that take a value in the next word (their values are skipped, never read).
_OPTIONS_WITH_VALUE = frozenset("nmubc")
_MAX_ID_DIGITS = 4


@dataclass(frozen=True)
class Bays:
    """The bay layout of one IOU instance."""

    ethernet: int = DEFAULT_ETHERNET_BAYS
    serial: int = DEFAULT_SERIAL_BAYS

    def kind(self, port: int) -> Optional[str]:
        """:data:`ETHERNET` or :data:`SERIAL` for the interface with ``port`` byte; None when it has none."""
        bay, unit = port & 0x0F, port >> 4
        if unit >= UNITS_PER_BAY:
            return None
        if bay < self.ethernet:
            return ETHERNET
        if bay < self.ethernet + self.serial:
            return SERIAL
        return None

    def __str__(self) -> str:
        return f"-e {self.ethernet} -s {self.serial}"


def _count(word: Optional[str]) -> Optional[int]:
    """A bay count 0..16 written in ASCII digits, else None."""
    if word is None or not word.isascii() or not word.isdigit():
        return None
    significant = word.lstrip("0") or "0"
    if len(significant) > 2 or int(significant) > MAX_BAYS:
        return None
    return int(significant)


def _is_own_id(word: str, instance: int) -> bool:
    if not word.isascii() or not word.isdigit():
        return False
    significant = word.lstrip("0") or "0"
    return len(significant) <= _MAX_ID_DIGITS and int(significant) == instance


def parse_command_line(argv: Sequence[str], instance: int) -> Optional[Bays]:
    """The bays of instance ``instance`` started with ``argv`` (``argv[0]`` the program),
    or None when ``argv`` is not an IOU command line for that instance.

    Never raises on any list of strings.
    """
    if len(argv) < 2 or not _is_own_id(argv[-1], instance):
        return None
    counts = {"e": DEFAULT_ETHERNET_BAYS, "s": DEFAULT_SERIAL_BAYS}
    words = argv[1:-1]
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if len(word) < 2 or word[0] != "-" or word[1] == "-":
            continue  # not a short option (a value, a word of the program's own, a long option)
        letter = word[1]
        if letter in counts:
            if len(word) > 2:
                value = word[2:]                  # -e1, as getopt allows
            elif index < len(words):
                value = words[index]
                index += 1
            else:
                return None                        # -e with nothing after it
            count = _count(value)
            if count is None:
                return None
            counts[letter] = count
        elif letter in _OPTIONS_WITH_VALUE and len(word) == 2:
            index += 1                             # its value may look like an option: skip it
    if counts["e"] + counts["s"] > MAX_BAYS:
        return None
    return Bays(counts["e"], counts["s"])
