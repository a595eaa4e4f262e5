"""What a benchmark run is asked to measure: plain settings, made from the command line by
:mod:`pcapng_iou.app.bench_options` and read by the measuring code here."""
from __future__ import annotations

from dataclasses import dataclass

from pcapng_iou.core.spin import DEFAULT_SPIN_US

#: The parts of the default run (``--skip`` leaves some out).
PARTS = ("throughput", "latency", "memory", "attach", "idle")


@dataclass
class Settings:
    size: int = 100
    count: int = 200_000
    pairs: int = 1
    #: Pairs that also flood all at once in each round (their throughput is reported beside): 0 for none.
    crowd: int = 4
    pings: int = 10_000
    repeat: int = 5
    memory_small: int = 100_000
    memory_large: int = 1_000_000
    instances: int = 200
    links: int = 4
    idle: float = 3.0
    skip: tuple = ()
    #: The capture's ``--spin`` (microseconds; 0: it sleeps at once).
    spin_us: int = DEFAULT_SPIN_US
    #: Another sniffer's command, measured beside ours in every round (``--versus``; bench/versus.py).
    versus: str = ""

    @property
    def warmup(self) -> int:
        return min(200, max(10, self.pings // 10))


@dataclass
class SoakSettings:
    seconds: float
    streams: int = 4
    rate: float = 2500.0
    size: int = 100
    capture_every: float = 3.0
    reload_every: float = 0.3
    churn_every: float = 0.3
    hogs: int = 0
    min_captures: int = 3

    @property
    def gap(self) -> float:
        """Time between a capture's stop and the next start: traffic flows direct meanwhile."""
        return min(0.5, self.capture_every / 4)


#: Lab sizes ``--scale`` measures by default, and NETMAP lines each instance starts.
SCALE_SIZES = (100, 1000)
SCALE_LINES = 16
#: The largest lab: the flooding pair beside it takes the next ids.
SCALE_MAX = 1020
