"""What a capture is asked to do (:class:`CaptureOptions`), how it ends (:class:`StopReason`)
and the error that stops it at once (:class:`CaptureError`): plain data shared by the
capture loop, the command line, the extcap, the demo and the bench."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pcapng_iou.core import spin
from pcapng_iou.core.ring import FileLimits
from pcapng_iou.core.selection import LinkSelection
from pcapng_iou.exitstatus import ExitStatus


class CaptureError(Exception):
    """A failure that stops the capture; ``status`` is the exit status to use."""

    def __init__(self, message: str, status: int = ExitStatus.ERROR):
        super().__init__(message)
        self.status = status


@dataclass
class CaptureOptions:
    netio_dir: str
    output: str
    netmap_path: Optional[str] = None
    #: The ./NETMAP a kill -HUP takes when no NETMAP was given or found at the start (None: none).
    netmap_here: Optional[str] = None
    flush_each: bool = False
    count: Optional[int] = None
    duration: Optional[float] = None
    instances: Optional[set] = None
    #: ``--linktype`` when given; None lets bay kinds decide, then Ethernet.
    default_linktype: Optional[int] = None
    auto_linktype: bool = False
    comment: Optional[str] = None
    wait_for_dir: bool = True
    statistics: bool = True
    #: Bytes of each frame to store; 0 stores them whole.
    snaplen: int = 0
    links: Optional[LinkSelection] = None
    #: ``--name ID=NAME``: what the user calls instance ID ("R1"), above every name the lab gives.
    router_names: Optional[dict] = None
    #: Ring buffer and file autostop (``-b``, ``-a``).
    limits: FileLimits = FileLimits()
    #: After handling something, look again this long (microseconds) before sleeping (``--spin``; 0: never) ...
    spin_us: int = spin.DEFAULT_SPIN_US
    #: ... for at most this share of the time over time, and this many seconds in a row (core.spin).
    spin_share: float = spin.SPIN_SHARE
    spin_burst_s: float = spin.SPIN_BURST_S
    #: New capture files readable by their group too (``-g``): 0640 instead of 0600.
    group_read: bool = False
    #: The output may be a FIFO or device (the extcap's FIFO); else only a regular file (or ``-`` ).
    output_any_kind: bool = False


@dataclass
class StopReason:
    reason: str = ""
    status: int = ExitStatus.OK
    output_failed: bool = False
    #: A limit on what is recorded was reached (-c, -a): frames relayed from now on are not recorded.
    limit_reached: bool = False


class Ending:
    """How the capture ends, shared by its parts (the loop, the recording): None while it runs."""

    __slots__ = ("reason",)

    def __init__(self) -> None:
        self.reason: Optional[StopReason] = None
