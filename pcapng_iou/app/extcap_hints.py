"""What the extcap tells Wireshark when a capture cannot be made, or caught nothing, with the way
that works from Wireshark: its dialogs cannot be answered with "run it as root"."""
from __future__ import annotations

import os
from typing import Optional

from pcapng_iou.shell import netiodir
from pcapng_iou.shell.reach import unreachable

#: What works from Wireshark when the lab is another user's: Wireshark cannot run its extcap as that user.
AS_ROOT_PIPE = "sudo pcapng-iou capture -w - | wireshark -k -i -"


def permission_problem(netio_dir: str) -> Optional[str]:
    """Why this user may not stand in for the lab's sockets, pointing to :data:`AS_ROOT_PIPE`; None when
    it may (or when the directory is simply not there: said elsewhere)."""
    blocked = unreachable(netio_dir)
    if blocked is None and (not os.path.isdir(netio_dir) or os.access(netio_dir, os.R_OK | os.W_OK | os.X_OK)):
        return None
    owner = netiodir.owner_name(netio_dir)
    reason = blocked or f"no permission to stand in for the sockets in {netio_dir}: it belongs to {owner}"
    return (f"{reason.split('; run ')[0]}. Wireshark cannot capture it as you: capture from a terminal and pipe "
            f"into Wireshark, as in: {AS_ROOT_PIPE.replace('-w -', f'-d {netio_dir} -w -')}")


def nothing_ran(netio_dir: str) -> str:
    """What Wireshark is told after a capture during which no IOU instance ran (else it shows an empty error)."""
    return (f"no IOU instance ran in {netio_dir} (the folder of {netiodir.owner_name(netio_dir)}): nothing was "
            "captured. Start the lab; or, if IOU runs as another user, give its folder /tmp/netio<uid of that "
            "user> in the options of IOU links (the gear)")
