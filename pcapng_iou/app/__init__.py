"""The entry points, each a thin layer over the rest: the ``pcapng-iou`` command line (``cli``,
``argtypes``), the Wireshark extcap (``extcap``), ``pcapng-iou demo`` (``demo``), the command line of
``pcapng-iou bench`` (``bench_options``, ``bench_command``, ``bench_part``), and the one builder of
capture options they share (``capture_setup``).  The only layer that may import every other."""
