"""``pcapng-iou bench``: what the capture costs on this machine, measured end to end.

``run`` drives a benchmark, ``workers`` are the processes that send and check
numbered datagrams, ``measure`` reads a running capture's CPU and memory,
``filecheck`` reads its file back, ``report`` turns rounds into figures.
"""

from pcapng_iou import PROG as BASE_PROG

PROG = f"{BASE_PROG} bench"
