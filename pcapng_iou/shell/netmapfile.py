"""Reading a NETMAP file: the I/O half of :mod:`pcapng_iou.core.netmap`, which only parses text."""
from __future__ import annotations

from typing import Optional

from pcapng_iou.core.netmap import Netmap, NetmapError, parse


def read(path: str, display_name: Optional[str] = None) -> Netmap:
    """Read and parse the NETMAP at ``path``; errors name it as ``display_name`` or ``path``."""
    shown = display_name or path
    try:
        # utf-8-sig: editors on some systems start the file with a byte order mark.
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            text = handle.read()
    except OSError as err:
        raise NetmapError(shown, 0, 0, f"cannot read: {err.strerror}") from None
    return parse(text, shown)
