"""Words for counts in what the tool says: "1 line", "6 lines" (pure, no I/O)."""
from __future__ import annotations

from typing import Optional


def counted(number: int, noun: str, plural: Optional[str] = None) -> str:
    """``number`` and ``noun``, made plural (``noun + "s"`` unless ``plural`` is given) unless it is one."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
