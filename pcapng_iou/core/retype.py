"""A link whose line or bays were read again: a new interface, or the same one told how it is chosen now.

A new interface is only worth its block when the link type recorded changes.
A line that gains a written ``ppp`` while its frames were already followed to
PPP, or one that loses its written type while its serial frames are known,
goes on recording the same link type: the interface it has keeps recording,
only the way its type is kept changes (followed or written).  Pure.
"""
from __future__ import annotations

from pcapng_iou.core.interface import Interface
from pcapng_iou.core.linkchoice import FROM_BAYS, SERIAL_LINKTYPES, Choice


def keep_known_serial_type(choice: Choice, interface: Interface) -> Choice:
    """``choice``, except that the bays' guess of Cisco HDLC (IOS's default) gives way to the serial
    link type ``interface``'s frames have shown: no new interface for a type that is known to be wrong.
    (A type only written on the line, or one the frames contradict, is not known.)"""
    if (choice.guessed and _shown_by_frames(interface) and interface.linktype in SERIAL_LINKTYPES
            and interface.linktype != choice.linktype):
        return Choice(interface.linktype, follow=True, origin=FROM_BAYS)
    return choice


def same_type(choice: Choice, interface: Interface) -> bool:
    """``choice`` records the link type ``interface``'s frames have shown, and changes only how it is kept
    (before a frame, a new interface costs nothing and describes the choice as it is now)."""
    return choice.linktype == interface.linktype and choice.follow != interface.auto and _shown_by_frames(interface)


def _shown_by_frames(interface: Interface) -> bool:
    """Frames were recorded on ``interface`` and agree with its link type (followed: a sure one was seen;
    written: none was found to differ)."""
    return interface.frames > 0 and interface.mismatch is None and (interface.confirmed or not interface.auto)


def adopt_in_place(interface: Interface, choice: Choice) -> None:
    """``interface`` goes on recording its link, now kept as ``choice`` says (followed, or written)."""
    interface.auto = choice.follow
    interface.watch = choice.watch and interface.mismatch is None
    interface.origin = choice.origin
    interface.guessed = choice.guessed
