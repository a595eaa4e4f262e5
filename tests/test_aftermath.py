"""The lines said again after the summary (pure): no reload hint for a process that has exited, and
wrapped between words for the terminal."""
from __future__ import annotations

from pcapng_iou.ui.aftermath import after_exit, said_again, wrapped

FIX = ("1:1/0-2:1/0: NETMAP line 1 says ppp, but the frames are hdlc. Fix: write hdlc on that line (or drop the "
       "link type to let the bays decide), then kill -HUP 23837")


def test_the_reload_hint_of_the_exited_capture_is_not_said():
    assert after_exit(FIX, 23837).endswith("(or drop the link type to let the bays decide) before the next capture")
    assert after_exit("recorded on its own interface until NETMAP is reloaded (kill -HUP 23837)", 23837) == (
        "recorded on its own interface until NETMAP is reloaded")
    assert "kill -HUP 23837" not in after_exit("NETMAP x does not exist (yet): kill -HUP 23837 reads it", 23837)
    assert after_exit(FIX, 1) == FIX  # another process's hint is not ours to change
    assert said_again("warning", "w", 1) == "pcapng-iou: warning: w" and said_again("info", "i", 1) == "pcapng-iou: i"


def test_lines_wrap_between_words_within_the_width():
    line = said_again("warning", "1:1/0-2:1/0: frames now look like ppp, recording on new interface 7 " * 3, 1)
    lines = wrapped(line, 80)
    assert all(len(part) <= 80 for part in lines)
    assert all(part.startswith("    ") for part in lines[1:])
    assert " ".join(part.strip() for part in lines) == line.strip()
    assert not any(part.endswith("new int") for part in lines)
    assert wrapped("short", 80) == ["short"]
    long_path = "/tmp/" + "x" * 100
    assert any(part.strip() == long_path for part in wrapped(f"cannot write {long_path} here", 40))  # kept whole
