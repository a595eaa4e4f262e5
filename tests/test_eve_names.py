"""EVE-NG: a node's name comes from its iol_wrapper's -t, found above the IOL process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import wait_until

from pcapng_iou.core import eve

pytestmark = pytest.mark.lab

WRAPPER = f"""#!{sys.executable}
# Stands in for EVE-NG's iol_wrapper: -T tenant -D id -t title -F image; starts IOL (here the simulated
# instance) in its own folder, through a shell as system() does, and waits for it.
import os, subprocess, sys
args = sys.argv[1:]
instance = args[args.index("-D") + 1]
sys.exit(subprocess.call(f"{sys.executable} -m pcapng_iou.sim.instance -e 1 -s 1 {{instance}}", shell=True))
"""


def test_the_title_is_taken_from_a_wrapper_command_line_only():
    argv = ["/opt/unetlab/wrappers/iol_wrapper", "-T", "0", "-D", "1", "-t", "R1", "-F", "/opt/i86bi.bin"]
    assert eve.wrapper_title(argv, 1) == "R1"
    assert eve.wrapper_title(argv, 2) is None                      # another node's wrapper
    assert eve.wrapper_title(["/bin/sh", "-c", "x -D 1 -t R1"], 1) is None
    assert eve.wrapper_title(argv[:5] + ["-F", "x"], 1) is None     # no -t
    assert eve.wrapper_title(argv[:6] + ["R\x1b[2J"], 1) is None     # not printable


def test_list_links_names_an_eve_node_by_its_title(workdir):
    netio_dir = os.path.join(workdir, "netio")
    node = os.path.join(workdir, "node1")
    os.makedirs(netio_dir)
    os.makedirs(node)
    with open(os.path.join(node, "NETMAP"), "w") as handle:
        handle.write("".join(f"1:{port} 513:{port}\n" for port in range(64)))  # as the wrapper writes it
    wrapper = os.path.join(workdir, "iol_wrapper")
    with open(wrapper, "w") as handle:
        handle.write(WRAPPER)
    os.chmod(wrapper, 0o755)
    env = dict(os.environ, PCAPNG_IOU_NETIO_DIR=netio_dir)
    process = subprocess.Popen([wrapper, "-T", "0", "-D", "1", "-t", "R1", "-F", "i86bi.bin"], cwd=node, env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_until(lambda: os.path.exists(os.path.join(netio_dir, "1")), 20)
        result = subprocess.run([sys.executable, "-m", "pcapng_iou", "capture", "-d", netio_dir, "-D"],
                                cwd=workdir, capture_output=True, text=True, timeout=60)
    finally:
        process.stdin.close()
        os.killpg(process.pid, signal.SIGTERM)  # the wrapper, its shell and the instance under it
        process.wait(20)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1. R1 Ethernet0/0\tethernet\tinstances 1, 513\t"), result.stdout
    assert lines[1].startswith("2. R1 Serial1/0\thdlc\t"), result.stdout


def test_serial_links_are_read_from_the_wrapper_command_line():
    argv = ["iol_wrapper", "-T", "0", "-D", "1", "-t", "R1", "-F", "i86bi.bin", "-l", "1:127.0.0.1:2:1",
            "-l", "17:127.0.0.1:3:33", "-l", "bogus", "--", "-e", "1", "-s", "2"]
    assert eve.serial_links(argv, 1) == [((1, 1), (2, 1)), ((1, 17), (3, 33))]
    assert eve.serial_links(argv, 2) == []


def start_wrapper(workdir, netio_dir, instance, title, *extra):
    node = os.path.join(workdir, f"node{instance}")
    os.makedirs(node)
    with open(os.path.join(node, "NETMAP"), "w") as handle:
        handle.write("".join(f"{instance}:{port} {instance + 512}:{port}\n" for port in range(64)))
    wrapper = os.path.join(workdir, "iol_wrapper")
    if not os.path.exists(wrapper):
        with open(wrapper, "w") as handle:
            handle.write(WRAPPER)
        os.chmod(wrapper, 0o755)
    return subprocess.Popen([wrapper, "-T", "0", "-D", str(instance), "-t", title, "-F", "i86bi.bin", *extra],
                            cwd=node, env=dict(os.environ, PCAPNG_IOU_NETIO_DIR=netio_dir), stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, start_new_session=True)


def test_an_eve_serial_link_is_one_link_named_by_both_titles(workdir):
    netio_dir = os.path.join(workdir, "netio")
    os.makedirs(netio_dir)
    processes = [start_wrapper(workdir, netio_dir, 1, "R1", "-l", "1:127.0.0.1:2:1"),
                 start_wrapper(workdir, netio_dir, 2, "R2", "-l", "1:127.0.0.1:1:1")]
    try:
        assert wait_until(lambda: all(os.path.exists(os.path.join(netio_dir, n)) for n in "12"), 20)
        result = subprocess.run([sys.executable, "-m", "pcapng_iou", "capture", "-d", netio_dir, "-D",
                                 "--link", "R1 Serial1/0"], cwd=workdir, capture_output=True, text=True, timeout=60)
    finally:
        for process in processes:
            process.stdin.close()
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "1. R1 Serial1/0 - R2 Serial1/0\thdlc\tinstances 1, 2, 513, 514\tNETMAP 1:1/0-513:1/0 and 2:1/0-514:1/0"]


def test_the_simulated_wrapper_command_line_reads_as_eve_ngs():
    from pcapng_iou.sim import iol_wrapper

    argv = iol_wrapper.command_line(0, 2, "R2", [sys.executable, "-m", "pcapng_iou.sim.instance"],
                                    [iol_wrapper.serial_link(0x11, 3, 0x11)], ["-e", "1", "-s", "2", "2"])
    assert os.path.basename(argv[1]) == "iol_wrapper.py"
    assert eve.wrapper_title(argv, 2) == "R2" and eve.wrapper_title(argv, 3) is None
    assert eve.serial_links(argv, 2) == [((2, 0x11), (3, 0x11))]
