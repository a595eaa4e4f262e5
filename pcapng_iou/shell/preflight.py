"""The checks a capture makes before it writes or touches anything: each refuses with one clear line.

Each raises :class:`~pcapng_iou.shell.capture_options.CaptureError` saying what
is wrong and what to do: a ``-d`` that is not a directory or is out of reach,
socket names that would not fit, no permission to stand in for the sockets,
and a ``-w`` that would write into the lab.
"""
from __future__ import annotations

import os
from typing import Callable, Iterable

from pcapng_iou.core import netio
from pcapng_iou.exitstatus import ExitStatus
from pcapng_iou.shell import netiodir, reach
from pcapng_iou.shell.capture_options import CaptureError


def check_directory(directory: str, wait_for_dir: bool, is_wanted: Callable[[int], bool]) -> None:
    """The netio directory is one, can be reached, and our socket names fit in it; we may work there."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise CaptureError(f"{directory} is not a directory (give -d the netio directory, where the instances' "
                           "sockets are)")
    reach.check_reachable(directory)  # (waiting for it would never end: it may well be there)
    if not os.path.isdir(directory) and not wait_for_dir:
        raise CaptureError(f"netio directory {directory} does not exist (is IOU running as this user?)")
    check_socket_paths(directory, is_wanted)
    if os.path.isdir(directory):
        check_permission(directory)  # before the output file is made


def check_socket_paths(directory: str, is_wanted: Callable[[int], bool]) -> None:
    """Refuse at once a netio directory where we could not bind our sockets (sun_path: 108 bytes).

    Checked for instance 1 (the shortest names) and every instance there now,
    before anything is written or touched.
    """
    numbers = [netio.MIN_ID]
    try:
        present = map(netiodir.instance_id, os.listdir(directory))
        numbers += [n for n in present if n is not None and is_wanted(n)]
    except OSError:
        pass
    for number in numbers:
        longest = netiodir.Paths(directory, number).longest()
        if len(longest.encode()) > netiodir.MAX_SOCKET_PATH:
            raise CaptureError(f"{longest}: path is longer than the {netiodir.MAX_SOCKET_PATH} bytes a socket "
                               f"name may have; use a netio directory with a shorter path")


def check_permission(directory: str) -> None:
    """Stop at once, saying why, when we could not put our sockets in ``directory``."""
    if os.access(directory, os.R_OK | os.W_OK | os.X_OK):
        return
    owner = netiodir.owner_name(directory)
    raise CaptureError(f"no permission to stand in for the sockets in {directory}: it belongs to {owner}; "
                       f"run pcapng-iou as {owner}, or with sudo")


def refuse_output_over_the_lab(output: str, netio_dir: str, lab_netmaps: Iterable[tuple]) -> None:
    """-w into the netio directory, or over a NETMAP found in an instance's folder (``lab_netmaps``:
    (as shown, path) pairs), would harm the lab."""
    if output == "-":
        return
    folder = os.path.dirname(os.path.abspath(output))
    if os.path.isdir(netio_dir) and netiodir.same_file(folder, netio_dir):
        raise CaptureError(f"-w {output}: that is in the netio directory, among the instances' sockets and "
                           f"lock files; write the capture elsewhere", ExitStatus.USAGE)
    for shown, path in lab_netmaps:
        if netiodir.same_file(output, path):
            raise CaptureError(f"-w {output}: that file is the lab's NETMAP ({shown}, in an instance's "
                               f"folder); write the capture elsewhere", ExitStatus.USAGE)
