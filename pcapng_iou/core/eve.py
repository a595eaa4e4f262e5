"""EVE-NG (UNetLab's iol_wrapper): the node's name from the wrapper's command line (pure).

The wrapper runs ``iol_wrapper -T <tenant> -D <id> [-t <title>] -F <image> ...``
and starts IOL (through a shell) in the same folder; ``-t`` is the node's
name as the user sees it ("R1").
"""
from __future__ import annotations

from typing import Optional

#: A title longer than this is not taken (no node name runs that long).
MAX_TITLE = 64


def wrapper_title(argv, instance: int) -> Optional[str]:
    """The ``-t`` title of iol_wrapper command line ``argv`` when it runs instance ``instance`` (``-D``)."""
    program = next((i for i, word in enumerate(argv[:2]) if "wrapper" in word.rsplit("/", 1)[-1]), None)
    if program is None:  # (the wrapper itself, or a script run by its interpreter)
        return None
    options = {}
    words = list(argv[program + 1:])
    for index, word in enumerate(words[:-1]):
        if word in ("-D", "-t") and word not in options:
            options[word] = words[index + 1]
    if options.get("-D") != str(instance):
        return None
    title = (options.get("-t") or "").strip()
    if not title or len(title) > MAX_TITLE or not title.isprintable():
        return None
    return title
