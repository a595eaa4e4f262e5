"""Lines said again once the capture is over: the warnings (and the information the live view cut to
the screen's width) in full, after the summary.

Pure: what to say and how to wrap it.  The capture's process has exited by the
time they are read, so "then kill -HUP <pid>" no longer applies and is not said.
"""
from __future__ import annotations

import re
import textwrap
from typing import List

from pcapng_iou import PROG

#: Lines wrapped for a terminal go on indented by this much.
CONTINUATION = "    "


def after_exit(text: str, pid: int) -> str:
    """``text`` as it reads once the capture of process ``pid`` is over: no reload by signal."""
    hint = re.escape(f"kill -HUP {pid}")
    text = re.sub(rf",? then {hint}", " before the next capture", text)
    text = re.sub(rf" \({hint}\)", "", text)
    return re.sub(hint, "kill -HUP (while capturing)", text)


def said_again(level: str, text: str, pid: int) -> str:
    """One line of the aftermath: ``pcapng-iou: warning: ...`` (information without a label)."""
    label = "" if level == "info" else f"{level}: "
    return f"{PROG}: {label}{after_exit(text, pid)}"


def wrapped(line: str, width: int) -> List[str]:
    """``line`` in lines of at most ``width`` characters, broken between words (a word longer than a
    line, a path say, stays whole), continued with an indent."""
    if len(line) <= width:
        return [line]
    return textwrap.wrap(line, width, subsequent_indent=CONTINUATION, break_long_words=False,
                         break_on_hyphens=False) or [line]
