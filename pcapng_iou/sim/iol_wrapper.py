"""EVE-NG's ``iol_wrapper`` as the parent of an IOL process: its command line, and the instance under it.

EVE-NG starts every IOL node as::

    iol_wrapper -T <tenant> -D <id> [-t <title>] -F <image> [-e N] [-s N]
                [-l SRCPORT:HOST:DSTID:DSTPORT ...] [-- extra IOL args]

and the wrapper starts IOL through a shell, in the node's folder.  A capture
finds that command line above the IOL process in ``/proc``: the node's name
(``-t``) and its serial links (``-l``, ports as port bytes, bay + unit * 16).

This module is that parent and nothing more: it runs ``<image> <IOL args>``
through ``sh -c`` with its own standard streams, passes SIGTERM, SIGINT,
SIGHUP and SIGCONT on, and exits with the instance's status (the instance is
killed with it if it is killed).  The bridging half of the wrapper, the socket
it connects to the instance and the UDP to other wrappers, is
:mod:`pcapng_iou.sim.wrapper`, a process of its own.  Imports nothing of the
capture.

Run by its path, so that ``ps`` and ``/proc`` show ``iol_wrapper.py -T 0 -D 1
-t R1 ...``; the words after ``--`` are the instance's arguments, its id last.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import shlex
import signal
import subprocess
import sys
from typing import List, Optional

PASSED_ON = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCONT)
PR_SET_PDEATHSIG = 1
USAGE = ("usage: iol_wrapper.py -T TENANT -D ID [-t TITLE] -F IMAGE [-e N] [-s N] "
         "[-l SRCPORT:HOST:DSTID:DSTPORT ...] -- IOL-ARGS... ID")


def command_line(tenant: int, instance: int, title: Optional[str], image: List[str], serial_links: List[str],
                 iol_args: List[str]) -> List[str]:
    """The words that run ``image`` (a program and its first words) as EVE-NG runs IOL, this module above it."""
    words = [sys.executable, os.path.abspath(__file__), "-T", str(tenant), "-D", str(instance)]
    if title:
        words += ["-t", title]
    words += ["-F", " ".join(shlex.quote(word) for word in image)]
    for link in serial_links:
        words += ["-l", link]
    return words + ["--"] + list(iol_args)


def serial_link(port: int, peer: int, peer_port: int) -> str:
    """One ``-l`` value: our port byte to ``peer``'s, over UDP on the loopback."""
    return f"{port}:127.0.0.1:{peer}:{peer_port}"


def _die_with_parent() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        print(USAGE, file=sys.stderr)
        return 2
    options, iol_args = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    pairs = dict(zip(options[::2], options[1::2]))
    if len(options) % 2 or "-D" not in pairs or "-F" not in pairs or not iol_args:
        print(USAGE, file=sys.stderr)
        return 2
    # exec: the instance's parent is this process, as IOL's is the wrapper's (system()'s shell) on EVE-NG.
    child = subprocess.Popen(["/bin/sh", "-c", f"exec {pairs['-F']} {shlex.join(iol_args)}"],
                             preexec_fn=_die_with_parent)
    for signum in PASSED_ON:
        signal.signal(signum, lambda number, _frame: child.send_signal(number))
    while True:
        try:
            status = child.wait()
            break
        except InterruptedError:
            continue
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
