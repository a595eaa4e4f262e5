"""How much of its time the capture may spend spinning (``--spin``), decided without a clock of its own.

After a pass that handled something, the capture polls again for a moment
instead of sleeping, so that an answer coming back at once is relayed without
a wake-up.  That polling is paid for in CPU, and a lab whose frames come just
a little further apart than the window would have it paid for every frame.
So the polling draws on a budget: a capture may spin for :data:`SPIN_BURST_S`
in a row, and over time for :data:`SPIN_SHARE` of the time that passes.  The
loop counts what it spun and settles the account each time its timers run
(at least once a second).
"""
from __future__ import annotations

#: How long the capture looks again after handling something (microseconds): an answer within 200 us is the
#: common case (a ping between instances on the machine measured in the README), and a window that finds nothing
#: costs no more than that.
DEFAULT_SPIN_US = 200
#: Share of the time that passes that may go to spinning, over time: a tenth of one CPU at most.
SPIN_SHARE = 0.10
#: Seconds of spinning that may be spent in a row (the budget a capture starts with, and its ceiling).
SPIN_BURST_S = 0.25


class SpinBudget:
    """The seconds of spinning a capture may still spend: a burst to start with, refilled at a share of
    the time that passes, never above the burst."""

    def __init__(self, now: float, share: float = SPIN_SHARE, burst_s: float = SPIN_BURST_S):
        if not 0 <= share <= 1 or burst_s < 0:
            raise ValueError(f"spin budget: share {share} must be 0 to 1 and burst {burst_s} s not negative")
        self.share = share
        self.burst_s = burst_s
        self.left = burst_s
        self._since = now
        #: Seconds spun in all, for the record.
        self.spent = 0.0

    def settle(self, now: float, spun: float) -> float:
        """Charge ``spun`` seconds, credit the time since the last settling; return the seconds left.

        May be negative: the last window before the account ran out is charged whole.
        """
        self.spent += spun
        self.left = min(self.burst_s, self.left - spun + (now - self._since) * self.share)
        self._since = now
        return self.left
