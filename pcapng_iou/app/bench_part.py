"""One part of ``pcapng-iou bench`` run from the command line: progress on stderr,
the signals that stop it turned into a clean stop, failures in one line, the
result printed as a table or as JSON (used by :mod:`pcapng_iou.app.bench_command`)."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Callable, Optional

from pcapng_iou.bench import PROG
from pcapng_iou.bench.workers import STOP_SIGNALS, BenchError, BenchStopped, _stop_on_signal


def run_part(args: argparse.Namespace, work: Callable[[Callable[[str], None]], dict],
             table: Callable[[dict], str]) -> Optional[dict]:
    """``work(progress)`` makes the result; None when it could not run (already said why)."""
    def progress(text: str) -> None:
        if not args.quiet:
            print(f"{PROG}: {text}", file=sys.stderr, flush=True)

    # Whatever stops the run, ``work`` stops its captures and workers and removes its directory.
    previous = {signum: signal.signal(signum, _stop_on_signal) for signum in STOP_SIGNALS}
    try:
        result = work(progress)
    except BenchError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return None
    except BenchStopped as stopped:
        print(f"{PROG}: {stopped}; no results", file=sys.stderr)
        return None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return result
