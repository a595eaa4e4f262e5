"""Per-interface frames/s and bit/s from successive counter snapshots.

The time of each snapshot is passed in, never read, so the rates are a pure
function of what was sampled.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Deque, Dict, Iterable, Tuple

from pcapng_iou.core.status import InterfaceView

#: Span of the sliding window the rates are computed over (ns).
RATE_WINDOW_NS = 3_000_000_000


@dataclass(frozen=True)
class Rate:
    """Current throughput of one interface."""

    frames_per_s: float = 0.0
    bits_per_s: float = 0.0


NO_RATE = Rate()


class RateMeter:
    """Per-interface frames/s and bit/s over a sliding window of counter snapshots.

    Feed it with :meth:`sample` each time the view is drawn.  The rate is the
    difference between the newest snapshot and the oldest one kept, divided
    by the time between them; a snapshot is dropped once a younger one is
    already ``window_ns`` old, so the span stays close to the window.
    Interfaces created after the oldest snapshot count from zero.  A clock
    that goes backwards restarts the measurement.
    """

    def __init__(self, window_ns: int = RATE_WINDOW_NS, max_samples: int = 64):
        self.window_ns = window_ns
        self._samples: Deque[Tuple[int, Dict[int, Tuple[int, int]]]] = deque(maxlen=max_samples)

    def sample(self, now_ns: int, interfaces: Iterable[InterfaceView]) -> Dict[int, Rate]:
        """Record the counters of ``interfaces`` at ``now_ns``; return :meth:`rates`."""
        snapshot = {i.number: (i.frames_out + i.frames_in, i.bytes_out + i.bytes_in) for i in interfaces}
        samples = self._samples
        if samples:
            last_ns = samples[-1][0]
            if now_ns < last_ns:
                samples.clear()
            elif now_ns == last_ns:
                samples.pop()
        samples.append((now_ns, snapshot))
        horizon = now_ns - self.window_ns
        while len(samples) >= 2 and samples[1][0] <= horizon:
            samples.popleft()
        return self.rates()

    def rates(self) -> Dict[int, Rate]:
        """Rates keyed by interface number; empty until two snapshots are apart in time."""
        if len(self._samples) < 2:
            return {}
        first_ns, first = self._samples[0]
        last_ns, last = self._samples[-1]
        span_s = (last_ns - first_ns) / 1e9
        if span_s <= 0:
            return {}
        rates = {}
        before = first.get
        for number, counters in last.items():
            old = before(number)
            if counters == old:
                rates[number] = NO_RATE  # most links of a big lab: nothing to compute
                continue
            frames0, octets0 = old or (0, 0)
            frames_delta = max(0, counters[0] - frames0)
            octets_delta = max(0, counters[1] - octets0)
            if frames_delta or octets_delta:
                rates[number] = Rate(frames_delta / span_s, octets_delta * 8 / span_s)
            else:
                rates[number] = NO_RATE
        return rates
