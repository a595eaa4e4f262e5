"""Wireshark's extcap interface: "IOU links" in the capture interface list.

Wireshark, tshark and dumpcap look for extcap programs in their extcap folders
and run each one to learn what it offers, then again to capture:

=================================================  ===========================================
``--extcap-interfaces [--extcap-version=V]``       ``extcap`` and ``interface`` lines
``--extcap-interface iou --extcap-dlts``           the ``dlt`` line
``--extcap-interface iou --extcap-config``         ``arg`` lines: the interface's options dialog
``--extcap-interface iou --capture --fifo PATH``   PCAP-NG into PATH until SIGTERM or the reader
                                                   goes away
=================================================  ===========================================

``pcapng-iou extcap --install`` puts a small executable named ``pcapng-iou``
into the user's personal extcap folder (see :func:`launcher_text`); it calls
:func:`main` here with the interpreter pcapng-iou is installed for.
``pcapng-iou extcap ...`` on the command line lands here too.  The capture
itself is the ordinary :class:`~pcapng_iou.shell.capture.Capture`, writing to the
FIFO Wireshark made, flushed after every frame.

Extcaps must not chatter: Wireshark shows whatever they write on stderr as an
error, so a capture started this way reports errors only.
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
import time
from typing import Optional, Sequence

from pcapng_iou import PROG as BASE_PROG
from pcapng_iou import __version__
from pcapng_iou.app.argtypes import MAX_SPIN_US, comment_text, spin_microseconds
from pcapng_iou.core.spin import DEFAULT_SPIN_US, SPIN_SHARE
from pcapng_iou.core import linkchoice, linktypes
from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.core.selection import LinkNameError, LinkSelection, parse_link_name
from pcapng_iou.exitstatus import ExitStatus
from pcapng_iou.shell import netiodir, netmapfile
from pcapng_iou.app.extcap_hints import nothing_ran, permission_problem
# The personal extcap folder and our launcher in it (names kept here for those who look for them here).
from pcapng_iou.app.extcap_install import (  # noqa: F401
    EXECUTABLE, MARKER, ExtcapError, install, is_ours, launcher_text, personal_extcap_dir, uninstall)

PROG = f"{BASE_PROG} extcap"
INTERFACE = "iou"
DISPLAY = "IOU links (pcapng-iou)"
#: Where Wireshark sends people who ask for help about the interface.
HELP_URL = "pcapng-iou --help"
#: What ``--extcap-dlts`` announces.  The real link types are per interface,
#: in the PCAP-NG interface blocks we write, and dumpcap keeps those.
DLT_NUMBER, DLT_NAME, DLT_DISPLAY = 1, "EN10MB", "IOU links (link type per NETMAP line)"

NO_FILTERS = "pcapng-iou records every frame: capture filters are not supported, use a display filter"



# -- what Wireshark asks ------------------------------------------------------------
def interfaces_text() -> str:
    return (
        f"extcap {{version={__version__}}}{{help={HELP_URL}}}\n"
        f"interface {{value={INTERFACE}}}{{display={DISPLAY}}}\n"
    )


def dlts_text() -> str:
    return f"dlt {{number={DLT_NUMBER}}}{{name={DLT_NAME}}}{{display={DLT_DISPLAY}}}\n"


def _field(text: str) -> str:
    """A value inside ``{...}``: braces would end it early."""
    return text.replace("{", "(").replace("}", ")")


def config_text(default_netio_dir: Optional[str] = None, netmap: Optional[netmap_mod.Netmap] = None,
                bays: Optional[dict] = None, drawing=None) -> str:
    """The options dialog; ``netmap``'s links become the choices of the "Links" field, each with the link
    type a capture would start it with (``bays``: the running instances' bays, by instance)."""
    netio_dir = default_netio_dir or netiodir.default_dir()
    lines = [
        "arg {number=0}{call=--netio-dir}{display=netio directory}{type=string}{required=true}"
        f"{{default={_field(netio_dir)}}}{{validation=^/.*$}}"
        "{tooltip=Where the IOU instances have their sockets (/tmp/netio<uid> of the user running IOU)}",
        "arg {number=1}{call=--netmap}{display=NETMAP}{type=fileselect}{mustexist=true}"
        "{tooltip=The lab's NETMAP: names the links and their link types (ethernet, hdlc, ppp, frame-relay)}",
        "arg {number=2}{call=--instances}{display=Instances}{type=string}"
        "{tooltip=Record only the links of these instance ids, both directions, e.g. 100,101 (empty: every link)}"
        "{validation=^[0-9 ,]*$}",
        "arg {number=3}{call=--flush}{display=Flush every frame}{type=boolflag}{default=true}"
        "{tooltip=Hand every frame to Wireshark at once (otherwise at least once a second)}",
        "arg {number=4}{call=--link}{display=Links}{type=multicheck}"
        "{tooltip=Record only the links ticked (none ticked: every link); every frame is still relayed. "
        "The choices are the lines of the NETMAP given}",
        f"arg {{number=5}}{{call=--spin}}{{display=Spin (microseconds)}}{{type=unsigned}}{{range=0,{MAX_SPIN_US}}}"
        f"{{default={DEFAULT_SPIN_US}}}{{tooltip=After handling a frame, look for the next one this long before "
        f"sleeping: lower latency for traffic answered at once, for at most {SPIN_SHARE:.0%} of a CPU over time "
        "(0: sleep at once)}",
    ]
    lines += _link_values(netmap, bays or {}, drawing)
    return "\n".join(lines) + "\n"


def _link_values(netmap: Optional[netmap_mod.Netmap], bays: dict, drawing) -> list:
    """The choices of the "Links" field: the links the user drew by their names (a GNS3 project), else
    every NETMAP line."""
    values = []
    segments = {frozenset(e.key for e in segment.endpoints): segment for segment in netmap or ()}
    for link in (drawing.links if drawing else ()):
        first = segments.get(link.halves[0]) if link.halves else None
        kind = _dialog_kind(first, bays) if first is not None else "not in NETMAP yet"
        values.append(f"value {{arg=4}}{{value={_field(link.name)}}}{{display={_field(link.name)} ({kind})}}"
                      "{default=false}")
    if values:
        return values
    for segment in netmap or ():
        kind = _dialog_kind(segment, bays)
        values.append(f"value {{arg=4}}{{value={_field(segment.name)}}}"
                      f"{{display={_field(segment.name)} ({kind}, NETMAP line {segment.line})}}{{default=false}}")
    return values


def _dialog_kind(segment: netmap_mod.Segment, bays: dict) -> str:
    """How a capture would start recording ``segment``: its line's link type, else its bays' (a serial
    bay's Cisco HDLC is then followed as the frames show), else Ethernet."""
    if segment.auto:
        return "auto"
    choice = linkchoice.choose(segment.linktype, kinds=linkchoice.member_kinds((e.key for e in segment.endpoints),
                                                                             bays))
    name = linktypes.name(choice.linktype)
    return f"{name}, followed" if choice.follow else name


def config_netmap(path: Optional[str], netio_dir: Optional[str] = None) -> tuple:
    """The NETMAP whose links the dialog offers (None when there is none to read), the bays of the
    instances running in the netio directory, and the links drawn in their GNS3 project (or None).

    ``--netmap`` if given, else ./NETMAP, else the NETMAP files of the running
    instances (their working directories, as a capture finds them).  Wireshark
    asks for the dialog without passing the values set in it.
    """
    from pcapng_iou.app.capture_setup import netmap_to_use
    from pcapng_iou.shell.learning import Learning

    path = netmap_to_use(path)
    directory = netio_dir or netiodir.default_dir()
    try:
        numbers = sorted(n for n in map(netiodir.instance_id, os.listdir(directory)) if n is not None)
        learning = Learning(directory, path, lambda text, level="info": None)
        found, bays = learning.at_start(numbers)
        drawing = learning.drawing
    except (OSError, netmap_mod.NetmapError):
        found, bays, drawing = None, {}, None
    if not path:
        return found, bays, drawing
    try:
        return netmapfile.read(path), bays, drawing
    except netmap_mod.NetmapError:
        return None, bays, drawing  # the capture itself reports a broken NETMAP; the dialog just offers no links


def parse_instances(text: Optional[str]) -> Optional[set]:
    """``"100, 101 102"`` -> {100, 101, 102}; empty -> None (all instances)."""
    if not text or not text.strip():
        return None
    numbers = set()
    for word in text.replace(",", " ").split():
        number = netiodir.instance_id(word)
        if number is None:
            raise ExtcapError(f"--instances: expected instance ids 1..1024, got {word!r}")
        numbers.add(number)
    return numbers


def parse_links(text: Optional[str]) -> LinkSelection:
    """``"100:0/0-101:0/0,102:1/0"`` (Wireshark joins the ticked choices with commas) -> a selection."""
    names = []
    for word in (text or "").split(","):
        if word.strip():
            try:
                names.append(parse_link_name(word))
            except LinkNameError as err:
                raise ExtcapError(f"--link: {err}") from None
    return LinkSelection(names)


def _capture_options(args: argparse.Namespace):
    """CaptureOptions and the parsed NETMAP from the extcap arguments; ExtcapError when they are wrong.

    The NETMAP is the one the options dialog offered the links of: ``--netmap``, else ./NETMAP, else
    the running instances' own (:mod:`pcapng_iou.app.capture_setup`, as ``pcapng-iou capture``)."""
    from pcapng_iou.app.capture_setup import SetupError, capture_setup

    if args.extcap_interface not in (None, INTERFACE):
        raise ExtcapError(f"unknown interface {args.extcap_interface!r}; this extcap offers {INTERFACE!r}")
    if (args.extcap_capture_filter or "").strip():
        raise ExtcapError(NO_FILTERS)
    instances = parse_instances(args.instances)
    try:
        spin_us = spin_microseconds(args.spin)
    except argparse.ArgumentTypeError as err:
        raise ExtcapError(f"--spin: {err}") from None
    try:
        comment_text(args.comment or "")
    except argparse.ArgumentTypeError as err:
        raise ExtcapError(f"--comment: {err}") from None
    netio_dir = args.netio_dir or netiodir.default_dir()
    problem = permission_problem(netio_dir)
    if problem is not None:
        raise ExtcapError(problem)
    try:
        return capture_setup(
            args.fifo, netio_dir, args.netmap or None,
            output_any_kind=True,  # Wireshark's FIFO
            flush_each=args.flush,
            instances=instances,
            comment=args.comment,
            links=parse_links(args.link).with_instances(instances),
            spin_us=spin_us,
            # Wireshark shows our error in a dialog only if we stop: a directory that is not there is an error
            # here, not something to wait for, behind a capture that seems to run.
            wait_for_dir=False,
        )
    except SetupError as err:
        raise ExtcapError(str(err)) from None


def _release_fifo(path: str, timeout: float = 2.0) -> None:
    """Open and close the FIFO once, so that a reader blocked opening it sees the end at once.

    When we fail before writing anything, dumpcap would otherwise wait in
    open() for a writer that never comes, and tshark with it.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as err:
            if err.errno == errno.ENXIO and time.monotonic() < deadline:
                time.sleep(0.05)  # no reader yet
                continue
            return
        os.close(fd)
        return


def run_capture(args: argparse.Namespace) -> int:
    from pcapng_iou.shell.capture import Capture
    from pcapng_iou.ui.console import Reporter

    if not args.fifo:
        _error("--capture needs --fifo PATH (Wireshark gives it)")
        return ExitStatus.USAGE
    capture = None
    try:
        options, netmap = _capture_options(args)
        capture = Capture(options, netmap=netmap)

        def say_if_nothing_ran() -> None:
            # Said before the FIFO closes: dumpcap reports the end of the capture as soon as it reads it,
            # and a message that came after it made an empty error in tshark.
            stop = capture.stop
            ended_well = (stop is None or stop.status == ExitStatus.OK) and not capture.instances.not_given_back
            if ended_well and not capture.instances.ever_attached:
                _error(nothing_ran(options.netio_dir))

        capture.on_closing = say_if_nothing_ran
        # Errors only: Wireshark shows anything on our stderr as an error.
        return Reporter(quiet=True, dashboard=False).run(capture)
    except ExtcapError as err:
        _error(str(err))
        return ExitStatus.USAGE
    finally:
        if capture is None or capture.output is None:
            _release_fifo(args.fifo)


# -- command line ----------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        description="Wireshark extcap for IOU labs: makes 'IOU links' a capture interface of Wireshark "
                    "and tshark.  Install it once with '--install', then pick 'IOU links' in Wireshark or "
                    f"run 'tshark -i {INTERFACE}'.  The other options are the extcap protocol Wireshark "
                    "speaks.",
    )
    setup = parser.add_argument_group("installation")
    what = setup.add_mutually_exclusive_group()
    what.add_argument("--install", action="store_true",
                      help="put the extcap executable into your personal Wireshark extcap folder")
    what.add_argument("--uninstall", action="store_true", help="remove it again")
    what.add_argument("--where", action="store_true", help="print the personal extcap folder")
    setup.add_argument("--dir", metavar="DIR",
                       help="extcap folder to use (default: asked from 'tshark -G folders')")
    proto = parser.add_argument_group("extcap protocol (used by Wireshark)")
    proto.add_argument("--extcap-interfaces", action="store_true", help="list the interfaces")
    proto.add_argument("--extcap-version", nargs="?", const="", metavar="VERSION",
                       help="Wireshark's version (accepted, not needed)")
    proto.add_argument("--extcap-interface", metavar="NAME", help=f"the interface ({INTERFACE})")
    proto.add_argument("--extcap-dlts", action="store_true", help="list the link types")
    proto.add_argument("--extcap-config", action="store_true", help="list the options")
    proto.add_argument("--extcap-capture-filter", metavar="FILTER",
                       help="capture filter (not supported: use a display filter)")
    proto.add_argument("--capture", action="store_true", help="capture into --fifo")
    proto.add_argument("--fifo", metavar="PATH", help="where to write PCAP-NG")
    proto.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    proto.add_argument("--debug-file", metavar="FILE", help=argparse.SUPPRESS)
    options = parser.add_argument_group("capture options (the interface's options dialog)")
    options.add_argument("--netio-dir", metavar="DIR", help="IOU's netio directory (default /tmp/netio<uid>)")
    options.add_argument("--netmap", metavar="FILE", help="NETMAP naming the links and their link types")
    options.add_argument("--instances", metavar="IDS", help="only these instance ids (comma-separated)")
    options.add_argument("--flush", action="store_true", help="flush after every frame")
    options.add_argument("--comment", metavar="TEXT", help="capture comment")
    options.add_argument("--link", metavar="NAMES", help="record only these links (comma-separated names)")
    # Checked in _capture_options, not by argparse: an argparse error would exit before the FIFO is
    # released, and dumpcap would wait on it for ever.
    options.add_argument("--spin", default=str(DEFAULT_SPIN_US), metavar="MICROSECONDS",
                         help=f"look for the next frame this long before sleeping (default {DEFAULT_SPIN_US})")
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse, letting through the ``--extcap-*`` options newer Wiresharks may add."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(list(argv))
    skipping = False
    for word in unknown:
        if word.startswith("--extcap-"):
            skipping = "=" not in word
        elif skipping and not word.startswith("-"):
            skipping = False  # the value of an unknown --extcap- option
        else:
            parser.error(f"unrecognized arguments: {word}")
    return args


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.install:
            path = install(args.dir)
            print(f"installed {path}\nWireshark and tshark now list '{DISPLAY}' among their interfaces "
                  f"(tshark -D); capture with: tshark -i {INTERFACE}")
            return ExitStatus.OK
        if args.uninstall:
            directory = args.dir or personal_extcap_dir()
            path = uninstall(directory)
            print(f"removed {path}" if path else f"{directory}: no pcapng-iou extcap installed")
            return ExitStatus.OK
    except ExtcapError as err:
        _error(str(err))
        return ExitStatus.ERROR
    if args.where:
        print(args.dir or personal_extcap_dir())
        return ExitStatus.OK
    if args.extcap_interfaces:
        sys.stdout.write(interfaces_text())
        return ExitStatus.OK
    if args.extcap_dlts or args.extcap_config:
        if args.extcap_interface != INTERFACE:
            _error(f"unknown interface {args.extcap_interface!r}; this extcap offers {INTERFACE!r}")
            return ExitStatus.USAGE
        text = dlts_text() if args.extcap_dlts else config_text(None, *config_netmap(args.netmap, args.netio_dir))
        sys.stdout.write(text)
        return ExitStatus.OK
    if args.capture:
        return run_capture(args)
    if args.extcap_capture_filter is not None:
        # Wireshark checks a capture filter this way: no output means valid, else the reason.
        if args.extcap_capture_filter.strip():
            print(NO_FILTERS)
        return ExitStatus.OK
    build_parser().print_usage(sys.stderr)
    _error("nothing to do: give --install, --uninstall or --where, or the extcap options Wireshark uses")
    return ExitStatus.USAGE


if __name__ == "__main__":
    sys.exit(main())
