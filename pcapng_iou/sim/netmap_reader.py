"""The simulated instance's own reading of NETMAP, written apart from the capture's parser.

The capture reads NETMAP with :mod:`pcapng_iou.core.netmap`; the simulated
routers route their frames by this reading instead, as real IOU routes by its
own.  When one of the two misreads a line, the frames go where this one says
and are recorded where the other says, so the tests see the two disagree
(the same parser on both sides would agree with itself, bug and all).

What is read: one line per segment; endpoints ``ID:BAY/UNIT`` or ``ID:PORT``
(the port byte), each with an optional ``@HOST``; ``#`` comments to the end
of the line, ``/* ... */`` comments over several lines; a last word without a
colon is the line's link type (a name, a number, or ``auto``).  The result is
the same plain data as the capture's (:class:`~pcapng_iou.core.netmap.Netmap`),
so the instance and its speaker use either.
"""
from __future__ import annotations

import os
from typing import List, Optional

from pcapng_iou.core import linktypes, netio
from pcapng_iou.core.netmap import Endpoint, Netmap, NetmapError, Segment

AUTO_WORD = "auto"


def read_file(path: str, shown: Optional[str] = None) -> Netmap:
    """The NETMAP at ``path`` as the simulated instance reads it; errors name it ``shown`` or ``path``."""
    name = shown or path
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise NetmapError(name, 0, 0, f"cannot read: {err.strerror}") from None
    text = raw.decode("utf-8", errors="replace")
    return read_text(text[1:] if text.startswith("\ufeff") else text, name)


def read_text(text: str, name: str = "NETMAP") -> Netmap:
    """Lines of ``text`` to segments, numbered as in the file; blank lines and comments skipped."""
    segments: List[Segment] = []
    first_line: dict = {}
    for number, words in enumerate(_words_of_lines(text, name), start=1):
        if words:
            segments.append(_segment(words, number, name))
            _refuse_repeated_endpoints(segments[-1], first_line, name)
    return Netmap(tuple(segments), name)


def _words_of_lines(text: str, name: str) -> List[list]:
    """The words of each line, comments left out: ``#`` to the end of its line, ``/* ... */`` over
    lines; whichever starts first on a line hides the other's mark."""
    lines: List[list] = []
    opened_on = 0  # the line of the '/*' still open, else 0
    for number, line in enumerate(text.split("\n"), start=1):
        kept = []
        while line:
            if opened_on:
                end = line.find("*/")
                line = "" if end < 0 else line[end + 2:]
                opened_on = opened_on if end < 0 else 0
                kept.append(" ")
                continue
            hash_at, block_at = line.find("#"), line.find("/*")
            if block_at >= 0 and (hash_at < 0 or block_at < hash_at):
                kept.append(line[:block_at] + " ")
                line, opened_on = line[block_at + 2:], number
            else:
                kept.append(line if hash_at < 0 else line[:hash_at])
                line = ""
        lines.append("".join(kept).split())
    if opened_on:
        raise NetmapError(name, opened_on, 0, "a '/*' comment is not closed")
    return lines


def _segment(words: list, number: int, name: str) -> Segment:
    linktype, auto = None, False
    if ":" not in words[-1]:
        last = words.pop()
        if not words:
            raise NetmapError(name, number, 0, f"no endpoint before {last!r}")
        if last.lower() == AUTO_WORD:
            auto = True
        else:
            try:
                linktype = linktypes.parse(last)
            except linktypes.UnknownLinkType as err:
                raise NetmapError(name, number, 0, str(err)) from None
    return Segment(number, tuple(_endpoint(word, number, name) for word in words), linktype, auto)


def _endpoint(word: str, number: int, name: str) -> Endpoint:
    where, at, host = word.partition("@")
    instance, colon, interface = where.partition(":")
    bay, slash, unit = interface.partition("/")
    parts = [instance, bay] + ([unit] if slash else [])
    if not colon or not all(part.isascii() and part.isdigit() for part in parts) or (at and not host):
        raise NetmapError(name, number, 0, f"not an endpoint: {word!r}")
    instance_id, bay_or_port, unit_number = (_bounded(part) for part in parts + ["0"] * (3 - len(parts)))
    if not netio.MIN_ID <= instance_id <= netio.MAX_ID:
        raise NetmapError(name, number, 0, f"instance {instance} of {word!r} is not 1..1024")
    if slash and (bay_or_port > 15 or unit_number > 15):
        raise NetmapError(name, number, 0, f"interface {interface} of {word!r} is not 0..15/0..15")
    if not slash and bay_or_port > 255:
        raise NetmapError(name, number, 0, f"port {bay} of {word!r} is not 0..255")
    # The port byte: the bay in its low four bits, the unit in its high four.
    port = bay_or_port + 16 * unit_number if slash else bay_or_port
    return Endpoint(instance_id, port, host or None)


def _bounded(digits: str) -> int:
    """The number ``digits`` write, or 10**6 for any of more than 6 digits (out of every range here)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 6 else 10 ** 6


def _refuse_repeated_endpoints(segment: Segment, first_line: dict, name: str) -> None:
    """An interface wired twice: IOU would send its frames down one line only, silently.
    ``first_line``: where each endpoint of the lines before was seen."""
    for endpoint in segment.endpoints:
        seen_on = first_line.setdefault(endpoint.key, segment.line)
        if seen_on != segment.line or sum(e.key == endpoint.key for e in segment.endpoints) > 1:
            raise NetmapError(name, segment.line, 0, f"endpoint {endpoint} is wired twice (line {seen_on})")


def read_working_directory_netmap() -> Netmap:
    """./NETMAP as IOU finds it in its working directory: none there, no links."""
    if not os.path.exists("NETMAP"):
        return Netmap()
    return read_file("NETMAP", os.path.join(os.getcwd(), "NETMAP"))
