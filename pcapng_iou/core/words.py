"""Words for what the tool says: counts ("1 line", "6 lines"), excerpts of bad input (pure, no I/O)."""
from __future__ import annotations

from typing import Optional


def counted(number: int, noun: str, plural: Optional[str] = None, grouped: bool = False) -> str:
    """``number`` and ``noun``, made plural (``noun + "s"`` unless ``plural`` is given) unless it is one;
    ``grouped``: the number with thousands separators ("16,000 links"), as the tables show counts."""
    return (f"{number:,}" if grouped else str(number)) + f" {noun if number == 1 else plural or noun + 's'}"


#: Characters of a bad word or line a message quotes, at most: the file may be one its reader should not see whole.
EXCERPT_CHARS = 40


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` quoted for a message (as ``repr``), cut to ``limit`` characters with "..." when longer."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + "..."
