"""``pcapng-iou demo`` end to end: the simulated lab, the real capture, tshark naming every protocol."""
from __future__ import annotations

import contextlib
import glob
import os
import shlex
import signal
import subprocess
import time

import pytest

from conftest import cli_command, read_packets, run_cli, start_cli, tshark_rows

pytestmark = pytest.mark.lab


def private_tmp(workdir: str) -> dict:
    """The demo's lab folder goes into ``workdir``: other demos running at the same time do not matter."""
    return dict(os.environ, TMPDIR=workdir)


@contextlib.contextmanager
def interrupted_at_the_end(demo: subprocess.Popen):
    """Run the block, then Ctrl-C ``demo`` as a terminal does (SIGINT to its whole group) and collect
    what it printed into the list yielded: [stdout, stderr].  A demo still there in the end is killed."""
    said: list = []
    try:
        yield said
        os.killpg(demo.pid, signal.SIGINT)
        said.extend(demo.communicate(timeout=60))
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()


def test_demo_captures_every_protocol_on_the_right_interface(workdir, tshark):
    output = os.path.join(workdir, "demo.pcapng")
    result = run_cli("demo", "-w", output, "--duration", "5", timeout=120, env=private_tmp(workdir))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert f"wireshark {output}" in result.stderr and f"tshark -r {output}" in result.stderr
    assert f"{workdir}/pcapng-iou-demo-" in result.stderr  # the lab ran in workdir (its NETMAP files)...
    assert glob.glob(os.path.join(workdir, "pcapng-iou-demo-*")) == []  # ...and was torn down, nothing left

    # No link type was given anywhere: the capture found the NETMAP files in the routers' folders
    # and the bay kinds on their command lines.
    assert "NETMAP from the instances' working directories:" in result.stderr
    assert "(5 lines in all)" in result.stderr

    rows = tshark_rows(tshark, output, "frame.interface_id", "frame.interface_name", "frame.protocols")
    by_link = {}
    for interface_id, name, protocols in rows:
        by_link.setdefault(name, {}).setdefault(int(interface_id), set()).update(protocols.split(":"))
    assert set(by_link) == {"1:0/0-2:0/0", "1:1/0-2:1/0", "2:1/1-3:1/1", "3:1/2-4:1/2", "1:0/1-3:0/1-4:0/1"}
    assert list(by_link["1:0/0-2:0/0"].values()) == [{"eth", "ethertype", "arp", "ip", "icmp", "data", "llc", "cdp",
                                                      "loop"}]
    assert list(by_link["1:0/1-3:0/1-4:0/1"].values())[0] >= {"eth", "arp", "icmp", "cdp"}
    # Configured for PPP and Frame Relay from the start: right from the first frame.
    (ppp,) = by_link["2:1/1-3:1/1"].values()
    assert ppp >= {"ppp", "lcp", "ipcp", "icmp"} and "chdlc" not in ppp
    (frame_relay,) = by_link["3:1/2-4:1/2"].values()
    assert frame_relay >= {"fr", "q933", "icmp"} and "chdlc" not in frame_relay
    # Cisco HDLC (IOS's default on a serial bay), then PPP after "encapsulation ppp" on both routers.
    hdlc, after = (by_link["1:1/0-2:1/0"][number] for number in sorted(by_link["1:1/0-2:1/0"]))
    assert hdlc >= {"chdlc", "slarp", "ip", "icmp"} and "ppp" not in hdlc
    assert after >= {"ppp", "lcp", "icmp"} and "slarp" not in after
    info = subprocess.run(["capinfos", output], capture_output=True, text=True).stdout
    for encapsulation in ("Ethernet", "Cisco HDLC", "PPP", "Frame Relay"):
        assert f"Encapsulation = {encapsulation}" in info


def test_ctrl_c_stops_the_demo_as_cleanly_as_its_duration(workdir, tshark):
    """Ctrl-C sends SIGINT to the terminal's whole foreground group: the routers must not die of it."""
    output = os.path.join(workdir, "demo.pcapng")
    demo = start_cli("demo", "-w", output, "--duration", "60", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True, start_new_session=True, env=private_tmp(workdir))
    with interrupted_at_the_end(demo) as said:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (os.path.exists(output) and os.path.getsize(output) > 4096):
            time.sleep(0.2)
        time.sleep(1.0)
    stdout, stderr = said
    assert demo.returncode == 0, stderr
    assert "stopped by SIGINT" in stderr, stderr
    for crash in ("exited", "died", "down:", "detached"):
        assert crash not in stderr, stderr
    assert f"wireshark {output}" in stderr
    assert f"{workdir}/pcapng-iou-demo-" in stderr
    assert glob.glob(os.path.join(workdir, "pcapng-iou-demo-*")) == []
    comments = [c for _, _, _, cs in read_packets(output) for c in cs]
    assert not [c for c in comments if "exited" in c or "died" in c], comments
    assert subprocess.run(["capinfos", output], capture_output=True).returncode == 0


def test_lab_only_runs_the_lab_for_a_capture_of_ones_own_until_ctrl_c(workdir):
    """``demo --lab-only``: the routers run, the capture is the user's, every link type decodes, and Ctrl-C
    takes the lab down with nothing left.  The command it prints runs as printed, from a shell whose PATH
    does not hold the virtual environment (it said "pcapng-iou", which such a shell does not find, or
    finds another copy of: found by a newcomer)."""
    env = dict(private_tmp(workdir), PATH="/usr/bin:/bin")
    demo = start_cli("demo", "--lab-only", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                     start_new_session=True)
    with interrupted_at_the_end(demo) as said:
        lines = []
        while not any(" capture -d " in line for line in lines):
            line = demo.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        command = shlex.split(lines[-1])
        netio_dir = command[-1]
        assert netio_dir.startswith(f"{workdir}/pcapng-iou-demo-") and os.path.isdir(netio_dir), lines
        output = os.path.join(workdir, "mine.pcapng")
        capture = subprocess.run([*command, "-w", output, "--duration", "4", "-q"], env=env, cwd=workdir,
                                 capture_output=True, text=True, timeout=60)
        assert capture.returncode == 0, capture.stderr
        assert demo.poll() is None, "the lab runs on until Ctrl-C"
    stdout, stderr = said
    assert demo.returncode == 0, stderr
    assert stdout == "" and "demo lab stopped" in stderr
    assert glob.glob(os.path.join(workdir, "pcapng-iou-demo-*")) == []
    info = subprocess.run(["capinfos", output], capture_output=True, text=True).stdout
    for encapsulation in ("Ethernet", "Cisco HDLC", "PPP", "Frame Relay"):
        assert f"Encapsulation = {encapsulation}" in info, info


def test_a_demo_into_standard_output_does_not_say_to_open_a_file_named_dash(workdir):
    """``demo -w - | tshark -r -`` ended with "Wrote -. Open it with: wireshark -" (found by a newcomer)."""
    result = subprocess.run(cli_command("demo", "-w", "-", "--duration", "2", "-q"), capture_output=True,
                            env=private_tmp(workdir), timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"\x0a\x0d\x0d\x0a")  # a PCAP-NG section header block
    assert b"Wrote" not in result.stderr and b"wireshark -" not in result.stderr, result.stderr
