"""Entry point for ``python -m pcapng_iou``."""
import sys

from pcapng_iou.app.cli import main

sys.exit(main())
