"""Remote capture with Wireshark's own sshdump, through a real OpenSSH server.

The test starts ``sshd`` on 127.0.0.1 on a free port with throw-away keys and a
private configuration, and a simulated lab on the "remote" side (this same
machine).  sshdump logs in with the throw-away key and runs
``pcapng-iou capture -w - -q`` there, as the README tells Wireshark users to;
frames must arrive through sshdump, and when sshdump's session ends (Wireshark
stops it with SIGTERM; tshark -c stops it when it has enough) the remote
capture must stop and put every socket back.

Without sshd, ssh-keygen, sshdump or tshark the tests are skipped, and fail
under CI (the ``CI`` environment variable set).
"""
from __future__ import annotations

import getpass
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import directory_state, need, read_packets, short_tempdir, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.remote]

NETMAP = """\
100:0/0 101:0/0
100:1/0 101:1/0 hdlc
"""
SSHD = "/usr/sbin/sshd"
#: Where Debian's wireshark-common and other distributions put Wireshark's extcap programs.
SSHDUMP_PLACES = ("/usr/lib/*/wireshark/extcap/sshdump", "/usr/lib/wireshark/extcap/sshdump",
                  "/usr/libexec/wireshark/extcap/sshdump", "/usr/lib64/wireshark/extcap/sshdump")


def missing(what: str) -> None:
    need(f"{what} (apt-get install openssh-server openssh-client tshark)")


def find_sshdump() -> str | None:
    for pattern in SSHDUMP_PLACES:
        for path in sorted(glob.glob(pattern)):
            if os.access(path, os.X_OK):
                return path
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SshServer:
    """A private sshd on 127.0.0.1 that lets the current user in with one throw-away key."""

    def __init__(self, folder: str):
        self.folder = folder
        self.user = getpass.getuser()
        self.key = os.path.join(folder, "user_key")
        host_key = os.path.join(folder, "host_key")
        for path in (self.key, host_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pcapng-iou test", "-f", path],
                           check=True, capture_output=True, timeout=60)
        authorized = os.path.join(folder, "authorized_keys")
        shutil.copyfile(self.key + ".pub", authorized)
        os.chmod(authorized, 0o600)
        self.port = free_port()
        config = os.path.join(folder, "sshd_config")
        with open(config, "w") as handle:
            handle.write(
                f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
                f"PidFile {os.path.join(folder, 'sshd.pid')}\nAuthorizedKeysFile {authorized}\n"
                # The throw-away files live under /tmp, which StrictModes would refuse (world-writable).
                "StrictModes no\nPermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
                "X11Forwarding no\nAllowTcpForwarding no\nPrintMotd no\n"
            )
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        self.log = open(os.path.join(folder, "sshd.log"), "w+")
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", config], stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"sshd did not start: {self.logged()}") from None
                time.sleep(0.05)

    def logged(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


@pytest.fixture
def ssh_server():
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh-keygen") is None:
        missing("OpenSSH (sshd, ssh-keygen) is not installed")
    folder = short_tempdir("ssh")
    server = SshServer(folder)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def sshdump() -> str:
    path = find_sshdump()
    if path is None:
        missing("Wireshark's sshdump is not installed (it comes with wireshark-common)")
    return path


def remote_command(lab) -> str:
    """What goes into sshdump's "Remote capture command" field (with this test's paths)."""
    return f"{sys.executable} -m pcapng_iou capture -w - -q -d {lab.directory} -n {lab.netmap_path}"


def captures_of(directory: str) -> list:
    """Pids of the pcapng-iou captures running on ``directory`` (from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                words = handle.read().split(b"\0")
        except OSError:
            continue
        if b"pcapng_iou" in words and b"capture" in words and directory.encode() in words:
            pids.append(int(entry))
    return pids


def test_sshdump_session_end_stops_the_remote_capture(make_lab, ssh_server, sshdump, workdir):
    lab = make_lab(NETMAP, speak=True, interval=0.2)
    before = directory_state(lab.directory)
    output = os.path.join(workdir, "remote.pcapng")
    # What Wireshark runs for the "SSH remote capture" dialog with the README's settings.
    dump = subprocess.Popen(
        [sshdump, "--extcap-interface", "sshdump", "--capture", "--fifo", output,
         "--remote-host", "127.0.0.1", "--remote-port", str(ssh_server.port), "--remote-username", ssh_server.user,
         "--sshkey", ssh_server.key, "--remote-capture-command-select", "other",
         "--remote-capture-command", remote_command(lab)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: len(captures_of(lab.directory)) == 1, 30), ssh_server.logged()
        assert wait_until(lambda: "100_real" in os.listdir(lab.directory) and "101_real" in os.listdir(lab.directory),
                          30), os.listdir(lab.directory)
        # The routers talk (keepalives, pings): their frames come through sshdump.
        assert wait_until(lambda: len(read_packets(output)) >= 10 if os.path.getsize(output) > 0 else False, 30)
        remote = captures_of(lab.directory)
        dump.send_signal(signal.SIGTERM)  # how Wireshark ends an extcap capture
        dump.wait(15)
    finally:
        if dump.poll() is None:
            dump.kill()
            dump.wait(10)
        dump.stderr.close()
    # The session is gone: the remote capture stops and every socket is back.
    assert wait_until(lambda: not captures_of(lab.directory), 15), remote
    assert wait_until(lambda: directory_state(lab.directory) == before, 5), os.listdir(lab.directory)
    packets = read_packets(output)
    assert {interface for interface, *_ in packets} == {0, 1}
    # The lab works without us in between.
    lab[100].send("0/0", bytes.fromhex("ffffffffffff020000006400") + b"\x88\xb5" + bytes(46))
    assert wait_until(lambda: any(frame.endswith(bytes(46)) for frame in lab[101].frames_from(100)), 10)


def test_tshark_one_liner_with_sshdump(make_lab, ssh_server, sshdump, workdir, tshark):
    """The README's tshark line: tshark stops sshdump after -c frames; the remote side cleans up."""
    lab = make_lab(NETMAP, speak=True, interval=0.2, quiet=True)
    before = directory_state(lab.directory)
    output = os.path.join(workdir, "remote.pcapng")
    options = {
        "remotehost": "127.0.0.1", "remoteport": str(ssh_server.port), "remoteusername": ssh_server.user,
        "sshkey": ssh_server.key, "remotecapturecommandselect": "other", "remotecapturecommand": remote_command(lab),
    }
    argv = [tshark, "-i", "sshdump", "-c", "20", "-w", output]
    for name, value in options.items():
        argv += ["-o", f"extcap.sshdump.{name}:{value}"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr + ssh_server.logged()
    assert wait_until(lambda: not captures_of(lab.directory), 15)
    assert wait_until(lambda: directory_state(lab.directory) == before, 5), os.listdir(lab.directory)
    rows = subprocess.run([tshark, "-r", output, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.protocols"],
                          capture_output=True, text=True, timeout=60).stdout.splitlines()
    assert len(rows) == 20
    names = {row.split("\t")[0] for row in rows}
    assert names == {"100:0/0-101:0/0", "100:1/0-101:1/0"}, rows
    # The link types survive the trip: the serial link is read as Cisco HDLC.
    assert any(row.startswith("100:1/0-101:1/0\tchdlc") for row in rows), rows
