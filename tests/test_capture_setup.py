"""The one builder of capture options (pcapng_iou.app.capture_setup) that the command line, the extcap
and the demo share: which NETMAP, which netio directory, what is refused.  Real files in a real folder."""
from __future__ import annotations

import os

import pytest

from pcapng_iou.app.capture_setup import NETMAP_HERE, SetupError, capture_setup, netmap_to_use
from pcapng_iou.exitstatus import ExitStatus
from pcapng_iou.shell import netiodir

LINES = "100:0/0 101:0/0\n100:1/0 101:1/0 hdlc\n"


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A working directory holding a NETMAP."""
    (tmp_path / NETMAP_HERE).write_text(LINES)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_no_netmap_given_takes_the_one_here(here):
    options, netmap = capture_setup("out.pcapng", "/some/netio")
    assert (options.netmap_path, options.netmap_here, options.netio_dir) == (NETMAP_HERE, NETMAP_HERE, "/some/netio")
    assert [segment.name for segment in netmap] == ["100:0/0-101:0/0", "100:1/0-101:1/0"]


def test_the_demo_leaves_the_netmap_here_alone(here):
    options, netmap = capture_setup("out.pcapng", "/some/netio", look_here=False, duration=3.0)
    assert (options.netmap_path, options.netmap_here, netmap, options.duration) == (None, None, None, 3.0)


def test_a_netmap_given_comes_first_and_the_directory_defaults_to_iou_s(here):
    (here / "other").write_text("200:0/0 201:0/0\n")
    options, netmap = capture_setup("out.pcapng", netmap_path="other")
    assert options.netmap_path == "other" and [segment.name for segment in netmap] == ["200:0/0-201:0/0"]
    assert options.netio_dir == netiodir.default_dir()


def test_a_netmap_not_there_yet_is_for_a_reload_only_when_the_entry_point_says_so(here):
    options, netmap = capture_setup("out.pcapng", "/n", "later", netmap_may_come_later=True)
    assert (options.netmap_path, netmap) == ("later", None)
    with pytest.raises(SetupError, match="^later: cannot read: No such file or directory$") as refused:
        capture_setup("out.pcapng", "/n", "later")
    assert refused.value.status == ExitStatus.USAGE


def test_a_netmap_that_does_not_parse_is_one_line_naming_it(here):
    (here / NETMAP_HERE).write_text("100:0/0 10x:0/0\n")
    with pytest.raises(SetupError, match=f"^{NETMAP_HERE}:1:9: "):
        capture_setup("out.pcapng", "/n")


@pytest.mark.parametrize("look_here", [True, False])
def test_the_capture_is_not_written_over_a_netmap_it_reads(here, look_here):
    (here / "given").write_text(LINES)
    for output, netmap_path in (("given", "given"), (NETMAP_HERE, "given"), (NETMAP_HERE, None)):
        if output == NETMAP_HERE and not look_here:
            capture_setup(output, "/n", netmap_path, look_here=look_here)  # ./NETMAP is not the demo's
            continue
        with pytest.raises(SetupError, match=f"^-w {output}: that file is the NETMAP in use"):
            capture_setup(output, "/n", netmap_path, look_here=look_here)


def test_netmap_to_use(here):
    assert netmap_to_use(None) == NETMAP_HERE and netmap_to_use("x") == "x" and netmap_to_use(None, False) is None
    os.unlink(here / NETMAP_HERE)
    os.mkdir(here / NETMAP_HERE)  # a folder of that name is no NETMAP
    assert netmap_to_use(None) is None
