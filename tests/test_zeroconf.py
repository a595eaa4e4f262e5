"""Zero configuration end to end: no -n, no link types, the capture started from another folder.

Simulated instances run with IOU's command line (``... -e 1 -s 2 <id>``) in
working directories holding their own NETMAP, so the capture learns bay kinds
and NETMAP files through the real ``/proc``; tshark says whether every link is
decoded right.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import need, read_packets, run_cli, tshark_rows

from pcapng_iou.core import netio
from pcapng_iou.sim import frames
from pcapng_iou.sim.lab import LabProcess

pytestmark = pytest.mark.lab

MAC_1, MAC_2 = "aa:bb:cc:00:01:00", "aa:bb:cc:00:02:00"
SLARP = [frames.slarp_keepalive(seq, seq - 1) for seq in range(1, 4)]
LCP = [frames.lcp_configure_request(ident, 0x11220000 + ident) for ident in range(1, 6)]
#: Routers as the issue's example: bay 0 Ethernet, bays 1 and 2 serial.
BAYS = (1, 2)


@pytest.fixture
def elsewhere(workdir):
    """An empty folder to start the capture from: no ./NETMAP there."""
    path = os.path.join(workdir, "elsewhere")
    os.mkdir(path)
    return path


def own_folder_lab(make_lab, text, numbers=(1, 2), **kwargs):
    return make_lab(text, own_folders=True, bays={n: BAYS for n in numbers}, **kwargs)


def capture_without_flags(start_capture, lab, workdir, elsewhere, name="zero.pcapng", *extra):
    output = os.path.join(workdir, name)
    capture = start_capture("-d", lab.directory, "-w", output, *extra, cwd=elsewhere)
    return capture, output


def rows_by_link(tshark, output):
    """Interface name -> [(interface id, link type shown by capinfos' rules, protocols)] in file order."""
    rows = tshark_rows(tshark, output, "frame.interface_id", "frame.interface_name", "frame.protocols")
    found = {}
    for interface_id, name, protocols in rows:
        found.setdefault(name, []).append((int(interface_id), protocols))
    return found


def test_ethernet_and_serial_bays_decode_right_with_no_flags(make_lab, start_capture, workdir, elsewhere, tshark):
    lab = own_folder_lab(make_lab, "1:0/0 2:0/0\n1:1/0 2:1/0\n")
    capture, output = capture_without_flags(start_capture, lab, workdir, elsewhere)
    assert capture.wait_for("attached", count=2), capture.stderr
    used = (f"NETMAP from the instances' working directories: {lab.folder_of(1)}/NETMAP, "
            f"{lab.folder_of(2)}/NETMAP (2 lines in all)")
    assert used in capture.stderr
    assert lab[1].send("0/0", frames.arp_request(MAC_1, "10.0.0.1", "10.0.0.2")) == 1
    for frame in SLARP:                       # serial bays: Cisco HDLC, IOS's default
        assert lab[1].send("1/0", frame) == 1
    for frame in LCP:                         # then both routers: encapsulation ppp
        assert lab[1].send("1/0", frame) == 1
    assert lab[2].wait_received(1 + len(SLARP) + len(LCP))
    assert capture.stop() == 0, capture.stderr
    assert "frames now look like ppp" in capture.stderr

    links = rows_by_link(tshark, output)
    assert links["1:0/0-2:0/0"] == [(0, "eth:ethertype:arp")]
    serial = links["1:1/0-2:1/0"]
    assert serial[:3] == [(1, "chdlc:slarp")] * 3
    # Three sure frames switch a link that already carried frames: the last three LCP frames
    # are on a new interface, where Wireshark decodes them as PPP.
    assert serial[-3:] == [(2, "ppp:lcp")] * 3
    info = subprocess.run(["capinfos", output], capture_output=True, text=True).stdout
    for encapsulation in ("Ethernet", "Cisco HDLC", "PPP"):
        assert f"Encapsulation = {encapsulation}" in info
    comments = [c for _, _, _, cs in read_packets(output) for c in cs]
    assert any("link type changed from hdlc to ppp (detected from the frames)" in c for c in comments)


def test_a_serial_link_configured_for_ppp_is_ppp_from_its_first_frame(make_lab, start_capture, workdir,
                                                                    elsewhere, tshark):
    lab = own_folder_lab(make_lab, "1:1/1 2:1/1\n")
    capture, output = capture_without_flags(start_capture, lab, workdir, elsewhere)
    assert capture.wait_for("attached", count=2), capture.stderr
    lab[1].send("1/1", LCP[0])
    lab[2].send("1/1", frames.lcp_configure_ack(1, 0x11220001))
    assert lab[2].wait_received(1) and lab[1].wait_received(1)
    assert capture.stop() == 0, capture.stderr
    assert [p for _, p in rows_by_link(tshark, output)["1:1/1-2:1/1"]] == ["ppp:lcp", "ppp:lcp"]


def test_conflicting_and_broken_netmaps(make_lab, start_capture, workdir, elsewhere, tshark):
    lab = own_folder_lab(make_lab, "1:0/0 2:0/0\n", numbers=(1, 2, 3, 4), start=False)
    for number, text in ((3, "# router 3's own view\n1:0/0 3:0/0\n3:1/0 2:1/0\n"), (4, "4:0/0 1:0/1\n")):
        os.makedirs(lab.folder_of(number))
        with open(os.path.join(lab.folder_of(number), "NETMAP"), "w") as handle:
            handle.write(text)
    lab.start(1, 2, 3, 4)
    with open(os.path.join(lab.folder_of(4), "NETMAP"), "w") as handle:
        handle.write("4:0/0 oops\n")                                    # broken by an edit after its start
    capture, output = capture_without_flags(start_capture, lab, workdir, elsewhere)
    assert capture.wait_for("attached", count=4), capture.stderr
    first, third = (os.path.join(lab.folder_of(n), "NETMAP") for n in (1, 3))
    conflict = (f"warning: {third}:2: '1:0/0 3:0/0' wires 1:0/0 differently from {first}:1: '1:0/0 2:0/0'; "
                f"using {first}:1")
    broken = f"warning: {lab.folder_of(4)}/NETMAP:1:7: "
    assert capture.wait_for(conflict) and capture.wait_for(broken), capture.stderr
    assert "(NETMAP of a running instance): ignored" in next(line for line in capture.lines if broken in line)
    capture.process.send_signal(signal.SIGHUP)             # re-read: still one warning each
    assert capture.wait_for("NETMAP reloaded"), capture.stderr
    lab[1].send("0/0", frames.arp_request(MAC_1, "10.0.0.1", "10.0.0.2"))
    lab[3].send("1/0", SLARP[0])
    assert lab[2].wait_received(2)
    assert capture.stop() == 0, capture.stderr
    assert sum(conflict in line for line in capture.lines) == 1
    assert sum(broken in line for line in capture.lines) == 1
    links = rows_by_link(tshark, output)
    assert set(links) == {"1:0/0-2:0/0", "3:1/0-2:1/0"}     # the first file won; the good line of the third
    assert links["3:1/0-2:1/0"] == [(1, "chdlc:slarp")]


def test_a_new_instance_brings_its_netmap_and_hup_rereads(make_lab, start_capture, workdir, elsewhere, tshark):
    lab = own_folder_lab(make_lab, "1:0/0 2:0/0\n")
    capture, output = capture_without_flags(start_capture, lab, workdir, elsewhere)
    assert capture.wait_for("attached", count=2), capture.stderr
    third = os.path.join(workdir, "r3")
    os.mkdir(third)
    with open(os.path.join(third, "NETMAP"), "w") as handle:
        handle.write("1:0/0 2:0/0\n3:1/0 2:1/0\n")
    lab.instances[3] = LabProcess(lab.directory, 3, os.path.join(third, "NETMAP"), bays=BAYS)
    assert capture.wait_for(f"instance 3 brought its NETMAP {third}/NETMAP: 1 new line"), capture.stderr  # (it said "1 new lines")
    lab[3].send("1/0", SLARP[0])
    # An edit to a file in use is read on kill -HUP.
    with open(os.path.join(lab.folder_of(2), "NETMAP"), "a") as handle:
        handle.write("2:0/1 1:0/1\n")
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("NETMAP reloaded: 1 added, 0 changed, 0 removed, 2 unchanged"), capture.stderr
    header = netio.Header(1, 2, netio.port_byte(0, 1), netio.port_byte(0, 1))
    lab[2].send_raw(1, header.pack() + frames.arp_request(MAC_2, "10.0.1.2", "10.0.1.1"))
    assert lab[2].wait_received(1) and lab[1].wait_received(1)
    assert capture.stop() == 0, capture.stderr
    links = rows_by_link(tshark, output)
    assert links["3:1/0-2:1/0"] == [(0, "chdlc:slarp")]  # the first interface that carried a frame
    assert [p for _, p in links["2:0/1-1:0/1"]] == ["eth:ethertype:arp"]


#: A point-to-point Ethernet link, a serial link and a shared segment, in the instances' one folder.
SEGMENTS = "11:0/0 12:0/0\n11:1/0 12:1/0\n11:0/1 12:0/1 13:0/1\n"


def interface_names(output):
    """The interface names of a capture file, in order (capinfos)."""
    info = subprocess.run(["capinfos", output], capture_output=True, text=True).stdout
    return [line.split("=", 1)[1].strip() for line in info.splitlines() if line.strip().startswith("Name =")]


def test_a_broken_edit_of_a_netmap_in_use_is_refused_on_hup(make_lab, start_capture, workdir, elsewhere, tshark):
    """No -n: the NETMAP in use is the one of the instances' folder; an edit that breaks it is refused on
    kill -HUP as a -n file's would be (it used to be left out: every link removed, frames unmapped)."""
    lab = make_lab(SEGMENTS, bays={n: BAYS for n in (11, 12, 13)})
    capture, output = capture_without_flags(start_capture, lab, workdir, elsewhere, "refused.pcapng")
    assert capture.wait_for("attached", count=3), capture.stderr
    assert f"NETMAP from the instances' working directories: {lab.netmap_path} (3 lines in all)" in capture.stderr
    with open(lab.netmap_path, "w") as handle:
        handle.write(SEGMENTS.replace("11:1/0 12:1/0", "11:1/0 12:1/0 pp"))
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("reload refused"), capture.stderr
    assert (f"pcapng-iou: error: reload refused, keeping the previous NETMAP: {lab.netmap_path}:2:15: "
            f"unknown link type 'pp' (use a number") in capture.stderr
    assert "NETMAP reloaded" not in capture.stderr and "ignored" not in capture.stderr
    # Frames keep going to the interfaces of the NETMAP read at the start.
    assert lab[11].send("0/0", frames.arp_request(MAC_1, "10.0.0.11", "10.0.0.12")) == 1
    assert lab[11].send("1/0", SLARP[0]) == 1
    assert lab[13].send("0/1", frames.arp_request(MAC_2, "10.0.1.13", "10.0.1.11")) == 2
    assert lab[12].wait_received(3) and lab[11].wait_received(1)
    # Fixed (encapsulation ppp, as meant): the next kill -HUP reloads, and only that line changes.
    with open(lab.netmap_path, "w") as handle:
        handle.write(SEGMENTS.replace("11:1/0 12:1/0", "11:1/0 12:1/0 ppp"))
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("NETMAP reloaded: 0 added, 1 changed, 0 removed, 2 unchanged"), capture.stderr
    assert lab[11].send("1/0", LCP[0]) == 1
    assert lab[11].send("0/0", frames.arp_request(MAC_1, "10.0.0.11", "10.0.0.12")) == 1
    assert lab[12].wait_received(5)
    assert capture.stop() == 0, capture.stderr
    assert sum("reload refused" in line for line in capture.lines) == 1
    assert rows_by_link(tshark, output) == {
        "11:0/0-12:0/0": [(0, "eth:ethertype:arp"), (0, "eth:ethertype:arp")],
        "11:1/0-12:1/0": [(1, "chdlc:slarp"), (3, "ppp:lcp")],
        "11:0/1-12:0/1-13:0/1": [(2, "eth:ethertype:arp")],
    }
    assert interface_names(output) == ["11:0/0-12:0/0", "11:1/0-12:1/0", "11:0/1-12:0/1-13:0/1", "11:1/0-12:1/0"]


def test_one_broken_file_in_use_refuses_the_whole_reload(make_lab, start_capture, workdir, elsewhere, tshark):
    """Several files in use (GNS3): the reload is all or nothing; each broken file is named."""
    lab = own_folder_lab(make_lab, "1:0/0 2:0/0\n")
    capture, output = capture_without_flags(start_capture, lab, workdir, elsewhere, "all.pcapng")
    assert capture.wait_for("attached", count=2), capture.stderr
    first, second = (os.path.join(lab.folder_of(n), "NETMAP") for n in (1, 2))

    def write(path, text):
        with open(path, "w") as handle:
            handle.write(text)

    write(first, "1:0/0 2:0/0\n1:0/1 x\n")
    write(second, "1:0/0 2:0/0 pp\n")
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("reload refused, also:"), capture.stderr
    assert f"error: reload refused, keeping the previous NETMAP: {first}:2:7: " in capture.stderr
    assert f"error: reload refused, also: {second}:1:13: unknown link type 'pp'" in capture.stderr
    write(first, "1:0/0 2:0/0\n1:0/1 2:0/1\n")                # one fixed: still refused, for the other
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("keeping the previous NETMAP", count=2), capture.stderr
    assert capture.lines[-1].endswith(f"keeping the previous NETMAP: {second}:1:13: unknown link type 'pp' "
                                      f"(use a number or one of: ethernet, frame-relay, hdlc, ppp), or auto to "
                                      f"follow the frames"), capture.stderr
    lab[1].send("0/0", frames.arp_request(MAC_1, "10.0.0.1", "10.0.0.2"))
    assert lab[2].wait_received(1)
    write(second, "1:0/0 2:0/0\n")                                 # both right: the new line comes in
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("NETMAP reloaded: 1 added, 0 changed, 0 removed, 1 unchanged"), capture.stderr
    assert capture.stop() == 0, capture.stderr
    assert sum("NETMAP reloaded" in line for line in capture.lines) == 1
    assert rows_by_link(tshark, output) == {"1:0/0-2:0/0": [(0, "eth:ethertype:arp")]}
    assert interface_names(output) == ["1:0/0-2:0/0"]  # the added line carried no frame: no interface


def test_a_netmap_written_after_the_start_is_read_on_hup(make_lab, start_capture, workdir, elsewhere, tshark):
    lab = make_lab("1:1/0 2:1/0\n", bays={1: BAYS, 2: BAYS}, start=False)
    os.unlink(lab.netmap_path)                               # IOU without NETMAP: no links yet
    lab.start()
    missing = os.path.join(workdir, "later", "NETMAP")
    capture, output = capture_without_flags(start_capture, lab, workdir, elsewhere, "later.pcapng", "-n", missing)
    assert capture.wait_for("attached", count=2), capture.stderr
    assert capture.wait_for(f"warning: NETMAP {missing} does not exist (yet): kill -HUP"), capture.stderr
    os.mkdir(os.path.dirname(missing))
    with open(missing, "w") as handle:
        handle.write("1:1/0 2:1/0 ppp\n")
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("NETMAP reloaded: 1 added"), capture.stderr
    header = netio.Header(2, 1, netio.port_byte(1, 0), netio.port_byte(1, 0))
    lab[1].send_raw(2, header.pack() + LCP[0])
    assert lab[2].wait_received(1)
    assert capture.stop() == 0, capture.stderr
    assert rows_by_link(tshark, output) == {"1:1/0-2:1/0": [(0, "ppp:lcp")]}


def test_no_netmap_anywhere_says_where_it_looked_then_takes_one_on_hup(make_lab, start_capture, workdir,
                                                                      elsewhere, tshark):
    lab = make_lab("1:1/0 2:1/0\n", bays={1: BAYS, 2: BAYS}, start=False)
    os.unlink(lab.netmap_path)
    lab.start()
    capture, output = capture_without_flags(start_capture, lab, workdir, elsewhere)
    assert capture.wait_for("attached", count=2), capture.stderr
    here = os.path.join(elsewhere, "NETMAP")
    nowhere = f"no NETMAP in use (looked for {here} and in the working directories of instances 1, 2)"
    assert nowhere in capture.stderr
    header = netio.Header(2, 1, netio.port_byte(1, 0), netio.port_byte(1, 0))
    lab[1].send_raw(2, header.pack() + SLARP[0])             # learnt from the frame: its bays say serial
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for(f"reload: no NETMAP in use (looked for {here}"), capture.stderr
    with open(here, "w") as handle:
        handle.write("1:1/0 2:1/0\n")
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for(f"reload: found {here}: using it"), capture.stderr
    assert capture.wait_for("NETMAP reloaded: 1 added"), capture.stderr
    lab[1].send_raw(2, header.pack() + SLARP[1])
    assert lab[2].wait_received(2)
    assert capture.stop() == 0, capture.stderr
    rows = tshark_rows(tshark, output, "frame.interface_id", "frame.protocols", "frame.interface_description")
    assert [r[:2] for r in rows] == [["0", "chdlc:slarp"], ["1", "chdlc:slarp"]]
    assert "which no NETMAP line joins" in rows[0][2] and "(NETMAP line 1)" in rows[1][2]


def test_a_hdlc_line_carrying_ppp_warns_once_and_does_not_switch(make_lab, start_capture, workdir, elsewhere,
                                                                 tshark):
    lab = own_folder_lab(make_lab, "1:1/0 2:1/0 hdlc\n")
    capture, output = capture_without_flags(start_capture, lab, workdir, elsewhere)
    assert capture.wait_for("attached", count=2), capture.stderr
    for frame in LCP:
        lab[1].send("1/0", frame)
    assert lab[2].wait_received(len(LCP))
    assert capture.wait_for("but the frames are ppp"), capture.stderr
    assert capture.stop() == 0, capture.stderr
    warning = next(line for line in capture.lines if "but the frames are ppp" in line)
    assert warning == (
        f"pcapng-iou: warning: 1:1/0-2:1/0: {lab.folder_of(1)}/NETMAP line 1 says hdlc, but the frames are ppp; "
        f"they stay recorded as hdlc (Wireshark will not decode them). Fix: write ppp on that line (or drop the "
        f"link type to let the bays decide), then kill -HUP {capture.process.pid}")
    assert sum("but the frames are ppp" in line for line in capture.lines) == 1
    assert "frames now look like" not in capture.stderr            # no silent switch
    assert "frames are ppp!" in capture.stderr                       # the summary row's marker
    rows = tshark_rows(tshark, output, "frame.interface_id", "frame.protocols")
    assert {r[0] for r in rows} == {"0"} and len(rows) == len(LCP)
    assert all(r[1].startswith("chdlc") for r in rows)


# -- when /proc does not tell -------------------------------------------------------------------

def _can_run_as_nobody(python: str) -> bool:
    if shutil.which("setpriv") is None or os.getuid() != 0:
        return False
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c", "0"],
                           capture_output=True)
    return probe.returncode == 0


def nobody_runner() -> tuple:
    """Words that run a simulated instance as user nobody (uid 65534) from this source tree."""
    for python in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(python) and _can_run_as_nobody(python):
            import pcapng_iou.sim.instance as instance_module

            return ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python,
                    os.path.realpath(instance_module.__file__))
    need("needs root, setpriv and a Python that user nobody can run")


def test_another_users_instance_without_the_privilege_to_read_its_folder(make_lab, start_capture, workdir,
                                                                        elsewhere, tshark):
    """Instance 2 runs as nobody in a directory of root's: its lock file's pid is not the owner's
    process, so nothing is read about it (anyone who may write a lock file there could name any
    process, and root would read that process's folder); said once, also after kill -HUP."""
    runner = nobody_runner()
    os.chmod(workdir, 0o755)
    lab = own_folder_lab(make_lab, "1:0/0 2:0/0\n", start=False)
    os.chmod(lab.directory, 0o1777)
    with open(os.path.join(lab.folder_of(2), "NETMAP"), "w") as handle:
        handle.write("1:0/0 2:0/0\n2:1/1 1:1/1\n")                     # only instance 2 knows this line
    # Root's own instance runs without CAP_SYS_PTRACE too: a process with capabilities the capture
    # lacks is refused as well, and instance 1 stands for "our own instance" here.
    no_ptrace = ("setpriv", "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace")
    ours = no_ptrace + (sys.executable, "-m", "pcapng_iou.sim.instance")
    for number, run in ((1, ours), (2, runner)):
        lab.instances[number] = LabProcess(lab.directory, number, os.path.join(lab.folder_of(number), "NETMAP"),
                                           bays=BAYS, runner=run)
    output = os.path.join(workdir, "refused.pcapng")
    capture = start_capture("-d", lab.directory, "-w", output, cwd=elsewhere, prefix=no_ptrace)
    assert capture.wait_for("attached", count=2), capture.stderr
    refused = [line for line in capture.lines if "not of the directory's owner" in line]
    assert len(refused) == 1, capture.stderr
    assert "instance 2: its lock file names pid" in refused[0] and "a process of uid 65534" in refused[0]
    assert f"{lab.folder_of(1)}/NETMAP (1 line in all)" in capture.stderr
    capture.process.send_signal(signal.SIGHUP)                         # asked again: said once only
    assert capture.wait_for("NETMAP reloaded"), capture.stderr
    lab[1].send("0/0", frames.arp_request(MAC_1, "10.0.0.1", "10.0.0.2"))
    header = netio.Header(2, 1, netio.port_byte(1, 1), netio.port_byte(1, 1))
    lab[1].send_raw(2, header.pack() + SLARP[0])                       # its bays unknown: the frame tells
    assert lab[2].wait_received(2)
    assert capture.stop() == 0, capture.stderr
    assert sum("not of the directory's owner" in line for line in capture.lines) == 1
    links = rows_by_link(tshark, output)
    assert links["1:0/0-2:0/0"] == [(0, "eth:ethertype:arp")]
    assert [p for _, p in links["1:1/1-2:1/1"]] == ["chdlc:slarp"]   # learnt from the frame, no NETMAP line


def test_a_lock_naming_a_pid_that_is_gone_and_a_removed_folder(make_lab, start_capture, workdir, elsewhere,
                                                             tshark):
    lab = own_folder_lab(make_lab, "1:0/0 2:0/0\n1:1/0 2:1/0\n")
    gone = subprocess.Popen(["true"])
    gone.wait()
    with open(os.path.join(lab.directory, "2.lck"), "w") as handle:    # instance 2 still holds the lock
        handle.write(f"{gone.pid}\n")
    shutil.rmtree(lab.folder_of(1))                                    # instance 1 runs in a removed folder
    capture, output = capture_without_flags(start_capture, lab, workdir, elsewhere)
    assert capture.wait_for("attached", count=2), capture.stderr
    assert capture.wait_for(f"warning: instance 2: its lock file names pid {gone.pid}, which is not running: "
                            f"nothing learnt from it"), capture.stderr
    assert capture.wait_for(f"warning: instance 1: its working directory {lab.folder_of(1)} was removed: "
                            f"no NETMAP from it"), capture.stderr
    assert "no NETMAP in use" in capture.stderr
    lab[1].send("1/0", SLARP[0])                                        # instance 1's bays: serial
    assert lab[2].wait_received(1)
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("reload: no NETMAP in use"), capture.stderr
    assert capture.stop() == 0, capture.stderr
    assert sum("which is not running" in line for line in capture.lines) == 1
    assert rows_by_link(tshark, output) == {"1:1/0-2:1/0": [(0, "chdlc:slarp")]}


# -- GNS3: every router in its own folder, wired to an IOL bridge at id+512 ---------------------

def gns3_netmap(router: int) -> str:
    bridge = router + 512
    return "".join(f"{bridge}:{bay}/{unit}    {router}:{bay}/{unit}\n" for bay in range(16) for unit in range(4))


def test_gns3_lab_with_bridges_that_are_not_iou(workdir, elsewhere, start_capture, tshark):
    netio_dir = os.path.join(workdir, "netio")
    os.makedirs(netio_dir)
    processes = []
    try:
        for router in (1, 2):
            folder = os.path.join(workdir, "gns3", f"router{router}")
            os.makedirs(folder)
            with open(os.path.join(folder, "NETMAP"), "w") as handle:
                handle.write(gns3_netmap(router))
            processes.append(LabProcess(netio_dir, router, os.path.join(folder, "NETMAP"), bays=(1, 1)))
            bridge_folder = os.path.join(workdir, "gns3", f"bridge{router}")
            os.makedirs(bridge_folder)
            processes.append(LabProcess(netio_dir, router + 512, cwd=bridge_folder, iou=False))
        router1, bridge1, router2, bridge2 = processes
        output = os.path.join(workdir, "gns3.pcapng")
        capture = start_capture("-d", netio_dir, "-w", output, cwd=elsewhere)
        assert capture.wait_for("attached", count=4), capture.stderr
        assert "(128 lines in all)" in capture.stderr
        assert "warning" not in capture.stderr                         # a bridge tells nothing, quietly
        sent = [
            (router1, 513, "0/0", frames.arp_request(MAC_1, "10.0.0.1", "10.0.0.2")),
            (router1, 513, "1/0", SLARP[0]),
            (router2, 514, "1/3", LCP[0]),                              # configured for PPP
            (router2, 514, "2/0", frames.arp_request(MAC_2, "10.0.2.2", "10.0.2.1")),  # beyond its bays
            (bridge1, 1, "1/0", SLARP[1]),                              # and back from the bridge
        ]
        for sender, receiver, interface, frame in sent:
            port = netio.port_byte(*map(int, interface.split("/")))
            header = netio.Header(receiver, sender.instance, port, port)
            assert sender.send_raw(receiver, header.pack() + frame)
        assert bridge1.wait_received(2) and bridge2.wait_received(2) and router1.wait_received(1)
        assert capture.stop() == 0, capture.stderr
    finally:
        for process in processes:
            process.stop()
    links = rows_by_link(tshark, output)
    # Each half-link to a bridge is named by its router's end (no project, no CDP here: "IOU 1").
    assert [p for _, p in links["IOU 1 Ethernet0/0"]] == ["eth:ethertype:arp"]
    assert [p for _, p in links["IOU 1 Serial1/0"]] == ["chdlc:slarp", "chdlc:slarp"]
    assert [p for _, p in links["IOU 2 Serial1/3"]] == ["ppp:lcp"]
    assert [p for _, p in links["IOU 2 2/0"]] == ["eth:ethertype:arp"]  # beyond its bays: no IOS name
    info = subprocess.run(["capinfos", output], capture_output=True, text=True).stdout
    assert "Number of interfaces in file: 4" in info  # the links that carried frames, not all 128 lines


def test_help_states_the_precedence():
    result = run_cli("capture", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert ("Each link's link type, strongest first: 1. a link type written on its NETMAP line" in text
            and "2. --linktype, when given; 3. the kinds of its bays" in text and "4. Ethernet." in text)


def test_an_ethernet_bay_wired_to_a_serial_bay(make_lab, start_capture, workdir, elsewhere, tshark):
    lab = own_folder_lab(make_lab, "1:0/0 2:1/0\n")
    capture, output = capture_without_flags(start_capture, lab, workdir, elsewhere)
    assert capture.wait_for("attached", count=2), capture.stderr
    lab[1].send("0/0", frames.arp_request(MAC_1, "10.0.0.1", "10.0.0.2"))
    assert lab[2].wait_received(1)
    capture.process.send_signal(signal.SIGHUP)
    assert capture.wait_for("NETMAP reloaded"), capture.stderr
    assert capture.stop() == 0, capture.stderr
    warning = "warning: 1:0/0-2:1/0: Ethernet bay (1:0/0) wired to serial bay (2:1/0): recorded as ethernet"
    assert sum(warning in line for line in capture.lines) == 1, capture.stderr
    assert rows_by_link(tshark, output) == {"1:0/0-2:1/0": [(0, "eth:ethertype:arp")]}


def test_a_serial_link_whose_ends_differ_does_not_flap(make_lab, start_capture, workdir, elsewhere, tshark):
    """Both routers' serial 1/1 on PPP, then router 3 back to Cisco HDLC (restarted with IOS's default):
    the link once flapped between HDLC and PPP, a new interface and a warning each time, without end.
    Now one plain warning, one interface per link type, each router's frames decoded as what they are."""
    lab = own_folder_lab(make_lab, "2:1/1 3:1/1\n", numbers=(2, 3), speak=True, interval=0.05, quiet=True)
    for number in (2, 3):
        lab[number].command("encap 1/1 ppp")
    capture, output = capture_without_flags(start_capture, lab, workdir, elsewhere, "mismatch.pcapng")
    assert capture.wait_for("attached", count=2), capture.stderr
    assert capture.wait_for("2:1/1-3:1/1: ppp from its first frame"), capture.stderr  # the bays' guess, put right
    time.sleep(0.5)
    lab[3].command("encap 1/1 hdlc")
    time.sleep(3)                                                           # some 60 ticks of each router
    assert capture.stop() == 0, capture.stderr
    said = [line for line in capture.lines if "encapsulations differ?" in line]
    assert said == [
        f"pcapng-iou: warning: 2:1/1-3:1/1: one end sends hdlc and the other ppp (encapsulations differ?): "
        f"no longer following the frames; each is recorded on the interface of its own link type (hdlc: "
        f"a new interface, ppp: interface #0) until NETMAP is reloaded (kill -HUP {capture.process.pid})"], \
        capture.stderr  # (ids in the file, as capinfos gives them: the HDLC guess had no block before)
    assert not any("frames now look like" in line for line in capture.lines), capture.stderr

    info = subprocess.run(["capinfos", output], capture_output=True, text=True).stdout
    assert "Number of interfaces in file: 2" in info, info
    rows = tshark_rows(tshark, output, "frame.interface_id", "frame.packet_flags_direction", "frame.protocols")
    assert {interface for interface, _, _ in rows} == {"0", "1"}
    # Outbound: sent by 2:1/1, PPP all along.  Inbound: by 3:1/1, PPP then Cisco HDLC; only its first
    # HDLC frames, until three in a row showed the two ends differ (a few ticks), are on the PPP interface.
    sent_by_2 = [protocols for _, direction, protocols in rows if int(direction, 16) & 3 == 2]
    sent_by_3 = [protocols for _, direction, protocols in rows if int(direction, 16) & 3 == 1]
    assert len(sent_by_2) > 50 and all(p.startswith("ppp:") and "chdlc" not in p for p in sent_by_2)
    assert sum(p.startswith("chdlc:") for p in sent_by_3) > 40
    wrong = [p for p in sent_by_3 if "ppp:chdlc" in p or not p.startswith(("ppp:", "chdlc:"))]
    assert len(wrong) <= 10, wrong


def test_one_end_switched_to_ppp_is_noticed_whatever_the_other_sends(make_lab, start_capture, workdir, elsewhere):
    """Both ends on Cisco HDLC (IOS's default), then router 3 alone set to PPP: their frames interleave, so the
    link never carried three PPP frames in a row, and 3's frames went on being recorded as Cisco HDLC with
    no word (found by a newcomer: the commonest misconfiguration of all).  Now the ends are said to differ."""
    lab = own_folder_lab(make_lab, "2:1/1 3:1/1\n", numbers=(2, 3), speak=True, interval=0.05, quiet=True)
    capture, output = capture_without_flags(start_capture, lab, workdir, elsewhere, "one-end.pcapng")
    assert capture.wait_for("attached", count=2), capture.stderr
    time.sleep(0.5)
    lab[3].command("encap 1/1 ppp")
    assert capture.wait_for("encapsulations differ?", timeout=10), capture.stderr
    assert capture.stop() == 0, capture.stderr
    assert "2:1/1-3:1/1: one end sends hdlc and the other ppp (encapsulations differ?)" in capture.stderr


def test_a_restarted_instance_given_its_old_pid_again_is_asked_again(make_lab, start_capture, workdir):
    """An instance that attaches again is asked its bays again, even when the kernel gave the new process the
    old one's pid (their start times tell them apart): restarted with two Ethernet bays, its bay 1 is
    Ethernet now, where it was serial."""
    import pcapng.blocks
    from conftest import packet_fields, scan

    if os.geteuid() != 0:
        pytest.skip("having a pid given again takes root (/proc/sys/kernel/ns_last_pid)")
    lab = make_lab("101:1/0 103:1/0\n", bays={101: (1, 1), 103: (1, 1)})
    output = os.path.join(workdir, "reused.pcapng")
    capture = start_capture("-d", lab.directory, "-n", lab.netmap_path, "-w", output)
    assert capture.wait_for("attached", count=2), capture.stderr
    old = lab[101].pid
    lab[101].stop()
    restarted = None
    for _ in range(50):  # another process may take the pid first: try again
        with open("/proc/sys/kernel/ns_last_pid", "w") as handle:
            handle.write(str(old - 1))
        process = LabProcess(lab.directory, 101, lab.netmap_path, bays=(2, 2))
        if process.pid == old:
            restarted = process
            break
        process.stop()
    assert restarted is not None, f"pid {old} was not given again"
    lab.instances[101] = restarted
    assert capture.wait_for("instance 101 attached again"), capture.stderr
    restarted.send("1/0", frames.arp_request(MAC_2, "10.0.1.2", "10.0.1.1"))
    assert lab[103].wait_received(1)
    assert capture.stop() == 0, capture.stderr
    blocks = scan(output)
    link_types = [block.link_type for block in blocks if isinstance(block, pcapng.blocks.InterfaceDescription)]
    packets = [packet_fields(block) for block in blocks if isinstance(block, pcapng.blocks.EnhancedPacket)]
    assert [link_types[packet[0]] for packet in packets] == [1], (link_types, capture.stderr)


def test_every_instance_is_asked_so_the_list_of_links_gives_their_bays(make_lab, workdir, elsewhere):
    """The serial link between 2 and 3 is listed as hdlc (their bays say so), also when -i asks for 1 only
    (it was listed as Ethernet: nothing asked 2 and 3)."""
    lab = own_folder_lab(make_lab, "1:0/0 2:0/0\n2:1/0 3:1/0\n", numbers=(1, 2, 3))
    for extra in ((), ("-i", "2")):
        result = subprocess.run([sys.executable, "-m", "pcapng_iou", "capture", "-d", lab.directory, "-D", *extra],
                                cwd=elsewhere, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        rows = [line.split("\t") for line in result.stdout.splitlines() if "2:1/0-3:1/0" in line]
        assert rows and rows[0][1] == "hdlc", result.stdout
