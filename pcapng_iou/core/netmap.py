"""NETMAP: the file that tells IOU which interfaces are wired together.

One line per segment, endpoints separated by blanks::

    100:0/0 101:0/0            # Ethernet (the default)
    100:1/0 101:1/0 hdlc       # serial link, Cisco HDLC
    100:1/1@lab 101:1/1 50     # trailing link type as a number
    100:2/0 101:2/0 102:2/0    # a shared segment
    100:3/0 auto               # link type guessed from the frames

An endpoint is ``ID:BAY/UNIT`` or ``ID:PORT`` (the numeric port byte), with an
optional ``@HOST``.  ``#`` comments run to the end of the line, ``/* ... */``
comments may span lines.  A trailing word without a colon is the link type of
the line (a name, a number 0..65535, or ``auto``).

Pure parser: text in, :class:`Netmap` out, or a :class:`NetmapError` that
names the file, line and column.  Reading the file is
:mod:`pcapng_iou.shell.netmapfile`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator, Optional

from pcapng_iou.core import linktypes, netio
from pcapng_iou.core.words import excerpt

AUTO = "auto"

_NOT_NEWLINE = re.compile(r"[^\n]")
_ENDPOINT = re.compile(
    r"^(?P<id>[0-9]+):(?:(?P<bay>[0-9]+)/(?P<unit>[0-9]+)|(?P<port>[0-9]+))(?:@(?P<host>[^\s@]+))?$"
)


class NetmapError(ValueError):
    """A NETMAP that cannot be used; ``str()`` reads ``FILE:LINE:COL: message``,
    or ``FILE: message`` when no line is to blame (``line`` 0: the file cannot be read)."""

    def __init__(self, filename: str, line: int, column: int, message: str):
        where = f"{filename}:{line}:{column}" if line else filename
        super().__init__(f"{where}: {message}")
        self.filename = filename
        self.line = line
        self.column = column
        self.message = message


@dataclass(frozen=True)
class Endpoint:
    """One router interface: instance id and port byte (plus the host, if named)."""

    instance: int
    port: int
    host: Optional[str] = field(default=None, compare=False)

    @property
    def key(self) -> tuple[int, int]:
        return (self.instance, self.port)

    def __str__(self) -> str:
        return netio.endpoint_name(self.instance, self.port)


@dataclass(frozen=True)
class Segment:
    """One NETMAP line: the endpoints wired together and the link type asked for.

    ``linktype`` is None when the line names none (the caller picks the
    default); ``auto`` is true when the line says ``auto``.
    """

    line: int
    endpoints: tuple[Endpoint, ...]
    linktype: Optional[int] = None
    auto: bool = False
    #: The file the line is in, when lines of several files are merged (see netmaps).
    source: Optional[str] = field(default=None, compare=False)

    @property
    def name(self) -> str:
        """The interface name shown in Wireshark: ``100:0/0-101:0/0``."""
        return "-".join(str(e) for e in self.endpoints)

    @property
    def instances(self) -> frozenset[int]:
        return frozenset(e.instance for e in self.endpoints)

    def linktype_or(self, default: int) -> int:
        return default if self.linktype is None else self.linktype

    @property
    def where(self) -> str:
        """``NETMAP line 3``, or ``/lab/r1/NETMAP line 3`` for a line of a merged file."""
        return f"{self.source or 'NETMAP'} line {self.line}"

    @property
    def text(self) -> str:
        """The line as it could be written: endpoints, then the link type if any."""
        kind = AUTO if self.auto else (linktypes.name(self.linktype) if self.linktype is not None else "")
        return f"{' '.join(str(e) for e in self.endpoints)} {kind}".rstrip()


@dataclass(frozen=True)
class Netmap:
    segments: tuple[Segment, ...] = ()
    filename: str = "NETMAP"

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def instances(self) -> frozenset[int]:
        return frozenset(i for s in self.segments for i in s.instances)

    def peers(self, instance: int, port: int) -> list[Endpoint]:
        """The endpoints a frame sent from ``instance:port`` goes to."""
        for segment in self.segments:
            keys = [e.key for e in segment.endpoints]
            if (instance, port) in keys:
                return [e for e in segment.endpoints if e.key != (instance, port)]
        return []

    def segment_of(self, instance: int, port: int) -> Optional[Segment]:
        for segment in self.segments:
            if any(e.key == (instance, port) for e in segment.endpoints):
                return segment
        return None


def _blank_comments(text: str, filename: str) -> str:
    """``text`` with every comment replaced by blanks, so columns stay true.

    Copies the text between comments in slices: a NETMAP of 16,000 lines is
    parsed on every reload.
    """
    out = []
    i = 0
    length = len(text)
    # Where the next comment of each kind starts (-1: none left); each is searched for again only once
    # passed, so that a file of many comments is read once, not once per comment.
    hash_at, block_at = text.find("#"), text.find("/*")
    while i < length:
        if 0 <= hash_at < i:
            hash_at = text.find("#", i)
        if 0 <= block_at < i:
            block_at = text.find("/*", i)
        starts = [at for at in (hash_at, block_at) if at >= 0]
        if not starts:
            out.append(text[i:])
            break
        at = min(starts)
        out.append(text[i:at])
        if at == hash_at:
            end = text.find("\n", at)
            end = length if end < 0 else end
            out.append(" " * (end - at))
            i = end
        else:
            end = text.find("*/", at + 2)
            if end < 0:
                line_start = text.rfind("\n", 0, at) + 1
                raise NetmapError(filename, text.count("\n", 0, at) + 1, at - line_start + 1,
                                  "comment '/*' is never closed by '*/'")
            out.append(_NOT_NEWLINE.sub(" ", text[at:end + 2]))
            i = end + 2
    return "".join(out)


def _tokens(line: str) -> Iterator[tuple[int, str]]:
    for match in re.finditer(r"\S+", line):
        yield match.start() + 1, match.group()


def _number(digits: str) -> tuple[int, str]:
    """Value and display of a run of ASCII digits.

    ``int()`` refuses strings of more than 4300 digits on recent Pythons; any
    number of more than 9 significant digits is out of every NETMAP range, so
    it comes back as 10**9 (its display stays exact).
    """
    significant = digits.lstrip("0") or "0"
    return (int(significant) if len(significant) <= 9 else 10 ** 9), significant


def parse_endpoint(word: str, filename: str = "NETMAP", line: int = 1, column: int = 1) -> Endpoint:
    """Parse ``ID:BAY/UNIT[@HOST]`` or ``ID:PORT[@HOST]``."""
    match = _ENDPOINT.match(word)
    if not match:
        raise NetmapError(filename, line, column, f"expected ID:BAY/UNIT, got {excerpt(word)}")
    instance, shown = _number(match["id"])
    if not netio.MIN_ID <= instance <= netio.MAX_ID:
        raise NetmapError(
            filename, line, column,
            f"instance id {shown} in {excerpt(word)} is out of range {netio.MIN_ID}..{netio.MAX_ID}",
        )
    if match["port"] is not None:
        port, shown = _number(match["port"])
        if port > 0xFF:
            raise NetmapError(filename, line, column, f"port {shown} in {excerpt(word)} is out of range 0..255")
    else:
        (bay, bay_shown), (unit, unit_shown) = _number(match["bay"]), _number(match["unit"])
        for what, value, shown in (("bay", bay, bay_shown), ("unit", unit, unit_shown)):
            if value > netio.MAX_BAY:
                raise NetmapError(
                    filename, line, column, f"{what} {shown} in {excerpt(word)} is out of range 0..{netio.MAX_BAY}"
                )
        port = netio.port_byte(bay, unit)
    return Endpoint(instance, port, match["host"])


def lone_endpoint_notes(netmap: Netmap) -> list[str]:
    """A warning for each line of one endpoint: IOU wires it to nothing (the line is likely unfinished)."""
    return [f"{segment.source or netmap.filename}:{segment.line}: '{segment.text}' has one endpoint: IOU treats "
            f"{segment.endpoints[0]} as an unconnected interface (what it sends reaches no one)"
            for segment in netmap if len(segment.endpoints) == 1]


def _trailing_linktype(words: list, filename: str, number: int) -> tuple[Optional[int], bool]:
    """Take the line's link type off the end of ``words`` (a word without a colon): (number or None, auto).

    When that word is not a link type, the first word before it that is not an endpoint is
    blamed instead (``hello world``: the problem is ``hello``), and a link type written as two
    words (``frame relay``) is said as one.
    """
    last_column, last_word = words[-1]
    if ":" in last_word:
        return None, False
    words.pop()
    if not words:
        if _is_linktype_word(last_word):
            raise NetmapError(filename, number, last_column, "a link type needs endpoints before it on the line")
        raise NetmapError(filename, number, last_column, f"expected ID:BAY/UNIT, got {excerpt(last_word)}")
    if last_word.lower() == AUTO:
        return None, True
    try:
        linktype = linktypes.parse(last_word)
    except linktypes.UnknownLinkType as err:
        before_column, before = words[-1]
        joined = linktypes.joined_name(before, last_word)
        if joined is not None and ":" not in before:
            raise NetmapError(filename, number, before_column,
                              f"link type {excerpt(before + ' ' + last_word)} is one word: {joined}") from None
        _blame_first_stray_word(words, last_column, last_word, filename, number)
        also = f", or {AUTO} to follow the frames" if str(err).startswith("unknown") else ""
        raise NetmapError(filename, number, last_column, f"{err}{also}") from None
    if not linktypes.is_assigned(linktype):
        ranges = ", ".join(f"{low}-{high}" for low, high in linktypes.ASSIGNED_RANGES)
        raise NetmapError(filename, number, last_column,
                          f"link type {linktype} is not a LINKTYPE_ value (pcap assigns {ranges}); IOU's are "
                          + ", ".join(f"{name} {value}" for value, name in sorted(linktypes.NAMES.items())))
    return linktype, False


def _blame_first_stray_word(words: list, last_column: int, last_word: str, filename: str, number: int) -> None:
    """Raise at the first of ``words`` that is not an endpoint, if any: a link type there is said to be one
    (``1:0/0 2:0/0 ppp junk`` has ``junk`` after its link type, not a bad endpoint ``ppp``)."""
    for index, (column, word) in enumerate(words):
        if _is_linktype_word(word):
            if index == len(words) - 1:
                raise NetmapError(filename, number, last_column,
                                  f"{excerpt(last_word)} after the link type {word}: the link type ends the line")
            raise NetmapError(filename, number, column,
                              f"link type {word} amid the endpoints: it ends the line, after them")
        parse_endpoint(word, filename, number, column)


def _is_linktype_word(word: str) -> bool:
    """``word`` says a link type (a name, a LINKTYPE_ number, or ``auto``), not an endpoint."""
    if ":" in word:
        return False
    if word.lower() == AUTO:
        return True
    try:
        linktypes.parse(word)
    except linktypes.UnknownLinkType:
        return False
    return True


def parse(text: str, filename: str = "NETMAP") -> Netmap:
    """Parse NETMAP text; raise :class:`NetmapError` at the first problem."""
    cleaned = _blank_comments(text, filename)
    segments = []
    seen: dict[tuple[int, int], int] = {}
    for number, line in enumerate(cleaned.split("\n"), start=1):
        words = list(_tokens(line))
        if not words:
            continue
        linktype, auto = _trailing_linktype(words, filename, number)
        endpoints = []
        for column, word in words:
            if not word.isdigit() and _is_linktype_word(word):  # (a lone number is likelier an endpoint cut short)
                raise NetmapError(filename, number, column, f"{excerpt(word)} is a link type too: a line has one, "
                                  f"after its endpoints" if linktype is not None or auto else
                                  f"link type {word} amid the endpoints: it ends the line, after them")
            endpoint = parse_endpoint(word, filename, number, column)
            if endpoint.key in seen:
                where = seen[endpoint.key]
                already = "earlier on this line" if where == number else f"on line {where}"
                raise NetmapError(filename, number, column, f"endpoint {endpoint} is already {already}")
            seen[endpoint.key] = number
            endpoints.append(endpoint)
        segments.append(Segment(number, tuple(endpoints), linktype, auto))
    return Netmap(tuple(segments), filename)
