"""Frame Relay LMI messages: whether the bytes after the protocol discriminator are one.

Part of the link-type guess (:mod:`pcapng_iou.core.classify`): an LMI
message on DLCI 0 or 1023 is what shows a quiet Frame Relay link.  Pure.
"""
from __future__ import annotations


#: Information elements of the LMI flavours: Q.933 Annex A (0x51 report type,
#: 0x53 link integrity, 0x57 PVC status) and ANSI T1.617 Annex D / Cisco
#: (0x01, 0x03, 0x07), with their smallest lengths.
_Q933_ELEMENTS = {0x51: 1, 0x53: 2, 0x57: 3}
_ANSI_CISCO_ELEMENTS = {0x01: 1, 0x03: 2, 0x07: 3}
_LOCKING_SHIFT_5 = 0x95


def lmi_ok(message: bytes, cisco: bool) -> bool:
    """An LMI message after the protocol discriminator: call reference 0,
    STATUS ENQUIRY or STATUS, then known elements that fill it exactly, the
    first one a report type."""
    if len(message) < 5 or message[0] != 0x00 or message[1] not in (0x75, 0x7D):
        return False
    offset = 2
    if cisco:
        known = _ANSI_CISCO_ELEMENTS
    elif message[offset] == _LOCKING_SHIFT_5:      # ANSI T1.617 Annex D
        known, offset = _ANSI_CISCO_ELEMENTS, offset + 1
    else:
        known = _Q933_ELEMENTS
    first = True
    while offset < len(message):
        if offset + 2 > len(message):
            return False
        element, length = message[offset], message[offset + 1]
        if element not in known or length < known[element]:
            return False
        if first and length != 1:
            return False
        first = False
        offset += 2 + length
    return offset == len(message) and not first
