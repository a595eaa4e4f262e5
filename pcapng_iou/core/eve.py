"""EVE-NG (UNetLab's iol_wrapper): the node's name from the wrapper's command line (pure).

The wrapper runs ``iol_wrapper -T <tenant> -D <id> [-t <title>] -F <image>
[-l SRCPORT:HOST:DSTID:DSTPORT ...]`` and starts IOL (through a shell) in the
same folder; ``-t`` is the node's name as the user sees it ("R1"), each ``-l``
a serial link to another node (its two ends known, so its halves are one link).
"""
from __future__ import annotations

from typing import Optional

#: A title longer than this is not taken (no node name runs that long).
MAX_TITLE = 64


def wrapper_options(argv, instance: int) -> Optional[list]:
    """The options of iol_wrapper command line ``argv`` (word pairs) when it runs instance ``instance``."""
    program = next((i for i, word in enumerate(argv[:2]) if "wrapper" in word.rsplit("/", 1)[-1]), None)
    if program is None:  # (the wrapper itself, or a script run by its interpreter)
        return None
    words = list(argv[program + 1:])
    pairs = [(word, words[index + 1]) for index, word in enumerate(words[:-1]) if word.startswith("-")]
    return pairs if ("-D", str(instance)) in pairs else None


def serial_links(argv, instance: int) -> list:
    """The serial links ``-l SRCPORT:HOST:DSTID:DSTPORT`` of instance ``instance``'s wrapper: pairs of
    endpoints ((instance, port), (other id, its port)), ports as port bytes (bay + unit * 16)."""
    found = []
    for option, value in wrapper_options(argv, instance) or ():
        parts = value.split(":")
        if option != "-l" or len(parts) != 4 or not all(p.isdigit() for p in (parts[0], parts[2], parts[3])):
            continue
        source, other, port = int(parts[0]), int(parts[2]), int(parts[3])
        if source < 256 and port < 256 and 1 <= other <= 1024:
            found.append(((instance, source), (other, port)))
    return found


def wrapper_title(argv, instance: int) -> Optional[str]:
    """The ``-t`` title of iol_wrapper command line ``argv`` when it runs instance ``instance`` (``-D``)."""
    options = {}
    for option, value in wrapper_options(argv, instance) or ():
        options.setdefault(option, value)
    title = (options.get("-t") or "").strip()
    if not title or len(title) > MAX_TITLE or not title.isprintable():
        return None
    return title
