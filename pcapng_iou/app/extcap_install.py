"""Putting pcapng-iou where Wireshark looks for extcaps: the personal extcap folder, and a launcher in it
that runs this very Python and package (``pcapng-iou extcap --install``, ``--uninstall``)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Optional

#: Name of the executable in the extcap folder; Wireshark runs every file there.
EXECUTABLE = "pcapng-iou"
#: Second line of the executable we write, so that uninstall removes only ours.
MARKER = "# pcapng-iou extcap launcher"


class ExtcapError(Exception):
    """What the extcap tells Wireshark instead of capturing: one line, on its error channel."""


def _tshark_folders(env: Optional[dict] = None) -> dict:
    """``tshark -G folders`` as a dict, or {} when tshark is not there or fails."""
    tshark = shutil.which("tshark", path=(env or os.environ).get("PATH"))
    if tshark is None:
        return {}
    try:
        result = subprocess.run([tshark, "-G", "folders"], capture_output=True, text=True, timeout=30,
                                env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return {}
    folders = {}
    for line in result.stdout.splitlines():
        name, sep, value = line.partition(":")
        if sep and value.strip():
            folders.setdefault(name.strip(), value.strip())
    return folders


def personal_extcap_dir(env: Optional[dict] = None) -> str:
    """The folder where Wireshark looks for this user's extcap programs.

    Wireshark 4.2 and later name it in ``tshark -G folders`` ("Personal Extcap
    path"); before that it is ``extcap`` in the personal configuration folder.
    Without tshark: ``$WIRESHARK_CONFIG_DIR`` or ``$XDG_CONFIG_HOME/wireshark``
    (``~/.config/wireshark``), plus ``extcap``.
    """
    env = dict(os.environ if env is None else env)
    folders = _tshark_folders(env)
    if folders.get("Personal Extcap path"):
        return folders["Personal Extcap path"]
    if folders.get("Personal configuration"):
        return os.path.join(folders["Personal configuration"], "extcap")
    if env.get("WIRESHARK_CONFIG_DIR"):
        return os.path.join(env["WIRESHARK_CONFIG_DIR"], "extcap")
    config_home = env.get("XDG_CONFIG_HOME") or os.path.join(
        env.get("HOME") or os.path.expanduser("~"), ".config")
    return os.path.join(config_home, "wireshark", "extcap")


def _sh_quote(text: str) -> str:
    """Single-quoted for sh, always (shlex.quote leaves plain paths bare, which Python would not parse)."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def launcher_text(python: Optional[str] = None) -> str:
    """The executable for the extcap folder: a Python script that /bin/sh starts.

    ``/bin/sh`` runs the ``"exec" ...`` line, which starts ``python`` (the
    interpreter pcapng-iou is installed for) on this same file; to Python
    that line is a harmless string.  Unlike ``#!python`` this works whatever
    the interpreter's path (spaces, length), and unlike ``python -m`` it does
    not put the current directory, wherever Wireshark was started, first on
    the import path.
    """
    python = python or sys.executable
    if any(c in python for c in "\\\n"):
        raise ExtcapError(f"cannot write a launcher for the interpreter {python!r}")
    return (
        "#!/bin/sh\n"
        f"{MARKER}: Wireshark runs it to list and capture IOU links.\n"
        "# Installed by 'pcapng-iou extcap --install'; remove with 'pcapng-iou extcap --uninstall'.\n"
        f'"exec" {_sh_quote(python)} "$0" "$@"\n'
        "import sys\n"
        "from pcapng_iou.app.extcap import main\n"
        "sys.exit(main())\n"
    )


def is_ours(path: str) -> bool:
    try:
        with open(path, "r", errors="replace") as handle:
            handle.readline()
            return handle.readline().startswith(MARKER)
    except OSError:
        return False


def install(directory: Optional[str] = None, python: Optional[str] = None) -> str:
    """Write the launcher into ``directory`` (default: the personal extcap folder); return its path."""
    directory = directory or personal_extcap_dir()
    path = os.path.join(directory, EXECUTABLE)
    if os.path.lexists(path) and not is_ours(path):
        raise ExtcapError(f"{path} exists and was not made by pcapng-iou; not replacing it")
    try:
        os.makedirs(directory, exist_ok=True)
        temp = f"{path}.tmp{os.getpid()}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(launcher_text(python))
            os.chmod(temp, 0o755)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise
    except OSError as err:
        raise ExtcapError(f"cannot install into {directory}: {err.strerror or err}") from None
    return path


def uninstall(directory: Optional[str] = None) -> Optional[str]:
    """Remove our launcher; return its path, or None when it was not there."""
    directory = directory or personal_extcap_dir()
    path = os.path.join(directory, EXECUTABLE)
    if not os.path.lexists(path):
        return None
    if not is_ours(path):
        raise ExtcapError(f"{path} was not made by pcapng-iou; not removing it")
    try:
        os.unlink(path)
    except OSError as err:
        raise ExtcapError(f"cannot remove {path}: {err.strerror or err}") from None
    return path


# -- the capture ----------------------------------------------------------------------
