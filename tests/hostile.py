"""A hostile lab owner, for the tests of issue 24: another uid that races the capture run as root.

The capture runs as root (CI does) on a netio directory that belongs to
:data:`ATTACKER` (uid 4242).  The attacker's processes run under
:data:`AS_ATTACKER` (``setpriv``, no supplementary groups): instances that
come and go (so that the capture attaches again and again), and a racer that
swaps names of the directory for symbolic links to a victim file with
``renameat2(RENAME_EXCHANGE)`` (through ctypes) as fast as it can.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import Sequence

import pytest

import pcapng_iou

ATTACKER_UID = ATTACKER_GID = 4242
AS_ATTACKER = ["setpriv", f"--reuid={ATTACKER_UID}", f"--regid={ATTACKER_GID}", "--clear-groups", "--"]
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pcapng_iou.__file__)))


def need_root_and_setpriv() -> None:
    """Skip (fail under CI) unless we are root with setpriv: the attack needs a second uid."""
    problem = None
    if os.geteuid() != 0:
        problem = "the hostile-lab tests run as root (the capture does, under sudo)"
    elif shutil.which("setpriv") is None:
        problem = "setpriv is not installed (util-linux)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def hostile_lab() -> tuple:
    """A root folder (0755) holding ``netio``, the attacker's netio directory (0700); returns both paths."""
    parent = tempfile.mkdtemp(prefix="hostile", dir="/tmp")
    os.chmod(parent, 0o755)
    netio = os.path.join(parent, "netio")
    os.mkdir(netio, 0o700)
    os.chown(netio, ATTACKER_UID, ATTACKER_GID)
    return parent, netio


def victim_file(parent: str) -> str:
    """A root-only file, outside the lab: what the attacker wants."""
    folder = os.path.join(parent, "root-only")
    os.mkdir(folder, 0o700)
    path = os.path.join(folder, "shadow")
    with open(path, "w") as handle:
        handle.write("root:$6$secret$hash:19000:0:99999:7:::\n")
    os.chmod(path, 0o600)
    return path


def fingerprint(path: str) -> tuple:
    st = os.lstat(path)
    with open(path, "rb") as handle:
        return st.st_uid, st.st_gid, st.st_mode, handle.read()


def env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [SOURCE_ROOT, os.environ.get("PYTHONPATH")])))


_FLAPPING_INSTANCES = r'''
import os, socket, sys, time
directory, numbers, up_s = sys.argv[1], [int(n) for n in sys.argv[2].split(",")], float(sys.argv[3])
os.chdir(directory)
while True:
    sockets = []
    for number in numbers:
        for name in (str(number), f"{number}_real"):
            try:
                os.unlink(name)
            except OSError:
                pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(str(number))
        except OSError:
            sock.close()
            continue
        sockets.append(sock)
    time.sleep(up_s)
    for sock in sockets:
        sock.close()
'''


def flapping_instances(netio: str, numbers: Sequence[int], up_s: float = 0.05) -> subprocess.Popen:
    """As the attacker: instances that bind their socket, live ``up_s``, exit, and start again, for ever.

    Each start is a new attach for the capture (its socket, then our temporary one, appear again).
    """
    return subprocess.Popen([*AS_ATTACKER, sys.executable, "-c", _FLAPPING_INSTANCES, netio,
                             ",".join(map(str, numbers)), str(up_s)], stdin=subprocess.DEVNULL)


_RACER = r'''
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
directory, victim, names = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
os.chdir(directory)
planted = []
for index, name in enumerate(names):
    link = f"planted-{index}"
    try:
        os.unlink(link)
    except OSError:
        pass
    os.symlink(victim, link)
    planted.append((name.encode(), link.encode()))
swaps = 0
while True:
    for name, link in planted:
        # Both must exist: each time one of the capture's names is there, it trades places with the link.
        if libc.renameat2(AT_FDCWD, name, AT_FDCWD, link, RENAME_EXCHANGE) == 0:
            swaps += 1
            if swaps % 1000 == 0:
                print(swaps, flush=True)
'''


def racer(netio: str, victim: str, names: Sequence[str]) -> subprocess.Popen:
    """As the attacker: swap each of ``names`` with a symbolic link to ``victim``, in a tight loop, for ever."""
    return subprocess.Popen([*AS_ATTACKER, sys.executable, "-c", _RACER, netio, victim, ",".join(names)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()
