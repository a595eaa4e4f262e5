"""How the dashboard writes numbers, sizes, durations and ages in a few characters.

Pure functions of their arguments: no clock is read (the current time is
passed in), no terminal is touched.
"""
from __future__ import annotations

from typing import Iterable, Tuple

from rich.text import Text

from pcapng_iou.core.status import InterfaceView


def format_bytes(count: float) -> str:
    """``count`` bytes in binary units with about three significant digits: ``12.3 MiB``."""
    if count < 1000:
        return f"{int(count)} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024.0
        if value < 999.5 or unit == "PiB":
            return f"{_three_digits(value)} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def _three_digits(value: float) -> str:
    if value < 9.995:
        return f"{value:.2f}"
    if value < 99.95:
        return f"{value:.1f}"
    return f"{value:.0f}"


def format_si(value: float) -> str:
    """A rate with an SI prefix: ``0``, ``800``, ``96.0k``, ``1.50M``."""
    if value < 999.5:
        return f"{value:.0f}"
    for prefix in ("k", "M", "G", "T"):
        value /= 1000.0
        if value < 999.5 or prefix == "T":
            return f"{_three_digits(value)}{prefix}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_frames_per_s(value: float) -> str:
    if value <= 0:
        return "0"
    if value < 9.95:
        return f"{value:.1f}"
    return format_si(value)


def format_duration(seconds: float) -> str:
    """Elapsed time as ``H:MM:SS`` (``2d 03:04:05`` beyond a day)."""
    total = int(max(0.0, seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{hours}:{minutes:02d}:{secs:02d}"


def format_age(interface: InterfaceView, now_ns: int) -> str:
    """How long ago the last frame was: ``-`` (none yet), ``0.3s``, ``12s``, ``3m``, ``2h``, ``4d``."""
    if not interface.last_ns or not interface.frames:
        return "-"
    seconds = max(0, now_ns - interface.last_ns) / 1e9
    if seconds < 9.95:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def id_list(ids: Iterable[int], limit: int = 8) -> str:
    ordered = sorted(ids)
    shown = ", ".join(str(i) for i in ordered[:limit])
    if len(ordered) > limit:
        shown += f", … +{len(ordered) - limit}"
    return shown


def one_line(*parts: Tuple[str, str]) -> Text:
    """One terminal line from (text, style) parts, cropped with an ellipsis if too wide."""
    text = Text(no_wrap=True, overflow="ellipsis", end="\n")
    for part, style in parts:
        text.append(part, style or None)
    return text
