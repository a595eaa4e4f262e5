"""The one builder of a capture's options, shared by ``pcapng-iou capture``, the Wireshark extcap and
``pcapng-iou demo``: which netio directory, which NETMAP (given, else ./NETMAP, else the running
instances' own, found by the capture), and the checks every entry point owes its user.

Each entry point parses its own options its own way, then calls :func:`capture_setup` with what
they say; the decisions they share are made here once, so they cannot drift apart (the extcap's
dialog offered ./NETMAP's links while its capture ignored that file).
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.exitstatus import ExitStatus
from pcapng_iou.shell import netiodir, netmapfile
from pcapng_iou.shell.capture_options import CaptureOptions

#: The NETMAP of the working directory: taken when no NETMAP is given, and by a kill -HUP.
NETMAP_HERE = "NETMAP"


class SetupError(Exception):
    """Options that cannot make a capture: a one-line message, and the exit status (usage)."""

    status = ExitStatus.USAGE


def netmap_to_use(given: Optional[str], look_here: bool = True) -> Optional[str]:
    """The NETMAP file a capture starts with: the one given, else ./NETMAP when it is a file (and
    ``look_here``), else None (the capture then finds the running instances' own)."""
    if given:
        return given
    if look_here and os.path.isfile(NETMAP_HERE):
        return NETMAP_HERE
    return None


def read_netmap(path: Optional[str], may_come_later: bool) -> Optional[netmap_mod.Netmap]:
    """The parsed NETMAP at ``path`` (None for none); one that does not parse is a :class:`SetupError`,
    and so is one not there unless it ``may_come_later`` (a kill -HUP then reads it)."""
    if not path or (may_come_later and not os.path.exists(path)):
        return None
    try:
        return netmapfile.read(path)
    except netmap_mod.NetmapError as err:
        raise SetupError(str(err)) from None


def check_output(output: str, netmap_files) -> None:
    """Refuse to write the capture over a NETMAP the capture reads."""
    for netmap_file in dict.fromkeys(filter(None, netmap_files)):  # in a stable order
        if netiodir.same_file(output, netmap_file):
            raise SetupError(f"-w {output}: that file is the NETMAP in use ({netmap_file}); "
                             "write the capture elsewhere")


def capture_setup(output: str, netio_dir: Optional[str] = None, netmap_path: Optional[str] = None,
                  look_here: bool = True, netmap_may_come_later: bool = False,
                  **settings) -> Tuple[CaptureOptions, Optional[netmap_mod.Netmap]]:
    """The options of a capture writing ``output``, and the NETMAP it starts with (None: it finds one).

    ``netio_dir``: the netio directory (default ``/tmp/netio<uid>``).  ``netmap_path``: the NETMAP
    given (``-n``), else ./NETMAP unless not ``look_here`` (the demo has a lab of its own).
    ``settings``: the other fields of :class:`CaptureOptions`, as the entry point's options say.
    Raises :class:`SetupError` with a one-line message.
    """
    path = netmap_to_use(netmap_path, look_here)
    netmap = read_netmap(path, netmap_may_come_later)
    here = NETMAP_HERE if look_here else None
    check_output(output, (path, here))
    options = CaptureOptions(netio_dir=netio_dir or netiodir.default_dir(), output=output, netmap_path=path,
                             netmap_here=here, **settings)
    return options, netmap
