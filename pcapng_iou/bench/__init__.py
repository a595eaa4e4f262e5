"""``pcapng-iou bench``: what the capture costs on this machine, measured end to end.

``run`` drives a benchmark (``soak`` and ``scale`` the other two parts),
``workers`` are the processes that send and check numbered datagrams,
``measure`` reads a running capture's CPU and memory, ``filecheck`` reads its
file back, ``report`` turns rounds into figures, ``settings`` is what a run is
asked.  Its command line is in :mod:`pcapng_iou.app` (``bench_options``,
``bench_command``).
"""

from pcapng_iou import PROG as BASE_PROG

PROG = f"{BASE_PROG} bench"
