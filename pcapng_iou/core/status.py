"""What a running capture looks like at one instant: the dashboard's only input.

The event loop fills a :class:`CaptureStatus` and hands it over; whoever shows
it (live table, final summary) needs nothing else, so rendering can be tested
as a pure function of this state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from pcapng_iou.core.links import Interface


@dataclass
class Event:
    """A line for the event log: attach, detach, death, reload, warning."""

    timestamp_ns: int
    text: str
    level: str = "info"  # "info", "warning" or "error"


@dataclass
class CaptureStatus:
    output: str
    pid: int
    started_ns: int
    now_ns: int = 0
    output_bytes: int = 0
    interfaces: list[Interface] = field(default_factory=list)
    instances_attached: list[int] = field(default_factory=list)
    instances_down: list[int] = field(default_factory=list)
    frames_recorded: int = 0
    datagrams_relayed: int = 0
    datagrams_malformed: int = 0
    undelivered: int = 0
    events: list[Event] = field(default_factory=list)
    netio_dir: str = ""
    netmap: Optional[str] = None

    @property
    def elapsed_s(self) -> float:
        return max(0, self.now_ns - self.started_ns) / 1e9

    @property
    def reload_hint(self) -> str:
        return f"kill -HUP {self.pid}"
