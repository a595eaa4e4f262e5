"""The exit statuses of every ``pcapng-iou`` command, in one place."""
from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    #: Done, or stopped by Ctrl-C, SIGTERM, ``--count`` or ``--duration``.
    OK = 0
    #: Something failed while running (output error, a lab that would not start).
    ERROR = 1
    #: Bad options, or a NETMAP that does not parse.
    USAGE = 2
