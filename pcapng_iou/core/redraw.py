"""How often the live view is redrawn: four times a second, less when a redraw is costly.

A redraw's cost is the CPU time it took, not the wall-clock time: on a machine
whose CPUs are busy (IOU instances spin), the capture may wait for a CPU in the
middle of a redraw, and counting that wait made one cheap redraw put off the
next by seconds (a view left showing "frames 0").  Pure arithmetic.
"""
from __future__ import annotations

#: Redraw at most this often (seconds).
DASHBOARD_INTERVAL_S = 0.25
#: The dashboard waits this many times the CPU time of its last redraw: at most about 5 % of a CPU.
DASHBOARD_COST_FACTOR = 20
#: ... but never longer than this: a view seconds old misleads more than its cost saves.
MAX_DASHBOARD_INTERVAL_S = 2.0


def redraw_interval(cpu_cost_s: float) -> float:
    """Seconds from one redraw to the next, for a redraw that took ``cpu_cost_s`` of CPU time."""
    return min(MAX_DASHBOARD_INTERVAL_S, max(DASHBOARD_INTERVAL_S, cpu_cost_s * DASHBOARD_COST_FACTOR))
