"""Entry point for ``python -m pcapng_iou``."""
import sys

from pcapng_iou.cli import main

sys.exit(main())
