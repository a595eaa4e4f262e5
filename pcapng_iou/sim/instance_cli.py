"""The command line of the simulated IOU instance (:mod:`pcapng_iou.sim.instance`): IOU's own, then the simulation's.

Like IOU's: options, then the instance id as the last argument.
"""
from __future__ import annotations

import argparse

from pcapng_iou.core import netio

PROG = "python -m pcapng_iou.sim.instance"
#: Where the netio directory is named when it is not IOU's ``/tmp/netio<uid>``
#: (the command line stays IOU's: options, then the id).
NETIO_DIR_ENV = "PCAPNG_IOU_NETIO_DIR"
#: IOU's defaults: 2 Ethernet bays, then 2 serial bays; 16 bays at most (a port byte's low nibble).
DEFAULT_ETHERNET_BAYS = DEFAULT_SERIAL_BAYS = 2
MAX_BAYS = netio.MAX_BAY + 1


def _interfaces(text: str) -> frozenset:
    """``0/0,1/0`` as port bytes."""
    ports = set()
    for word in filter(None, text.split(",")):
        bay, slash, unit = word.partition("/")
        if not (slash and bay.isdigit() and unit.isdigit()) or int(bay) > netio.MAX_BAY or int(unit) > 15:
            raise argparse.ArgumentTypeError(f"{word!r} is not an interface B/U")
        ports.add(netio.port_byte(int(bay), int(unit)))
    return frozenset(ports)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        usage=f"{PROG} [-e N] [-s N] [IOU options] [--netio-dir DIR] [--speak ...] ID",
        description="Run one simulated IOU instance, started as IOU is: options, then the instance id. "
                    "NETMAP is read from the working directory.",
        epilog="IOU's flags -L -l -q -d -t -C -R -U -W are accepted too, without effect.")
    parser.add_argument("instance", metavar="ID", type=int, help="instance id (1..1024), the last argument as for IOU")
    iou = parser.add_argument_group("IOU's options")
    iou.add_argument("-e", dest="ethernet_bays", metavar="N", type=int, default=DEFAULT_ETHERNET_BAYS,
                     help=f"Ethernet bays, numbered first (default {DEFAULT_ETHERNET_BAYS})")
    iou.add_argument("-s", dest="serial_bays", metavar="N", type=int, default=DEFAULT_SERIAL_BAYS,
                     help=f"serial bays, numbered after the Ethernet ones (default {DEFAULT_SERIAL_BAYS})")
    iou.add_argument("-N", dest="ignore_netmap", action="store_true", help="ignore the NETMAP file")
    for option, what in (("-n", "nvram KB"), ("-m", "memory MB"), ("-u", "UDP port base"),
                         ("-b", "IOS debug string"), ("-c", "configuration file")):
        iou.add_argument(option, metavar="X", help=f"{what} (accepted, no effect)")
    for flag in ("-L", "-l", "-q", "-d", "-t", "-C", "-R", "-U", "-W"):
        iou.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    own = parser.add_argument_group("the simulation's own options")
    own.add_argument("--netio-dir", metavar="DIR", default=None,
                     help=f"netio directory (default ${NETIO_DIR_ENV}, else /tmp/netio<uid> as IOU)")
    own.add_argument("--netmap", metavar="FILE", help="read this NETMAP instead of the one in the working directory")
    own.add_argument("--speak", action="store_true",
                     help="talk like a router: keepalives, ARP, ping, CDP, LCP, LMI")
    own.add_argument("--speak-on", metavar="B/U,...", type=_interfaces, default=None,
                     help="with --speak: speak only on these interfaces, as IOS does on those configured up "
                          "(default: every interface NETMAP wires; GNS3's and EVE-NG's wire them all)")
    own.add_argument("--interval", metavar="SECONDS", type=float, default=1.0, help="seconds between keepalives with --speak")
    own.add_argument("--duration", metavar="SECONDS", type=float, help="exit cleanly after this many seconds")
    own.add_argument("--quiet", action="store_true", help="do not report received frames")
    own.add_argument("--no-stdin", action="store_true", help="take no commands on stdin")
    own.add_argument("--report-datagrams", action="store_true",
                     help="report every datagram received whole, header and all: 'datagram HEX'")
    own.add_argument("--herd", metavar="LAST", type=int,
                     help="be the idle instances ID..LAST in one process: bound and locked, reading nothing")
    return parser
