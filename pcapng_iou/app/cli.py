"""The ``pcapng-iou`` command line: argument parsing and messages, nothing else.

Each sub-command is a small function over the library; exit status 0 on
success (and on SIGINT/SIGTERM), 1 when something failed at run time, 2 for
usage errors (bad options, a NETMAP that does not parse).
"""
from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from typing import Optional

from pcapng_iou import PROG, __version__
from pcapng_iou.app.argtypes import (
    AUTO,
    autostop_option, comment_text, instance_id, link_name, linktype, path_text, positive_int, positive_seconds,
    ring_option, router_name, snap_length, spin_microseconds,
)
from pcapng_iou.app.bench_options import add_arguments as add_bench_arguments
from pcapng_iou.core import linktypes, ring
from pcapng_iou.core.words import counted
from pcapng_iou.core.spin import DEFAULT_SPIN_US, SPIN_BURST_S, SPIN_SHARE
from pcapng_iou.exitstatus import ExitStatus
from pcapng_iou.shell import netiodir, privileges


#: How long ``pcapng-iou demo`` runs when not told.
DEMO_DURATION_S = 20.0


def default_output_name(ring_buffer: bool = False) -> str:
    """``iou-YYYYmmdd-HHMMSS.pcapng``; with -b, ``iou.pcapng``: the series' names have the time already."""
    return "iou.pcapng" if ring_buffer else time.strftime("iou-%Y%m%d-%H%M%S.pcapng")


LINKTYPE_PRECEDENCE = """\
Each link's link type, strongest first:
  1. a link type written on its NETMAP line (ethernet, hdlc, ppp, frame-relay,
     a number, or auto: follow the frames);
  2. --linktype, when given;
  3. the kinds of its bays, read from each running IOU instance's command line
     (-e/-s): an Ethernet bay is Ethernet; a serial bay starts as Cisco HDLC and
     follows PPP or Frame Relay when the frames show it (a new interface each
     time);
  4. Ethernet.
Without -n and without ./NETMAP, the NETMAP files in the working directories of
the running instances are used (read again on kill -HUP)."""


def add_capture_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-w", "--write", type=path_text, metavar="FILE",
                        help="capture file to write ('-' for standard output); default iou-YYYYmmdd-HHMMSS.pcapng "
                             "(with -b: iou_NNNNN_YYYYmmddHHMMSS.pcapng)")
    parser.add_argument("-d", "--netio-dir", type=path_text, metavar="DIR",
                        help="IOU's netio directory (default /tmp/netio<uid>, uid from $SUDO_UID when set)")
    parser.add_argument("-n", "--netmap", type=path_text, metavar="FILE",
                        help="NETMAP naming the links, and link types that override the rest (default ./NETMAP if "
                             "present, else the NETMAP files in the working directories of the running instances)")
    parser.add_argument("-f", "--flush", action="store_true",
                        help="flush the file after every frame (default: at least once a second)")
    parser.add_argument("-g", "--group-read", action="store_true",
                        help="let the capture files' group read them (mode 0640; default 0600, as dumpcap)")
    parser.add_argument("-c", "--count", type=positive_int, metavar="N", help="stop after N frames")
    parser.add_argument("--duration", type=positive_seconds, metavar="SECONDS", help="stop after SECONDS")
    _add_selection_options(parser)
    parser.add_argument("-s", "--snaplen", type=snap_length, metavar="BYTES",
                        help="store at most BYTES of each frame (its full length is kept in the file); "
                             "0 means the default, as with dumpcap: 262144, more than any IOU frame (frames "
                             "stored whole)")
    parser.add_argument("-b", "--ring-buffer", type=ring_option, action="append", default=[], metavar="KEY:VALUE",
                        help="write a series of files as dumpcap: filesize:KB (1 kB = 1000 bytes), "
                             "duration:SECONDS, files:N (keep the newest N); combinable; files are named "
                             "PREFIX_NNNNN_YYYYmmddHHMMSS.pcapng after -w PREFIX.pcapng")
    parser.add_argument("-a", "--autostop", type=autostop_option, action="append", default=[], metavar="KEY:VALUE",
                        help="stop as dumpcap: filesize:KB (with -b: start the next file), files:N (with -b), "
                             "duration:SECONDS, packets:N")
    parser.add_argument("--linktype", type=linktype, default=None, metavar="TYPE",
                        help="link type of links whose NETMAP line names none, instead of their bay kinds "
                             "(auto: as --auto-linktype)")
    parser.add_argument("--auto-linktype", action="store_true",
                        help="follow the link type the frames show on every link whose NETMAP line names none")
    parser.add_argument("--comment", type=comment_text, metavar="TEXT", help="capture comment stored in the file")
    parser.add_argument("--spin", type=spin_microseconds, default=DEFAULT_SPIN_US, metavar="MICROSECONDS",
                        help="after handling a datagram, poll for the next one this long (0-10000) before "
                             "sleeping: an answer that comes at once (ping) is relayed without a wake-up; at "
                             f"most {SPIN_BURST_S:g} s of polling in a row and {SPIN_SHARE * 100:g}%% of a CPU over time "
                             f"(default {DEFAULT_SPIN_US}; 0: sleep at once)")
    parser.add_argument("--no-wait", action="store_true",
                        help="fail at once when the netio directory does not exist (default: wait for it)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def _add_selection_options(parser: argparse.ArgumentParser) -> None:
    """What to record, and how links are named: -i, --link, --name, -D."""
    parser.add_argument("-i", "--instance", type=instance_id, action="append", metavar="ID",
                        help="record only this router's links, both directions (repeatable); its peers' "
                             "sockets are taken too, to see what it sends")
    parser.add_argument("--link", type=link_name, action="append", metavar="NAME",
                        help="record only this link, named as shown (100:0/0-101:0/0, \"R1 Ethernet0/0 - R2 "
                             "Ethernet0/0\") or by one end (100:0/0, \"R1 Ethernet0/0\"); repeatable; every "
                             "datagram is still relayed")
    parser.add_argument("--name", type=router_name, action="append", default=[], metavar="ID=NAME",
                        help="call instance ID NAME in link names (1=R1), above what the GNS3 project, EVE-NG "
                             "or CDP say; repeatable")
    parser.add_argument("-D", "--list-links", action="store_true",
                        help="list the links (names for --link, link types, instances) and exit, as dumpcap -D")


class _Parser(argparse.ArgumentParser):
    """argparse, whose usage errors are one line saying where to read more (not the usage block first).

    Its subcommands' parsers are of this class too (argparse makes them of their parent's class).
    """

    def error(self, message: str):
        self.exit(ExitStatus.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_split_command(commands) -> None:
    """``pcapng-iou split FILE``: one file per interface (see :mod:`pcapng_iou.shell.split`)."""
    split = commands.add_parser(
        "split", allow_abbrev=False, help="write one file per link, for tcpdump and other libpcap readers",
        description=textwrap.fill(
            "Write each interface (link) of a capture file into a file of its own, with its one link type: "
            "libpcap readers (tcpdump) cannot read a file whose interfaces have different link types. Files "
            "are named PREFIX_LINK_LINKTYPE.pcapng after FILE (100:0/0-101:0/0 written 100_0.0-101_0.0); "
            "interfaces without frames get none.", 78))
    split.add_argument("file", type=path_text, metavar="FILE", help="a capture file written by pcapng-iou")
    split.add_argument("-o", "--output-dir", type=path_text, metavar="DIR",
                       help="folder of the files written (default: FILE's)")


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False on every parser: a misspelt or newer option (--link) must not silently
    # become whichever option it happens to begin (--linktype).
    parser = _Parser(
        prog=PROG, allow_abbrev=False,
        description="See the traffic between Cisco IOU instances in Wireshark: one PCAP-NG file, "
                    "one interface per NETMAP link, each with its own link type.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    capture = commands.add_parser("capture", allow_abbrev=False, help="capture the links of a running IOU lab",
                                  description=textwrap.fill(
                                      "Stand in for the IOU sockets of the netio directory, relay every datagram "
                                      "unchanged and record the frames.", 78),
                                  epilog=LINKTYPE_PRECEDENCE,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    add_capture_options(capture)
    fix = commands.add_parser("repair", allow_abbrev=False,
                              help="put sockets back after a capture that was killed",
                              description="Restore a netio directory left behind by a capture that could not "
                                          "clean up (killed, power loss).  Safe to run more than once.")
    fix.add_argument("-d", "--netio-dir", type=path_text, metavar="DIR", help="netio directory (default /tmp/netio<uid>)")
    fix.add_argument("--dry-run", action="store_true", help="only say what would be done")
    demo = commands.add_parser("demo", allow_abbrev=False, help="capture a built-in simulated IOU lab",
                               description="Start a simulated lab of IOU routers (Ethernet, HDLC, PPP, Frame "
                                           "Relay, a shared segment), capture it, and tear it down.")
    demo.add_argument("-w", "--write", metavar="FILE", default="demo.pcapng",
                      help="capture file (default demo.pcapng)")
    demo.add_argument("--duration", type=positive_seconds, default=None, metavar="SECONDS",
                      help="how long to run (default 20; with --lab-only, until Ctrl-C)")
    demo.add_argument("--lab-only", action="store_true",
                      help="run the lab without capturing it, and say how to capture it yourself "
                           "(pcapng-iou capture, or Wireshark)")
    demo.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors and the result")
    demo.add_argument("--eve", action="store_true",
                      help="an EVE-NG-style lab instead: routers beside wrappers that send through connected "
                           "sockets, serial links between wrappers over UDP")
    add_split_command(commands)
    add_bench_arguments(commands.add_parser(
        "bench", allow_abbrev=False,
        help="measure what the capture costs on this machine (throughput, latency, CPU, memory)",
        description="Run simulated instances in a private netio directory and measure throughput, round-trip "
                    "latency, CPU and memory, first directly, then through the real capture writing a real "
                    "file.  Every datagram is checked byte for byte; any loss fails the run."))
    # Parsed by pcapng_iou.app.extcap (see program()); listed here for --help.
    commands.add_parser("extcap", allow_abbrev=False, add_help=False,
                        help="Wireshark extcap interface: 'extcap --install' lists IOU links in Wireshark")
    for command_parser in commands.choices.values():
        command_parser.set_defaults(command_parser=command_parser)  # whose errors name the command
    return parser


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _smallest(*values):
    given = [v for v in values if v is not None]
    return min(given) if given else None


def check_capture_args(args: argparse.Namespace) -> None:
    """What argparse cannot see option by option: the -b/-a combination (usage error, status 2)."""
    try:
        args.file_limits = ring.file_limits(args.ring_buffer, args.autostop, args.write == "-")
    except ring.RingOptionError as err:
        args.command_parser.error(str(err))


def capture_settings(args: argparse.Namespace) -> dict:
    """The fields of CaptureOptions that ``capture``'s options set, beside the directory, file and NETMAP."""
    from pcapng_iou.core.selection import LinkSelection

    limits = args.file_limits
    return dict(
        flush_each=args.flush or args.write == "-",
        count=_smallest(args.count, limits.stop_packets),
        duration=_smallest(args.duration, limits.stop_seconds),
        instances=set(args.instance) if args.instance else None,
        default_linktype=None if args.linktype == AUTO else args.linktype,
        auto_linktype=args.auto_linktype or args.linktype == AUTO,
        comment=args.comment,
        wait_for_dir=not args.no_wait,
        snaplen=args.snaplen or 0,
        links=LinkSelection(args.link, set(args.instance) if args.instance else None),
        router_names=dict(args.name) or None,
        limits=limits,
        spin_us=args.spin,
        group_read=args.group_read,
    )


def run_capture(args: argparse.Namespace) -> int:
    from pcapng_iou.app.capture_setup import SetupError, capture_setup
    from pcapng_iou.shell.capture import Capture
    from pcapng_iou.ui.console import Reporter

    if args.write == "-" and sys.stdout.isatty():
        _error("refusing to write the capture (binary) to a terminal: redirect standard output to a file, "
               "or pipe it, as in: -w - | wireshark -k -i -")
        return ExitStatus.USAGE
    try:
        # A -n file that is not there yet is read on kill -HUP; one that does not parse is refused now.
        options, netmap = capture_setup(args.write or default_output_name(args.file_limits.ring), args.netio_dir, args.netmap,
                                        netmap_may_come_later=True, **capture_settings(args))
    except SetupError as err:
        _error(str(err))
        return err.status
    if args.linktype not in (None, AUTO) and args.linktype not in linktypes.NAMES:
        _warn(f"--linktype {args.linktype}: not a link type IOU frames come in "
              f"({', '.join(f'{name} {number}' for number, name in sorted(linktypes.NAMES.items()))}); "
              "recorded as asked, but Wireshark will decode them as that")
    if args.list_links:
        from pcapng_iou.shell.listing import list_links

        return list_links(options, netmap, lambda text, level="info": (
            _error(text) if level == "error" else _warn(text) if level == "warning" else None))
    capture = Capture(options, netmap=netmap)
    reporter = Reporter(quiet=args.quiet)
    return reporter.run(capture)


def run_repair(args: argparse.Namespace) -> int:
    from pcapng_iou.shell.repair import repair

    directory = args.netio_dir or netiodir.default_dir()
    if os.path.exists(directory) and not os.path.isdir(directory):
        _error(f"{directory} is not a directory (give -d the netio directory, where the instances' sockets are)")
        return ExitStatus.ERROR
    if not os.path.isdir(directory):
        from pcapng_iou.shell.reach import unreachable

        _error(unreachable(directory, command="repair") or f"netio directory {directory} does not exist")
        return ExitStatus.ERROR
    privileges.drop_supplementary_groups()  # (as root, repair acts as the lab's owner: without root's groups)
    guard = netiodir.DirectoryGuard(directory)
    try:
        guard.acquire()
    except netiodir.AlreadyCapturing as err:
        _error(f"{err}; stop it first (it puts the sockets back itself)")
        return ExitStatus.ERROR
    try:
        actions = repair(directory, dry_run=args.dry_run)
    except OSError as err:
        where = err.filename or directory
        hint = ""
        if isinstance(err, PermissionError):
            owner = netiodir.owner_name(where if os.path.lexists(where) else directory)
            hint = f"; it belongs to {owner}: run pcapng-iou repair as {owner}, or with sudo"
        _error(f"{where}: {err.strerror}{hint}")
        return ExitStatus.ERROR
    finally:
        guard.release()
    for action in actions:
        print(action.text)
    if not actions:
        print(f"{directory}: nothing to repair")
    return ExitStatus.OK


def run_demo(args: argparse.Namespace) -> int:
    from pcapng_iou.app.demo import run_demo as demo
    from pcapng_iou.sim.lab import LabError

    if args.eve:
        from pcapng_iou.app.evedemo import run_eve_demo as demo
    try:
        if args.lab_only:
            return demo(args.write, args.duration, quiet=args.quiet, lab_only=True)
        return demo(args.write, DEMO_DURATION_S if args.duration is None else args.duration, quiet=args.quiet)
    except LabError as err:
        _error(f"the demo lab: {err}")
        return ExitStatus.ERROR


def run_split(args: argparse.Namespace) -> int:
    from pcapng_iou.shell.split import SplitError, Splitter

    try:
        splitter = Splitter(args.file, args.output_dir)
        files = splitter.run()
    except SplitError as err:
        _error(str(err))
        return ExitStatus.ERROR
    if splitter.cut_after is not None:
        _warn(f"{args.file} is cut short after {counted(splitter.cut_after, 'whole frame')} (its end is "
              f"missing): those were split")
    for written in files:
        print(f"{written.path}: {written.interface_name or 'an unnamed interface'}, "
              f"{linktypes.name(written.linktype)}, {counted(written.frames, 'frame')}")
    if not files:
        print(f"{args.file}: no frames in it: no file written")
    return ExitStatus.OK


def run_bench(args: argparse.Namespace) -> int:
    from pcapng_iou.app.bench_command import run

    return run(args)


def program(argv: Optional[list] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["extcap"]:
        # Wireshark's extcap protocol has its own options: pcapng_iou.app.extcap parses them.
        from pcapng_iou.app import extcap

        return extcap.main(argv[1:])
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the command's own parser: "pcapng-iou capture: error: ... (see pcapng-iou capture --help)"
        from pcapng_iou.app.habits import misread_filter

        message = misread_filter(argv, extra) if args.command == "capture" else None
        getattr(args, "command_parser", parser).error(message or f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help(sys.stderr)
        return ExitStatus.USAGE
    if args.command == "capture":
        check_capture_args(args)
    handlers = {"capture": run_capture, "repair": run_repair, "demo": run_demo, "bench": run_bench,
                "split": run_split}
    return handlers[args.command](args)


def main(argv: Optional[list] = None) -> int:
    try:
        return program(argv)
    except KeyboardInterrupt:
        return ExitStatus.OK


if __name__ == "__main__":
    sys.exit(main())
