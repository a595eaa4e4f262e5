"""``pcapng-iou bench --scale``: a small real run gives every figure, for every size, with no failure.

Nothing here is timed: how the figures grow is for the benchmark to show.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import cli_command

from pcapng_iou.app.bench_options import scale_sizes
from pcapng_iou.bench.scale import ROWS, format_scale, scale_netmap
from pcapng_iou.core import netmap as netmap_mod

pytestmark = pytest.mark.bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def result():
    command = cli_command("bench", "--scale", "12,6", "--scale-lines", "4", "--json", "-q")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.mark.lab
def test_every_figure_for_every_size(result):
    assert result["ok"] and result["failures"] == []
    assert [r["instances"] for r in result["runs"]] == [6, 12]
    for run in result["runs"]:
        assert run["netmap_lines"] == 4 * run["instances"] + 1
        for _, key, _ in ROWS:
            assert run[key] is not None and run[key] >= 0, key
        assert run["fds"] > 2 * (run["instances"] + 2)  # a listening and a forwarding socket each
        assert run["refresh_80x24_lines"] <= 24 and run["refresh_200x60_lines"] <= 60  # never more than the screen


@pytest.mark.lab
def test_the_dashboard_says_what_it_hides(result):
    big = result["runs"][-1]
    hidden = big["refresh_80x24_hidden"]
    assert hidden.endswith("more links hidden (busiest shown)")
    shown_rows = 24 - (big["netmap_lines"] - int(hidden.split()[1]))
    assert 0 < shown_rows < 24


@pytest.mark.lab
def test_the_table_has_a_growth_column(result):
    text = format_scale(result)
    assert "6 instances" in text and "12 instances" in text and "x2 size" in text
    assert text.rstrip().endswith("passed")


def test_the_lab_netmap_gives_each_instance_its_lines():
    lines = scale_netmap(10, 16)
    netmap = netmap_mod.parse("".join(line + "\n" for line in lines), "NETMAP")
    assert len(netmap.segments) == 16 * 10 + 1
    ports = {}
    for segment in netmap:
        for endpoint in segment.endpoints:
            ports.setdefault(endpoint.instance, set()).add(endpoint.port)
    assert all(len(ports[n]) == 32 for n in range(1, 11))  # 16 lines of its own, 16 from its peers


@pytest.mark.parametrize("text", ["1", "100,1021", "x", ""])
def test_sizes_out_of_range_are_refused(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        scale_sizes(text)
