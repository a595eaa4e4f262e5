"""The options of ``pcapng-iou bench`` and the settings they make (:mod:`pcapng_iou.bench.settings`):
light, so that every other command can list ``bench`` in its help without loading the benchmark."""
from __future__ import annotations

import argparse

from pcapng_iou.app.argtypes import positive_int, positive_seconds, spin_microseconds
from pcapng_iou.bench.settings import PARTS, SCALE_LINES, SCALE_MAX, Settings, SoakSettings
from pcapng_iou.core.spin import DEFAULT_SPIN_US
from pcapng_iou.core import netio
from pcapng_iou.sim import numbered
from pcapng_iou.sim.peers import MAX_FRAME, MIN_FRAME


def _frame_size(text: str) -> int:
    value = positive_int(text)
    if not MIN_FRAME <= value <= MAX_FRAME:
        raise argparse.ArgumentTypeError(f"frame size must be {MIN_FRAME}..{MAX_FRAME} bytes")
    return value


def _memory(text: str) -> tuple:
    small, sep, large = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError("expected SMALL:LARGE, e.g. 100000:1000000")
    small, large = positive_int(small), positive_int(large)
    if large <= small:
        raise argparse.ArgumentTypeError("LARGE must be more than SMALL")
    return small, large


def _parts(text: str) -> list:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    for part in parts:
        if part not in PARTS:
            raise argparse.ArgumentTypeError(f"unknown part {part!r} (choose from {', '.join(PARTS)})")
    return parts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    # Not -s: to the capture (and dumpcap) -s is the snap length.  --size is the option's former name.
    parser.add_argument("--frame-size", "--size", dest="size", type=_frame_size, default=defaults.size,
                        metavar="BYTES", help=f"frame size after the 8-byte IOU header (default {defaults.size})")
    parser.add_argument("-c", "--count", type=positive_int, default=defaults.count, metavar="N",
                        help=f"frames each pair floods per round, direct and through us (default {defaults.count})")
    parser.add_argument("-p", "--pairs", type=positive_int, default=defaults.pairs, metavar="N",
                        help=f"instance pairs flooding at once (default {defaults.pairs})")
    parser.add_argument("--crowd", type=int, default=defaults.crowd, metavar="N",
                        help=f"also measure throughput with N pairs flooding at once, COUNT frames in all "
                             f"(default {defaults.crowd}; 0: not)")
    parser.add_argument("--pings", type=positive_int, default=defaults.pings, metavar="N",
                        help=f"round trips measured per round (default {defaults.pings})")
    parser.add_argument("-r", "--repeat", type=positive_int, default=defaults.repeat, metavar="N",
                        help=f"rounds; the table shows medians (default {defaults.repeat})")
    parser.add_argument("--memory", type=_memory, default=(defaults.memory_small, defaults.memory_large),
                        metavar="SMALL:LARGE", help="peak RSS after SMALL and after LARGE frames through one "
                                                    "capture (default 100000:1000000)")
    parser.add_argument("--instances", type=positive_int, default=defaults.instances, metavar="N",
                        help=f"idle instances for the attach and idle tests (default {defaults.instances})")
    parser.add_argument("--links", type=positive_int, default=defaults.links, metavar="N",
                        help=f"NETMAP links of each of those instances (default {defaults.links})")
    parser.add_argument("--idle", type=positive_seconds, default=defaults.idle, metavar="SECONDS",
                        help=f"how long idle CPU is measured (default {defaults.idle:g})")
    parser.add_argument("--skip", type=_parts, action="append", default=[], metavar="PART[,PART]",
                        help=f"leave out parts: {', '.join(PARTS)}")
    parser.add_argument("--spin", type=spin_microseconds, default=defaults.spin_us, metavar="MICROSECONDS",
                        help=f"run the capture with --spin MICROSECONDS (default {DEFAULT_SPIN_US}, as a capture runs by default)")
    parser.add_argument("--versus", default="", metavar="CMD",
                        help="also run this other sniffer in every round, beside ours, and compare; {dir}, "
                             "{netmap} and {out} stand for the netio directory, its NETMAP and a path for its "
                             "capture")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed too")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    add_soak_arguments(parser)
    add_scale_arguments(parser)


def settings_from(args: argparse.Namespace) -> Settings:
    """Raises ValueError for a combination argparse cannot refuse by itself."""
    if args.instances > netio.MAX_ID:
        raise ValueError(f"at most {netio.MAX_ID} instances")
    if args.crowd < 0:
        raise ValueError("--crowd: 0 or more pairs")
    return Settings(size=args.size, count=args.count, pairs=args.pairs, crowd=args.crowd, pings=args.pings, repeat=args.repeat,
                    memory_small=args.memory[0], memory_large=args.memory[1], instances=args.instances,
                    links=args.links, idle=args.idle, skip=tuple(p for group in args.skip for p in group),
                    spin_us=args.spin, versus=args.versus)


def soak_settings_from(args: argparse.Namespace) -> SoakSettings:
    """Raises ValueError for what argparse cannot refuse by itself."""
    if args.hogs < 0:
        raise ValueError("--hogs must be 0 or more with --soak")
    if args.size < numbered.MIN_SIZE:
        raise ValueError(f"--frame-size must be {numbered.MIN_SIZE} or more with --soak")
    return SoakSettings(args.soak, streams=args.streams, rate=float(args.rate), size=args.size,
                        capture_every=args.capture_every, reload_every=args.reload_every,
                        churn_every=args.churn_every, hogs=args.hogs, min_captures=args.min_captures)


def add_soak_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SoakSettings(0)
    group = parser.add_argument_group("soak (--soak SECONDS)")
    group.add_argument("--soak", type=positive_seconds, metavar="SECONDS",
                       help="instead of measuring, run the soak: streams of numbered frames, the capture started "
                            "and stopped, NETMAP reloads, instances coming and going; every frame checked")
    group.add_argument("--hogs", type=int, default=0, metavar="N", help="busy processes beside the lab (default 0)")
    group.add_argument("--streams", type=positive_int, default=defaults.streams, metavar="N",
                       help=f"streams of numbered frames (default {defaults.streams})")
    group.add_argument("--rate", type=positive_int, default=int(defaults.rate), metavar="FPS",
                       help=f"frames a second of each stream (default {defaults.rate:g})")
    group.add_argument("--capture-every", type=positive_seconds, default=defaults.capture_every, metavar="SECONDS",
                       help=f"how long each capture runs before it is stopped (default {defaults.capture_every:g})")
    group.add_argument("--reload-every", type=positive_seconds, default=defaults.reload_every, metavar="SECONDS",
                       help=f"NETMAP reload interval while a capture runs (default {defaults.reload_every:g})")
    group.add_argument("--min-captures", type=positive_int, default=defaults.min_captures, metavar="N",
                       help=f"go on after SECONDS until N captures have run (default {defaults.min_captures})")
    group.add_argument("--churn-every", type=positive_seconds, default=defaults.churn_every, metavar="SECONDS",
                       help=f"an idle instance starts (and one exits) this often (default {defaults.churn_every:g})")


def scale_sizes(text: str) -> tuple:
    try:
        sizes = tuple(sorted({int(word) for word in text.split(",") if word.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected lab sizes such as 100,1000, not {text!r}") from None
    if not sizes or sizes[0] < 2 or sizes[-1] > SCALE_MAX:
        raise argparse.ArgumentTypeError(f"lab sizes must be 2..{SCALE_MAX} instances")
    return sizes


def scale_lines(text: str) -> int:
    value = positive_int(text)
    if value > 32:
        raise argparse.ArgumentTypeError("at most 32 lines per instance (IOU has 64 interfaces)")
    return value


def add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scale (--scale SIZES)")
    group.add_argument("--scale", type=scale_sizes, metavar="N[,N...]",
                       help="instead of measuring, show how the costs grow with the lab (attach, RSS, CPU per "
                            "frame, reload, dashboard) for labs of these sizes, e.g. 100,1000")
    group.add_argument("--scale-lines", type=scale_lines, default=SCALE_LINES, metavar="N",
                       help=f"NETMAP lines each instance starts (default {SCALE_LINES}: 1,000 instances make "
                            "16,000 lines)")
