"""Reading a NETMAP file: the I/O half of :mod:`pcapng_iou.core.netmap`, which only parses text.

Read through :func:`pcapng_iou.shell.labfiles.read_lab_file`: a NETMAP that is
not a regular file, or holds more than 1 MiB, is refused without waiting.
"""
from __future__ import annotations

import codecs
from typing import Optional

from pcapng_iou.core.netmap import Netmap, NetmapError, parse
from pcapng_iou.shell.labfiles import NETMAP_LIMIT, LabFileError, LabFileRefused, read_lab_file

# The codec's module is loaded now: a NETMAP may be read while acting as a lab's owner, who may not
# be allowed to read Python's own files (an install under /root), and a codec is imported when first used.
codecs.lookup("utf-8-sig")


def read(path: str, display_name: Optional[str] = None) -> Netmap:
    """Read and parse the NETMAP at ``path``; errors name it as ``display_name`` or ``path``."""
    shown = display_name or path
    try:
        raw = read_lab_file(path, NETMAP_LIMIT)
    except LabFileError as err:
        reason = err.strerror if isinstance(err, LabFileRefused) else f"cannot read: {err.strerror}"
        raise NetmapError(shown, 0, 0, reason) from None
    # utf-8-sig: editors on some systems start the file with a byte order mark.
    return parse(raw.decode("utf-8-sig", errors="replace"), shown)
