"""``pcapng-iou bench --versus CMD``: another sniffer measured in the same rounds as ours.

The other sniffer here is a second pcapng-iou capture started from the
command line with the placeholders filled in: any program that stands in for
the instances as IOUsniffer does would be run the same way.  Nothing timed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pcapng_iou.bench import versus
from pcapng_iou.bench.workers import BenchError

pytestmark = [pytest.mark.lab, pytest.mark.bench]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_versus_runs_the_other_sniffer_in_every_round_and_compares():
    other = f"{sys.executable} -m pcapng_iou capture -d {{dir}} -n {{netmap}} -w {{out}} -q"
    command = [sys.executable, "-m", "pcapng_iou", "bench", "--json", "-q", "-c", "2000", "--pings", "200",
               "-r", "2", "--crowd", "0", "--skip", "memory,attach,idle", "--versus", other]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["checks"]["passed"] and result["checks"]["lost"] == 0
    # Both rounds went through the other sniffer too (every datagram checked: 2 rounds x 3 ways).
    assert result["checks"]["datagrams_sent"] == 2 * 3 * (2000 + 2 * (200 + 20))
    assert all(run["versus_ratio"] > 0 and run["versus_cpu_s_per_100k"] > 0 for run in result["runs"])
    names = [figure["name"] for figure in result["versus"]["figures"]]
    assert names == ["throughput ratio to direct", "added round trip p50, us", "added round trip p99, us",
                     "CPU per frame, us"]
    assert result["versus"]["command"] == other
    table = subprocess.run(command[:4] + command[5:], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert table.returncode == 0, table.stderr
    assert "side by side with --versus" in table.stdout and "ours / theirs" in table.stdout


@pytest.mark.parametrize("template, problem", [("sniff -i {directory}", "unknown placeholder"),
                                               ("sniff 'unclosed", "No closing quotation")])
def test_a_bad_versus_command_is_one_clear_error(template, problem):
    with pytest.raises(BenchError, match=problem):
        versus.command_words(template, "/tmp/netio1", "/tmp/NETMAP", "/tmp/out")


def test_placeholders_are_filled_in_each_word():
    assert versus.command_words("sh -c 'exec sniff -i {dir} -n {netmap} -s {out}'", "/tmp/n", "/tmp/N", "/tmp/o") \
        == ["sh", "-c", "exec sniff -i /tmp/n -n /tmp/N -s /tmp/o"]
