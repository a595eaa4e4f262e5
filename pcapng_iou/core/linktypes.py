"""Link types (the pcap LINKTYPE_ numbers) an IOU link can carry, and their names.

NETMAP lines, the dashboard and error messages speak names; the capture file
speaks numbers.  This module converts between the two and nothing else.
"""
from __future__ import annotations

from pcapng_iou.core.words import excerpt

ETHERNET = 1
PPP = 9
PPP_SERIAL = 50
C_HDLC = 104
FRELAY = 107

#: Canonical name shown to people for the link types IOU produces.
NAMES = {
    ETHERNET: "ethernet",
    PPP: "ppp-raw",
    PPP_SERIAL: "ppp",
    C_HDLC: "hdlc",
    FRELAY: "frame-relay",
}

#: Every spelling accepted in a NETMAP line or on the command line (lower case).
ALIASES = {
    "ethernet": ETHERNET,
    "ether": ETHERNET,
    "eth": ETHERNET,
    "en10mb": ETHERNET,
    "hdlc": C_HDLC,
    "c_hdlc": C_HDLC,
    "c-hdlc": C_HDLC,
    "chdlc": C_HDLC,
    "ppp": PPP_SERIAL,
    "ppp_serial": PPP_SERIAL,
    "ppp-serial": PPP_SERIAL,
    "frelay": FRELAY,
    "fr": FRELAY,
    "frame-relay": FRELAY,
    "frame_relay": FRELAY,
}

MAX_LINKTYPE = 0xFFFF

#: The numbers pcap assigns to link types (LINKTYPE_ values): a NETMAP line naming another
#: number is a typo, whose frames no reader could decode.
ASSIGNED_RANGES = ((0, 10), (50, 51), (99, 299))


def is_assigned(number: int) -> bool:
    """Whether ``number`` is in a range of LINKTYPE_ values."""
    return any(low <= number <= high for low, high in ASSIGNED_RANGES)


def joined_name(first: str, second: str):
    """The link type name that ``first second`` meant when written as two words (``frame relay``), or None."""
    for joiner in ("-", "_", ""):
        if f"{first}{joiner}{second}".lower() in ALIASES:
            return f"{first}{joiner}{second}".lower()
    return None


class UnknownLinkType(ValueError):
    """A word that is neither a link type name nor a number in 0..65535."""


def parse(word: str) -> int:
    """Return the link type number that ``word`` names (a name or a decimal number)."""
    lowered = word.strip().lower()
    if lowered in ALIASES:
        return ALIASES[lowered]
    if lowered.isascii() and lowered.isdigit():
        # ASCII only: str.isdigit() also takes "²" (which int() refuses) and other
        # scripts' digits.  Strip zeros and bound the length before int(), which
        # refuses strings of more than 4300 digits on recent Pythons.
        significant = lowered.lstrip("0") or "0"
        if len(significant) <= 5 and int(significant) <= MAX_LINKTYPE:
            return int(significant)
        raise UnknownLinkType(f"link type {excerpt(word)} is out of range 0..{MAX_LINKTYPE}")
    known = ", ".join(sorted(set(NAMES.values()) - {"ppp-raw"}))
    raise UnknownLinkType(f"unknown link type {excerpt(word)} (use a number or one of: {known})")


def name(number: int) -> str:
    """A short name for ``number``: the canonical one when known, else ``dlt<number>``."""
    return NAMES.get(number, f"dlt{number}")
