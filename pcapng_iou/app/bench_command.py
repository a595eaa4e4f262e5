"""``pcapng-iou bench`` from its parsed options to an exit status: which part runs (the
measurements, ``--soak`` or ``--scale``), over the measuring code of :mod:`pcapng_iou.bench`.

Also runs alone, without the rest of the command line::

    python -m pcapng_iou.app.bench_command [options]
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from pcapng_iou.app.bench_options import add_arguments, settings_from, soak_settings_from
from pcapng_iou.app.bench_part import run_part
from pcapng_iou.bench import PROG
from pcapng_iou.exitstatus import ExitStatus


def run(args: argparse.Namespace) -> int:
    """``pcapng-iou bench``: 0 when every check passed (and with --strict every target was met)."""
    if args.soak:
        return run_soak(args)
    if args.scale:
        return run_scale(args)
    from pcapng_iou.bench.report import format_table
    from pcapng_iou.bench.run import Bench
    from pcapng_iou.bench.workers import FIRST_RECEIVER, FIRST_SENDER, BenchError

    def work(progress) -> dict:
        try:
            settings = settings_from(args)
        except ValueError as err:
            raise BenchError(str(err)) from None
        if max(settings.pairs, settings.crowd) > FIRST_RECEIVER - FIRST_SENDER:
            raise BenchError(f"at most {FIRST_RECEIVER - FIRST_SENDER} pairs")
        return Bench(settings, progress).run()

    result = run_part(args, work, format_table)
    if result is None or not result["ok"]:
        return ExitStatus.ERROR
    if args.strict and not all(t["met"] for t in result["targets"]):
        return ExitStatus.ERROR
    return ExitStatus.OK


def run_soak(args: argparse.Namespace) -> int:
    """``pcapng-iou bench --soak``: 0 when every frame arrived exactly once, in order, and all else checked."""
    from pcapng_iou.bench.soak import Soak, format_summary

    try:
        settings = soak_settings_from(args)
    except ValueError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return ExitStatus.USAGE

    def work(progress) -> dict:
        soak = Soak(settings, progress)
        try:
            return soak.run()
        finally:
            soak.close()

    result = run_part(args, work, format_summary)
    return ExitStatus.OK if result is not None and result["ok"] else ExitStatus.ERROR


def run_scale(args: argparse.Namespace) -> int:
    """``pcapng-iou bench --scale``: 0 when every lab size was measured with nothing lost or left behind."""
    from pcapng_iou.bench import scale

    result = run_part(args, lambda progress: scale.run_scale(args.scale, args.scale_lines, progress),
                      scale.format_scale)
    return ExitStatus.OK if result is not None and result["ok"] else ExitStatus.ERROR


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pcapng_iou.app.bench_command", allow_abbrev=False,
                                     description="Measure the capture (as 'pcapng-iou bench').")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
